/*
 * queue_fuse: the upload queue as the FUSE side uses it: writes make and
 * hold jobs, last closes submit them, renames and unlinks follow them,
 * and readers of a URL wait on them.  None of these waits for an upload.
 */
#ifndef OCTOFS_QUEUE_FUSE_H
#define OCTOFS_QUEUE_FUSE_H

#include <stdint.h>
#include <sys/types.h>

#include "queue.h"

enum job_state {
	JOB_QUEUED,		/* waits for its last writer or a worker */
	JOB_UPLOADING,		/* a worker has it */
};

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
 * job, or the queue is stopping (the caller answers from the file's
 * stored state).
 */
int queue_wait(struct octofs_queue *q, dev_t dev, ino_t ino,
	       struct queue_waiter *w, unsigned long timeout_ms);

/* Why the file's upload waits to be tried again. */
struct queue_retry_info {
	unsigned int attempts;		/* failed tries of this version */
	time_t next_try;		/* wall-clock */
	char error[OUTAGE_WHY_MAX];	/* the last one's reason */
};

/*
 * What queue_retry() said of the file's upload while it waits to be
 * tried again; -ENOENT when it is not waiting for a retry.
 */
int queue_retry_info(struct octofs_queue *q, dev_t dev, ino_t ino,
		     struct queue_retry_info *info);

/*
 * Bytes sent so far of the file's upload in progress, and its size;
 * -ENOENT when it has none in progress, or its worker has not yet read
 * the file's size.
 */
int queue_progress(struct octofs_queue *q, dev_t dev, ino_t ino,
		   int64_t *sent_bytes, int64_t *total_bytes);

#endif
