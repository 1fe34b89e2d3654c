/* Tests for src/queue.c: job lifecycle, generations, waiters, retries. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "queue_fuse.h"
#include "queue_worker.h"
#include "tap.h"

/* A waiter that records how it was answered. */
struct probe {
	struct queue_waiter w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	int err;
	char url[128];
};

static void probe_done(struct queue_waiter *w, const char *url, int err)
{
	struct probe *p = (struct probe *)w;

	pthread_mutex_lock(&p->lock);
	p->calls++;
	p->err = err;
	snprintf(p->url, sizeof(p->url), "%s", url ? url : "");
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	p->w.done = probe_done;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

/* @ms from now, on the clock pthread_cond_timedwait() uses by default. */
static struct timespec deadline_in(long ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	return deadline;
}

/*
 * Wait at most @ms for another thread to make *@n non-zero under @lock
 * and signal @cond; returns *@n.
 */
static int wait_nonzero(pthread_mutex_t *lock, pthread_cond_t *cond,
			const int *n, long ms)
{
	struct timespec deadline = deadline_in(ms);
	int got;

	pthread_mutex_lock(lock);
	while (!*n && pthread_cond_timedwait(cond, lock, &deadline) == 0)
		;
	got = *n;
	pthread_mutex_unlock(lock);
	return got;
}

/* Wait at most @ms for the probe to be answered; returns calls. */
static int probe_wait(struct probe *p, long ms)
{
	return wait_nonzero(&p->lock, &p->cond, &p->calls, ms);
}

/* A job's file: what it is, and how many jobs hold it. */
struct test_file {
	int refs;
};

static struct test_file devnull_file;
static struct test_file *devnull = &devnull_file;

static void file_get(void *arg, void *file)
{
	((struct test_file *)file)->refs++;
}

static void file_put(void *arg, void *file)
{
	((struct test_file *)file)->refs--;
}

static const struct queue_file_ops counted = {
	.get = file_get, .put = file_put,
};

static struct octofs_job *hold(struct octofs_queue *q, ino_t ino,
			       const char *name)
{
	return queue_hold(q, 1, ino, devnull, name);
}

static void test_lifecycle(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job, *popped;
	enum job_state st;
	struct probe p;
	uint64_t gen;
	char *name;

	ok(q != NULL, "queue_new");
	queue_on_file(q, &counted);
	is_int(queue_state(q, 1, 10, &st), -ENOENT, "no job before a write");
	probe_init(&p);
	is_int(queue_wait(q, 1, 10, &p.w, 1000), -ENOENT,
	       "waiting on a file without a job says so at once");

	job = hold(q, 10, "a.png");
	ok(job != NULL, "hold creates a job");
	ok(queue_job_file(job) == devnull && devnull->refs == 1,
	   "the job keeps a reference on its file");
	queue_job_put(q, job);
	is_int(queue_state(q, 1, 10, &st), 0, "held job exists");
	is_int(st, JOB_QUEUED, "held job is queued");
	is_int(queue_wait(q, 1, 10, &p.w, 5000), 0, "waiter registered");

	is_int(queue_submit(q, 1, 10, "b.png", 0), 0, "submit");
	popped = queue_pop(q, &gen);
	ok(popped != NULL, "pop returns the submitted job");
	name = queue_job_name(q, popped);
	is_str(name, "b.png", "submit renames the job");
	free(name);
	is_int(queue_state(q, 1, 10, &st), 0, "job exists while uploading");
	is_int(st, JOB_UPLOADING, "popped job is uploading");
	ok(queue_job_current(q, popped, gen), "generation is current");

	queue_done(q, popped, gen, "https://x/b.png");
	is_int(probe_wait(&p, 5000), 1, "waiter answered once");
	is_int(p.err, 0, "waiter got success");
	is_str(p.url, "https://x/b.png", "waiter got the URL");
	is_int(queue_state(q, 1, 10, &st), -ENOENT, "done job is gone");
	is_int(devnull->refs, 0, "and so is its reference on the file");
	queue_free(q);
}

/* A write during the upload: its outcome is not published. */
static void test_overtaken(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job, *first, *second;
	uint64_t gen1, gen2;
	enum job_state st;
	struct probe p;

	queue_job_put(q, hold(q, 20, "v.txt"));
	queue_submit(q, 1, 20, NULL, 0);
	first = queue_pop(q, &gen1);
	ok(!atomic_load(queue_job_cancel_flag(first)), "not cancelled yet");

	job = hold(q, 20, "v.txt");
	ok(job == first, "a hard link or rewrite finds the same job");
	queue_job_put(q, job);
	ok(atomic_load(queue_job_cancel_flag(first)),
	   "rewrite cancels the upload in flight");
	ok(!queue_job_current(q, first, gen1), "old generation is stale");

	probe_init(&p);
	is_int(queue_wait(q, 1, 20, &p.w, 5000), 0, "waiter registered");
	queue_done(q, first, gen1, "https://x/old");
	is_int(queue_state(q, 1, 20, &st), 0,
	       "stale success does not retire the job");
	is_int(st, JOB_QUEUED, "job waits for its writer again");
	is_int(p.calls, 0, "stale success answers nobody");

	queue_submit(q, 1, 20, NULL, 0);
	second = queue_pop(q, &gen2);
	ok(second == first && gen2 != gen1, "new generation popped");
	ok(!atomic_load(queue_job_cancel_flag(second)),
	   "cancel flag cleared for the new attempt");
	queue_done(q, second, gen2, "https://x/new");
	probe_wait(&p, 5000);
	is_str(p.url, "https://x/new", "waiter gets the newest URL");
	queue_free(q);
}

static void test_cancel_and_fail(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job;
	struct probe p1, p2;
	enum job_state st;
	uint64_t gen;

	queue_job_put(q, hold(q, 30, "c.txt"));
	probe_init(&p1);
	queue_wait(q, 1, 30, &p1.w, 5000);
	queue_cancel(q, 1, 30);
	is_int(probe_wait(&p1, 5000), 1, "cancel answers waiters");
	is_int(p1.err, -ENODATA, "cancelled waiter gets ENODATA");
	is_int(queue_state(q, 1, 30, &st), -ENOENT, "cancelled job is gone");
	is_int(queue_submit(q, 1, 30, NULL, 0), -ENOENT,
	       "submit after cancel finds no job");

	queue_job_put(q, hold(q, 31, "d.txt"));
	queue_submit(q, 1, 31, NULL, 0);
	job = queue_pop(q, &gen);
	probe_init(&p2);
	queue_wait(q, 1, 31, &p2.w, 5000);
	queue_cancel(q, 1, 31);
	ok(atomic_load(queue_job_cancel_flag(job)),
	   "cancel raises the flag of an upload in flight");
	ok(!queue_job_current(q, job, gen), "cancelled job is not current");
	queue_done(q, job, gen, "https://x/late");
	is_int(p2.err, -ENODATA, "late success after cancel is dropped");

	queue_job_put(q, hold(q, 32, "e.txt"));
	queue_submit(q, 1, 32, NULL, 0);
	job = queue_pop(q, &gen);
	probe_init(&p1);
	queue_wait(q, 1, 32, &p1.w, 5000);
	queue_failed(q, job, gen);
	is_int(probe_wait(&p1, 5000), 1, "failure answers waiters");
	is_int(p1.err, -ENODATA, "failed waiter gets ENODATA");
	queue_free(q);
}

static void test_wait_timeout(void)
{
	struct octofs_queue *q = queue_new(0);
	struct probe p;

	queue_job_put(q, hold(q, 40, "slow.bin"));
	probe_init(&p);
	is_int(queue_wait(q, 1, 40, &p.w, 50), 0, "short waiter");
	is_int(probe_wait(&p, 5000), 1, "timeout answers the waiter");
	is_int(p.err, -ETIMEDOUT, "timed-out waiter gets ETIMEDOUT");
	queue_free(q);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_retry(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job;
	struct queue_counts c;
	uint64_t gen, gen2;
	double t0;

	queue_job_put(q, hold(q, 50, "r.txt"));
	queue_submit(q, 1, 50, NULL, 0);
	job = queue_pop(q, &gen);
	is_int(queue_job_attempts(q, job), 0, "no attempts yet");
	queue_counts(q, &c);
	is_int(c.uploading, 1, "one uploading");
	t0 = now_s();
	queue_retry(q, job, gen, 200, NULL);
	job = queue_pop(q, &gen2);
	ok(now_s() - t0 >= 0.19, "retry waits for its backoff");
	is_int(gen2, gen, "same generation on retry");
	is_int(queue_job_attempts(q, job), 1, "attempt counted");
	queue_done(q, job, gen2, "https://x/r");
	queue_counts(q, &c);
	is_int(c.queued + c.uploading, 0, "queue empty");
	is_int(c.done, 1, "one done, the retry not counted twice");
	is_int(c.failed, 0, "none failed");
	queue_free(q);
}

static void test_progress(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job;
	struct queue_counts c;
	int64_t sent, total;
	uint64_t gen;

	queue_job_put(q, hold(q, 60, "p.bin"));
	is_int(queue_progress(q, 1, 60, &sent, &total), -ENOENT,
	       "no progress while queued");
	queue_submit(q, 1, 60, NULL, 0);
	job = queue_pop(q, &gen);
	is_int(queue_progress(q, 1, 60, &sent, &total), -ENOENT,
	       "no progress before the worker read the size");
	queue_counts(q, &c);
	ok(c.uploading == 1 && c.sent_bytes == 0 && c.total_bytes == 0,
	   "counted as uploading, with no bytes yet");
	queue_job_progress(job, 300, 1000);
	is_int(queue_progress(q, 1, 60, &sent, &total), 0, "uploading");
	ok(sent == 300 && total == 1000, "sent and total as reported");
	queue_counts(q, &c);
	ok(c.sent_bytes == 300 && c.total_bytes == 1000, "summed in counts");
	queue_failed(q, job, gen);
	queue_counts(q, &c);
	ok(c.failed == 1 && c.done == 0 && c.total_bytes == 0,
	   "a failure counted; nothing in flight");
	queue_free(q);
}

static void *pop_thread(void *arg)
{
	uint64_t gen;

	return queue_pop(arg, &gen);
}

static void test_shutdown(void)
{
	struct octofs_queue *q = queue_new(0);
	struct probe p;
	pthread_t t;
	void *res = (void *)1;

	queue_job_put(q, hold(q, 60, "held.txt"));
	probe_init(&p);
	queue_wait(q, 1, 60, &p.w, 60000);
	pthread_create(&t, NULL, pop_thread, q);
	queue_shutdown(q);
	pthread_join(t, &res);
	ok(res == NULL, "pop returns NULL after shutdown");
	is_int(probe_wait(&p, 5000), 1, "shutdown answers waiters");
	is_int(p.err, -ETIMEDOUT, "with ETIMEDOUT");
	queue_free(q);
	lives_ok(queue_free(NULL), "queue_free(NULL) is a no-op");
}

static void test_many(void)
{
	struct octofs_queue *q = queue_new(0);
	struct queue_counts c;
	struct octofs_job *job;
	uint64_t gen;
	int i, popped = 0;

	for (i = 0; i < 1000; i++) {
		queue_job_put(q, hold(q, 1000 + i, "f"));
		queue_submit(q, 1, 1000 + i, NULL, 0);
	}
	queue_counts(q, &c);
	is_int(c.queued, 1000, "a thousand jobs queued");
	for (i = 0; i < 1000; i++) {
		job = queue_pop(q, &gen);
		if (job) {
			popped++;
			queue_done(q, job, gen, "u");
		}
	}
	is_int(popped, 1000, "each popped once, in order");
	queue_counts(q, &c);
	is_int(c.queued, 0, "none left");
	queue_free(q);
}

static void test_resume(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job;
	char *name;
	uint64_t gen;

	is_int(queue_resume(q, 1, 77, devnull, "left.txt"), 0, "resumed");
	is_int(queue_resume(q, 1, 77, devnull, "left.txt"), -EEXIST,
	       "a second time: it has a job");
	job = queue_pop(q, &gen);
	ok(job != NULL, "runnable at once, without a writer");
	ok(job && queue_job_resumed(q, job), "marked as resumed");
	name = job ? queue_job_name(q, job) : NULL;
	is_str(name ? name : "", "left.txt", "under its name");
	free(name);
	queue_done(q, job, gen, "u");

	queue_job_put(q, hold(q, 78, "busy.txt"));
	is_int(queue_resume(q, 1, 78, devnull, "busy.txt"), -EEXIST,
	       "a file being written is not resumed over");
	is_int(queue_resume(q, 1, 79, devnull, "w.txt"), 0, "resumed");
	queue_job_put(q, hold(q, 79, "w.txt"));
	queue_submit(q, 1, 79, NULL, 0);
	queue_submit(q, 1, 78, NULL, 0);
	job = queue_pop(q, &gen);
	ok(job && !queue_job_resumed(q, job), "written since: a new version");
	if (job)
		queue_done(q, job, gen, "u");
	job = queue_pop(q, &gen);
	if (job)
		queue_done(q, job, gen, "u");
	queue_shutdown(q);
	is_int(queue_resume(q, 1, 80, devnull, "late.txt"), -ECANCELED,
	       "refused after shutdown");
	queue_free(q);
}

static void test_settle(void)
{
	struct octofs_queue *q = queue_new(300);
	struct octofs_job *job;
	struct queue_counts c;
	uint64_t gen;
	double t0;

	queue_job_put(q, hold(q, 90, "s.txt"));
	t0 = now_s();
	queue_submit(q, 1, 90, NULL, 0);
	/* closed and reopened for writing while it settles: one upload */
	queue_job_put(q, hold(q, 90, "s.txt"));
	queue_submit(q, 1, 90, NULL, 0);
	job = queue_pop(q, &gen);
	ok(job != NULL, "popped once settled");
	ok(now_s() - t0 >= 0.29, "not before the settle delay (%.3fs)",
	   now_s() - t0);
	queue_done(q, job, gen, "u");
	queue_counts(q, &c);
	is_int(c.queued + c.uploading, 0, "the reopen made no second job");
	queue_free(q);
}

/* A worker thread that pops one job, so a test can bound its wait. */
struct popper {
	struct octofs_queue *q;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int returned;
	bool ahead;		/* pops presigns ahead, not uploads */
	struct octofs_job *job;
	uint64_t gen;
};

static void *popper_main(void *arg)
{
	struct popper *p = arg;
	uint64_t gen = 0;
	struct octofs_job *job = p->ahead ? queue_pop_ahead(p->q) :
					    queue_pop(p->q, &gen);

	pthread_mutex_lock(&p->lock);
	p->job = job;
	p->gen = gen;
	p->returned = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void popper_start_as(struct popper *p, struct octofs_queue *q,
			    bool ahead)
{
	memset(p, 0, sizeof(*p));
	p->q = q;
	p->ahead = ahead;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_create(&p->thread, NULL, popper_main, p);
}

static void popper_start(struct popper *p, struct octofs_queue *q)
{
	popper_start_as(p, q, false);
}

/* The popped job if the pop returned within @ms, else NULL. */
static struct octofs_job *popper_wait(struct popper *p, long ms)
{
	if (!wait_nonzero(&p->lock, &p->cond, &p->returned, ms))
		return NULL;
	return p->job;		/* written before returned, under the lock */
}

/* Shut the queue down (a pop still blocked returns) and join. */
static void popper_end(struct popper *p)
{
	queue_shutdown(p->q);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

static void test_reader_ends_settle(void)
{
	struct octofs_queue *q = queue_new(60000);
	struct octofs_job *job;
	struct popper pop;
	struct probe w;

	/* closed, resting; then someone reads the URL */
	queue_job_put(q, hold(q, 91, "a.txt"));
	queue_submit(q, 1, 91, NULL, 0);
	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL, "resting: no worker takes it");
	probe_init(&w);
	is_int(queue_wait(q, 1, 91, &w.w, 60000), 0, "a reader waits");
	job = popper_wait(&pop, 10000);
	ok(job != NULL, "the reader ends the rest at once");
	if (job)
		queue_done(q, job, pop.gen, "https://x/a");
	is_int(probe_wait(&w, 5000), 1, "the reader is answered");
	is_str(w.url, "https://x/a", "with the URL");
	popper_end(&pop);
	queue_free(q);

	/* someone waits while it is still open: no rest after the close */
	q = queue_new(60000);
	queue_job_put(q, hold(q, 92, "b.txt"));
	probe_init(&w);
	is_int(queue_wait(q, 1, 92, &w.w, 60000), 0, "a reader waits");
	queue_submit(q, 1, 92, NULL, 0);
	popper_start(&pop, q);
	job = popper_wait(&pop, 10000);
	ok(job != NULL, "closed with a reader waiting: no rest");
	if (job)
		queue_done(q, job, pop.gen, "https://x/b");
	is_int(probe_wait(&w, 5000), 1, "the reader is answered");
	popper_end(&pop);
	queue_free(q);
}

/*
 * A queue with a 60 s rest where @owner wrote @name (inode @ino), then
 * started inode @next (0: none) before the release of @name came.
 */
static struct octofs_queue *written_by(long owner, ino_t ino, ino_t next,
				       const char *name)
{
	struct octofs_queue *q = queue_new(60000);

	queue_writer_opened(q, owner, 1, ino);
	queue_job_put(q, hold(q, ino, name));
	if (next)
		queue_writer_opened(q, owner, 1, next);
	queue_submit(q, 1, ino, NULL, owner);
	return q;
}

/* Pop the job at once and end it with @url; false if none came. */
static bool taken_at_once(struct octofs_queue *q, const char *url)
{
	struct octofs_job *job;
	struct popper pop;

	popper_start(&pop, q);
	job = popper_wait(&pop, 10000);
	if (job)
		queue_done(q, job, pop.gen, url);
	popper_end(&pop);
	return job != NULL;
}

/* A program that goes on to start another file ends its last one's rest. */
static void test_moving_on_ends_settle(void)
{
	struct octofs_queue *q = written_by(7, 93, 0, "c.txt");
	struct octofs_job *job;
	struct popper pop;

	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL, "resting: no worker takes it");
	queue_writer_opened(q, 8, 1, 94);
	ok(popper_wait(&pop, 200) == NULL,
	   "another program's open keeps the rest");
	queue_writer_opened(q, 7, 1, 93);
	ok(popper_wait(&pop, 200) == NULL,
	   "reopening the same file keeps the rest");
	queue_writer_opened(q, 7, 1, 94);
	job = popper_wait(&pop, 10000);
	ok(job != NULL, "starting another file ends the rest at once");
	if (job)
		queue_done(q, job, pop.gen, "https://x/c");
	popper_end(&pop);
	queue_free(q);

	/* the next open overtook the release: no rest at all */
	q = written_by(7, 95, 96, "d.txt");
	ok(taken_at_once(q, "https://x/d"),
	   "released after its program moved on: no rest");
	queue_free(q);
}

/* Moving on never cuts a backoff, and forgets rather than guesses. */
static void test_moving_on_limits(void)
{
	struct octofs_queue *q = written_by(7, 99, 100, "f.txt");
	struct octofs_job *job;
	struct popper pop, pop2;

	popper_start(&pop, q);
	job = popper_wait(&pop, 10000);
	ok(job != NULL, "released after its program moved on: taken");
	if (job)
		queue_retry(q, job, pop.gen, 60000, NULL);
	popper_start(&pop2, q);
	queue_writer_opened(q, 7, 1, 99);
	queue_writer_opened(q, 7, 1, 101);
	ok(popper_wait(&pop2, 200) == NULL,
	   "moving on does not cut a retry's backoff");
	popper_end(&pop2);
	popper_end(&pop);
	queue_free(q);

	/* owners 7 and 71 share a slot: 71 only makes 7's rest last */
	q = written_by(7, 102, 0, "g.txt");
	queue_writer_opened(q, 71, 1, 103);
	queue_writer_opened(q, 7, 1, 104);
	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL,
	   "a collision forgets the owner: the rest goes on");
	popper_end(&pop);
	queue_free(q);

	/* an unknown owner (0) rests as ever */
	q = written_by(0, 97, 98, "e.txt");
	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL, "no owner known: it rests");
	popper_end(&pop);
	queue_free(q);
}

