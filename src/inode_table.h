/*
 * inode_table: the inode table's insides, shared by inode.c (the table)
 * and inode_fd.c (finding its inodes again).  Nothing else includes it.
 */
#ifndef OCTOFS_INODE_TABLE_H
#define OCTOFS_INODE_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "inode.h"

#define INODE_MOUNTS_MAX 32	/* other filesystems in the store */
#define INODE_LOCKS 256		/* inode locks, each shared by many inodes */

/*
 * A directory of each filesystem in the store, for open_by_handle_at,
 * which takes no O_PATH descriptor for it.
 */
struct inode_mount {
	dev_t dev;
	int fd;
};

/*
 * lock guards the buckets, n_inodes, mounts and every inode's nlookup,
 * refs, parent, name and hash_next (T in the lock order, octofs.h).
 */
struct inode_table {
	pthread_mutex_t lock;
	struct octofs_inode root;
	struct octofs_inode **buckets;
	size_t n_buckets;
	size_t n_inodes;
	uint32_t sibling_epoch;	/* bumped by every inode_sibling_reset() */
	struct octofs_inode *listed;	/* see inode_dir_listed() */
	size_t n_listed;
	struct fd_cache *fds;
	int root_dir_fd;	/* the store's directory, O_RDONLY */
	bool by_handle;		/* set at creation; cleared if refused */
	struct inode_mount mounts[INODE_MOUNTS_MAX];
	size_t n_mounts;
	pthread_mutex_t inode_locks[INODE_LOCKS];	/* see inode_lock() */
};

/* inode_fd.c: the handle of @name in @dir_fd, kept in @inode if it fits. */
void inode_take_handle(struct octofs_inode *inode, int dir_fd,
		       const char *name, int flags);
/* inode_fd.c: can the store's inodes be reopened by handle? */
bool inode_handles_work(struct inode_table *t);
/* inode_fd.c: keep the directory @name of another filesystem. */
void inode_add_mount(struct inode_table *t, int dir_fd, const char *name,
		     const struct stat *st);
/* inode.c: lookups never find @inode again; t->lock held. */
void inode_mark_gone(struct inode_table *t, struct octofs_inode *inode);

#endif
