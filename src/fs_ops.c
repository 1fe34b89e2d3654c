/*
 * fs_ops: FUSE low-level callbacks over the store.
 *
 * The shape follows libfuse's passthrough_hp example: each callback makes
 * the system call on the inode's O_PATH descriptor (or the open file's
 * descriptor), turns -1 into errno and replies.  On top of that, writes
 * mark the file modified and the last writer's release submits it for
 * upload (mark_modified, submit_if_done), and the .url names are handed
 * to url_files.c.  Open files whose bytes the kernel moves itself
 * (passthrough.c) are marked when they open for writing instead.  A
 * version whose writing failed is held back (write_fail.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "caller.h"
#include "fdpath.h"
#include "fs_ops.h"
#include "ignore.h"
#include "inode.h"
#include "listing.h"
#include "log.h"
#include "octofs.h"
#include "opts.h"
#include "passthrough.h"
#include "queue_fuse.h"
#include "state.h"
#include "url_files.h"
#include "url_names.h"
#include "write_fail.h"

/* The largest write request we ask the kernel for (max_write). */
#define MAX_WRITE_BYTES (1024 * 1024)
#define MIN_WRITE_BYTES (128 * 1024)
#define PIPE_MAX_PATH "/proc/sys/fs/pipe-max-size"

/* An open regular file. */
struct open_file {
	int fd;
	bool writer;		/* opened for writing: counted in writers */
	long owner;		/* the thread that created or truncated */
				/* it with this open; else 0 */
	int backing_id;		/* > 0: the kernel passes it through */
};

/* An open directory: a window on its listing (listing.h). */
struct dir_handle {
	DIR *dp;
	struct listing list;
};

static struct octofs *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct octofs_inode *ino_of(fuse_req_t req, fuse_ino_t ino)
{
	return inode_get(ctx_of(req)->inodes, ino);
}

static struct open_file *fh_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

/* Reply with an errno, or 0 as success for calls that have no data. */
static void reply_status(fuse_req_t req, int err)
{
	fuse_reply_err(req, err < 0 ? -err : err);
}

/*
 * @inode's O_PATH descriptor for the length of one request (inode_fd());
 * when there is none, the request is answered with why and -1 returned.
 */
static int pin(fuse_req_t req, struct octofs_inode *inode)
{
	int fd = inode_fd(ctx_of(req)->inodes, inode);

	if (fd < 0) {
		reply_status(req, fd);
		return -1;
	}
	return fd;
}

static void unpin(fuse_req_t req, struct octofs_inode *inode)
{
	inode_fd_put(ctx_of(req)->inodes, inode);
}

/*
 * Upload bookkeeping.  A regular file gets a job at its first
 * modification, is held while written, and is submitted when its last
 * writer is gone.  Ignored names are stored but never get a job.
 */
static bool name_ignored(struct octofs *ctx, const char *name)
{
	return ignore_match(ctx->ignore, name);
}

/* Did the file show a sibling before this version (queued or later)? */
static bool showed_sibling(int fd)
{
	enum state_status st = state_read_status(fd);

	return st == STATE_QUEUED || st == STATE_UPLOADING || st == STATE_DONE;
}

/*
 * Start a new version: a held job and "queued" on disk.  A file @fresh
 * from an exclusive create has no earlier result to clear, and its
 * directory's listing changed anyway (the kernel saw the create).
 */
static void start_version(struct octofs *ctx, struct octofs_inode *inode,
			  const char *name, bool fresh)
{
	struct octofs_job *job;
	bool listing;
	int fd, err;

	job = queue_hold(ctx->queue, inode->dev, inode->ino, inode, name);
	if (!job) {
		log_error("cannot queue %s: out of memory", name);
		return;
	}
	fd = inode_fd(ctx->inodes, inode);
	queue_job_lock_state(job);
	listing = fd >= 0 && !fresh && ctx->opts->url_files &&
		  !showed_sibling(fd);
	if (fd < 0)
		err = fd;
	else
		err = fresh ? state_mark_new_queued(fd) :
			      state_mark_queued(fd);
	queue_job_unlock_state(job);
	if (fd >= 0)
		inode_fd_put(ctx->inodes, inode);
	if (err)
		log_warn("cannot record state of %s: %s", name,
			 strerror(-err));
	queue_job_put(ctx->queue, job);
	url_files_changed(ctx, inode->dev, inode->ino);
	if (listing)
		url_files_listings_changed(ctx);
}

static void mark_version(struct octofs *ctx, struct octofs_inode *inode,
			 bool fresh)
{
	char *name;
	bool was_dirty;

	if (inode->type != S_IFREG)
		return;
	inode_lock(ctx->inodes, inode);
	was_dirty = inode->dirty;
	inode->dirty = true;
	inode->write_err = 0;
	inode_unlock(ctx->inodes, inode);
	if (was_dirty)
		return;
	name = inode_name(ctx->inodes, inode);
	if (!name) {
		log_error("cannot queue a file: out of memory");
		return;
	}
	if (!name_ignored(ctx, name))
		start_version(ctx, inode, name, fresh);
	free(name);
}

static void mark_modified(struct octofs *ctx, struct octofs_inode *inode)
{
	mark_version(ctx, inode, false);
}

