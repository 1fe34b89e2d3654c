/*
 * queue: upload jobs, their generations and references, and the run
 * queue workers pop from.  See queue.h for the model.  The table that
 * finds jobs by file (filetab.c), the readers waiting for URLs
 * (waiters.c), the presigns asked ahead (ahead.c) and the file each
 * program started last (owners.c) are kept under the queue's lock.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "fifo.h"
#include "filetab.h"
#include "log.h"
#include "mono.h"
#include "owners.h"
#include "queue_fuse.h"
#include "queue_worker.h"
#include "waiters.h"

/*
 * Locks: key (but its chain link) and file never change; state_lock only
 * orders the job's on-disk state writes; cancel, sent_bytes and
 * total_bytes are atomics that anyone reads; generation is atomic,
 * written under q->lock; all the rest, key's chain link, the run link
 * and the ahead entry included, is guarded by q->lock.
 */
struct octofs_job {
	struct filetab_link key;	/* the file; in q->jobs until dead */
	void *file;			/* with a reference: q->file_ops */
	pthread_mutex_t state_lock;	/* orders on-disk state writes */
	atomic_int cancel;		/* raised to stop the upload */
	_Atomic uint64_t generation;	/* written under q->lock */
	_Atomic int64_t sent_bytes;	/* the upload in progress, */
	_Atomic int64_t total_bytes;	/* as its worker reports it; -1
					 * until it has read the size */

	/* Guarded by q->lock. */
	unsigned int refs;
	char *name;
	bool held;		/* a writer still has the file open */
	bool busy;		/* a worker has it */
	bool dead;		/* removed from the table */
	bool resumed;		/* resumed at mount, not written since */
	bool settling;		/* not_before is a settle, no backoff */
	long rest_owner;	/* the program that started the file */
	unsigned int attempts;	/* retries of this generation */
	char *retry_why;	/* the last one's reason, or NULL */
	time_t retry_at;	/* the next try, wall-clock */
	struct timespec not_before;	/* settle or retry backoff */
	struct fifo_link run;		/* on the run queue */
	struct ahead_entry ahead;	/* presigning ahead: ahead.c */
};

/*
 * Locks: lock guards the fields marked so, the whole of jobs, run,
 * ahead, waiters and owners included (ahead.c and waiters.c borrow it;
 * their condition variables go with it, as work_cond does).  The last
 * four fields are set once, before other threads use the queue.
 *
 * lock is Q and state_lock J in the lock order (octofs.h).  Under lock
 * the file ops' get and put
 * take the inode table's lock, and put may take the descriptor cache's
 * and close a descriptor; that and a rename's out-of-memory log line are
 * the only I/O under lock.  lock is never held across a waiter's done()
 * or the retire function.  state_lock is held across queue_fail_with()'s
 * @fn, and across queue_cancel_with()'s @fn and the done() of the
 * waiters its cancel answers.
 */
struct octofs_queue {
	pthread_mutex_t lock;
	pthread_cond_t work_cond;	/* a job became runnable, or stop */

	/* Guarded by lock. */
	struct filetab jobs;		/* by file */
	struct fifo run;		/* runnable jobs */
	struct ahead ahead;		/* jobs to presign ahead, tickets */
	struct waiters waiters;		/* readers parked for a URL */
	unsigned long uploading;
	unsigned long done;		/* uploads finished since mount */
	unsigned long failed;		/* ... and failed for good */
	struct outage outage;		/* retries since the last answer */
	bool stopping;
	struct owners owners;		/* who started which file last */

	/* Set once, before other threads use the queue. */
	unsigned long settle_ms;	/* delay after a submit */
	queue_retire_fn retired;	/* set before the workers start */
	struct queue_file_ops file_ops;	/* set before any job is made */
	void *retired_arg;
};

/* The job that embeds @ptr as its @member. */
#define JOB_OF(ptr, member) ((struct octofs_job *)((char *)(ptr) - \
				offsetof(struct octofs_job, member)))

static struct octofs_job *find_job(struct octofs_queue *q, dev_t dev,
				   ino_t ino)
{
	struct filetab_link *l = filetab_find(&q->jobs, dev, ino);

	return l ? JOB_OF(l, key) : NULL;
}

static void unlink_job(struct octofs_queue *q, struct octofs_job *job)
{
	filetab_remove(&q->jobs, &job->key);
	job->dead = true;
}

