/*
 * fs_dir: the FUSE directory calls.  An open directory is a stream of
 * the stored directory and a window on its listing (listing.h), which
 * adds the NAME.url siblings.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs_dir.h"
#include "fs_req.h"
#include "listing.h"

/* An open directory: a window on its listing (listing.h). */
struct dir_handle {
	struct handle handle;	/* first: the kernel may never release it */
	DIR *dp;
	struct listing list;
};

/* Directories. */
static void dir_handle_free(struct dir_handle *d);

static void free_left(struct handle *h)
{
	dir_handle_free((struct dir_handle *)h);
}

static void dir_handle_free(struct dir_handle *d)
{
	if (!d)
		return;
	listing_clear(&d->list);
	if (d->dp)
		closedir(d->dp);
	free(d);
}

/* A directory stream of @inode; NULL with errno set on failure. */
static DIR *open_dir(struct octofs *ctx, struct octofs_inode *inode)
{
	int path_fd, fd, err;
	DIR *dp = NULL;

	path_fd = inode_fd(ctx->inodes, inode);
	if (path_fd < 0) {
		errno = -path_fd;
		return NULL;
	}
	do
		fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && inode_fd_relieve(ctx->inodes, errno));
	err = fd < 0 ? errno : 0;
	inode_fd_put(ctx->inodes, inode);
	if (fd >= 0) {
		dp = fdopendir(fd);
		err = dp ? 0 : errno;
		if (!dp)
			close(fd);
	}
	errno = err;
	return dp;
}

void fs_dir_open(fuse_req_t req, fuse_ino_t ino,
		 struct fuse_file_info *fi)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	struct dir_handle *d;

	if (inode->url_of) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->dp = open_dir(fs_ctx(req), inode);
	if (!d->dp) {
		fs_reply_status(req, -errno);
		dir_handle_free(d);
		return;
	}
	fi->fh = (uintptr_t)d;
	/*
	 * The kernel keeps the listing: it drops it itself when the
	 * directory changes through the mount or its mtime moves (attribute
	 * timeout), and url_files_listings_changed() when a sibling comes or
	 * goes without either.
	 */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	inode_dir_listed(fs_ctx(req)->inodes, inode);
	/* Before the reply: its release may come at once. */
	handles_add(&fs_ctx(req)->handles, &d->handle, free_left);
	/* Not delivered (interrupted): the kernel never releases it. */
	if (fuse_reply_open(req, fi)) {
		handles_remove(&fs_ctx(req)->handles, &d->handle);
		dir_handle_free(d);
	}
}

/*
 * The entries from @off on, up to the end of the window's chunk: the
 * next request, at the offset of the last entry the kernel took, then
 * finds its chunk still loaded or starts the next one.
 */
void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size,
		 off_t off, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char name[NAME_MAX + 1];
	struct stat st = { 0 };
	size_t used = 0, ent_size, i;
	off_t next;
	char *buf;
	int err;

	err = listing_at(&d->list, fs_ctx(req), fs_inode(req, ino), d->dp, off,
			 &i);
	if (err) {
		fs_reply_status(req, err);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (; i < listing_count(&d->list); i++) {
		listing_stat(&d->list, i, &st);
		next = listing_next_off(&d->list, i);
		ent_size = fuse_add_direntry(req, buf + used, size - used,
					     listing_name(&d->list, i, name),
					     &st, next);
		if (ent_size > size - used)
			break;
		used += ent_size;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_dir_release(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	handles_remove(&fs_ctx(req)->handles, &d->handle);
	dir_handle_free(d);
	fuse_reply_err(req, 0);
}

void fs_dir_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);
	int res = datasync ? fdatasync(fd) : fsync(fd);

	fs_reply_status(req, res ? -errno : 0);
}