/*
 * Let the job go to the workers, unless a write started a newer version
 * since the caller took the dirty flag: that version's writer is still
 * at work and submits it at its own last close.  Checked and released
 * under the inode's lock, which mark_version() takes to start a version.
 */
static int release_job(struct octofs *ctx, struct octofs_inode *inode,
		       const char *name, long owner)
{
	int err = 0;

	inode_lock(ctx->inodes, inode);
	if (!inode->dirty)
		err = queue_submit(ctx->queue, inode->dev, inode->ino, name,
				   owner);
	inode_unlock(ctx->inodes, inode);
	return err;
}

/*
 * Hand the file to the workers, creating its job if it has none yet;
 * @owner created, truncated or renamed it (0: none known).  A version
 * whose writing failed (@write_err, write_fail.h) is held back instead.
 */
static void submit(struct octofs *ctx, struct octofs_inode *inode,
		   const char *name, long owner, int write_err)
{
	struct stat st;
	int fd;

	if (name_ignored(ctx, name))
		return;
	/* Unlinked while open: nothing left to publish. */
	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH) || !st.st_nlink) {
		if (fd >= 0)
			inode_fd_put(ctx->inodes, inode);
		queue_cancel(ctx->queue, inode->dev, inode->ino);
		return;
	}
	if (write_err)
		write_fail_version(ctx, inode->dev, inode->ino, fd, name,
				   write_err);
	inode_fd_put(ctx->inodes, inode);
	if (write_err)
		return;
	if (release_job(ctx, inode, name, owner) == -ENOENT) {
		start_version(ctx, inode, name, false);
		release_job(ctx, inode, name, owner);
	}
}

/*
 * If nobody writes to the file any more and it changed, upload it;
 * @owner as for submit().
 */
static void submit_if_done(struct octofs *ctx, struct octofs_inode *inode,
			   long owner)
{
	bool done;
	char *name;
	int write_err = 0;

	inode_lock(ctx->inodes, inode);
	done = !inode->writers && inode->dirty;
	if (done) {
		inode->dirty = false;
		write_err = inode->write_err;
	}
	inode_unlock(ctx->inodes, inode);
	if (!done)
		return;
	name = inode_name(ctx->inodes, inode);
	if (!name) {
		log_error("cannot upload a file: out of memory");
		return;
	}
	submit(ctx, inode, name, owner, write_err);
	free(name);
}

static void add_writer(struct octofs *ctx, struct octofs_inode *inode,
		       int delta)
{
	inode_lock(ctx->inodes, inode);
	inode->writers += delta;
	inode_unlock(ctx->inodes, inode);
}

/*
 * Lookups.  Regular files report the largest write the mount takes as
 * their preferred I/O size: cp and friends size their buffers from
 * st_blksize, and each buffer is one round trip through FUSE.
 */
static int stat_fd(struct octofs *ctx, int fd, struct stat *st)
{
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (S_ISREG(st->st_mode) && ctx->max_write)
		st->st_blksize = ctx->max_write;
	return 0;
}

static int do_lookup(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name, struct fuse_entry_param *e)
{
	struct octofs_inode *inode;
	int err;

	memset(e, 0, sizeof(*e));
	err = inode_lookup(ctx->inodes, dir, name, &e->attr, &inode);
	if (err)
		return err;
	if (S_ISREG(e->attr.st_mode) && ctx->max_write)
		e->attr.st_blksize = ctx->max_write;
	e->ino = inode_id(ctx->inodes, inode);
	e->attr_timeout = ctx->timeout_s;
	e->entry_timeout = ctx->timeout_s;
	return 0;
}

static void reply_entry_of(fuse_req_t req, struct octofs_inode *dir,
			   const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(ctx_of(req), dir, name, &e);

	if (err)
		reply_status(req, err);
	else
		fuse_reply_entry(req, &e);
}

/*
 * The kernel may keep that a name is absent for as long as it keeps names
 * (cp and editors look a name up twice before creating it).  Not for
 * NAME.url: a sibling appears when an upload ends, and only siblings the
 * kernel has seen are told to it.  A name created behind the mount, in
 * the store, shows within that time, as any change made there.
 */
static bool may_cache_absence(const char *name)
{
	size_t len = strlen(name), suffix = strlen(URL_NAMES_SUFFIX);

	return len < suffix || strcmp(name + len - suffix, URL_NAMES_SUFFIX);
}