static void run_remove(struct octofs_queue *q, struct octofs_job *job)
{
	fifo_remove(&q->run, &job->run);
}

static void run_append(struct octofs_queue *q, struct octofs_job *job)
{
	if (job->run.on || job->busy || job->held || job->dead)
		return;
	fifo_push(&q->run, &job->run);
	pthread_cond_signal(&q->work_cond);
}

/* A job still being written or resting gets its URL asked for ahead. */
static void want_ahead(struct octofs_queue *q, struct octofs_job *job)
{
	if (!job->busy && !job->dead)
		ahead_want(&q->ahead, &job->ahead);
}

/* A new version starts with no retries behind it; q->lock held. */
static void clear_retry(struct octofs_job *job)
{
	job->attempts = 0;
	free(job->retry_why);
	job->retry_why = NULL;
}

static void job_free(struct octofs_queue *q, struct octofs_job *job)
{
	/* A ticket is left only at queue_free(): retiring drops it. */
	ahead_entry_free(&job->ahead);
	if (q->file_ops.put)
		q->file_ops.put(q->file_ops.arg, job->file);
	pthread_mutex_destroy(&job->state_lock);
	free(job->retry_why);
	free(job->name);
	free(job);
}

/* Drop a reference; the caller holds q->lock.  True when freed. */
static bool job_unref_locked(struct octofs_queue *q, struct octofs_job *job)
{
	if (--job->refs)
		return false;
	job_free(q, job);
	return true;
}

void queue_job_put(struct octofs_queue *q, struct octofs_job *job)
{
	if (!job)
		return;
	pthread_mutex_lock(&q->lock);
	job_unref_locked(q, job);
	pthread_mutex_unlock(&q->lock);
}

static struct octofs_job *job_new(struct octofs_queue *q, dev_t dev,
				  ino_t ino, void *file, const char *name)
{
	struct octofs_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->name = strdup(name);
	if (!job->name) {
		free(job);
		return NULL;
	}
	job->file = file;
	if (q->file_ops.get)
		q->file_ops.get(q->file_ops.arg, file);
	job->key.dev = dev;
	job->key.ino = ino;
	job->refs = 1;		/* the table's */
	pthread_mutex_init(&job->state_lock, NULL);
	return job;
}

/* A new name also forgets a URL asked for under the old one. */
static int set_name(struct octofs_queue *q, struct octofs_job *job,
		    const char *name)
{
	char *copy;

	if (!name || !strcmp(job->name, name))
		return 0;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	free(job->name);
	job->name = copy;
	ahead_renamed(&q->ahead, &job->ahead);
	return 0;
}

/* Create the job of (dev, ino) and put it in the table; q->lock held. */
static struct octofs_job *insert_job(struct octofs_queue *q, dev_t dev,
				     ino_t ino, void *file, const char *name)
{
	struct octofs_job *job = job_new(q, dev, ino, file, name);

	if (job)
		filetab_add(&q->jobs, &job->key);
	return job;
}

struct octofs_job *queue_hold(struct octofs_queue *q, dev_t dev, ino_t ino,
			      void *file, const char *name)
{
	struct octofs_job *job;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (!job) {
		job = insert_job(q, dev, ino, file, name);
		if (!job)
			goto out_unlock;
	} else if (set_name(q, job, name)) {
		job = NULL;
		goto out_unlock;
	}
	atomic_fetch_add(&job->generation, 1);
	if (job->busy)
		atomic_store(&job->cancel, 1);
	job->held = true;
	job->settling = false;
	job->resumed = false;
	clear_retry(job);
	run_remove(q, job);
	want_ahead(q, job);
	job->refs++;
out_unlock:
	pthread_mutex_unlock(&q->lock);
	return job;
}

/* The job may go now; q->lock held. */
static void end_rest(struct octofs_queue *q, struct octofs_job *job)
{
	mono_now(&job->not_before);
	job->settling = false;
	pthread_cond_signal(&q->work_cond);
}