static void test_reader_keeps_backoff(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *job;
	struct popper pop;
	struct probe w;
	uint64_t gen;

	queue_job_put(q, hold(q, 93, "c.txt"));
	queue_submit(q, 1, 93, NULL, 0);
	job = queue_pop(q, &gen);
	queue_retry(q, job, gen, 60000, NULL);
	probe_init(&w);
	is_int(queue_wait(q, 1, 93, &w.w, 60000), 0, "a reader waits");
	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL,
	   "a reader does not cut a retry's backoff");
	popper_end(&pop);
	queue_free(q);
}

/* Tickets for the presign-ahead tests: a counter of frees. */
static int tickets_freed;

static void count_free(void *ticket)
{
	(void)ticket;
	tickets_freed++;
}

static int ticket_a, ticket_b;

/* A thread taking a job's ticket, which may wait for a presign ahead. */
struct taker {
	struct octofs_queue *q;
	struct octofs_job *job;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int returned;
	void *ticket;
};

static void *taker_main(void *arg)
{
	struct taker *t = arg;
	void *ticket = queue_take_ticket(t->q, t->job);

	pthread_mutex_lock(&t->lock);
	t->ticket = ticket;
	t->returned = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void taker_start(struct taker *t, struct octofs_queue *q,
			struct octofs_job *job)
{
	memset(t, 0, sizeof(*t));
	t->q = q;
	t->job = job;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	pthread_create(&t->thread, NULL, taker_main, t);
}

/* True (and joined) when the take returned within @ms. */
static bool taker_wait(struct taker *t, long ms)
{
	bool returned = wait_nonzero(&t->lock, &t->cond, &t->returned, ms);

	if (returned) {
		pthread_join(t->thread, NULL);
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
	}
	return returned;
}

/*
 * Pop an upload (or with @ahead a presign ahead), at most 10 s; after a
 * timeout the queue is shut down.
 */
static struct octofs_job *pop_within(struct octofs_queue *q, bool ahead,
				     uint64_t *gen)
{
	struct popper pop;
	struct octofs_job *job;

	popper_start_as(&pop, q, ahead);
	job = popper_wait(&pop, 10000);
	if (!job)
		queue_shutdown(q);
	pthread_join(pop.thread, NULL);
	pthread_mutex_destroy(&pop.lock);
	pthread_cond_destroy(&pop.cond);
	*gen = pop.gen;
	return job;
}

/* Jobs already waiting for an upload are skipped; answers kept are capped. */
static void test_presign_ahead_bounds(void)
{
	struct octofs_queue *q = queue_new(0);
	struct octofs_job *ahead, *jobs[65];
	struct popper pop;
	uint64_t gen;
	int i, kept = 0;

	queue_presign_ahead(q, true);
	queue_job_put(q, hold(q, 200, "ready.txt"));
	queue_submit(q, 1, 200, NULL, 0);		/* no settle: ready at once */
	popper_start_as(&pop, q, true);
	ok(popper_wait(&pop, 200) == NULL,
	   "a job ready for upload is not presigned ahead");
	popper_end(&pop);
	queue_free(q);

	q = queue_new(0);
	queue_presign_ahead(q, true);
	tickets_freed = 0;
	for (i = 0; i < 65; i++) {
		queue_job_put(q, hold(q, 300 + i, "held.txt"));
		jobs[i] = NULL;
	}
	for (i = 0; i < 64; i++) {
		ahead = pop_within(q, true, &gen);
		if (!ahead)
			break;
		queue_ticket(q, ahead, "held.txt", &ticket_a, count_free);
		kept++;
	}
	is_int(kept, 64, "64 answers are kept");
	popper_start_as(&pop, q, true);
	ok(popper_wait(&pop, 200) == NULL, "no more are asked for");
	queue_submit(q, 1, 300, NULL, 0);
	jobs[0] = queue_pop(q, &gen);
	ok(jobs[0] && queue_take_ticket(q, jobs[0]) == &ticket_a,
	   "an upload takes one");
	ok(popper_wait(&pop, 10000) != NULL, "then the next is asked for");
	if (pop.job)
		queue_ticket(q, pop.job, "held.txt", NULL, NULL);
	if (jobs[0])
		queue_done(q, jobs[0], gen, "https://x/h");
	popper_end(&pop);
	queue_free(q);
	is_int(tickets_freed, 63, "the queue frees the 63 answers it kept");
}

static void test_presign_ahead(void)
{
	struct octofs_queue *q = queue_new(60000);
	struct octofs_job *job, *ahead;
	struct popper pop;
	struct taker taker;
	struct probe w;
	uint64_t gen;

	queue_presign_ahead(q, true);
	tickets_freed = 0;
	queue_job_put(q, hold(q, 100, "a.png"));
	ahead = pop_within(q, true, &gen);
	ok(ahead != NULL, "a file being written is handed out to presign "
	   "ahead");
	/* closed and someone waits: the upload starts, adopting the presign */
	queue_submit(q, 1, 100, NULL, 0);
	probe_init(&w);
	is_int(queue_wait(q, 1, 100, &w.w, 60000), 0, "a reader waits");
	popper_start(&pop, q);
	job = popper_wait(&pop, 10000);
	ok(job != NULL, "the upload starts while its presign is in flight");
	taker_start(&taker, q, job);
	ok(!taker_wait(&taker, 200), "it waits for that presign's answer");
	queue_ticket(q, ahead, "a.png", &ticket_a, count_free);
	ok(taker_wait(&taker, 10000), "which it gets when it comes");
	ok(taker.ticket == &ticket_a, "the upload gets the answer");
	if (job) {
		ok(queue_take_ticket(q, job) == NULL, "once");
		queue_done(q, job, pop.gen, "https://x/a.png");
	}
	is_int(tickets_freed, 0, "a ticket taken is the taker's to free");
	popper_end(&pop);
	queue_free(q);

	/* a rename forgets the answer; an answer for the old name is dropped */
	q = queue_new(60000);
	queue_presign_ahead(q, true);
	queue_job_put(q, hold(q, 101, "b.txt"));
	ahead = pop_within(q, true, &gen);
	queue_ticket(q, ahead, "b.txt", &ticket_a, count_free);
	queue_rename(q, 1, 101, "c.txt");
	is_int(tickets_freed, 1, "a rename frees the old name's answer");
	ahead = pop_within(q, true, &gen);
	ok(ahead != NULL, "and asks again under the new name");
	queue_rename(q, 1, 101, "d.txt");	/* while that is in flight */
	queue_ticket(q, ahead, "c.txt", &ticket_b, count_free);
	is_int(tickets_freed, 2, "an answer for a name it no longer has is "
	       "dropped");
	queue_free(q);

	/* cancelled while asking; a kept answer is freed with the queue */
	q = queue_new(60000);
	queue_presign_ahead(q, true);
	queue_job_put(q, hold(q, 102, "e.txt"));
	ahead = pop_within(q, true, &gen);
	queue_cancel(q, 1, 102);
	ok(atomic_load(queue_job_cancel_flag(ahead)),
	   "unlinking stops the presign in flight");
	queue_ticket(q, ahead, "e.txt", &ticket_a, count_free);
	is_int(tickets_freed, 3, "and its answer is dropped");
	queue_job_put(q, hold(q, 103, "f.txt"));
	ahead = pop_within(q, true, &gen);
	queue_ticket(q, ahead, "f.txt", &ticket_b, count_free);
	queue_free(q);
	is_int(tickets_freed, 4, "freeing the queue frees a kept answer");

	/* an upload that starts first takes the job off the ahead list */
	q = queue_new(0);
	queue_presign_ahead(q, true);
	queue_job_put(q, hold(q, 104, "g.txt"));	/* on the ahead list */
	queue_submit(q, 1, 104, NULL, 0);
	job = pop_within(q, false, &gen);
	ok(job != NULL, "uploads are handed out apart from presigns");
	popper_start_as(&pop, q, true);
	ok(popper_wait(&pop, 200) == NULL, "an upload in flight is not "
	   "presigned ahead");
	if (job)
		queue_done(q, job, gen, "https://x/g");
	popper_end(&pop);
	queue_free(q);

	q = queue_new(60000);
	queue_job_put(q, hold(q, 106, "i.txt"));
	popper_start_as(&pop, q, true);
	ok(popper_wait(&pop, 200) == NULL, "presigning ahead is off unless "
	   "turned on");
	popper_end(&pop);
	queue_free(q);

	test_presign_ahead_bounds();
}

struct forget_probe {
	struct octofs_queue *q;
	ino_t ino;
	int calls;
	int had_job;
};

static int forget_fn(void *arg)
{
	struct forget_probe *p = arg;
	enum job_state js;

	p->calls++;
	p->had_job = !queue_state(p->q, 1, p->ino, &js);
	return -EIO;
}

static void test_cancel_with(void)
{
	struct octofs_queue *q = queue_new(0);
	struct forget_probe p = { .q = q, .ino = 95 };
	struct octofs_job *job = hold(q, 95, "f");
	struct probe w;

	probe_init(&w);
	queue_submit(q, 1, 95, NULL, 0);
	is_int(queue_wait(q, 1, 95, &w.w, 10000), 0, "a reader waits");
	is_int(queue_cancel_with(q, 1, 95, forget_fn, &p), -EIO,
	       "returns what fn returned");
	is_int(p.calls, 1, "fn called once");
	ok(!p.had_job, "after the job was cancelled");
	is_int(probe_wait(&w, 2000), 1, "the reader was answered");
	is_int(w.err, -ENODATA, "with ENODATA");
	queue_job_lock_state(job);	/* released again by cancel_with */
	queue_job_unlock_state(job);
	queue_job_put(q, job);
	p.calls = 0;
	is_int(queue_cancel_with(q, 1, 96, forget_fn, &p), -EIO, "no job");
	is_int(p.calls, 1, "fn still called");
	queue_free(q);
}

/* The retire hook: after the job is gone, before the waiters hear. */
struct retire_probe {
	struct octofs_queue *q;
	struct probe *waiter;
	int calls;
	ino_t ino;
	bool had_job;
	bool failed;
	int waiter_calls;
};

static void retire_fn(void *arg, dev_t dev, ino_t ino, bool failed)
{
	struct retire_probe *p = arg;
	enum job_state js;

	p->calls++;
	p->ino = ino;
	p->failed = failed;
	p->had_job = !queue_state(p->q, dev, ino, &js);
	pthread_mutex_lock(&p->waiter->lock);
	p->waiter_calls = p->waiter->calls;
	pthread_mutex_unlock(&p->waiter->lock);
}

static void test_retire_hook(void)
{
	struct octofs_queue *q = queue_new(0);
	struct probe w;
	struct retire_probe p = { .q = q, .waiter = &w };
	struct octofs_job *job;
	uint64_t gen;

	probe_init(&w);
	queue_on_retire(q, retire_fn, &p);
	queue_job_put(q, hold(q, 97, "r"));
	queue_submit(q, 1, 97, NULL, 0);
	is_int(queue_wait(q, 1, 97, &w.w, 10000), 0, "a reader waits");
	job = queue_pop(q, &gen);
	queue_retry(q, job, gen, 0, NULL);
	is_int(p.calls, 0, "a retry does not retire");
	job = queue_pop(q, &gen);
	queue_done(q, job, gen, "https://x/r");
	is_int(p.calls, 1, "done retires once");
	ok(!p.failed, "as done");
	is_int((int)p.ino, 97, "with the file's inode");
	ok(!p.had_job, "after the job is gone");
	is_int(p.waiter_calls, 0, "before the reader is answered");
	is_int(probe_wait(&w, 2000), 1, "then the reader is answered");

	queue_job_put(q, hold(q, 98, "s"));
	queue_submit(q, 1, 98, NULL, 0);
	job = queue_pop(q, &gen);
	queue_job_put(q, hold(q, 98, "s"));	/* overtaken meanwhile */
	queue_failed(q, job, gen);
	is_int(p.calls, 1, "an overtaken upload does not retire");
	queue_submit(q, 1, 98, NULL, 0);
	job = queue_pop(q, &gen);
	queue_failed(q, job, gen);
	is_int(p.calls, 2, "failing for good retires");
	ok(p.failed, "as failed");
	queue_free(q);
}

/*
 * A version whose writing failed: recorded while the job still stands,
 * then failed for good, job or not, with the waiters answered.
 */
static void test_fail_with(void)
{
	struct octofs_queue *q = queue_new(0);
	struct forget_probe f = { .q = q, .ino = 99 };
	struct probe w;
	struct retire_probe r = { .q = q, .waiter = &w };
	struct queue_counts c;
	struct octofs_job *job;
	struct popper pop;

	probe_init(&w);
	queue_on_retire(q, retire_fn, &r);
	job = hold(q, 99, "w");
	is_int(queue_wait(q, 1, 99, &w.w, 10000), 0, "a reader waits");
	is_int(queue_fail_with(q, 1, 99, forget_fn, &f), -EIO,
	       "returns what fn returned");
	ok(f.had_job, "fn records before the job goes");
	is_int(r.calls, 1, "retired once");
	ok(r.failed && !r.had_job, "as failed, after the job is gone");
	is_int(probe_wait(&w, 2000), 1, "the reader was answered");
	is_int(w.err, -ENODATA, "with ENODATA");
	queue_job_lock_state(job);	/* released again by fail_with */
	queue_job_unlock_state(job);
	queue_job_put(q, job);
	queue_counts(q, &c);
	ok(c.failed == 1 && c.queued == 0, "counted failed, nothing queued");
	popper_start(&pop, q);
	ok(popper_wait(&pop, 200) == NULL, "nothing for a worker");

	f.calls = 0;
	is_int(queue_fail_with(q, 1, 100, forget_fn, &f), -EIO, "no job");
	ok(f.calls == 1 && !f.had_job, "fn still called");
	is_int(r.calls, 2, "and retired as failed");
	queue_counts(q, &c);
	is_int((int)c.failed, 2, "counted failed");

	/* A later version of the same file uploads as usual. */
	queue_job_put(q, hold(q, 99, "w"));
	queue_submit(q, 1, 99, NULL, 0);
	job = popper_wait(&pop, 2000);
	ok(job != NULL, "the next version goes to a worker");
	if (job)
		queue_done(q, job, pop.gen, "https://x/w");
	popper_end(&pop);
	queue_free(q);
}

int main(void)
{
	test_lifecycle();
	test_overtaken();
	test_cancel_and_fail();
	test_wait_timeout();
	test_retry();
	test_progress();
	test_shutdown();
	test_many();
	test_resume();
	test_settle();
	test_reader_ends_settle();
	test_moving_on_ends_settle();
	test_moving_on_limits();
	test_reader_keeps_backoff();
	test_presign_ahead();
	test_cancel_with();
	test_retire_hook();
	test_fail_with();
	return tap_done();
}
