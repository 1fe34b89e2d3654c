/*
 * url_files: virtual NAME.url files and URL waits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inode.h"
#include "octofs.h"
#include "opts.h"
#include "queue.h"
#include "resume.h"
#include "state.h"
#include "url_files.h"
#include "url_names.h"

/* Virtual files get inode numbers of their own, so tools that find hard
 * links by inode number (du, tar, rsync -H) never pair them up. */
#define URL_FILES_INO_BIT (1ULL << 63)

/* A request parked until its file's upload ends. */
struct url_wait {
	struct queue_waiter waiter;	/* first: the queue hands it back */
	fuse_req_t req;
	bool as_file;			/* reading NAME.url, not the xattr */
	size_t size;
	off_t off;
};

static bool status_visible(enum state_status st)
{
	return st == STATE_QUEUED || st == STATE_UPLOADING ||
	       st == STATE_DONE;
}

bool url_files_visible(struct octofs *ctx, int dir_fd, const char *name,
		       dev_t dev, ino_t ino)
{
	enum job_state js;

	if (queue_state(ctx->queue, dev, ino, &js) == 0)
		return true;
	return status_visible(state_read_status_at(dir_fd, name));
}

static bool inode_visible(struct octofs *ctx, struct octofs_inode *inode)
{
	enum job_state js;

	if (queue_state(ctx->queue, inode->dev, inode->ino, &js) == 0)
		return true;
	return status_visible(state_read_status(inode->fd));
}

/*
 * The regular file @name in @dir, if it has a sibling: its inode with one
 * of our references (no kernel lookup counted).
 */
