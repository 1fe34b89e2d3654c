/*
 * octofs: the one context of a mount, created by main() and handed to
 * the FUSE callbacks (as session userdata) and to the workers.
 */
#ifndef OCTOFS_OCTOFS_H
#define OCTOFS_OCTOFS_H

#include <pthread.h>
#include <stdbool.h>
#include <fuse_lowlevel.h>

struct octofs_opts;
struct inode_table;
struct octofs_queue;
struct worker_pool;
struct mime_table;
struct ignore_set;

struct octofs {
	const struct octofs_opts *opts;
	struct inode_table *inodes;	/* owns the store's directory fd */
	struct octofs_queue *queue;
	struct worker_pool *workers;
	const struct mime_table *mime;
	const struct ignore_set *ignore;
	struct fuse_session *se;
	struct passthrough *passthrough;	/* NULL: none asked for */
	/* Cache invalidations go to notify_se: set once mounted, NULL
	 * again before the unmount closes its descriptor. */
	pthread_mutex_t notify_lock;
	struct fuse_session *notify_se;
	double timeout_s;		/* kernel entry/attribute cache */
	unsigned int max_write;		/* bytes; set once in FUSE init */
	bool close_quiet;		/* set once in FUSE init: the store's */
					/* close() reports nothing: no flush */
};

#endif
