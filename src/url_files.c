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
#include "log.h"
#include "octofs.h"
#include "opts.h"
#include "queue_fuse.h"
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
	struct fuse_file_info fi;	/* opening NAME.url: the reply */
};

ino_t url_files_ino(ino_t ino)
{
	return ino ^ URL_FILES_INO_BIT;
}

static bool status_visible(enum state_status st)
{
	return st == STATE_QUEUED || st == STATE_UPLOADING ||
	       st == STATE_DONE;
}

/*
 * Where a target's attributes are read: through its own descriptor, or,
 * during a lookup, as @name in @dir_fd (getxattrat: no walk through
 * /proc, which dominates listing a large directory).  A rename racing
 * with the lookup can make the two differ; the next lookup is right.
 * Whoever fills in @dir_fd keeps it pinned while the ref is used.
 */
struct target_ref {
	struct octofs_inode *inode;
	int dir_fd;
	const char *name;	/* NULL: use the inode's own descriptor */
};

static enum state_status ref_status(struct octofs *ctx,
				    const struct target_ref *t)
{
	enum state_status st;
	int fd;

	if (t->name)
		return state_read_status_at(t->dir_fd, t->name);
	fd = inode_fd(ctx->inodes, t->inode);
	if (fd < 0)
		return STATE_NONE;
	st = state_read_status(fd);
	inode_fd_put(ctx->inodes, t->inode);
	return st;
}

static ssize_t ref_url(struct octofs *ctx, const struct target_ref *t,
		       char *buf, size_t size)
{
	ssize_t len;
	int fd;

	if (t->name)
		return state_get_at(t->dir_fd, t->name, STATE_URL, buf, size);
	fd = inode_fd(ctx->inodes, t->inode);
	if (fd < 0)
		return fd;
	len = state_get(fd, STATE_URL, buf, size);
	inode_fd_put(ctx->inodes, t->inode);
	return len;
}

static bool has_job(struct octofs *ctx, dev_t dev, ino_t ino)
{
	enum job_state js;

	return queue_state(ctx->queue, dev, ino, &js) == 0;
}

/*
 * Listings ask this of every file, and reading each one's status would
 * cost a system call per file: what was learnt is kept with the file's
 * inode for as long as the kernel keeps attributes, and every change is
 * followed by url_files_changed(), which forgets it.
 */
bool url_files_visible(struct octofs *ctx, int dir_fd, const char *name,
		       dev_t dev, ino_t ino)
{
	uint32_t max_ms = (uint32_t)(ctx->timeout_s * 1000), gen;
	enum inode_sibling known;
	bool shown;

	known = inode_sibling_get(ctx->inodes, dev, ino, max_ms, &gen);
	if (known != INODE_SIBLING_UNKNOWN)
		return known == INODE_SIBLING_SHOWN;
	shown = has_job(ctx, dev, ino) ||
		status_visible(state_read_status_at(dir_fd, name));
	inode_sibling_set(ctx->inodes, dev, ino, gen,
			  shown ? INODE_SIBLING_SHOWN : INODE_SIBLING_NONE);
	return shown;
}

static bool ref_visible(struct octofs *ctx, const struct target_ref *t)
{
	return has_job(ctx, t->inode->dev, t->inode->ino) ||
	       status_visible(ref_status(ctx, t));
}

/*
 * The regular file @name in @dir names, if it has a sibling: its inode
 * with one of our references (no kernel lookup counted), and its name
 * in @base.
 */
static int find_target(struct octofs *ctx, struct octofs_inode *dir,
		       const char *name, struct octofs_inode **out,
		       char base[NAME_MAX + 1])
{
	struct target_ref t = { .name = base };
	struct stat st;
	bool visible;
	int err;

	if (!ctx->opts->url_files || !url_names_base(name, base, NAME_MAX + 1))
		return -ENOENT;
	err = inode_lookup(ctx->inodes, dir, base, &st, &t.inode);
	if (err)
		return err == -ENOMEM ? err : -ENOENT;
	inode_ref(ctx->inodes, t.inode);
	inode_forget(ctx->inodes, t.inode, 1);
	t.dir_fd = S_ISREG(st.st_mode) ? inode_fd(ctx->inodes, dir) : -1;
	visible = t.dir_fd >= 0 && ref_visible(ctx, &t);
	if (t.dir_fd >= 0)
		inode_fd_put(ctx->inodes, dir);
	if (!visible) {
		inode_unref(ctx->inodes, t.inode);
		return -ENOENT;
	}
	*out = t.inode;
	return 0;
}