int queue_submit(struct octofs_queue *q, dev_t dev, ino_t ino,
		 const char *name, long owner)
{
	struct octofs_job *job;
	int err = 0;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (!job) {
		err = -ENOENT;
		goto out_unlock;
	}
	err = set_name(q, job, name);
	job->held = false;
	/*
	 * Let a program that closes and reopens at once finish first, unless
	 * someone is already waiting for the URL or the program has gone on
	 * to start another file.
	 */
	mono_now(&job->not_before);
	job->settling = q->settle_ms && !waiters_has(&q->waiters, dev, ino) &&
			!owners_moved_on(&q->owners, owner, dev, ino);
	job->rest_owner = owner;
	if (job->settling) {
		mono_add_ms(&job->not_before, q->settle_ms);
		want_ahead(q, job);
	}
	run_append(q, job);
out_unlock:
	pthread_mutex_unlock(&q->lock);
	return err;
}

void queue_writer_opened(struct octofs_queue *q, long owner, dev_t dev,
			 ino_t ino)
{
	struct octofs_job *job;
	dev_t prev_dev;
	ino_t prev_ino;

	if (owner <= 0 || !q->settle_ms)
		return;
	pthread_mutex_lock(&q->lock);
	if (owners_started(&q->owners, owner, dev, ino, &prev_dev,
			   &prev_ino)) {
		job = find_job(q, prev_dev, prev_ino);
		if (job && job->settling && job->rest_owner == owner)
			end_rest(q, job);
	}
	pthread_mutex_unlock(&q->lock);
}

int queue_resume(struct octofs_queue *q, dev_t dev, ino_t ino, void *file,
		 const char *name)
{
	struct octofs_job *job;
	int err = -EEXIST;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		err = -ECANCELED;
	} else if (!find_job(q, dev, ino)) {
		job = insert_job(q, dev, ino, file, name);
		err = job ? 0 : -ENOMEM;
		if (job) {
			job->resumed = true;
			run_append(q, job);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

/* Remove @job from the table; q->lock held.  Returns its waiters. */
static struct queue_waiter *retire_job(struct octofs_queue *q,
				       struct octofs_job *job)
{
	struct queue_waiter *w = waiters_take(&q->waiters, job->key.dev,
					      job->key.ino);

	run_remove(q, job);
	/* No one will want a presign still asked ahead for it. */
	if (ahead_forget(&q->ahead, &job->ahead))
		atomic_store(&job->cancel, 1);
	unlink_job(q, job);
	job_unref_locked(q, job);
	return w;
}

void queue_cancel(struct octofs_queue *q, dev_t dev, ino_t ino)
{
	struct queue_waiter *w = NULL;
	struct octofs_job *job;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job) {
		atomic_fetch_add(&job->generation, 1);
		atomic_store(&job->cancel, 1);
		w = retire_job(q, job);
	}
	pthread_mutex_unlock(&q->lock);
	waiters_answer(w, NULL, -ENODATA);
}

/* The job of (dev, ino) with a reference, its state lock taken; or NULL. */
static struct octofs_job *lock_job_state(struct octofs_queue *q, dev_t dev,
					 ino_t ino)
{
	struct octofs_job *job;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job)
		job->refs++;
	pthread_mutex_unlock(&q->lock);
	if (job)
		pthread_mutex_lock(&job->state_lock);
	return job;
}

static void unlock_job_state(struct octofs_queue *q, struct octofs_job *job)
{
	if (!job)
		return;
	pthread_mutex_unlock(&job->state_lock);
	queue_job_put(q, job);
}

int queue_cancel_with(struct octofs_queue *q, dev_t dev, ino_t ino,
		      int (*fn)(void *arg), void *arg)
{
	struct octofs_job *job = lock_job_state(q, dev, ino);
	int err;

	queue_cancel(q, dev, ino);
	err = fn(arg);
	unlock_job_state(q, job);
	return err;
}

/*
 * @fn first: once the job is gone a reader takes the stored state, which
 * must say failed by then.  The job may be @job or a newer one made
 * meanwhile: whichever it is, the caller's version is the current one.
 */
int queue_fail_with(struct octofs_queue *q, dev_t dev, ino_t ino,
		    int (*fn)(void *arg), void *arg)
{
	struct octofs_job *job = lock_job_state(q, dev, ino);
	struct queue_waiter *w = NULL;
	int err = fn(arg);

	pthread_mutex_lock(&q->lock);
	q->failed++;
	if (job && !job->dead) {
		atomic_fetch_add(&job->generation, 1);
		atomic_store(&job->cancel, 1);
		w = retire_job(q, job);
	}
	pthread_mutex_unlock(&q->lock);
	unlock_job_state(q, job);
	if (q->retired)
		q->retired(q->retired_arg, dev, ino, true);
	waiters_answer(w, NULL, -ENODATA);
	return err;
}

