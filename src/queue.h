/*
 * queue: the upload jobs of files that are not yet done.
 *
 * A job exists from a file's first modification through the mount until
 * its upload succeeded, failed for good, or was cancelled; done and failed
 * states live only on disk (state.c).  Jobs are keyed by (st_dev, st_ino),
 * so hard links share one upload, and each job keeps its own O_PATH
 * descriptor of the file, so it survives the kernel forgetting the inode
 * and follows renames.
 *
 * The queue does no I/O of its own.  FUSE threads hold, submit, cancel and
 * wait; worker threads pop, then report the outcome.  A generation number
 * tells an outcome that still describes the file from one that was
 * overtaken by a newer write: only the former is published.
 */
#ifndef OCTOFS_QUEUE_H
#define OCTOFS_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum job_state {
	JOB_QUEUED,		/* waiting for its last writer or a worker */
	JOB_UPLOADING,		/* a worker has it */
};

struct octofs_queue;
struct octofs_job;

/*
 * Someone waiting for a job's URL.  The caller allocates it and sets
 * @done; the queue calls @done exactly once, from any thread, without
 * holding its locks: with the URL and 0, with NULL and -ENODATA when the
 * upload failed or was cancelled, or with NULL and -ETIMEDOUT when the
 * timeout passed first.  @done owns @w from then on.
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

/* Stop: queue_pop() returns NULL, waiters get -ETIMEDOUT.  Idempotent. */
void queue_shutdown(struct octofs_queue *q);

/* Shut down if needed and free; all worker threads must have exited. */
void queue_free(struct octofs_queue *q);

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
 * The file was modified: get or create its job (keeping @file, see
 * queue_on_file(), on creation), start a new generation, cancel an
 * upload in flight, and hold the job until queue_submit().  Returns a
 * reference the caller drops with queue_job_put(), or NULL when out of
 * memory.
 */
struct octofs_job *queue_hold(struct octofs_queue *q, dev_t dev, ino_t ino,
			      void *file, const char *name);

/*
 * The last writer is gone: let workers have the job, under @name (NULL:
 * keep the name).  @owner (a thread id, > 0; 0 for none known) created
 * or truncated the file, or renamed it into place.  -ENOENT when the
 * file has no job.
 */
int queue_submit(struct octofs_queue *q, dev_t dev, ino_t ino,
		 const char *name, long owner);

/*
 * @owner started writing @dev/@ino afresh (created or truncated it): a
 * program that starts another file has finished saving the one before,
 * so that file's rest ends, or is skipped if its release comes later
 * (close() does not wait for the release).  Reopening the same file
 * keeps the rest, so saves in passes still make one upload.  Nothing is
 * kept with settle 0.
 */
void queue_writer_opened(struct octofs_queue *q, long owner, dev_t dev,
			 ino_t ino);

/*
 * Queue an upload found unfinished in the store at mount (keeping @file).
 * -EEXIST when the file already has a job (it was written meanwhile),
 * -ECANCELED after queue_shutdown(), -ENOMEM.
 */
int queue_resume(struct octofs_queue *q, dev_t dev, ino_t ino, void *file,
		 const char *name);

/* Forget the file's job: its upload is cancelled, waiters get -ENODATA. */
void queue_cancel(struct octofs_queue *q, dev_t dev, ino_t ino);

/*
 * queue_cancel(), then @fn(@arg) under the cancelled job's state lock,
 * so that no worker records an outcome in between (e.g. forgetting the
 * file's state).  Without a job, @fn runs alone.  Returns its result.
 */
int queue_cancel_with(struct octofs_queue *q, dev_t dev, ino_t ino,
		      int (*fn)(void *arg), void *arg);

/*
 * The file's current version will not be uploaded (writing it failed):
 * @fn(@arg) records that under the job's state lock (alone when the file
 * has no job), then the job is forgotten.  Either way it counts as failed
 * for good and the retire function runs; waiters get -ENODATA.  Returns
 * @fn's result.
 */
int queue_fail_with(struct octofs_queue *q, dev_t dev, ino_t ino,
		    int (*fn)(void *arg), void *arg);

/* The file now has this name (rename, link). */
void queue_rename(struct octofs_queue *q, dev_t dev, ino_t ino,
		  const char *name);

/* 0 and the state when the file has a job; -ENOENT when it has none. */
int queue_state(struct octofs_queue *q, dev_t dev, ino_t ino,
		enum job_state *state);

