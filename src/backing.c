/*
 * backing: which open files the kernel passes through (passthrough.c),
 * and the one backing file it takes per inode for them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "backing.h"
#include "fdpath.h"
#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "passthrough.h"

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
 * Passthrough or not: the kernel serves every open file of an inode the
 * same way, so the first open decides while others are open.  Returns
 * the backing file's id, or 0 for none.
 */
int backing_pick(struct octofs *ctx, struct octofs_inode *inode,
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

void backing_drop(struct octofs *ctx, struct octofs_inode *inode, int id)
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