/* The stored URL, as a NUL-terminated string; -ENODATA when none. */
static int stored_url(struct octofs *ctx, const struct target_ref *t,
		      char *buf, size_t size)
{
	ssize_t len = ref_url(ctx, t, buf, size - 1);

	if (len < 0)
		return (int)len;
	buf[len] = '\0';
	return 0;
}

/* The sibling's stat; @visible when the caller has just checked. */
static int sibling_stat(struct octofs *ctx, const struct target_ref *t,
			bool visible, struct stat *st)
{
	struct octofs_inode *target = t->inode;
	char url[STATE_VALUE_MAX];
	int err;

	err = inode_stat(ctx->inodes, target, st);
	if (err)
		return err;
	if (!visible && !ref_visible(ctx, t))
		return -ENOENT;
	st->st_ino = url_files_ino(target->ino);
	/* Read-only, and no more readable than the file it names: on a
	 * shared mount a private file's URL stays private. */
	st->st_mode = S_IFREG | (st->st_mode & 0444);
	st->st_nlink = 1;
	st->st_size = 0;
	st->st_blocks = 0;
	if (!has_job(ctx, target->dev, target->ino) &&
	    !stored_url(ctx, t, url, sizeof(url)))
		st->st_size = (off_t)strlen(url) + 1;
	return 0;
}

/*
 * A virtual file's target, read as the name it was found under: its
 * directory pinned until ref_done().  -1 when the directory is gone.
 */
static int ref_of(struct octofs *ctx, struct octofs_inode *inode,
		  struct target_ref *t)
{
	*t = (struct target_ref){ .inode = inode->url_of,
				  .dir_fd = inode_fd(ctx->inodes,
						     inode->parent),
				  .name = inode->name };
	return t->dir_fd < 0 ? -1 : 0;
}

static void ref_done(struct octofs *ctx, struct octofs_inode *inode)
{
	inode_fd_put(ctx->inodes, inode->parent);
}

/*
 * Is @inode (a virtual file) still what its name shows: its file still at
 * the name it was found under, no real file in its place, and the file
 * still showing a sibling?  The kernel keeps the name and its attributes
 * for a while; whatever can change them invalidates the attributes
 * (url_files_changed()), so the next use of the name asks here.
 */
static bool still_current(struct octofs *ctx, struct octofs_inode *inode)
{
	char sibling[NAME_MAX + 1];
	struct target_ref t;
	struct stat st;
	bool current;

	if (ref_of(ctx, inode, &t))
		return false;
	current = !fstatat(t.dir_fd, t.name, &st, AT_SYMLINK_NOFOLLOW) &&
		  S_ISREG(st.st_mode) && st.st_dev == t.inode->dev &&
		  st.st_ino == t.inode->ino &&
		  /* A real file that took the sibling's name wins. */
		  url_names_sibling(t.name, sibling, sizeof(sibling)) &&
		  fstatat(t.dir_fd, sibling, &st, AT_SYMLINK_NOFOLLOW) &&
		  ref_visible(ctx, &t);
	ref_done(ctx, inode);
	return current;
}

/*
 * -ESTALE when @inode no longer is what its name shows: the system call
 * that came by that name walks the path again (LOOKUP_REVAL) and finds
 * what is there now, the real file that took the name or nothing.
 */
int url_files_check(struct octofs *ctx, struct octofs_inode *inode,
		    int otherwise)
{
	return still_current(ctx, inode) ? otherwise : -ESTALE;
}

