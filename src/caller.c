/*
 * caller: making a node as the caller of a FUSE request (caller.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caller.h"
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

/* The caller's groups, read from /proc by libfuse, on this thread. */
static int take_caller_groups(fuse_req_t req)
{
	gid_t *groups;
	int n, got, err;

	n = fuse_req_getgroups(req, 0, NULL);
	if (n < 0)
		return n;
	groups = calloc(n ? n : 1, sizeof(*groups));
	if (!groups)
		return -ENOMEM;
	got = fuse_req_getgroups(req, n, groups);
	/* Groups gained between the two calls are left out. */
	err = got < 0 ? got : set_thread_groups(got < n ? got : n, groups);
	free(groups);
	return err;
}

int caller_become(fuse_req_t req, struct caller_ids *ids)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	int err;

	ids->own_groups = NULL;
	if (geteuid() != 0 || (fc->uid == 0 && fc->gid == getegid()))
		return 0;
	err = save_own_groups(ids);
	if (err)
		return err;
	err = take_caller_groups(req);
	if (err) {
		free(ids->own_groups);
		ids->own_groups = NULL;
		return err;
	}
	setfsgid(fc->gid);
	setfsuid(fc->uid);
	return 0;
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
