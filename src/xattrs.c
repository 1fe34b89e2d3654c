/*
 * xattrs: the extended attribute calls.  user.octofs.* are octofs's own
 * (state.h names them): their values come from the upload queue while
 * a job is pending, from the stored file after, and only status is
 * writable (to retry).  Other attributes pass through to the store,
 * except those the mount does not carry.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/limits.h>
#include <sys/xattr.h>
#include <time.h>

#include "fdpath.h"
#include "feed.h"
#include "fs_req.h"
#include "queue_fuse.h"
#include "state.h"
#include "timefmt.h"
#include "url_files.h"
#include "versions.h"
#include "xattrs.h"

/*
 * The store's attributes the mount does not carry.  The kernel enforces
 * no POSIX ACL on this mount (none is asked for) and takes no SELinux
 * label from a FUSE server, so the store's would only mislead: they
 * answer "not supported", as on a filesystem without them.  That answer
 * also lets ls -l stop asking after the first file.
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
	char value[192 + OUTAGE_WHY_MAX], when[32];
	int len;

	queue_counts(ctx->queue, &c);
	len = snprintf(value, sizeof(value), "queued=%lu uploading=%lu "
		       "done=%lu failed=%lu sent_bytes=%lld total_bytes=%lld "
		       "retrying=%lu", c.queued, c.uploading, c.done,
		       c.failed, (long long)c.sent_bytes,
		       (long long)c.total_bytes, c.retrying);
	/* The reason runs to the end of the value: it holds spaces. */
	if (c.outage.since && len > 0 && (size_t)len < sizeof(value))
		snprintf(value + len, sizeof(value) - (size_t)len,
			 " failing_since=%s last_error=%s",
			 timefmt_iso(c.outage.since, when, sizeof(when)),
			 c.outage.why);
	reply_value(req, value, strlen(value), size);
}

/*
 * "attempts=N next_try=TIME error=REASON" of a file waiting to be tried
 * again; ENODATA otherwise.
 */
static void reply_retry(fuse_req_t req, struct octofs *ctx,
			struct octofs_inode *inode, size_t size)
{
	struct queue_retry_info info;
	char value[96 + OUTAGE_WHY_MAX], when[32];

	if (queue_retry_info(ctx->queue, inode->dev, inode->ino, &info)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	snprintf(value, sizeof(value), "attempts=%u next_try=%s error=%s",
		 info.attempts, timefmt_iso(info.next_try, when, sizeof(when)),
		 info.error);
	reply_value(req, value, strlen(value), size);
}

/* user.octofs.feed on the mount's root: where to follow outcomes. */
static void reply_feed(fuse_req_t req, struct octofs *ctx, size_t size)
{
	const char *name;

	if (!ctx->feed) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	name = feed_address(ctx->feed);
	reply_value(req, name, strlen(name), size);
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
	if (!strcmp(name, STATE_RETRY)) {
		reply_retry(req, ctx, inode, size);
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

/* The stored file's attribute @name into @value of @size bytes. */
static ssize_t stored_value(struct octofs *ctx, struct octofs_inode *inode,
			    const char *name, char *value, size_t size)
{
	int fd = inode_fd(ctx->inodes, inode);
	ssize_t len;

	if (fd < 0)
		return fd;
	len = state_get(fd, name, value, size);
	inode_fd_put(ctx->inodes, inode);
	return len;
}

void xattrs_get(fuse_req_t req, fuse_ino_t ino, const char *name,
		size_t size)
{
	struct octofs *ctx = fs_ctx(req);
	struct octofs_inode *inode = fs_inode(req, ino);
	char *value = NULL;
	ssize_t len;

	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (inode->url_of) {
		fs_reply_status(req, url_files_check(ctx, inode, -ENODATA));
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
	if (!strcmp(name, STATE_FEED) && ino == FUSE_ROOT_ID) {
		reply_feed(req, ctx, size);
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
	len = stored_value(ctx, inode, name, value, size);
	if (len < 0)
		fs_reply_status(req, (int)len);
	else if (size)
		fuse_reply_buf(req, value, (size_t)len);
	else
		fuse_reply_xattr(req, (size_t)len);
	free(value);
}

/* The stored file's attribute names into @list (XATTR_LIST_MAX bytes). */
static ssize_t stored_list(struct octofs *ctx, struct octofs_inode *inode,
			   char *list)
{
	char path[FDPATH_MAX];
	ssize_t len;
	int fd = inode_fd(ctx->inodes, inode);

	if (fd < 0)
		return fd;
	len = listxattr(fdpath(fd, path), list, XATTR_LIST_MAX);
	if (len < 0)
		len = -errno;
	inode_fd_put(ctx->inodes, inode);
	return len;
}

void xattrs_list(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct octofs_inode *inode = fs_inode(req, ino);
	char *list;
	ssize_t len;
	int err;

	if (inode->url_of) {
		err = url_files_check(fs_ctx(req), inode, 0);
		if (err)
			fs_reply_status(req, err);
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
	len = stored_list(fs_ctx(req), inode, list);
	if (len < 0)
		fs_reply_status(req, (int)len);
	else
		reply_value(req, list, drop_foreign(list, (size_t)len), size);
	free(list);
}

/*
 * Set the stored file's attribute @name to @value (@size bytes, setxattr
 * @flags), or remove it when @value is NULL (libfuse never passes NULL
 * for a value, even an empty one).
 */
static int set_stored(struct octofs *ctx, struct octofs_inode *inode,
		      const char *name, const char *value, size_t size,
		      int flags)
{
	char path[FDPATH_MAX];
	int fd = inode_fd(ctx->inodes, inode), err;

	if (fd < 0)
		return fd;
	fdpath(fd, path);
	if (!value)
		err = removexattr(path, name);
	else
		err = setxattr(path, name, value, size, flags);
	err = err ? -errno : 0;
	inode_fd_put(ctx->inodes, inode);
	return err;
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
	version_modified(ctx, inode);
	version_submit_if_done(ctx, inode, 0);
	return 0;
}

void xattrs_set(fuse_req_t req, fuse_ino_t ino, const char *name,
		const char *value, size_t size, int flags)
{
	struct octofs_inode *inode = fs_inode(req, ino);

	if (inode->url_of) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (state_is_own_attr(name)) {
		fs_reply_status(req, set_own_xattr(fs_ctx(req), inode, name,
						value, size));
		return;
	}
	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	fs_reply_status(req, set_stored(fs_ctx(req), inode, name, value, size,
					flags));
}

void xattrs_remove(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct octofs_inode *inode = fs_inode(req, ino);

	if (inode->url_of || state_is_own_attr(name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (foreign_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	fs_reply_status(req, set_stored(fs_ctx(req), inode, name, NULL, 0, 0));
}
