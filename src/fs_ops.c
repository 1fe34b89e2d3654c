/*
 * fs_ops: the FUSE low-level operations table, and the calls on names
 * and attributes: lookup, getattr and setattr, making, linking,
 * removing and renaming names, statfs, access.
 *
 * The shape follows libfuse's passthrough_hp example: each callback makes
 * the system call on the inode's O_PATH descriptor, turns -1 into errno
 * and replies.  Open files are fs_file.c's, directories fs_dir.c's,
 * extended attributes xattrs.c's, and the NAME.url names url_files.c's;
 * what makes a new version to upload is versions.c's.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "caller.h"
#include "fdpath.h"
#include "fs_dir.h"
#include "fs_file.h"
#include "fs_ops.h"
#include "fs_req.h"
#include "listing.h"
#include "passthrough.h"
#include "url_files.h"
#include "url_names.h"
#include "versions.h"
#include "xattrs.h"
#include "write_fail.h"

/* The largest write request we ask the kernel for (max_write). */
#define MAX_WRITE_BYTES (1024 * 1024)
#define MIN_WRITE_BYTES (128 * 1024)
#define PIPE_MAX_PATH "/proc/sys/fs/pipe-max-size"

/*
 * Lookups.  Where writes come to us, regular files report the largest
 * write the mount takes as their preferred I/O size: cp and friends size
 * their buffers from st_blksize, and each buffer is one round trip
 * through FUSE.  Passed through, writes never come to us and the store's
 * own size stands: a larger buffer only makes the kernel cache the
 * store's file in larger pieces, which a VM that hands free memory back
 * to its host is slow to find (cp of 1 GiB in: 0.25-0.3 s in 128 KiB
 * writes, up to 1.7 s in 512 KiB ones; tests/bench/README).
 */
static void prefer_io_size(struct octofs *ctx, struct stat *st)
{
	if (S_ISREG(st->st_mode) && ctx->max_write &&
	    !passthrough_enabled(ctx->passthrough))
		st->st_blksize = ctx->max_write;
}

static int stat_fd(struct octofs *ctx, int fd, struct stat *st)
{
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	prefer_io_size(ctx, st);
	return 0;
}

int fs_lookup(struct octofs *ctx, struct octofs_inode *dir,
	      const char *name, struct fuse_entry_param *e)
{
	struct octofs_inode *inode;
	int err;

	memset(e, 0, sizeof(*e));
	err = inode_lookup(ctx->inodes, dir, name, &e->attr, &inode);
	if (err)
		return err;
	prefer_io_size(ctx, &e->attr);
	e->ino = inode_id(ctx->inodes, inode);
	e->attr_timeout = ctx->timeout_s;
	e->entry_timeout = ctx->timeout_s;
	return 0;
}

/*
 * Hand the kernel the entry @e, counted as one lookup of its inode: when
 * the reply does not reach it (the request was interrupted), the kernel
 * will never forget that lookup, so it is forgotten here.
 */
static void reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct octofs *ctx = fs_ctx(req);

	if (fuse_reply_entry(req, e) && e->ino)
		inode_forget(ctx->inodes, inode_get(ctx->inodes, e->ino), 1);
}

