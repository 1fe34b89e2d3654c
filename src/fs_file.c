/*
 * fs_file: the FUSE calls on open regular files.  An open file holds a
 * descriptor of the stored file and pins its inode's O_PATH one.  Its
 * bytes go through us or, passed through (backing.h), straight between
 * the kernel and the store; either way writers make versions
 * (versions.h) and what fails to be written is noted (write_fail.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "backing.h"
#include "caller.h"
#include "fdpath.h"
#include "fs_file.h"
#include "fs_req.h"
#include "passthrough.h"
#include "queue_fuse.h"
#include "url_files.h"
#include "versions.h"
#include "write_fail.h"

/* An open regular file. */
struct open_file {
	struct handle handle;	/* first: the kernel may never release it */
	int fd;
	bool writer;		/* opened for writing: counted in writers */
	long owner;		/* the thread that created or truncated */
				/* it with this open; else 0 */
	int backing_id;		/* > 0: the kernel passes it through */
};

static struct open_file *fh_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

int fs_file_fd(struct fuse_file_info *fi)
{
	return fi && fi->fh ? fh_of(fi)->fd : -1;
}

/*
 * A writer opened while the store is close to full is served, so that
 * each of its writes' results is seen (write_fail.c).
 */
static bool store_low(struct octofs *ctx, int fd)
{
	return passthrough_enabled(ctx->passthrough) &&
	       write_fail_store_low(fd);
}

/* One the kernel never released: the mount is over, only free it. */
static void free_left(struct handle *h)
{
	struct open_file *fh = (struct open_file *)h;

	close(fh->fd);
	free(fh);
}

/*
 * Open files.  Passed through (backing.h), the bytes never reach us, so
 * a writer makes a new version when it opens.  A writer that may leave
 * the bytes as they were (neither created nor truncated: touch, an
 * append that fails) goes through us where the choice is free, so that
 * only a real write makes a new version; so does one whose writes must
 * clear the file's set-user-ID or set-group-ID bit, which only we can
 * do.  @new_bytes: created or truncated, so a new version in any case.  An
 * open file keeps its inode's O_PATH descriptor pinned, so requests
 * that come without the open file find it (unlinked, too) at once.
 */
static int open_handle(fuse_req_t req, struct octofs_inode *inode, int fd,
		       struct fuse_file_info *fi, bool new_bytes)
{
	struct octofs *ctx = fs_ctx(req);
	struct open_file *fh;
	bool kills;
	int id, err;

	err = inode_fd(ctx->inodes, inode);
	if (err < 0)
		return err;
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		inode_fd_put(ctx->inodes, inode);
		return -ENOMEM;
	}
	err = 0;
	/* O_RDONLY | O_TRUNC empties the file: a writer for the upload. */
	fh->writer = (fi->flags & O_ACCMODE) != O_RDONLY ||
		     (fi->flags & O_TRUNC);
	kills = fh->writer && caller_writes_kill_privs(req, fd);
	id = backing_pick(ctx, inode, fh->writer &&
			  (!new_bytes || kills || store_low(ctx, fd)));
	/*
	 * Passed through all the same (the file is open that way already):
	 * its writes will not reach us, so clear the bits now.
	 */
	if (id > 0 && kills)
		err = caller_kill_priv(req, fd);
	if (err) {
		backing_drop(ctx, inode, id);
		inode_fd_put(ctx->inodes, inode);
		free(fh);
		return err;
	}
	fh->fd = fd;
	fh->backing_id = id;
	if (fh->writer) {
		version_add_writer(ctx, inode, 1);
		/* What failed before is gone with the bytes it left. */
		if (new_bytes)
			write_fail_clear(ctx->inodes, inode);
		/*
		 * Starting a file afresh, as cp and rsync do, is moving on
		 * from the one before; a writer that appends or rewrites in
		 * place (a log, a second pass) leaves its rest as it is.
		 */
		if (inode->type == S_IFREG && new_bytes) {
			fh->owner = fuse_req_ctx(req)->pid;
			queue_writer_opened(ctx->queue, fh->owner,
					    inode->dev, inode->ino);
		}
	}
	if (fh->writer && id > 0 && !new_bytes)
		version_modified(ctx, inode);
	handles_add(&ctx->handles, &fh->handle, free_left);
	fi->fh = (uintptr_t)fh;
	return 0;
}

/*
 * The end of an open file: its last writer's close submits the upload.
 * A passed-through writer's writes never reached us: a full store is
 * what tells that one of them may have failed (write_fail.c).  Judged
 * while it still counts as a writer, so it is this version's.
 */
