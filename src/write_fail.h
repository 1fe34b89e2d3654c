/*
 * write_fail: a version whose writing failed is never published.
 *
 * A version of a file lasts from its first write through the mount until
 * its last writer closes (versions.c).  What went wrong while writing it
 * is kept in the inode (write_err, under its lock): the errno of a
 * write, fallocate, copy_file_range or truncate the daemon served, or a
 * WRITE_FAIL_* code.  The first one stays; a version
 * that starts, or a create or truncation that starts the bytes afresh,
 * clears it.  The last writer's close then holds such a version back as
 * failed instead of uploading it, and it stays so until written again.
 *
 * Writes the kernel passes through (passthrough.c) never reach the
 * daemon, so their results cannot be seen: see write_fail.c for how a
 * full store is told instead.
 */
#ifndef OCTOFS_WRITE_FAIL_H
#define OCTOFS_WRITE_FAIL_H

#include <stdbool.h>
#include <sys/types.h>

struct inode_table;
struct octofs;
struct octofs_inode;

/* Codes beyond any errno; write_err is one byte. */
#define WRITE_FAIL_SHORT 254	/* the store took only part of a write */
#define WRITE_FAIL_FULL 255	/* passed through, closed on a full store */

/*
 * Does a failed fallocate, copy_file_range or truncate with @err mean
 * the version may lack bytes its program meant it to have?  Others
 * (EOPNOTSUPP, EXDEV, EINVAL...) change nothing and have fallbacks.
 */
bool write_fail_lost(int err);

/* Remember @code (an errno or WRITE_FAIL_*) for @inode's version. */
void write_fail_note(struct inode_table *t, struct octofs_inode *inode,
		     int code);
/* The bytes start afresh (created, truncated): nothing failed yet. */
void write_fail_clear(struct inode_table *t, struct octofs_inode *inode);

/*
 * Is the store behind @fd close to full?  Then a writer opened now is
 * served by the daemon, which sees each write's result.
 */
bool write_fail_store_low(int fd);

/*
 * Is the store behind @fd full: might a write passed through to it have
 * failed for lack of room?
 */
bool write_fail_store_full(int fd);

/*
 * Hold back the version of @dev/@ino (@fd an O_PATH descriptor of it,
 * @name its name) whose writing failed with @code: one log line, status
 * failed with the reason in user.octofs.error, its job forgotten.
 */
void write_fail_version(struct octofs *ctx, dev_t dev, ino_t ino, int fd,
			const char *name, int code);

#endif