static void reply_absent(fuse_req_t req, struct octofs *ctx)
{
	struct fuse_entry_param e = { .ino = 0 };

	e.entry_timeout = ctx->timeout_s;
	fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *dir = ino_of(req, parent);
	struct fuse_entry_param e;
	int err;

	if (dir->url_of) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	err = do_lookup(ctx, dir, name, &e);
	if (err == -ENOENT)
		err = url_files_lookup(ctx, dir, name, &e);
	if (err == -ENOENT && may_cache_absence(name))
		reply_absent(req, ctx);
	else if (err)
		reply_status(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(ctx_of(req)->inodes, ino_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct octofs *ctx = ctx_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		inode_forget(ctx->inodes, inode_get(ctx->inodes,
						    forgets[i].ino),
			     forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *inode = ino_of(req, ino);
	struct stat st;
	int err;

	if (inode->url_of) {
		err = url_files_getattr(ctx, inode, fi != NULL, &st);
	} else if (fi && fh_of(fi)) {
		err = stat_fd(ctx, fh_of(fi)->fd, &st);
	} else {
		err = inode_stat(ctx->inodes, inode, &st);
		if (!err && S_ISREG(st.st_mode) && ctx->max_write)
			st.st_blksize = ctx->max_write;
	}
	if (err)
		reply_status(req, err);
	else
		fuse_reply_attr(req, &st, ctx->timeout_s);
}

/*
 * setattr, one attribute group at a time, on @fd: the inode's O_PATH
 * descriptor.
 */
static int set_mode(int fd, struct fuse_file_info *fi, mode_t mode)
{
	char path[FDPATH_MAX];
	int res;

	if (fi)
		res = fchmod(fh_of(fi)->fd, mode);
	else
		res = chmod(fdpath(fd, path), mode);
	return res ? -errno : 0;
}

static int set_owner(int fd, const struct stat *attr, int to_set)
{
	uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
	gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

	if (fchownat(fd, "", uid, gid,
		     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	return 0;
}

/*
 * Clearing set-user-ID and set-group-ID bits is ours where the kernel
 * leaves it to us: open(O_TRUNC) truncates here, and with
 * FUSE_HANDLE_KILLPRIV_V2 (passthrough_kills_privs()) so do writes and
 * truncates.  The kernel would clear them for a caller without
 * CAP_FSETID; we cannot see capabilities, only that callers other than
 * root do not normally have it.  @fd may be an O_PATH descriptor.
 */
static bool caller_keeps_privs(fuse_req_t req)
{
	return fuse_req_ctx(req)->uid == 0;
}

static mode_t without_privs(mode_t mode)
{
	mode &= ~S_ISUID;
	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		mode &= ~S_ISGID;
	return mode;
}

static int kill_priv(fuse_req_t req, int fd)
{
	char path[FDPATH_MAX];
	struct stat st;

	if (caller_keeps_privs(req))
		return 0;
	if (fstat(fd, &st))
		return -errno;
	if (without_privs(st.st_mode) == st.st_mode)
		return 0;
	return chmod(fdpath(fd, path), without_privs(st.st_mode) & ~S_IFMT) ?
		       -errno : 0;
}

static int set_size(fuse_req_t req, struct octofs_inode *inode, int fd,
		    struct fuse_file_info *fi, off_t size)
{
	struct octofs *ctx = ctx_of(req);
	char path[FDPATH_MAX];
	int res;

	mark_modified(ctx, inode);
	if (passthrough_kills_privs(ctx->passthrough)) {
		res = kill_priv(req, fi ? fh_of(fi)->fd : fd);
		if (res)
			return res;
	}
	if (fi)
		res = ftruncate(fh_of(fi)->fd, size);
	else
		res = truncate(fdpath(fd, path), size);
	res = res ? -errno : 0;
	if (write_fail_lost(-res))
		write_fail_note(ctx->inodes, inode, -res);
	if (!fi)
		submit_if_done(ctx, inode, 0);
	return res;
}

static int set_times(struct octofs_inode *inode, int fd,
		     struct fuse_file_info *fi, const struct stat *attr,
		     int to_set)
{
	struct timespec tv[2] = {
		{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT },
	};
	char path[FDPATH_MAX];
	int res;

	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fi)
		res = futimens(fh_of(fi)->fd, tv);
	else if (inode->type == S_IFLNK)
		res = utimensat(fd, "", tv,
				AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	else
		res = utimensat(AT_FDCWD, fdpath(fd, path), tv, 0);
	return res ? -errno : 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *inode = ino_of(req, ino);
	int fd, err = 0;

	if (inode->url_of) {
		err = (to_set & FUSE_SET_ATTR_SIZE) ? -EACCES : -EPERM;
		reply_status(req, url_files_check(ctx, inode, err));
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	if (to_set & FUSE_SET_ATTR_MODE)
		err = set_mode(fd, fi, attr->st_mode);
	if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		err = set_owner(fd, attr, to_set);
	if (!err && (to_set & FUSE_SET_ATTR_SIZE))
		err = set_size(req, inode, fd, fi, attr->st_size);
	if (!err && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			       FUSE_SET_ATTR_ATIME_NOW |
			       FUSE_SET_ATTR_MTIME_NOW)))
		err = set_times(inode, fd, fi, attr, to_set);
	unpin(req, inode);
	if (err)
		reply_status(req, err);
	else
		op_getattr(req, ino, fi);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct octofs_inode *inode = ino_of(req, ino);
	char buf[PATH_MAX + 1];
	ssize_t len;
	int fd;

	if (inode->url_of) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	len = readlinkat(fd, "", buf, sizeof(buf));
	if (len < 0)
		len = -errno;
	unpin(req, inode);
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (len == sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[len] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* Refuse to create over a virtual name's parent being virtual. */
static struct octofs_inode *dir_of(fuse_req_t req, fuse_ino_t parent)
{
	struct octofs_inode *dir = ino_of(req, parent);

	if (dir->url_of) {
		fuse_reply_err(req, ENOTDIR);
		return NULL;
	}
	return dir;
}

/* mknod, mkdir and symlink: @link is the symlink's target. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link)
{
	struct octofs_inode *dir = dir_of(req, parent);
	struct caller_ids ids;
	int dir_fd, err;

	if (!dir)
		return;
	dir_fd = pin(req, dir);
	if (dir_fd < 0)
		return;
	err = caller_become(req, &ids);
	if (!err) {
		if (link)
			err = symlinkat(link, dir_fd, name);
		else if (S_ISDIR(mode))
			err = mkdirat(dir_fd, name, mode & ~S_IFMT);
		else
			err = mknodat(dir_fd, name, mode, rdev);
		err = err ? -errno : 0;
		caller_unbecome(&ids);
	}
	unpin(req, dir);
	if (err)
		reply_status(req, err);
	else
		reply_entry_of(req, dir, name);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	make_node(req, parent, name, S_IFLNK, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct octofs_inode *inode = ino_of(req, ino);
	struct octofs_inode *dir = dir_of(req, parent);
	char path[FDPATH_MAX];
	int fd, dir_fd, err;

	if (!dir)
		return;
	if (inode->url_of) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	dir_fd = pin(req, dir);
	if (dir_fd < 0) {
		unpin(req, inode);
		return;
	}
	err = linkat(AT_FDCWD, fdpath(fd, path), dir_fd, name,
		     AT_SYMLINK_FOLLOW) ? -errno : 0;
	unpin(req, dir);
	unpin(req, inode);
	if (err)
		reply_status(req, err);
	else
		reply_entry_of(req, dir, name);
}

/*
 * The last name of a file is going away (unlink, or replaced by a
 * rename): its pending upload has nothing left to publish, and our
 * descriptor of it must not keep the store from freeing it.
 */
static void cancel_if_last(struct octofs *ctx, const struct stat *st)
{
	if (S_ISDIR(st->st_mode) || st->st_nlink > 1)
		return;
	if (S_ISREG(st->st_mode))
		queue_cancel(ctx->queue, st->st_dev, st->st_ino);
	inode_gone(ctx->inodes, st->st_dev, st->st_ino);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *dir = dir_of(req, parent);
	struct stat st;
	int dir_fd, err;

	if (!dir)
		return;
	dir_fd = pin(req, dir);
	if (dir_fd < 0)
		return;
	err = fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	if (!err && unlinkat(dir_fd, name, 0))
		err = -errno;
	unpin(req, dir);
	if (err == -ENOENT) {
		reply_status(req, url_files_unlink(ctx, dir, name));
		return;
	}
	if (err) {
		reply_status(req, err);
		return;
	}
	cancel_if_last(ctx, &st);
	url_files_changed(ctx, st.st_dev, st.st_ino);
	fuse_reply_err(req, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct octofs_inode *dir = dir_of(req, parent);
	int dir_fd, err;

	if (!dir)
		return;
	dir_fd = pin(req, dir);
	if (dir_fd < 0)
		return;
	err = unlinkat(dir_fd, name, AT_REMOVEDIR) ? -errno : 0;
	unpin(req, dir);
	reply_status(req, err);
}

/*
 * Ignored names never carry upload state: an upload still to come is
 * cancelled (vim renames the file it saved a moment ago to NAME~) and a
 * finished one's URL is forgotten; the object stays on the server.
 */
static void renamed_to_ignored(struct octofs *ctx,
			       struct octofs_inode *inode)
{
	int fd, err;

	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0)
		return;		/* gone already: nothing to clear */
	err = queue_cancel_with(ctx->queue, inode->dev, inode->ino,
				state_forget_fd, &fd);
	inode_fd_put(ctx->inodes, inode);
	if (err)
		log_warn("cannot clear the upload state of a file renamed to "
			 "an ignored name: %s", strerror(-err));
}

/*
 * After a rename: the file's job and inode learn the new name, and a
 * finished file renamed from an ignored name into a real one is
 * uploaded (how editors, rsync and browsers save).
 */
static void renamed(struct octofs *ctx, struct octofs_inode *newdir,
		    const char *oldname, const char *newname, long owner)
{
	struct fuse_entry_param e;
	struct octofs_inode *inode;

	if (do_lookup(ctx, newdir, newname, &e))
		return;
	inode = inode_get(ctx->inodes, e.ino);
	if (inode->type == S_IFREG && name_ignored(ctx, newname) &&
	    !name_ignored(ctx, oldname) && e.attr.st_nlink == 1) {
		renamed_to_ignored(ctx, inode);
	} else if (inode->type == S_IFREG) {
		queue_rename(ctx->queue, inode->dev, inode->ino, newname);
		if (name_ignored(ctx, oldname) && !name_ignored(ctx, newname)) {
			/*
			 * The writer's release may still be on its way (close
			 * does not wait for it): queue now, so a reader of
			 * the URL waits instead of finding none.
			 */
			start_version(ctx, inode, newname, false);
			inode_lock(ctx->inodes, inode);
			inode->dirty = true;
			inode_unlock(ctx->inodes, inode);
			/* Done with it once it starts another file. */
			submit_if_done(ctx, inode, owner);
		}
	}
	inode_forget(ctx->inodes, inode, 1);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *dir = dir_of(req, parent);
	struct octofs_inode *newdir;
	struct stat moved, victim;
	bool had_moved, had_victim;
	int dir_fd, newdir_fd, err;

	if (!dir)
		return;
	newdir = dir_of(req, newparent);
	if (!newdir)
		return;
	dir_fd = pin(req, dir);
	if (dir_fd < 0)
		return;
	newdir_fd = pin(req, newdir);
	if (newdir_fd < 0) {
		unpin(req, dir);
		return;
	}
	had_moved = !fstatat(dir_fd, name, &moved, AT_SYMLINK_NOFOLLOW);
	had_victim = !fstatat(newdir_fd, newname, &victim,
			      AT_SYMLINK_NOFOLLOW);
	err = renameat2(dir_fd, name, newdir_fd, newname, flags) ? -errno : 0;
	unpin(req, newdir);
	unpin(req, dir);
	if (err) {
		reply_status(req, err);
		return;
	}
	if (had_victim && !(flags & RENAME_EXCHANGE))
		cancel_if_last(ctx, &victim);
	renamed(ctx, newdir, name, newname, fuse_req_ctx(req)->pid);
	if (flags & RENAME_EXCHANGE)
		renamed(ctx, dir, newname, name, fuse_req_ctx(req)->pid);
	/* Siblings under the old names now show something else. */
	if (had_moved)
		url_files_changed(ctx, moved.st_dev, moved.st_ino);
	if (had_victim)
		url_files_changed(ctx, victim.st_dev, victim.st_ino);
	fuse_reply_err(req, 0);
}

/*
 * The kernel takes one backing file per inode, shared by every open file
 * that passes through, writers and readers alike: open it for both (the
 * kernel checked each caller's access already).  It keeps its own
 * reference, so our descriptor is closed at once.
 */
static int new_backing(struct octofs *ctx, struct octofs_inode *inode)
{
	char path[FDPATH_MAX];
	int path_fd, fd, id;

	path_fd = inode_fd(ctx->inodes, inode);
	if (path_fd < 0)
		return path_fd;
	fd = open(fdpath(path_fd, path), O_RDWR | O_CLOEXEC);
	id = fd < 0 ? -errno : 0;
	inode_fd_put(ctx->inodes, inode);
	if (fd >= 0) {
		id = passthrough_open(ctx->passthrough, fd);
		close(fd);
	}
	/* The name would take the table's lock: the number will do. */
	if (id < 0)
		log_debug("cannot pass inode %lu through: %s",
			  (unsigned long)inode->ino, strerror(-id));
	return id;
}

/*
 * Open files.  Passthrough or not: the kernel serves every open file of
 * an inode the same way, so the first open decides while others are
 * open.  Passed through, the bytes never reach us, so a writer makes a
 * new version when it opens.  A writer that may leave the bytes as they
 * were (neither created nor truncated: touch, an append that fails)
 * goes through us where the choice is free, so that only a real write
 * makes a new version; so does one whose writes must clear the file's
 * set-user-ID or set-group-ID bit, which only we can do.  Returns the
 * backing file's id, or 0 for none.
 */
static int pick_backing(struct octofs *ctx, struct octofs_inode *inode,
			bool served_if_free)
{
	int id = 0, spare = 0;
	bool free_choice;

	inode_lock(ctx->inodes, inode);
	free_choice = !inode->opens;
	inode_unlock(ctx->inodes, inode);
	/* Opened outside the lock; another open may have chosen since. */
	if (free_choice && !served_if_free &&
	    passthrough_enabled(ctx->passthrough))
		spare = new_backing(ctx, inode);
	inode_lock(ctx->inodes, inode);
	if (inode->opens > 0) {
		id = inode->backing_id;
	} else if (!inode->opens && spare > 0) {
		id = inode->backing_id = spare;
		spare = 0;
	}
	if (id > 0)
		inode->opens++;
	else
		inode->opens--;
	inode_unlock(ctx->inodes, inode);
	passthrough_close(ctx->passthrough, spare);
	return id;
}

static void drop_backing(struct octofs *ctx, struct octofs_inode *inode,
			 int id)
{
	int last = 0;

	inode_lock(ctx->inodes, inode);
	if (id <= 0) {
		inode->opens++;
	} else if (!--inode->opens) {
		last = inode->backing_id;
		inode->backing_id = 0;
	}
	inode_unlock(ctx->inodes, inode);
	passthrough_close(ctx->passthrough, last);
}

/* Would a write by the caller have to clear privilege bits of @fd? */
static bool writes_kill_privs(fuse_req_t req, int fd)
{
	struct stat st;

	return !caller_keeps_privs(req) &&
	       (fstat(fd, &st) || without_privs(st.st_mode) != st.st_mode);
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

/*
 * @new_bytes: created or truncated, so a new version in any case.  An
 * open file keeps its inode's O_PATH descriptor pinned, so requests
 * that come without the open file find it (unlinked, too) at once.
 */
static int open_handle(fuse_req_t req, struct octofs_inode *inode, int fd,
		       struct fuse_file_info *fi, bool new_bytes)
{
	struct octofs *ctx = ctx_of(req);
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
	kills = fh->writer && writes_kill_privs(req, fd);
	id = pick_backing(ctx, inode, fh->writer &&
			  (!new_bytes || kills || store_low(ctx, fd)));
	/*
	 * Passed through all the same (the file is open that way already):
	 * its writes will not reach us, so clear the bits now.
	 */
	if (id > 0 && kills)
		err = kill_priv(req, fd);
	if (err) {
		drop_backing(ctx, inode, id);
		inode_fd_put(ctx->inodes, inode);
		free(fh);
		return err;
	}
	fh->fd = fd;
	fh->backing_id = id;
	if (fh->writer) {
		add_writer(ctx, inode, 1);
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
		mark_modified(ctx, inode);
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
	drop_backing(ctx, inode, fh->backing_id);
	close(fh->fd);
	if (fh->writer) {
		add_writer(ctx, inode, -1);
		submit_if_done(ctx, inode, fh->owner);
	}
	inode_fd_put(ctx->inodes, inode);
	free(fh);
}

/*
 * Can close() on @fd's filesystem report anything?  These have no flush
 * of their own, so their close() reports no error (a failed write shows
 * at the write, fsync or msync): a flush request would cost every
 * close() a round trip for nothing.  Others (NFS, CIFS, FUSE) may report
 * a failed write-back at close, which op_flush passes on.
 */
static bool close_is_quiet(int fd)
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
	return close_is_quiet(fd);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *inode = ino_of(req, ino);
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
	path_fd = pin(req, inode);
	if (path_fd < 0)
		return;
	do
		fd = open(fdpath(path_fd, path),
			  (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY |
					 O_NOFOLLOW | O_DIRECT)) | O_CLOEXEC);
	while (fd < 0 && inode_fd_relieve(ctx->inodes, errno));
	err = fd < 0 ? -errno : 0;
	unpin(req, inode);
	if (err) {
		reply_status(req, err);
		return;
	}
	err = (fi->flags & O_TRUNC) ? kill_priv(req, fd) : 0;
	if (!err)
		err = open_handle(req, inode, fd, fi, fi->flags & O_TRUNC);
	if (err) {
		close(fd);
		reply_status(req, err);
		return;
	}
	if (fi->flags & O_TRUNC)
		mark_modified(ctx, inode);
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

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *dir = dir_of(req, parent), *inode;
	struct fuse_entry_param e;
	struct caller_ids ids;
	int dir_fd, fd = -1, err;

	if (!dir)
		return;
	dir_fd = pin(req, dir);
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
	unpin(req, dir);
	if (err) {
		reply_status(req, err);
		return;
	}
	err = do_lookup(ctx, dir, name, &e);
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
	mark_version(ctx, inode, fi->flags & O_EXCL);
	fi->noflush = no_flush_for(ctx, inode, fd);
	if (passthrough_reply_create(req, &e, fi, fh_of(fi)->backing_id)) {
		close_handle(ctx, inode, fh_of(fi));
		inode_forget(ctx->inodes, inode, 1);
	}
	return;

out_close:
	close(fd);
	reply_status(req, err);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct octofs_inode *inode = ino_of(req, ino);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (inode->url_of) {
		url_files_read(req, ctx_of(req), inode, size, off);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fh_of(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_bufvec *in_buf, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
	ssize_t res;

	/* Before the bytes change, so an upload in flight is abandoned. */
	mark_modified(ctx_of(req), ino_of(req, ino));
	if (passthrough_kills_privs(ctx_of(req)->passthrough)) {
		res = kill_priv(req, fh_of(fi)->fd);
		if (res) {
			fuse_reply_err(req, (int)-res);
			return;
		}
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fh_of(fi)->fd;
	out.buf[0].pos = off;
	res = fuse_buf_copy(&out, in_buf, 0);
	/* Any failed write: the version lacks what its program wrote. */
	if (res < 0)
		write_fail_note(ctx_of(req)->inodes, ino_of(req, ino),
				(int)-res);
	else if ((size_t)res < out.buf[0].size)
		write_fail_note(ctx_of(req)->inodes, ino_of(req, ino),
				WRITE_FAIL_SHORT);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	int fd;

	if (!fi->fh) {
		fuse_reply_err(req, 0);
		return;
	}
	/* close() of a duplicate reports errors the store defers to close */
	fd = dup(fh_of(fi)->fd);
	reply_status(req, (fd < 0 || close(fd)) ? -errno : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct open_file *fh = fh_of(fi);

	if (fh)
		close_handle(ctx_of(req), ino_of(req, ino), fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = fh_of(fi) ? fh_of(fi)->fd : -1;
	int res;

	if (fd < 0) {
		fuse_reply_err(req, 0);
		return;
	}
	res = datasync ? fdatasync(fd) : fsync(fd);
	reply_status(req, res ? -errno : 0);
}

/* Directories. */
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

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct octofs_inode *inode = ino_of(req, ino);
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
	d->dp = open_dir(ctx_of(req), inode);
	if (!d->dp) {
		fuse_reply_err(req, errno);
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
	inode_dir_listed(ctx_of(req)->inodes, inode);
	/* Not delivered (interrupted): the kernel never releases it. */
	if (fuse_reply_open(req, fi))
		dir_handle_free(d);
}

/*
 * The entries from @off on, up to the end of the window's chunk: the
 * next request, at the offset of the last entry the kernel took, then
 * finds its chunk still loaded or starts the next one.
 */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char name[NAME_MAX + 1];
	struct stat st = { 0 };
	size_t used = 0, ent_size, i;
	off_t next;
	char *buf;
	int err;

	err = listing_at(&d->list, ctx_of(req), ino_of(req, ino), d->dp, off,
			 &i);
	if (err) {
		reply_status(req, err);
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

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	dir_handle_free((struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);
	int res = datasync ? fdatasync(fd) : fsync(fd);

	reply_status(req, res ? -errno : 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct octofs_inode *inode = ino_of(req, ino);
	struct statvfs sv;
	int fd, err;

	if (inode->url_of)
		inode = inode->url_of;
	fd = pin(req, inode);
	if (fd < 0)
		return;
	err = fstatvfs(fd, &sv) ? -errno : 0;
	unpin(req, inode);
	if (err)
		reply_status(req, err);
	else
		fuse_reply_statfs(req, &sv);
}

/*
 * Extended attributes: user.octofs.* are ours, the rest pass through,
 * except those the mount does not carry.  The kernel enforces no POSIX
 * ACL on this mount (none is asked for) and takes no SELinux label from
 * a FUSE server, so the store's would only mislead: they answer "not
 * supported", as on a filesystem without them.  That answer also lets
 * ls -l stop asking after the first file.
 */
static bool foreign_xattr(const char *name)
{
	return !strcmp(name, "security.selinux") ||
	       !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

/* Drop the foreign names from a listxattr list; the new length. */
static size_t drop_foreign(char *list, size_t len)
{
	size_t in = 0, out = 0, n;

	while (in < len) {
		n = strnlen(list + in, len - in);
		n += n < len - in;	/* its NUL, when there is one */
		if (!foreign_xattr(list + in)) {
			memmove(list + out, list + in, n);
			out += n;
		}
		in += n;
	}
	return out;
}

static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	if (!size)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/* "SENT/TOTAL" bytes of the upload in progress; ENODATA otherwise. */
static void reply_progress(fuse_req_t req, struct octofs *ctx,
			   struct octofs_inode *inode, size_t size)
{
	int64_t sent, total;
	char value[48];

	if (queue_progress(ctx->queue, inode->dev, inode->ino, &sent,
			   &total)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	snprintf(value, sizeof(value), "%lld/%lld", (long long)sent,
		 (long long)total);
	reply_value(req, value, strlen(value), size);
}

/*
 * user.octofs.stats on the mount's root: what the queue holds now, and
 * what finished since the mount ("is it done yet?" for scripts).
 */
static void reply_stats(fuse_req_t req, struct octofs *ctx, size_t size)
{
	struct queue_counts c;
	char value[192];

	queue_counts(ctx->queue, &c);
	snprintf(value, sizeof(value), "queued=%lu uploading=%lu done=%lu "
		 "failed=%lu sent_bytes=%lld total_bytes=%lld", c.queued,
		 c.uploading, c.done, c.failed, (long long)c.sent_bytes,
		 (long long)c.total_bytes);
	reply_value(req, value, strlen(value), size);
}

/* Status and other attributes of a file with a pending job. */
static bool pending_xattr(fuse_req_t req, struct octofs *ctx,
			  struct octofs_inode *inode, const char *name,
			  size_t size)
{
	enum job_state js;
	const char *value;

	if (queue_state(ctx->queue, inode->dev, inode->ino, &js))
		return false;
	if (!strcmp(name, STATE_PROGRESS)) {
		reply_progress(req, ctx, inode, size);
		return true;
	}
	if (strcmp(name, STATE_STATUS)) {
		fuse_reply_err(req, ENODATA);
		return true;
	}
	value = state_status_name(js == JOB_UPLOADING ? STATE_UPLOADING :
					STATE_QUEUED);
	reply_value(req, value, strlen(value), size);
	return true;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct octofs *ctx = ctx_of(req);
	struct octofs_inode *inode = ino_of(req, ino);
	char *value = NULL;
	ssize_t len;

	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (inode->url_of) {
		reply_status(req, url_files_check(ctx, inode, -ENODATA));
		return;
	}
	if (!strcmp(name, STATE_URL) && inode->type == S_IFREG) {
		url_files_getxattr(req, ctx, inode, size);
		return;
	}
	if (!strcmp(name, STATE_STATS) && ino == FUSE_ROOT_ID) {
		reply_stats(req, ctx, size);
		return;
	}
	if (state_is_own_attr(name) &&
	    pending_xattr(req, ctx, inode, name, size))
		return;
	if (size) {
		value = malloc(size);
		if (!value) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	len = inode_fd(ctx->inodes, inode);
	if (len >= 0) {
		int fd = (int)len;

		len = state_get(fd, name, value, size);
		inode_fd_put(ctx->inodes, inode);
	}
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size)
		fuse_reply_buf(req, value, (size_t)len);
	else
		fuse_reply_xattr(req, (size_t)len);
	free(value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct octofs_inode *inode = ino_of(req, ino);
	char path[FDPATH_MAX];
	char *list;
	ssize_t len;
	int err;

	if (inode->url_of) {
		err = url_files_check(ctx_of(req), inode, 0);
		if (err)
			reply_status(req, err);
		else
			reply_value(req, "", 0, size);
		return;
	}
	/* The whole list (never more than XATTR_LIST_MAX), then filtered,
	 * so the length asked for first is the length given after. */
	list = malloc(XATTR_LIST_MAX);
	if (!list) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	len = inode_fd(ctx_of(req)->inodes, inode);
	if (len >= 0) {
		int fd = (int)len;

		len = listxattr(fdpath(fd, path), list, XATTR_LIST_MAX);
		if (len < 0)
			len = -errno;
		unpin(req, inode);
	}
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else
		reply_value(req, list, drop_foreign(list, (size_t)len), size);
	free(list);
}

/*
 * Writing "queued" to user.octofs.status retries the upload; nothing
 * else of ours is writable.
 */
static int set_own_xattr(struct octofs *ctx, struct octofs_inode *inode,
			 const char *name, const char *value, size_t size)
{
	enum state_status st;

	if (strcmp(name, STATE_STATUS) || inode->type != S_IFREG)
		return -EPERM;
	if (state_status_parse(value, size, &st) || st != STATE_QUEUED)
		return -EINVAL;
	/* A version like a write's, so a writer opening now holds it. */
	mark_modified(ctx, inode);
	submit_if_done(ctx, inode, 0);
	return 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct octofs_inode *inode = ino_of(req, ino);
	char path[FDPATH_MAX];
	int fd, err;

	if (inode->url_of) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (state_is_own_attr(name)) {
		reply_status(req, set_own_xattr(ctx_of(req), inode, name,
						value, size));
		return;
	}
	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	err = setxattr(fdpath(fd, path), name, value, size, flags) ?
		      -errno : 0;
	unpin(req, inode);
	reply_status(req, err);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct octofs_inode *inode = ino_of(req, ino);
	char path[FDPATH_MAX];
	int fd, err;

	if (inode->url_of || state_is_own_attr(name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	err = removexattr(fdpath(fd, path), name) ? -errno : 0;
	unpin(req, inode);
	reply_status(req, err);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct octofs_inode *inode = ino_of(req, ino);
	char path[FDPATH_MAX];
	int fd, err;

	if (inode->url_of) {
		err = (mask & (W_OK | X_OK)) ? -EACCES : 0;
		reply_status(req, url_files_check(ctx_of(req), inode, err));
		return;
	}
	fd = pin(req, inode);
	if (fd < 0)
		return;
	err = faccessat(AT_FDCWD, fdpath(fd, path), mask, 0) ? -errno : 0;
	unpin(req, inode);
	reply_status(req, err);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	int err;

	if (!fh_of(fi)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	mark_modified(ctx_of(req), ino_of(req, ino));
	err = fallocate(fh_of(fi)->fd, mode, offset, length) ? errno : 0;
	if (write_fail_lost(err))
		write_fail_note(ctx_of(req)->inodes, ino_of(req, ino), err);
	fuse_reply_err(req, err);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
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
	mark_modified(ctx_of(req), ino_of(req, ino_out));
	res = copy_file_range(fh_of(fi_in)->fd, &off_in, fh_of(fi_out)->fd,
			      &off_out, len, (unsigned int)flags);
	err = res < 0 ? errno : 0;
	if (write_fail_lost(err))
		write_fail_note(ctx_of(req)->inodes, ino_of(req, ino_out),
				err);
	if (res < 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, (size_t)res);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t res;

	if (!fh_of(fi)) {
		fuse_reply_err(req, ESPIPE);
		return;
	}
	res = lseek(fh_of(fi)->fd, off, whence);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

/*
 * libfuse moves a write's data through a pipe into the store (splice: no
 * copy through our memory) only when the whole request fits the pipe,
 * and a pipe may grow to fs.pipe-max-size (1 MiB by default) without
 * CAP_SYS_RESOURCE.  A request is max_write plus a page of header: take
 * the largest power of two that fits.
 */
static unsigned int pick_max_write(void)
{
	unsigned long pipe_max = MAX_WRITE_BYTES;
	unsigned int bytes = MAX_WRITE_BYTES;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen(PIPE_MAX_PATH, "re");

	if (f) {
		if (fscanf(f, "%lu", &pipe_max) != 1)
			pipe_max = MAX_WRITE_BYTES;
		fclose(f);
	}
	while (bytes > MIN_WRITE_BYTES &&
	       bytes + (unsigned long)(page > 0 ? page : 4096) > pipe_max)
		bytes /= 2;
	return bytes;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct octofs *ctx = userdata;

	/* Large requests: fewer round trips for big files. */
	ctx->max_write = pick_max_write();
	conn->max_write = ctx->max_write;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/* O_TRUNC arrives with open, so truncation is seen as a write. */
	conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* A kept listing is dropped when the store's directory changes. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/*
	 * The kernel applied the caller's umask to every mode it sends;
	 * ours must not mask it a second time.
	 */
	umask(0);
	if (passthrough_enabled(ctx->passthrough))
		log_info("passthrough: the kernel moves file bytes to and "
			 "from the store");
	/* Locks are the kernel's: the store is reached only through us. */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	ctx->close_quiet = close_is_quiet(
		inode_get(ctx->inodes, FUSE_ROOT_ID)->fd);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.lseek = op_lseek,
};
