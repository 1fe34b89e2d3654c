/*
 * queue: the upload jobs of files that are not yet done.
 *
 * A job exists from a file's first modification through the mount until
 * its upload succeeded, failed for good, or was cancelled; done and failed
 * states live only on disk (state.c).  Jobs are keyed by (st_dev, st_ino),
 * so hard links share one upload, and each job keeps its file (the
 * caller's object, see queue_on_file()), so it survives the kernel
 * forgetting the inode and follows renames.
 *
 * FUSE threads hold, submit, cancel and wait (queue_fuse.h); worker
 * threads pop, then report the outcome (queue_worker.h).  The queue
 * sends nothing and opens no file, but it does start I/O: it logs, and
 * it calls its callers' callbacks (a state write, replies to and
 * notifications of the kernel, dropping a file's reference), each from
 * the thread and under the locks its comment says.  A generation number
 * tells an outcome that still describes the file from one that was
 * overtaken by a newer write: only the former is published.
 *
 * This header: making, wiring and stopping a queue, and what both sides
 * share.
 */
#ifndef OCTOFS_QUEUE_H
#define OCTOFS_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "outage.h"

struct octofs_queue;
struct octofs_job;

/*
 * Someone waiting for a job's URL (queue_wait()).  The caller allocates
 * it and sets @done; the queue calls @done exactly once, from any
 * thread, without holding its locks: with the URL and 0, with NULL and
 * -ENODATA when the upload failed or was cancelled, or with NULL and
 * -ETIMEDOUT when the timeout passed first.  @done owns @w from then on.
 */
struct queue_waiter {
	void (*done)(struct queue_waiter *w, const char *url, int err);
	/* private to the queue (waiters.c) */
	dev_t dev;
	ino_t ino;
	struct timespec deadline;
	struct queue_waiter *next;
};

/* Counts for the status attribute and the unmount message. */
struct queue_counts {
	unsigned long queued;
	unsigned long uploading;
	unsigned long done;		/* since the queue was made */
	unsigned long failed;		/* ... for good */
	int64_t sent_bytes;		/* of the uploads in progress */
	int64_t total_bytes;
	unsigned long retrying;		/* waiting to be tried again */
	struct outage outage;		/* failing to get through since */
};

/*
 * A submitted job waits @settle_ms before a worker may take it, so that
 * closes in quick succession (a reopen, a rename) make one upload; a
 * reader waiting for its URL (queue_wait) or the program going on to
 * start another file (queue_writer_opened) ends or skips that rest,
 * never a retry's backoff.  NULL when out of memory or a thread cannot start.
 */
struct octofs_queue *queue_new(unsigned long settle_ms);

/*
 * @fn runs in the worker when a job ends (done, or @failed for good):
 * after the queue forgot the job, before its waiters are answered.  Set
 * it before any worker starts.
 */
typedef void (*queue_retire_fn)(void *arg, dev_t dev, ino_t ino,
				bool failed);
void queue_on_retire(struct octofs_queue *q, queue_retire_fn fn, void *arg);

/*
 * How a job keeps its file (the caller's @file, opaque here): @get takes
 * a reference when a job is made for it, @put drops it when the job is
 * freed.  Both run under the queue's lock, so they must not take a lock
 * that is held while taking the queue's.  Set before any job is made;
 * without them files are not counted.
 */
struct queue_file_ops {
	void (*get)(void *arg, void *file);
	void (*put)(void *arg, void *file);
	void *arg;
};
void queue_on_file(struct octofs_queue *q, const struct queue_file_ops *ops);

/*
 * Presigning ahead: when on, a job that is still being written, or
 * resting after its last close, has its upload URL asked for before its
 * upload starts, by a thread of its own (queue_pop_ahead()), so that only
 * the PUT is left when it does.  A new queue has it off; the mount turns
 * it on unless -o presign_ahead=0.
 */
void queue_presign_ahead(struct octofs_queue *q, bool on);

/*
 * Stop: queue_pop() and queue_pop_ahead() return NULL, waiters get
 * -ETIMEDOUT.  Idempotent.
 */
void queue_shutdown(struct octofs_queue *q);

/* Shut down if needed and free; all worker threads must have exited. */
void queue_free(struct octofs_queue *q);

void queue_counts(struct octofs_queue *q, struct queue_counts *c);

/*
 * The state lock orders writes of a job's on-disk state: take it around
 * any state.c write, and check queue_job_current() under it before
 * writing an outcome.  It is J in the lock order (octofs.h), taken
 * before the queue's lock.
 */
void queue_job_lock_state(struct octofs_job *job);
void queue_job_unlock_state(struct octofs_job *job);

/* Drop a reference from queue_hold() (NULL does nothing). */
void queue_job_put(struct octofs_queue *q, struct octofs_job *job);

#endif