int url_files_getattr(struct octofs *ctx, struct octofs_inode *inode,
		      bool by_fd, struct stat *st)
{
	struct target_ref t = { .inode = inode->url_of };
	int err;

	/*
	 * Asked through an open file (the kernel says so for some calls,
	 * not for fstat): it answers for as long as its file is there.
	 */
	if (by_fd)
		return sibling_stat(ctx, &t, false, st);
	if (!still_current(ctx, inode) || ref_of(ctx, inode, &t))
		return -ESTALE;
	err = sibling_stat(ctx, &t, true, st);
	ref_done(ctx, inode);
	return err;
}

int url_files_lookup(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name, struct fuse_entry_param *e)
{
	char base[NAME_MAX + 1];
	struct target_ref t = { .name = base };
	struct octofs_inode *inode;
	int err;

	err = find_target(ctx, dir, name, &t.inode, base);
	if (err)
		return err;
	err = inode_lookup_url(ctx->inodes, t.inode, dir, base, &inode);
	if (!err) {
		memset(e, 0, sizeof(*e));
		t.dir_fd = inode_fd(ctx->inodes, dir);
		err = t.dir_fd < 0 ? t.dir_fd :
				     sibling_stat(ctx, &t, true, &e->attr);
		if (t.dir_fd >= 0)
			inode_fd_put(ctx->inodes, dir);
		if (err)
			inode_forget(ctx->inodes, inode, 1);
	}
	inode_unref(ctx->inodes, t.inode);
	if (err)
		return err;
	/* Cached like any name: see still_current(). */
	e->ino = inode_id(ctx->inodes, inode);
	e->attr_timeout = ctx->timeout_s;
	e->entry_timeout = ctx->timeout_s;
	return 0;
}

/* Most names of one file a change is told to at once; see below. */
#define CHANGED_MAX 16

void url_files_listings_changed(struct octofs *ctx)
{
	fuse_ino_t *dirs;
	size_t n, i;

	if (!ctx->opts->url_files)
		return;
	dirs = inode_listed_dirs(ctx->inodes, &n);
	if (n == SIZE_MAX) {
		log_warn("out of memory: a directory listing may show a "
			 "NAME.url that is gone until the directory changes");
		return;
	}
	pthread_mutex_lock(&ctx->notify_lock);
	for (i = 0; i < n; i++) {
		/* A directory's pages are its listing: no writeback, and
		 * the kernel holds none of their locks while it waits
		 * for us. */
		if (ctx->notify_se)
			fuse_lowlevel_notify_inval_inode(ctx->notify_se,
							 dirs[i], 0, 0);
	}
	pthread_mutex_unlock(&ctx->notify_lock);
	free(dirs);
}

void url_files_changed(struct octofs *ctx, dev_t dev, ino_t ino)
{
	struct octofs_inode *urls[CHANGED_MAX];
	size_t n, i;

	inode_sibling_reset(ctx->inodes, dev, ino);
	n = inode_urls_of(ctx->inodes, dev, ino, urls, CHANGED_MAX);
	pthread_mutex_lock(&ctx->notify_lock);
	for (i = 0; i < n; i++) {
		/* Attributes only: never blocks, needs no lock the kernel
		 * may hold while it waits for us.  -ENOENT: the kernel
		 * already forgot the name. */
		if (ctx->notify_se)
			fuse_lowlevel_notify_inval_inode(
				ctx->notify_se,
				inode_id(ctx->inodes, urls[i]), -1, 0);
	}
	pthread_mutex_unlock(&ctx->notify_lock);
	for (i = 0; i < n; i++)
		inode_unref(ctx->inodes, urls[i]);
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
	if (len > uw->size)
		len = uw->size;
	fuse_reply_buf(uw->req, line + uw->off, len);
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
	enum state_status st;
	char *name = NULL;
	int fd, err = -ENOENT;

	fd = inode_fd(ctx->inodes, target);
	if (fd < 0)
		return false;
	st = state_read_status(fd);
	if (st == STATE_QUEUED || st == STATE_UPLOADING)
		name = inode_name(ctx->inodes, target);
	inode_fd_put(ctx->inodes, target);
	if (name)
		err = resume_file(ctx, target, name);
	free(name);
	return !err || err == -EEXIST;
}