void queue_rename(struct octofs_queue *q, dev_t dev, ino_t ino,
		  const char *name)
{
	struct octofs_job *job;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job && set_name(q, job, name))
		log_warn("out of memory renaming the upload of %s", job->name);
	else if (job && (job->held || job->settling))
		want_ahead(q, job);
	pthread_mutex_unlock(&q->lock);
}

int queue_state(struct octofs_queue *q, dev_t dev, ino_t ino,
		enum job_state *state)
{
	struct octofs_job *job;
	int err = 0;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job)
		*state = job->busy ? JOB_UPLOADING : JOB_QUEUED;
	else
		err = -ENOENT;
	pthread_mutex_unlock(&q->lock);
	return err;
}

int queue_wait(struct octofs_queue *q, dev_t dev, ino_t ino,
	       struct queue_waiter *w, unsigned long timeout_ms)
{
	struct octofs_job *job;
	int err = 0;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (!job || q->stopping) {
		err = -ENOENT;
		goto out_unlock;
	}
	waiters_add(&q->waiters, w, dev, ino, timeout_ms);
	/* A reader wants the URL now: the settle has no one left to serve. */
	if (job->settling)
		end_rest(q, job);
out_unlock:
	pthread_mutex_unlock(&q->lock);
	return err;
}

/*
 * Bytes of the uploads in progress: sent so far, and in all; and how
 * many wait to be tried again.
 */
static void sum_progress(struct octofs_queue *q, struct queue_counts *c)
{
	struct filetab_link *l;
	struct octofs_job *job;

	c->sent_bytes = 0;
	c->total_bytes = 0;
	c->retrying = 0;
	for (l = filetab_first(&q->jobs); l; l = filetab_next(&q->jobs, l)) {
		job = JOB_OF(l, key);
		c->retrying += !job->busy && job->retry_why;
		if (!job->busy || atomic_load(&job->total_bytes) < 0)
			continue;
		c->sent_bytes += atomic_load(&job->sent_bytes);
		c->total_bytes += atomic_load(&job->total_bytes);
	}
}

void queue_counts(struct octofs_queue *q, struct queue_counts *c)
{
	pthread_mutex_lock(&q->lock);
	c->uploading = q->uploading;
	c->queued = q->jobs.n - q->uploading;
	c->done = q->done;
	c->failed = q->failed;
	c->outage = q->outage;
	sum_progress(q, c);
	pthread_mutex_unlock(&q->lock);
}

