/*
 * backing: which open files the kernel passes through, and the backing
 * file (passthrough.h) it takes for them, one per inode.
 *
 * The kernel serves every open file of an inode the same way, passed
 * through or not, so the first open decides for as long as others are
 * open.  The count and the backing file's id live in the inode (opens,
 * backing_id) under its lock.
 */
#ifndef OCTOFS_BACKING_H
#define OCTOFS_BACKING_H

#include <stdbool.h>

struct octofs;
struct octofs_inode;

/*
 * Count one more open file of @inode and say how it is served: the
 * backing file's id (> 0) to pass it through, or 0 to serve it here.
 * @served_if_free: serve it here if no other open file of @inode has
 * decided already.
 */
int backing_pick(struct octofs *ctx, struct octofs_inode *inode,
		 bool served_if_free);
/* An open file that backing_pick() gave @id is closed. */
void backing_drop(struct octofs *ctx, struct octofs_inode *inode, int id);

#endif