/*
 * Park @uw until @target's upload ends, for at most url_wait: 0, or
 * -ENOENT when no upload is pending.  Once parked, @uw is the queue's.
 */
static int park(struct octofs *ctx, struct octofs_inode *target,
		struct url_wait *uw)
{
	unsigned long timeout_ms = ctx->opts->url_wait_s * 1000UL;
	int err;

	err = queue_wait(ctx->queue, target->dev, target->ino, &uw->waiter,
			 timeout_ms);
	if (err == -ENOENT && resume_now(ctx, target))
		err = queue_wait(ctx->queue, target->dev, target->ino,
				 &uw->waiter, timeout_ms);
	return err;
}

/* An open parked by wait_to_open(): the upload ended, or the wait did. */
static void open_done(struct queue_waiter *w, const char *url, int err)
{
	struct url_wait *uw = (struct url_wait *)w;

	if (url)
		(void)fuse_reply_open(uw->req, &uw->fi);
	else
		fuse_reply_err(uw->req, -err);
	free(uw);
}

/*
 * Opening a NAME.url whose upload is pending waits for it, as reading
 * does: its size is known only then, and a reader that reads no more
 * than the size it finds once the file is open (an SMB client, told by
 * Samba's fstat() after its open; a web server's Content-Length) would
 * get nothing.  An open that must not block (O_NONBLOCK) fails with
 * EAGAIN instead, as one held up by a lease break does: Samba opens so,
 * and tries again every second without holding up its client.  True
 * when the request is answered or parked; out of memory, the open goes
 * ahead and the read waits.
 */
static bool wait_to_open(fuse_req_t req, struct octofs *ctx,
			 struct octofs_inode *target,
			 const struct fuse_file_info *fi)
{
	struct url_wait *uw;

	if (!ctx->opts->url_wait_s)
		return false;
	if (fi->flags & O_NONBLOCK) {
		if (!has_job(ctx, target->dev, target->ino) &&
		    !resume_now(ctx, target))
			return false;
		fuse_reply_err(req, EAGAIN);
		return true;
	}
	uw = calloc(1, sizeof(*uw));
	if (!uw)
		return false;
	uw->req = req;
	uw->fi = *fi;
	uw->waiter.done = open_done;
	if (!park(ctx, target, uw))
		return true;
	free(uw);
	return false;
}

void url_files_open(fuse_req_t req, struct octofs *ctx,
		    struct octofs_inode *inode, struct fuse_file_info *fi)
{
	if (!still_current(ctx, inode)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* Its size is not known until the upload ends: no page cache. */
	fi->direct_io = 1;
	fi->fh = 0;
	fi->noflush = 1;	/* nothing to flush: spare close() a request */
	if (wait_to_open(req, ctx, inode->url_of, fi))
		return;
	/* Not delivered: nothing was made for it, so nothing to undo. */
	(void)fuse_reply_open(req, fi);
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
		if (!park(ctx, target, uw))
			return;
	} else if (!queue_state(ctx->queue, target->dev, target->ino,
				&(enum job_state){ 0 })) {
		wait_done(&uw->waiter, NULL, -ETIMEDOUT);
		return;
	}
	err = stored_url(ctx, &(struct target_ref){ .inode = target }, url,
			 sizeof(url));
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
	char base[NAME_MAX + 1];
	struct octofs_inode *target;
	int fd, err;

	err = find_target(ctx, dir, name, &target, base);
	if (err)
		return err;
	fd = inode_fd(ctx->inodes, target);
	err = fd < 0 ? fd :
		       queue_cancel_with(ctx->queue, target->dev, target->ino,
					 state_forget_fd, &fd);
	if (fd >= 0)
		inode_fd_put(ctx->inodes, target);
	url_files_changed(ctx, target->dev, target->ino);
	inode_unref(ctx->inodes, target);
	return err;
}