static void close_handle(struct octofs *ctx, struct octofs_inode *inode,
			 struct open_file *fh)
{
	if (fh->writer && fh->backing_id > 0 && inode->type == S_IFREG &&
	    write_fail_store_full(fh->fd))
		write_fail_note(ctx->inodes, inode, WRITE_FAIL_FULL);
	backing_drop(ctx, inode, fh->backing_id);
	close(fh->fd);
	if (fh->writer) {
		version_add_writer(ctx, inode, -1);
		version_submit_if_done(ctx, inode, fh->owner);
	}
	inode_fd_put(ctx->inodes, inode);
	handles_remove(&ctx->handles, &fh->handle);
	free(fh);
}

/*
 * Can close() on @fd's filesystem report anything?  These have no flush
 * of their own, so their close() reports no error (a failed write shows
 * at the write, fsync or msync): a flush request would cost every
 * close() a round trip for nothing.  Others (NFS, CIFS, FUSE) may report
 * a failed write-back at close, which op_flush passes on.
 */
bool fs_file_close_is_quiet(int fd)
{
	static const unsigned long quiet[] = {
		EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC,
		TMPFS_MAGIC,
	};
	struct statfs sf;
	size_t i;

	if (fstatfs(fd, &sf))
		return false;
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		if ((unsigned long)sf.f_type == quiet[i])
			return true;
	return false;
}

/*
 * FOPEN_NOFLUSH for a file opened as @fd: the store's root was asked
 * once; a file on another filesystem mounted inside the store is asked
 * for itself.
 */
static bool no_flush_for(struct octofs *ctx, struct octofs_inode *inode,
			 int fd)
{
	if (inode->dev == inode_get(ctx->inodes, FUSE_ROOT_ID)->dev)
		return ctx->close_quiet;
	return fs_file_close_is_quiet(fd);
}

void fs_file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *inode = fs_inode(req, ino);
	char path[FDPATH_MAX];
	int path_fd, fd, err;

	if (inode->url_of) {
		url_files_open(req, ctx, inode, fi);
		return;
	}
	/*
	 * Not O_DIRECT: the kernel sends such I/O to us uncached already,
	 * and the data we write follows a request header, so it is not
	 * aligned as the store's O_DIRECT would demand.
	 */
	path_fd = fs_pin(req, inode);
	if (path_fd < 0)
		return;
	do
		fd = open(fdpath(path_fd, path),
			  (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY |
					 O_NOFOLLOW | O_DIRECT)) | O_CLOEXEC);
	while (fd < 0 && inode_fd_relieve(ctx->inodes, errno));
	err = fd < 0 ? -errno : 0;
	fs_unpin(req, inode);
	if (err) {
		fs_reply_status(req, err);
		return;
	}
	err = (fi->flags & O_TRUNC) ? caller_kill_priv(req, fd) : 0;
	if (!err)
		err = open_handle(req, inode, fd, fi, fi->flags & O_TRUNC);
	if (err) {
		close(fd);
		fs_reply_status(req, err);
		return;
	}
	if (fi->flags & O_TRUNC)
		version_modified(ctx, inode);
	fi->noflush = no_flush_for(ctx, inode, fd);
	/* Not delivered (interrupted): the kernel never releases it. */
	if (passthrough_reply_open(req, fi, fh_of(fi)->backing_id))
		close_handle(ctx, inode, fh_of(fi));
}

/* Is @fd the regular file @st describes? */
static bool same_file(int fd, const struct stat *st)
{
	struct stat fd_st;

	return S_ISREG(st->st_mode) && !fstat(fd, &fd_st) &&
	       fd_st.st_dev == st->st_dev && fd_st.st_ino == st->st_ino;
}

void fs_file_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, struct fuse_file_info *fi)
{
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *dir, *inode;
	struct fuse_entry_param e;
	struct caller_ids ids;
	int dir_fd, fd = -1, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
	if (dir_fd < 0)
		return;
	err = caller_become(req, &ids);
	/*
	 * Not O_DIRECT, as in op_open.  O_NOFOLLOW: the kernel creates
	 * only after a lookup found nothing, so a symlink here was planted
	 * in the store since; its target is not ours to create or open.
	 */
	if (!err) {
		do
			fd = openat(dir_fd, name,
				    ((fi->flags | O_CREAT | O_CLOEXEC) &
				     ~O_DIRECT) | O_NOFOLLOW, mode);
		while (fd < 0 && inode_fd_relieve(ctx->inodes, errno));
		err = fd < 0 ? -errno : 0;
		caller_unbecome(&ids);
	}
	fs_unpin(req, dir);
	if (err) {
		fs_reply_status(req, err);
		return;
	}
	err = fs_lookup(ctx, dir, name, &e);
	if (err)
		goto out_close;
	inode = inode_get(ctx->inodes, e.ino);
	/*
	 * The name may have been replaced in the store since the openat (by
	 * a symlink, say, or another file).  The kernel fails a create whose
	 * entry is not a regular file with EIO and never releases its
	 * handle; a handle on another file would lose what is written.
	 * Make none.
	 */
	if (!same_file(fd, &e.attr)) {
		err = -EIO;
	} else {
		/* The file we hold is the inode: no need to find it again. */
		inode_fd_seed(ctx->inodes, inode, fd);
		err = open_handle(req, inode, fd, fi, true);
	}
	if (err) {
		inode_forget(ctx->inodes, inode, 1);
		goto out_close;
	}
	/* O_EXCL: this openat made the file, bare of attributes. */
	version_mark(ctx, inode, fi->flags & O_EXCL);
	fi->noflush = no_flush_for(ctx, inode, fd);
	if (passthrough_reply_create(req, &e, fi, fh_of(fi)->backing_id)) {
		close_handle(ctx, inode, fh_of(fi));
		inode_forget(ctx->inodes, inode, 1);
	}
	return;

out_close:
	close(fd);
	fs_reply_status(req, err);
}

