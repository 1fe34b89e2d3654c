/*
 * octofs: the one context of a mount, created by main() and handed to
 * the FUSE callbacks (as session userdata) and to the workers.
 *
 * Lock order.  Every mutex of the daemon, from the first taken to the
 * last; a thread holding one may take only those below it, and nothing
 * blocks under any of them but pthread_cond_wait and the few system
 * calls named.
 *
 *   J  a job's state lock (queue_job_lock_state()): orders the writes of
 *      one upload's state to its stored file, which happen under it.  It
 *      is held across the callbacks of queue_cancel_with() and
 *      queue_fail_with() and the answers to the waiters a cancel ends.
 *   L  an inode's lock (inode_lock(), one of 256 stripes): its versions
 *      (dirty, writers, write_err) and open files (opens, backing_id).
 *      J and L are never held together, and one thread holds at most
 *      one L, since unrelated inodes share a stripe.
 *   Q  the upload queue's lock (queue.c), which filetab.c, waiters.c,
 *      ahead.c and owners.c borrow: the jobs, the run and presign-ahead
 *      lists, the URL waiters, and all their condition variables.  Held
 *      across no network I/O, no answer to a waiter and no retire call.
 *   T  the inode table's lock (inode_table.h): names, parents, lookup
 *      counts and references of inodes.  A job's last reference going
 *      (under Q) drops its inode's (takes T).
 *   C  the descriptor cache's lock (fd_cache.c): cached descriptors;
 *      close() is the only call made under it.
 *
 * These stand alone, taken with no other held and taking none:
 *   N  notify_lock below: the session cache invalidations go to; held
 *      across fuse_lowlevel_notify_inval_*(), which write to /dev/fuse.
 *   P  the worker pool's lock (worker.c): how many workers run.
 *   F  the live feed's lock (feed.c): its ring of records, the
 *      connections accepted and how many follow; non-blocking accept4()
 *      and close() are the only calls made under it.
 *   H  the open handles' list (handles.c).
 *
 * One is a leaf, which may be taken with any of the others held:
 *   E  log.c's lock on standard error, so that lines never mix; write()
 *      is the only call made under it.
 */
#ifndef OCTOFS_OCTOFS_H
#define OCTOFS_OCTOFS_H

#include <pthread.h>
#include <stdbool.h>
#include <fuse_lowlevel.h>

#include "handles.h"

struct octofs_opts;
struct inode_table;
struct octofs_queue;
struct worker_pool;
struct feed;
struct mime_table;
struct ignore_set;

struct octofs {
	const struct octofs_opts *opts;
	struct inode_table *inodes;	/* owns the store's directory fd */
	struct octofs_queue *queue;
	struct worker_pool *workers;
	struct feed *feed;		/* NULL: none could be started */
	struct handle_list handles;	/* open files and directories */
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
	bool close_quiet;		/* set once in FUSE init: the */
					/* store's close() reports nothing: */
					/* no flush */
};

#endif