/*
 * Wait for the URL of the file's job for at most @timeout_ms.  0: @w is
 * registered and its done() will be called.  -ENOENT: the file has no
 * job (the caller answers from the file's stored state).
 */
int queue_wait(struct octofs_queue *q, dev_t dev, ino_t ino,
	       struct queue_waiter *w, unsigned long timeout_ms);

void queue_counts(struct octofs_queue *q, struct queue_counts *c);

/*
 * Bytes sent so far of the file's upload in progress, and its size;
 * -ENOENT when it has none in progress.
 */
int queue_progress(struct octofs_queue *q, dev_t dev, ino_t ino,
		   int64_t *sent_bytes, int64_t *total_bytes);

/* The worker's report of its upload's progress (no lock taken). */
void queue_job_progress(struct octofs_job *job, int64_t sent_bytes,
			int64_t total_bytes);

/*
 * Worker side.  queue_pop() blocks until a job may start and returns it
 * with a reference and its generation in @gen, or NULL after shutdown.
 */
struct octofs_job *queue_pop(struct octofs_queue *q, uint64_t *gen);

/*
 * Presigning ahead.  A job that is still being written, or resting after
 * its last close, can have its upload URL asked for before the upload
 * starts, so that only the PUT is left when it does.  When on (off by
 * default), queue_hold(), a resting submit and a rename put the job on a
 * list that queue_pop_ahead() hands out, one job at a time, to a thread
 * of its own (upload workers are never held up by it).  That thread
 * answers with queue_ticket(): an opaque answer made for @name, or NULL.
 * The queue keeps one ticket per job, frees it with @fn when the job is
 * renamed or freed, and hands it to the upload's worker through
 * queue_take_ticket(), which must check it is still fresh.  Retiring a
 * job raises its cancel flag if a presign for it is still in flight.
 */
typedef void (*queue_ticket_free_fn)(void *ticket);

void queue_presign_ahead(struct octofs_queue *q, bool on);

/*
 * Block until a job needs its URL asked ahead and return it with a
 * reference, which queue_ticket() drops; NULL after shutdown.
 */
struct octofs_job *queue_pop_ahead(struct octofs_queue *q);

void queue_ticket(struct octofs_queue *q, struct octofs_job *job,
		  const char *name, void *ticket, queue_ticket_free_fn fn);

/*
 * The job's ticket, now the caller's (NULL if none).  While a presign
 * ahead is in flight it waits for its answer: the upload adopts it
 * rather than asking twice.  The presign is bounded by the HTTP
 * timeouts and stopped by the job's cancel flag.
 */
void *queue_take_ticket(struct octofs_queue *q, struct octofs_job *job);

/* Outcomes; each also ends the worker's claim on the job. */
void queue_done(struct octofs_queue *q, struct octofs_job *job, uint64_t gen,
		const char *url);
void queue_failed(struct octofs_queue *q, struct octofs_job *job,
		  uint64_t gen);
void queue_retry(struct octofs_queue *q, struct octofs_job *job,
		 uint64_t gen, unsigned long delay_ms);

/* How many times this generation was retried so far. */
unsigned int queue_job_attempts(struct octofs_queue *q,
				struct octofs_job *job);

/* Raise the cancel flag of every upload in flight (unmount). */
void queue_abort_uploads(struct octofs_queue *q);

/*
 * The state lock orders writes of a job's on-disk state: take it around
 * any state.c write, and check queue_job_current() under it before
 * writing an outcome.  Lock order: state lock, then the queue's lock.
 */
void queue_job_lock_state(struct octofs_job *job);
void queue_job_unlock_state(struct octofs_job *job);
bool queue_job_current(struct octofs_queue *q, struct octofs_job *job,
		       uint64_t gen);

/* Queued by queue_resume() and not written since. */
bool queue_job_resumed(struct octofs_queue *q, struct octofs_job *job);

/* The file the job was made for, as given to queue_hold(). */
void *queue_job_file(const struct octofs_job *job);
/* A copy of the job's current name (caller frees), NULL when no memory. */
char *queue_job_name(struct octofs_queue *q, struct octofs_job *job);
const atomic_int *queue_job_cancel_flag(const struct octofs_job *job);

void queue_job_put(struct octofs_queue *q, struct octofs_job *job);

#endif
