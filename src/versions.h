/*
 * versions: when a file written through the mount becomes a new version
 * to upload, and when that version goes to the upload queue.
 *
 * A write (or truncate, or an open that passes writes to the kernel)
 * marks the file modified; the close of its last writer submits it.
 * Everything here takes the inode's lock (inode_lock()) itself and may
 * take the queue's under it; callers hold neither.
 */
#ifndef OCTOFS_VERSIONS_H
#define OCTOFS_VERSIONS_H

#include <stdbool.h>
#include <sys/stat.h>

struct octofs;
struct octofs_inode;

/*
 * @inode's bytes are about to change: start a new version (a held job,
 * "queued" on disk) unless one is started already.  @fresh: the file
 * was just made by an exclusive create, so it has no earlier state to
 * clear.  Directories and other non-regular files are left alone.
 */
void version_mark(struct octofs *ctx, struct octofs_inode *inode,
		  bool fresh);
/* version_mark() of a file that existed before. */
void version_modified(struct octofs *ctx, struct octofs_inode *inode);

/*
 * Count @delta writers of @inode in or out (open handles with write
 * access).
 */
void version_add_writer(struct octofs *ctx, struct octofs_inode *inode,
			int delta);

/*
 * If nobody writes to @inode any more and it changed, hand the version
 * to the upload queue; a version whose writing failed (write_fail.h) is
 * held back instead.  @owner is the process that created, truncated or
 * renamed it (0: none known).
 */
void version_submit_if_done(struct octofs *ctx,
			    struct octofs_inode *inode, long owner);

/*
 * The file @st describes lost a name (unlink, or replaced by a rename):
 * when it was the last, its pending upload is cancelled and its inode
 * leaves the table, so the store can free it.
 */
void version_last_name_gone(struct octofs *ctx, const struct stat *st);

/*
 * The regular file @inode, with @nlink names, was renamed from @oldname
 * to @newname by @owner.
 */
void version_renamed(struct octofs *ctx, struct octofs_inode *inode,
		     const char *oldname, const char *newname,
		     nlink_t nlink, long owner);

#endif