static int find_target(struct octofs *ctx, struct octofs_inode *dir,
		       const char *name, struct octofs_inode **out)
{
	char base[NAME_MAX + 1];
	struct octofs_inode *target;
	struct stat st;
	int fd, err;

	if (!ctx->opts->url_files || !url_names_base(name, base, sizeof(base)))
		return -ENOENT;
	fd = openat(dir->fd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ||
	    !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	err = inode_lookup_fd(ctx->inodes, fd, &st, base, &target);
	if (err)
		return err;
	inode_ref(ctx->inodes, target);
	inode_forget(ctx->inodes, target, 1);
	if (!inode_visible(ctx, target)) {
		inode_unref(ctx->inodes, target);
		return -ENOENT;
	}
	*out = target;
	return 0;
}

/* The stored URL, as a NUL-terminated string; -ENODATA when none. */
static int stored_url(struct octofs_inode *target, char *buf, size_t size)
{
	ssize_t len = state_get(target->fd, STATE_URL, buf, size - 1);

	if (len < 0)
		return (int)len;
	buf[len] = '\0';
	return 0;
}

int url_files_stat(struct octofs *ctx, struct octofs_inode *inode,
		   struct stat *st)
{
	struct octofs_inode *target = inode->url_of;
	char url[STATE_VALUE_MAX];
	enum job_state js;

	if (fstatat(target->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!inode_visible(ctx, target))
		return -ENOENT;
	st->st_ino = target->ino ^ URL_FILES_INO_BIT;
	/* Read-only, and no more readable than the file it names: on a
	 * shared mount a private file's URL stays private. */
	st->st_mode = S_IFREG | (st->st_mode & 0444);
	st->st_nlink = 1;
	st->st_size = 0;
	st->st_blocks = 0;
	if (queue_state(ctx->queue, target->dev, target->ino, &js) &&
	    !stored_url(target, url, sizeof(url)))
		st->st_size = (off_t)strlen(url) + 1;
	return 0;
}

int url_files_lookup(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name, struct fuse_entry_param *e)
{
	struct octofs_inode *target, *inode;
	int err;

	err = find_target(ctx, dir, name, &target);
	if (err)
		return err;
	err = inode_lookup_url(ctx->inodes, target, &inode);
	inode_unref(ctx->inodes, target);
	if (err)
		return err;
	memset(e, 0, sizeof(*e));
	err = url_files_stat(ctx, inode, &e->attr);
	if (err) {
		inode_forget(ctx->inodes, inode, 1);
		return err;
	}
	/* No caching: the sibling comes and goes with the upload. */
	e->ino = inode_id(ctx->inodes, inode);
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return 0;
}

void url_files_open(fuse_req_t req, struct octofs_inode *inode,
		    struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* Its size is not known until the upload ends: no page cache. */
	fi->direct_io = 1;
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/* Answer with @url: as the xattr value, or a slice of "URL\n". */
static void reply_url(struct url_wait *uw, const char *url)
{
	size_t len = strlen(url);
	char *line;

	if (!uw->as_file) {
		if (!uw->size)
			fuse_reply_xattr(uw->req, len);
		else if (uw->size < len)
			fuse_reply_err(uw->req, ERANGE);
		else
			fuse_reply_buf(uw->req, url, len);
		return;
	}
	if ((size_t)uw->off >= len + 1) {
		fuse_reply_buf(uw->req, NULL, 0);
		return;
	}
	line = malloc(len + 1);
	if (!line) {
		fuse_reply_err(uw->req, ENOMEM);
		return;
	}
	memcpy(line, url, len);
	line[len] = '\n';
	len = len + 1 - (size_t)uw->off;
	fuse_reply_buf(uw->req, line + uw->off, len < uw->size ? len : uw->size);
	free(line);
}

static void wait_done(struct queue_waiter *w, const char *url, int err)
{
	struct url_wait *uw = (struct url_wait *)w;

	if (url)
		reply_url(uw, url);
	else
		fuse_reply_err(uw->req, -err);
	free(uw);
}

/*
 * A file whose stored state says "unfinished" but that has no job: the
 * start-up scan has not reached it yet.  Queue it now, so the reader
 * waits for its upload instead of being told there is no URL.
 */
static bool resume_now(struct octofs *ctx, struct octofs_inode *target)
{
	enum state_status st = state_read_status(target->fd);
	char *name;
	int err;

	if (st != STATE_QUEUED && st != STATE_UPLOADING)
		return false;
	name = inode_name(target);
	if (!name)
		return false;
	err = resume_file(ctx, target->fd, name);
	free(name);
	return !err || err == -EEXIST;
}

/*
 * Answer with @target's URL: wait while its upload is pending, else
 * use the stored one.
 */
static void answer_url(fuse_req_t req, struct octofs *ctx,
		       struct octofs_inode *target, struct url_wait *uw)
{
	char url[STATE_VALUE_MAX];
	int err;

	uw->req = req;
	uw->waiter.done = wait_done;
	if (ctx->opts->url_wait_s) {
		err = queue_wait(ctx->queue, target->dev, target->ino,
				 &uw->waiter,
				 ctx->opts->url_wait_s * 1000UL);
		if (err == -ENOENT && resume_now(ctx, target))
			err = queue_wait(ctx->queue, target->dev, target->ino,
					 &uw->waiter,
					 ctx->opts->url_wait_s * 1000UL);
		if (!err)
			return;
	} else if (!queue_state(ctx->queue, target->dev, target->ino,
				&(enum job_state){ 0 })) {
		wait_done(&uw->waiter, NULL, -ETIMEDOUT);
		return;
	}
	err = stored_url(target, url, sizeof(url));
	if (err)
		wait_done(&uw->waiter, NULL, err);
	else
		wait_done(&uw->waiter, url, 0);
}

void url_files_read(fuse_req_t req, struct octofs *ctx,
		    struct octofs_inode *inode, size_t size, off_t off)
{
	struct url_wait *uw = calloc(1, sizeof(*uw));

	if (!uw) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	uw->as_file = true;
	uw->size = size;
	uw->off = off;
	answer_url(req, ctx, inode->url_of, uw);
}

void url_files_getxattr(fuse_req_t req, struct octofs *ctx,
			struct octofs_inode *inode, size_t size)
{
	struct url_wait *uw = calloc(1, sizeof(*uw));

	if (!uw) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	uw->size = size;
	answer_url(req, ctx, inode, uw);
}

int url_files_unlink(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name)
{
	struct octofs_inode *target;
	int err;

	err = find_target(ctx, dir, name, &target);
	if (err)
		return err;
	err = queue_cancel_with(ctx->queue, target->dev, target->ino,
				state_forget_fd, &target->fd);
	inode_unref(ctx->inodes, target);
	return err;
}
