/*
 * caller: acting for the caller of a FUSE request (caller.h): making a
 * node as the caller, and clearing the privilege bits its writes drop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caller.h"
#include "fdpath.h"
#include "log.h"

static int set_thread_groups(int n, const gid_t *groups)
{
	return syscall(SYS_setgroups, (size_t)n, groups) ? -errno : 0;
}

/* The daemon's own groups, to return to after making a node. */
static int save_own_groups(struct caller_ids *ids)
{
	int n, err;

	n = getgroups(0, NULL);
	if (n < 0)
		return -errno;
	ids->own_groups = calloc(n ? n : 1, sizeof(*ids->own_groups));
	if (!ids->own_groups)
		return -ENOMEM;
	ids->n_own = getgroups(n, ids->own_groups);
	if (ids->n_own < 0) {
		err = -errno;
		free(ids->own_groups);
		ids->own_groups = NULL;
		return err;
	}
	return 0;
}

/* The caller's groups, read from /proc by libfuse (caller frees). */
static int caller_groups(fuse_req_t req, gid_t **out, int *n_out)
{
	gid_t *groups;
	int n, got;

	n = fuse_req_getgroups(req, 0, NULL);
	if (n < 0)
		return n;
	groups = calloc(n ? n : 1, sizeof(*groups));
	if (!groups)
		return -ENOMEM;
	got = fuse_req_getgroups(req, n, groups);
	if (got < 0) {
		free(groups);
		return got;
	}
	/* Groups gained between the two calls are left out. */
	*out = groups;
	*n_out = got < n ? got : n;
	return 0;
}

int caller_become_ids(uid_t uid, gid_t gid, const gid_t *groups,
		      int n_groups, struct caller_ids *ids)
{
	int err;

	ids->own_groups = NULL;
	if (geteuid() != 0 || (uid == 0 && gid == getegid()))
		return 0;
	err = save_own_groups(ids);
	if (err)
		return err;
	err = set_thread_groups(n_groups, groups);
	if (err) {
		free(ids->own_groups);
		ids->own_groups = NULL;
		return err;
	}
	setfsgid(gid);
	setfsuid(uid);
	return 0;
}

int caller_become(fuse_req_t req, struct caller_ids *ids)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	gid_t *groups;
	int n, err;

	ids->own_groups = NULL;
	if (geteuid() != 0 || (fc->uid == 0 && fc->gid == getegid()))
		return 0;
	err = caller_groups(req, &groups, &n);
	if (err)
		return err;
	err = caller_become_ids(fc->uid, fc->gid, groups, n, ids);
	free(groups);
	return err;
}

void caller_unbecome(struct caller_ids *ids)
{
	int err;

	if (!ids->own_groups)
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	err = set_thread_groups(ids->n_own, ids->own_groups);
	if (err)
		log_error("cannot restore the daemon's groups: %s",
			  strerror(-err));
	free(ids->own_groups);
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

int caller_kill_priv(fuse_req_t req, int fd)
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

bool caller_writes_kill_privs(fuse_req_t req, int fd)
{
	struct stat st;

	return !caller_keeps_privs(req) &&
	       (fstat(fd, &st) || without_privs(st.st_mode) != st.st_mode);
}

bool caller_may_read(int dir_fd, const char *path, uid_t uid, gid_t gid,
		     const gid_t *groups, int n_groups)
{
	struct caller_ids ids;
	int fd;

	if (uid == 0)
		return true;
	/* Not root: no way to check as someone else. */
	if (geteuid() != 0)
		return uid == geteuid();
	if (caller_become_ids(uid, gid, groups, n_groups, &ids))
		return false;
	fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	caller_unbecome(&ids);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}