void fs_file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (inode->url_of) {
		url_files_read(req, fs_ctx(req), inode, size, off);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fh_of(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void fs_file_write_buf(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_bufvec *in_buf, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
	ssize_t res;

	/* Before the bytes change, so an upload in flight is abandoned. */
	version_modified(fs_ctx(req), fs_inode(req, ino));
	if (passthrough_kills_privs(fs_ctx(req)->passthrough)) {
		res = caller_kill_priv(req, fh_of(fi)->fd);
		if (res) {
			fs_reply_status(req, (int)res);
			return;
		}
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fh_of(fi)->fd;
	out.buf[0].pos = off;
	res = fuse_buf_copy(&out, in_buf, 0);
	/* Any failed write: the version lacks what its program wrote. */
	if (res < 0)
		write_fail_note(fs_ctx(req)->inodes, fs_inode(req, ino),
				(int)-res);
	else if ((size_t)res < out.buf[0].size)
		write_fail_note(fs_ctx(req)->inodes, fs_inode(req, ino),
				WRITE_FAIL_SHORT);
	if (res < 0)
		fs_reply_status(req, (int)res);
	else
		fuse_reply_write(req, (size_t)res);
}

void fs_file_flush(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	int fd;

	if (!fi->fh) {
		fuse_reply_err(req, 0);
		return;
	}
	/* close() of a duplicate reports errors the store defers to close */
	fd = dup(fh_of(fi)->fd);
	fs_reply_status(req, (fd < 0 || close(fd)) ? -errno : 0);
}

void fs_file_release(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct open_file *fh = fh_of(fi);

	if (fh)
		close_handle(fs_ctx(req), fs_inode(req, ino), fh);
	fuse_reply_err(req, 0);
}

void fs_file_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi)
{
	int fd = fh_of(fi) ? fh_of(fi)->fd : -1;
	int res;

	if (fd < 0) {
		fuse_reply_err(req, 0);
		return;
	}
	res = datasync ? fdatasync(fd) : fsync(fd);
	fs_reply_status(req, res ? -errno : 0);
}

void fs_file_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
		       off_t offset, off_t length,
		       struct fuse_file_info *fi)
{
	int err;

	if (!fh_of(fi)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	version_modified(fs_ctx(req), fs_inode(req, ino));
	err = fallocate(fh_of(fi)->fd, mode, offset, length) ? -errno : 0;
	if (write_fail_lost(-err))
		write_fail_note(fs_ctx(req)->inodes, fs_inode(req, ino), -err);
	fs_reply_status(req, err);
}

void fs_file_copy_range(fuse_req_t req, fuse_ino_t ino_in,
			off_t off_in, struct fuse_file_info *fi_in,
			fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len,
			int flags)
{
	ssize_t res;
	int err;

	if (!fh_of(fi_in) || !fh_of(fi_out)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	version_modified(fs_ctx(req), fs_inode(req, ino_out));
	res = copy_file_range(fh_of(fi_in)->fd, &off_in, fh_of(fi_out)->fd,
			      &off_out, len, (unsigned int)flags);
	err = res < 0 ? -errno : 0;
	if (write_fail_lost(-err))
		write_fail_note(fs_ctx(req)->inodes, fs_inode(req, ino_out),
				-err);
	if (err)
		fs_reply_status(req, err);
	else
		fuse_reply_write(req, (size_t)res);
}

void fs_file_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		   struct fuse_file_info *fi)
{
	off_t res;

	if (!fh_of(fi)) {
		fuse_reply_err(req, ESPIPE);
		return;
	}
	res = lseek(fh_of(fi)->fd, off, whence);
	if (res < 0)
		fs_reply_status(req, -errno);
	else
		fuse_reply_lseek(req, res);
}