int queue_progress(struct octofs_queue *q, dev_t dev, ino_t ino,
		   int64_t *sent_bytes, int64_t *total_bytes)
{
	struct octofs_job *job;
	int err = -ENOENT;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job && job->busy && atomic_load(&job->total_bytes) >= 0) {
		*sent_bytes = atomic_load(&job->sent_bytes);
		*total_bytes = atomic_load(&job->total_bytes);
		err = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

int queue_retry_info(struct octofs_queue *q, dev_t dev, ino_t ino,
		     struct queue_retry_info *info)
{
	struct octofs_job *job;
	int err = -ENOENT;

	pthread_mutex_lock(&q->lock);
	job = find_job(q, dev, ino);
	if (job && !job->busy && job->retry_why) {
		info->attempts = job->attempts;
		info->next_try = job->retry_at;
		snprintf(info->error, sizeof(info->error), "%s",
			 job->retry_why);
		err = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

void queue_job_progress(struct octofs_job *job, int64_t sent_bytes,
			int64_t total_bytes)
{
	atomic_store(&job->total_bytes, total_bytes);
	atomic_store(&job->sent_bytes, sent_bytes);
}

/* The first runnable job whose backoff has passed; q->lock held. */
static struct octofs_job *first_ready(struct octofs_queue *q,
				      struct timespec *next_wake,
				      bool *have_wake)
{
	struct octofs_job *job;
	struct fifo_link *l;
	struct timespec now;

	mono_now(&now);
	*have_wake = false;
	for (l = q->run.head; l; l = l->next) {
		job = JOB_OF(l, run);
		if (!mono_before(&now, &job->not_before))
			return job;
		if (!*have_wake || mono_before(&job->not_before, next_wake)) {
			*next_wake = job->not_before;
			*have_wake = true;
		}
	}
	return NULL;
}

/*
 * Worth asking ahead for?  q->lock held.  A job that neither a writer
 * holds nor rests is already waiting for an upload, which will ask
 * itself.
 */
static bool still_written(struct ahead_entry *e)
{
	struct octofs_job *job = JOB_OF(e, ahead);

	return job->held || job->settling;
}

struct octofs_job *queue_pop_ahead(struct octofs_queue *q)
{
	struct octofs_job *job = NULL;
	struct ahead_entry *e;

	pthread_mutex_lock(&q->lock);
	e = ahead_pop(&q->ahead, still_written);
	if (e) {
		job = JOB_OF(e, ahead);
		job->refs++;
		atomic_store(&job->cancel, 0);
	}
	pthread_mutex_unlock(&q->lock);
	return job;
}

struct octofs_job *queue_pop(struct octofs_queue *q, uint64_t *gen)
{
	struct octofs_job *job = NULL;
	struct timespec wake;
	bool have_wake;

	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		job = first_ready(q, &wake, &have_wake);
		if (job)
			break;
		if (have_wake)
			pthread_cond_timedwait(&q->work_cond, &q->lock, &wake);
		else
			pthread_cond_wait(&q->work_cond, &q->lock);
	}
	if (job) {
		run_remove(q, job);
		ahead_remove(&q->ahead, &job->ahead);
		job->settling = false;
		job->busy = true;
		job->refs++;
		q->uploading++;
		atomic_store(&job->cancel, 0);
		atomic_store(&job->sent_bytes, 0);
		atomic_store(&job->total_bytes, -1);
		*gen = atomic_load(&job->generation);
	}
	pthread_mutex_unlock(&q->lock);
	return job;
}

void queue_ticket(struct octofs_queue *q, struct octofs_job *job,
		  const char *name, void *ticket, queue_ticket_free_fn fn)
{
	pthread_mutex_lock(&q->lock);
	ahead_answer(&q->ahead, &job->ahead, ticket, fn,
		     !job->dead && name && !strcmp(name, job->name));
	job_unref_locked(q, job);
	pthread_mutex_unlock(&q->lock);
}

void *queue_take_ticket(struct octofs_queue *q, struct octofs_job *job)
{
	void *ticket;

	pthread_mutex_lock(&q->lock);
	ticket = ahead_take_ticket(&q->ahead, &job->ahead);
	pthread_mutex_unlock(&q->lock);
	return ticket;
}

void queue_presign_ahead(struct octofs_queue *q, bool on)
{
	pthread_mutex_lock(&q->lock);
	ahead_set(&q->ahead, on);
	pthread_mutex_unlock(&q->lock);
}

/*
 * End a worker's claim; q->lock held.  A job overtaken by a newer
 * generation goes back to the run queue unless a writer holds it.
 */
static void release_claim(struct octofs_queue *q, struct octofs_job *job)
{
	job->busy = false;
	q->uploading--;
	if (!job->dead)
		run_append(q, job);
}

void queue_on_file(struct octofs_queue *q, const struct queue_file_ops *ops)
{
	q->file_ops = *ops;
}

void queue_on_retire(struct octofs_queue *q, queue_retire_fn fn, void *arg)
{
	q->retired = fn;
	q->retired_arg = arg;
}

static bool finish(struct octofs_queue *q, struct octofs_job *job,
		   uint64_t gen, const char *url, int err)
{
	struct queue_waiter *w = NULL;
	dev_t dev = job->key.dev;
	ino_t ino = job->key.ino;
	bool retired = false;

	pthread_mutex_lock(&q->lock);
	if (!job->dead && atomic_load(&job->generation) == gen) {
		job->busy = false;
		q->uploading--;
		outage_clear(&q->outage);
		if (err)
			q->failed++;
		else
			q->done++;
		w = retire_job(q, job);
		retired = true;
	} else {
		release_claim(q, job);
	}
	job_unref_locked(q, job);
	pthread_mutex_unlock(&q->lock);
	if (retired && q->retired)
		q->retired(q->retired_arg, dev, ino, err != 0);
	waiters_answer(w, url, err);
	return retired;
}

bool queue_done(struct octofs_queue *q, struct octofs_job *job, uint64_t gen,
		const char *url)
{
	return finish(q, job, gen, url, 0);
}

bool queue_failed(struct octofs_queue *q, struct octofs_job *job,
		  uint64_t gen)
{
	return finish(q, job, gen, NULL, -ENODATA);
}

void queue_retry(struct octofs_queue *q, struct octofs_job *job,
		 uint64_t gen, unsigned long delay_ms, const char *why)
{
	char *copy = why ? strdup(why) : NULL;

	pthread_mutex_lock(&q->lock);
	if (atomic_load(&job->generation) == gen) {
		mono_now(&job->not_before);
		mono_add_ms(&job->not_before, delay_ms);
		job->settling = false;
		job->attempts++;
	}
	if (why && atomic_load(&job->generation) == gen) {
		outage_note(&q->outage, why, time(NULL));
		free(job->retry_why);
		job->retry_why = copy;
		copy = NULL;
		job->retry_at = time(NULL) +
				(time_t)((delay_ms + 999) / 1000);
	}
	free(copy);
	release_claim(q, job);
	job_unref_locked(q, job);
	pthread_mutex_unlock(&q->lock);
}

unsigned int queue_job_attempts(struct octofs_queue *q,
				struct octofs_job *job)
{
	unsigned int n;

	pthread_mutex_lock(&q->lock);
	n = job->attempts;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void queue_abort_uploads(struct octofs_queue *q)
{
	struct filetab_link *l;
	struct octofs_job *job;

	pthread_mutex_lock(&q->lock);
	for (l = filetab_first(&q->jobs); l; l = filetab_next(&q->jobs, l)) {
		job = JOB_OF(l, key);
		if (job->busy || ahead_in_flight(&job->ahead))
			atomic_store(&job->cancel, 1);
	}
	pthread_mutex_unlock(&q->lock);
}

void queue_job_lock_state(struct octofs_job *job)
{
	pthread_mutex_lock(&job->state_lock);
}

void queue_job_unlock_state(struct octofs_job *job)
{
	pthread_mutex_unlock(&job->state_lock);
}

bool queue_job_current(struct octofs_queue *q, struct octofs_job *job,
		       uint64_t gen)
{
	bool current;

	pthread_mutex_lock(&q->lock);
	current = !job->dead && atomic_load(&job->generation) == gen;
	pthread_mutex_unlock(&q->lock);
	return current;
}

bool queue_job_resumed(struct octofs_queue *q, struct octofs_job *job)
{
	bool resumed;

	pthread_mutex_lock(&q->lock);
	resumed = job->resumed;
	pthread_mutex_unlock(&q->lock);
	return resumed;
}

void *queue_job_file(const struct octofs_job *job)
{
	return job->file;
}

char *queue_job_name(struct octofs_queue *q, struct octofs_job *job)
{
	char *name;

	pthread_mutex_lock(&q->lock);
	name = strdup(job->name);
	pthread_mutex_unlock(&q->lock);
	return name;
}

const atomic_int *queue_job_cancel_flag(const struct octofs_job *job)
{
	return &job->cancel;
}

struct octofs_queue *queue_new(unsigned long settle_ms)
{
	struct octofs_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->settle_ms = settle_ms;
	if (filetab_init(&q->jobs))
		goto out_free_q;
	pthread_mutex_init(&q->lock, NULL);
	if (mono_cond_init(&q->work_cond))
		goto out_free_jobs;
	if (ahead_init(&q->ahead, &q->lock))
		goto out_destroy_work;
	if (waiters_init(&q->waiters, &q->lock))
		goto out_destroy_ahead;
	return q;

out_destroy_ahead:
	ahead_destroy(&q->ahead);
out_destroy_work:
	pthread_cond_destroy(&q->work_cond);
out_free_jobs:
	pthread_mutex_destroy(&q->lock);
	filetab_destroy(&q->jobs);
out_free_q:
	free(q);
	return NULL;
}

void queue_shutdown(struct octofs_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->work_cond);
	ahead_stop(&q->ahead);
	waiters_stop(&q->waiters);
	pthread_mutex_unlock(&q->lock);
}

void queue_free(struct octofs_queue *q)
{
	struct filetab_link *l, *next;
	struct octofs_job *job;

	if (!q)
		return;
	queue_shutdown(q);
	waiters_destroy(&q->waiters);
	for (l = filetab_first(&q->jobs); l; l = next) {
		next = filetab_next(&q->jobs, l);
		job = JOB_OF(l, key);
		job->dead = true;
		job_unref_locked(q, job);
	}
	filetab_destroy(&q->jobs);
	pthread_cond_destroy(&q->work_cond);
	ahead_destroy(&q->ahead);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
