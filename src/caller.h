/*
 * caller: acting for the caller of a FUSE request.
 *
 * New nodes belong to the caller, as they would on the store itself.
 * While making one, this thread takes on the caller's filesystem ids
 * and groups, so the store also gives it the group of a set-group-ID
 * directory and checks the caller's permissions.  Linux keeps these
 * per thread, and the raw setgroups system call changes this thread's
 * only (glibc's setgroups() changes every thread's).  A daemon that is
 * not root cannot switch, and makes nodes as itself.
 */
#ifndef OCTOFS_CALLER_H
#define OCTOFS_CALLER_H

#include <stdbool.h>
#include <sys/types.h>
#include <fuse_lowlevel.h>

struct caller_ids {
	gid_t *own_groups;	/* the daemon's, to return to; NULL: as self */
	int n_own;
};

/*
 * Take on @req's caller's filesystem ids and groups on this thread;
 * 0 (also when there is nothing to switch) or a negative errno, and
 * then nothing was changed.
 */
int caller_become(fuse_req_t req, struct caller_ids *ids);
/*
 * The same for a caller known by its ids and supplementary groups (a
 * peer of a socket, say) rather than by a request.
 */
int caller_become_ids(uid_t uid, gid_t gid, const gid_t *groups,
		      int n_groups, struct caller_ids *ids);
/* Back to the daemon's own ids and groups after caller_become*(). */
void caller_unbecome(struct caller_ids *ids);

/*
 * Clear @fd's set-user-ID and set-group-ID bits as the kernel would for
 * a write by @req's caller: not for root (see caller.c).  @fd may be an
 * O_PATH descriptor.  0 or a negative errno.
 */
int caller_kill_priv(fuse_req_t req, int fd);
/* Would a write by @req's caller have to clear privilege bits of @fd? */
bool caller_writes_kill_privs(fuse_req_t req, int fd);

/*
 * May the user @uid (group @gid, supplementary @groups) read the file at
 * @path below @dir_fd, search permission on the way included?  Tried by
 * opening it as them.  Root may read anything; a daemon that is not root
 * cannot tell for others, and says no but to its own user.
 */
bool caller_may_read(int dir_fd, const char *path, uid_t uid, gid_t gid,
		     const gid_t *groups, int n_groups);

#endif