static void reply_entry_of(fuse_req_t req, struct octofs_inode *dir,
			   const char *name)
{
	struct fuse_entry_param e;
	int err = fs_lookup(fs_ctx(req), dir, name, &e);

	if (err)
		fs_reply_status(req, err);
	else
		reply_entry(req, &e);
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
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *dir = fs_inode(req, parent);
	struct fuse_entry_param e;
	int err;

	if (dir->url_of) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	err = fs_lookup(ctx, dir, name, &e);
	if (err == -ENOENT)
		err = url_files_lookup(ctx, dir, name, &e);
	if (err == -ENOENT && may_cache_absence(name))
		reply_absent(req, ctx);
	else if (err)
		fs_reply_status(req, err);
	else
		reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(fs_ctx(req)->inodes, fs_inode(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct octofs *ctx = fs_ctx(req);
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
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *inode = fs_inode(req, ino);
	struct stat st;
	int err;

	if (inode->url_of) {
		err = url_files_getattr(ctx, inode, fi != NULL, &st);
	} else if (fs_file_fd(fi) >= 0) {
		err = stat_fd(ctx, fs_file_fd(fi), &st);
	} else {
		err = inode_stat(ctx->inodes, inode, &st);
		if (!err)
			prefer_io_size(ctx, &st);
	}
	if (err)
		fs_reply_status(req, err);
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
		res = fchmod(fs_file_fd(fi), mode);
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

static int set_size(fuse_req_t req, struct octofs_inode *inode, int fd,
		    struct fuse_file_info *fi, off_t size)
{
	struct octofs *ctx = fs_ctx(req);
	char path[FDPATH_MAX];
	int res;

	version_modified(ctx, inode);
	if (passthrough_kills_privs(ctx->passthrough)) {
		res = caller_kill_priv(req, fi ? fs_file_fd(fi) : fd);
		if (res)
			return res;
	}
	if (fi)
		res = ftruncate(fs_file_fd(fi), size);
	else
		res = truncate(fdpath(fd, path), size);
	res = res ? -errno : 0;
	if (write_fail_lost(-res))
		write_fail_note(ctx->inodes, inode, -res);
	if (!fi)
		version_submit_if_done(ctx, inode, 0);
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
		res = futimens(fs_file_fd(fi), tv);
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
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *inode = fs_inode(req, ino);
	int fd, err = 0;

	if (inode->url_of) {
		err = (to_set & FUSE_SET_ATTR_SIZE) ? -EACCES : -EPERM;
		fs_reply_status(req, url_files_check(ctx, inode, err));
		return;
	}
	fd = fs_pin(req, inode);
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
	fs_unpin(req, inode);
	if (err)
		fs_reply_status(req, err);
	else
		op_getattr(req, ino, fi);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	char buf[PATH_MAX + 1];
	ssize_t len;
	int fd;

	if (inode->url_of) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fd = fs_pin(req, inode);
	if (fd < 0)
		return;
	len = readlinkat(fd, "", buf, sizeof(buf));
	if (len < 0)
		len = -errno;
	fs_unpin(req, inode);
	if (len < 0)
		fs_reply_status(req, (int)len);
	else if (len == sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[len] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* mknod, mkdir and symlink: @link is the symlink's target. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link)
{
	struct octofs_inode *dir;
	struct caller_ids ids;
	int dir_fd, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
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
	fs_unpin(req, dir);
	if (err)
		fs_reply_status(req, err);
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
	struct octofs_inode *inode = fs_inode(req, ino);
	struct octofs_inode *dir;
	char path[FDPATH_MAX];
	int fd, dir_fd, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
	if (dir_fd < 0)
		return;
	fd = inode->url_of ? -EPERM : inode_fd(fs_ctx(req)->inodes, inode);
	if (fd < 0) {
		fs_unpin(req, dir);
		fs_reply_status(req, fd);
		return;
	}
	err = linkat(AT_FDCWD, fdpath(fd, path), dir_fd, name,
		     AT_SYMLINK_FOLLOW) ? -errno : 0;
	fs_unpin(req, dir);
	fs_unpin(req, inode);
	if (err)
		fs_reply_status(req, err);
	else
		reply_entry_of(req, dir, name);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *dir;
	struct stat st;
	int dir_fd, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
	if (dir_fd < 0)
		return;
	err = fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	if (!err && unlinkat(dir_fd, name, 0))
		err = -errno;
	fs_unpin(req, dir);
	if (err == -ENOENT) {
		fs_reply_status(req, url_files_unlink(ctx, dir, name));
		return;
	}
	if (err) {
		fs_reply_status(req, err);
		return;
	}
	version_last_name_gone(ctx, &st);
	url_files_changed(ctx, st.st_dev, st.st_ino);
	fuse_reply_err(req, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct octofs_inode *dir;
	int dir_fd, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
	if (dir_fd < 0)
		return;
	err = unlinkat(dir_fd, name, AT_REMOVEDIR) ? -errno : 0;
	fs_unpin(req, dir);
	fs_reply_status(req, err);
}

/*
 * After a rename: the file's job and inode learn the new name
 * (versions.h).
 */
static void renamed(struct octofs *ctx, struct octofs_inode *newdir,
		    const char *oldname, const char *newname, long owner)
{
	struct fuse_entry_param e;
	struct octofs_inode *inode;

	if (fs_lookup(ctx, newdir, newname, &e))
		return;
	inode = inode_get(ctx->inodes, e.ino);
	if (inode->type == S_IFREG)
		version_renamed(ctx, inode, oldname, newname,
				e.attr.st_nlink, owner);
	inode_forget(ctx->inodes, inode, 1);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *dir, *newdir;
	struct stat moved, victim;
	bool had_moved, had_victim;
	int dir_fd, newdir_fd, err;

	dir_fd = fs_pin_dir(req, parent, &dir);
	if (dir_fd < 0)
		return;
	newdir_fd = fs_pin_dir(req, newparent, &newdir);
	if (newdir_fd < 0) {
		fs_unpin(req, dir);
		return;
	}
	had_moved = !fstatat(dir_fd, name, &moved, AT_SYMLINK_NOFOLLOW);
	had_victim = !fstatat(newdir_fd, newname, &victim,
			      AT_SYMLINK_NOFOLLOW);
	err = renameat2(dir_fd, name, newdir_fd, newname, flags) ? -errno : 0;
	fs_unpin(req, newdir);
	fs_unpin(req, dir);
	if (err) {
		fs_reply_status(req, err);
		return;
	}
	if (had_victim && !(flags & RENAME_EXCHANGE))
		version_last_name_gone(ctx, &victim);
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

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	struct statvfs sv;
	int fd, err;

	if (inode->url_of)
		inode = inode->url_of;
	fd = fs_pin(req, inode);
	if (fd < 0)
		return;
	err = fstatvfs(fd, &sv) ? -errno : 0;
	fs_unpin(req, inode);
	if (err)
		fs_reply_status(req, err);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	char path[FDPATH_MAX];
	int fd, err;

	if (inode->url_of) {
		err = (mask & (W_OK | X_OK)) ? -EACCES : 0;
		fs_reply_status(req, url_files_check(fs_ctx(req), inode, err));
		return;
	}
	fd = fs_pin(req, inode);
	if (fd < 0)
		return;
	err = faccessat(AT_FDCWD, fdpath(fd, path), mask, 0) ? -errno : 0;
	fs_unpin(req, inode);
	fs_reply_status(req, err);
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

	passthrough_init(ctx->passthrough, conn);
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
	ctx->close_quiet = fs_file_close_is_quiet(
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
	.open = fs_file_open,
	.create = fs_file_create,
	.read = fs_file_read,
	.write_buf = fs_file_write_buf,
	.flush = fs_file_flush,
	.release = fs_file_release,
	.fsync = fs_file_fsync,
	.opendir = fs_dir_open,
	.readdir = fs_dir_read,
	.releasedir = fs_dir_release,
	.fsyncdir = fs_dir_fsync,
	.statfs = op_statfs,
	.getxattr = xattrs_get,
	.listxattr = xattrs_list,
	.setxattr = xattrs_set,
	.removexattr = xattrs_remove,
	.access = op_access,
	.fallocate = fs_file_fallocate,
	.copy_file_range = fs_file_copy_range,
	.lseek = fs_file_lseek,
};
