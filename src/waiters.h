/*
 * waiters: the readers parked until a file's upload ends, and the thread
 * that answers them when their timeout passes first.
 *
 * The list has no lock of its own: it borrows its owner's (the queue's),
 * given to waiters_init().  Every function but waiters_init(),
 * waiters_destroy() and waiters_answer() is called with that lock held,
 * so that a waiter is added, found or taken in the same critical section
 * as the job it waits for.  The reaper takes that lock too, and drops it
 * before answering anyone.
 */
#ifndef OCTOFS_WAITERS_H
#define OCTOFS_WAITERS_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "queue.h"

/* All fields are guarded by *lock. */
struct waiters {
	pthread_mutex_t *lock;		/* the owner's */
	pthread_cond_t cond;		/* the list changed, or stop */
	pthread_t reaper;
	struct queue_waiter *head;
	bool stopping;			/* all go, with -ETIMEDOUT */
};

/* Start the reaper; 0 or -errno.  @lock outlives waiters_destroy(). */
int waiters_init(struct waiters *ws, pthread_mutex_t *lock);

/* Stop the reaper (after waiters_stop()) and free; lock not held. */
void waiters_destroy(struct waiters *ws);

/* Park @w for (@dev, @ino) until @timeout_ms from now. */
void waiters_add(struct waiters *ws, struct queue_waiter *w, dev_t dev,
		 ino_t ino, unsigned long timeout_ms);

/* Is anyone parked for (@dev, @ino)? */
bool waiters_has(const struct waiters *ws, dev_t dev, ino_t ino);

/*
 * Take the waiters of (@dev, @ino) off the list, for waiters_answer()
 * once the lock is dropped.
 */
struct queue_waiter *waiters_take(struct waiters *ws, dev_t dev, ino_t ino);

/* The reaper answers every waiter with -ETIMEDOUT, then ends. */
void waiters_stop(struct waiters *ws);

/* Call done() of each waiter taken, lock not held. */
void waiters_answer(struct queue_waiter *taken, const char *url, int err);

#endif
