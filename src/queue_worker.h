/*
 * queue_worker: the upload queue as the worker side uses it: uploads
 * are popped, report their progress and outcome; the presign-ahead
 * thread asks for URLs early (tickets); the start-up scan queues the
 * uploads a mount left unfinished.
 */
#ifndef OCTOFS_QUEUE_WORKER_H
#define OCTOFS_QUEUE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue.h"

/*
 * Block until a job may start and return it with a reference and its
 * generation in @gen, or NULL after shutdown.
 */
struct octofs_job *queue_pop(struct octofs_queue *q, uint64_t *gen);

/* The worker's report of its upload's progress (no lock taken). */
void queue_job_progress(struct octofs_job *job, int64_t sent_bytes,
			int64_t total_bytes);

/*
 * Outcomes; each also ends the worker's claim on the job, which may be
 * freed at once.  queue_done() and queue_failed() return whether the
 * outcome was the job's (false: a newer version overtook it, or it was
 * cancelled).
 */
bool queue_done(struct octofs_queue *q, struct octofs_job *job, uint64_t gen,
		const char *url);
bool queue_failed(struct octofs_queue *q, struct octofs_job *job,
		  uint64_t gen);
/*
 * Try again in @delay_ms because of @why (copied: the transient error
 * shown on the file and the mount until the upload ends; NULL when no
 * error was met, e.g. the upload was cancelled by a write).
 */
void queue_retry(struct octofs_queue *q, struct octofs_job *job,
		 uint64_t gen, unsigned long delay_ms, const char *why);

/* How many times this generation was retried so far. */
unsigned int queue_job_attempts(struct octofs_queue *q,
				struct octofs_job *job);

/* Raise the cancel flag of every upload in flight (unmount). */
void queue_abort_uploads(struct octofs_queue *q);

/* Is @gen still the job's generation (see queue_job_lock_state())? */
bool queue_job_current(struct octofs_queue *q, struct octofs_job *job,
		       uint64_t gen);

/* Queued by queue_resume() and not written since. */
bool queue_job_resumed(struct octofs_queue *q, struct octofs_job *job);

/* The file the job was made for, as given to queue_hold(). */
void *queue_job_file(const struct octofs_job *job);
/* A copy of the job's current name (caller frees), NULL when no memory. */
char *queue_job_name(struct octofs_queue *q, struct octofs_job *job);
const atomic_int *queue_job_cancel_flag(const struct octofs_job *job);

/*
 * Presigning ahead (queue_presign_ahead()).  queue_hold(), a resting
 * submit and a rename put the job on a list that queue_pop_ahead() hands
 * out, one job at a time, to a thread of its own (upload workers are
 * never held up by it).  That thread answers with queue_ticket(): an
 * opaque answer made for @name, or NULL.  The queue keeps one ticket per
 * job, frees it with @fn when the job is renamed or freed, and hands it
 * to the upload's worker through queue_take_ticket(), which must check
 * it is still fresh.  Retiring a job raises its cancel flag if a presign
 * for it is still in flight.
 */
typedef void (*queue_ticket_free_fn)(void *ticket);

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

/*
 * Queue an upload found unfinished in the store at mount (keeping @file).
 * -EEXIST when the file already has a job (it was written meanwhile),
 * -ECANCELED after queue_shutdown(), -ENOMEM.
 */
int queue_resume(struct octofs_queue *q, dev_t dev, ino_t ino, void *file,
		 const char *name);

#endif
