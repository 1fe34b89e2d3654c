/*
 * worker: upload threads.  Each owns one http_client, so connections are
 * reused from one file to the next, and takes jobs from the queue until
 * it is shut down.  With presign_ahead, one more thread asks for the URLs
 * of files still being written; uploads adopt its answers (tickets).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdpath.h"
#include "feed.h"
#include "http.h"
#include "inode.h"
#include "log.h"
#include "mime.h"
#include "octofs.h"
#include "opts.h"
#include "presign.h"
#include "put.h"
#include "queue_worker.h"
#include "state.h"
#include "worker.h"

#define RETRY_AFTER_MAX_S 3600L
#define PRESIGN_TRIES 3		/* fresh URLs after 403s on PUT */
#define TICKET_MAX_AGE_S 60	/* a presign asked ahead is used this long */

struct worker {
	struct worker_pool *pool;
	pthread_t thread;
	bool started;
	bool ahead;		/* asks for URLs ahead instead of uploading */
	struct http_client *http;
	unsigned int seed;	/* for backoff jitter */
};

struct worker_pool {
	struct octofs *ctx;
	pthread_mutex_t lock;
	pthread_cond_t idle_cond;	/* a worker exited */
	unsigned int running;		/* guarded by lock */
	unsigned int n;			/* threads, presign-ahead's too */
	struct worker workers[];
};

/*
 * A presign asked while the file was still being written or resting: its
 * outcome, whatever it was, stands for the upload's first presign.
 */
struct ticket {
	char *name;		/* the name it was asked for */
	struct timespec made;
	enum http_verdict verdict;
	struct presign_answer ans;
	struct http_result res;
};

/* One upload being carried out: the job and what is known so far. */
struct upload {
	struct octofs_job *job;
	uint64_t gen;
	char *name;
	int file_fd;		/* O_RDONLY on the stored file */
	off_t size;
	struct presign_answer ans;
	struct http_result res;
	struct timespec started;
};

/* The file's name for log lines: none when copying it ran out of memory. */
static const char *log_name(const struct upload *up)
{
	return up->name ? up->name : "a file";
}

/*
 * Write the job's on-disk state unless a newer write overtook it.  A
 * failure is logged, and returned (a negative errno) unless the file is
 * gone meanwhile: then there is nothing left to record on.
 */
static int persist(struct octofs *ctx, struct upload *up,
		   enum state_status st)
{
	struct octofs_inode *inode = queue_job_file(up->job);
	int fd, err = 0;

	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0) {
		log_warn("cannot record state of %s: %s", log_name(up),
			 strerror(-fd));
		return fd == -ENOENT || fd == -ESTALE ? 0 : fd;
	}
	queue_job_lock_state(up->job);
	if (queue_job_current(ctx->queue, up->job, up->gen)) {
		if (st == STATE_UPLOADING)
			err = state_mark_uploading(fd);
		else if (st == STATE_QUEUED)
			err = state_mark_queued(fd);
		else if (st == STATE_DONE)
			err = state_mark_done(fd, up->ans.public_url,
					      up->ans.object_key);
		else
			err = state_mark_failed(fd, up->res.message);
	}
	queue_job_unlock_state(up->job);
	inode_fd_put(ctx->inodes, inode);
	if (err)
		log_warn("cannot record state of %s: %s", log_name(up),
			 strerror(-err));
	return err;
}

/*
 * The object is on the server, but its URL could not be recorded on the
 * stored file: an ext4 attribute value holds at most about one block, a
 * full disk refuses a new one, and the file may be out of reach (no
 * descriptor left).  The file fails with the reason rather than stay
 * "uploading" for ever; the URL goes to the log.
 */
static void unkept(struct upload *up, int err)
{
	snprintf(up->res.message, sizeof(up->res.message),
		 "uploaded, but the store cannot keep its URL (%zu bytes): "
		 "%s; the URL is in the log", strlen(up->ans.public_url),
		 strerror(-err));
	log_warn("uploaded %s, but the store cannot keep its URL: %s",
		 log_name(up), up->ans.public_url);
}

/*
 * Exponential backoff from retry_min_ms up to retry_max_ms, with "equal
 * jitter" (half fixed, half random), and at least what Retry-After asks.
 */
static unsigned long backoff_ms(struct worker *w, unsigned int attempts,
				long retry_after_s)
{
	const struct octofs_opts *o = w->pool->ctx->opts;
	unsigned long cap = (unsigned long)o->retry_min_ms <<
			    (attempts < 20 ? attempts : 20);
	unsigned long delay;

	if (cap > o->retry_max_ms)
		cap = o->retry_max_ms;
	delay = cap / 2 + (unsigned long)rand_r(&w->seed) % (cap / 2 + 1);
	if (retry_after_s > RETRY_AFTER_MAX_S)
		retry_after_s = RETRY_AFTER_MAX_S;
	if (retry_after_s >= 0 && (unsigned long)retry_after_s * 1000 > delay)
		delay = (unsigned long)retry_after_s * 1000;
	return delay;
}

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Open the stored bytes; a precise reason in up->res on failure. */
static enum http_verdict open_file(struct octofs *ctx, struct upload *up)
{
	struct octofs_inode *inode = queue_job_file(up->job);
	char path[FDPATH_MAX];
	struct stat st;
	int fd, err;

	fd = inode_fd(ctx->inodes, inode);
	if (fd >= 0) {
		do
			up->file_fd = open(fdpath(fd, path),
					   O_RDONLY | O_CLOEXEC);
		while (up->file_fd < 0 &&
		       inode_fd_relieve(ctx->inodes, errno));
		err = up->file_fd < 0 || fstat(up->file_fd, &st) ? errno : 0;
		inode_fd_put(ctx->inodes, inode);
	} else {
		err = -fd;
	}
	if (err) {
		snprintf(up->res.message, sizeof(up->res.message),
			 "cannot read the stored file: %s", strerror(err));
		return HTTP_FATAL;
	}
	up->size = st.st_size;
	return HTTP_OK;
}

static void report_progress(void *job, off_t sent, off_t total)
{
	queue_job_progress(job, (int64_t)sent, (int64_t)total);
}

static void presign_request_for(struct octofs *ctx, struct octofs_job *job,
				const char *name, struct presign_request *req)
{
	const struct octofs_opts *o = ctx->opts;

	req->file_name = name;
	req->content_type = mime_type_for_name(ctx->mime, name);
	req->prefix = o->prefix;
	req->expires_in = o->expires_in;
	req->cancel = queue_job_cancel_flag(job);
}

static void ticket_free(void *arg)
{
	struct ticket *t = arg;

	presign_answer_clear(&t->ans);
	free(t->name);
	free(t);
}

/* Ask for the job's URL ahead of its upload; the queue keeps the answer. */
static void presign_ahead(struct worker *w, struct octofs_job *job)
{
	struct octofs *ctx = w->pool->ctx;
	struct presign_request req;
	struct ticket *t = calloc(1, sizeof(*t));

	if (t)
		t->name = queue_job_name(ctx->queue, job);
	if (!t || !t->name) {
		free(t);
		queue_ticket(ctx->queue, job, NULL, NULL, NULL);
		return;
	}
	presign_request_for(ctx, job, t->name, &req);
	http_result_init(&t->res);
	t->verdict = presign_call(w->http, ctx->opts->endpoint,
				  ctx->opts->api_key, &req, &t->ans, &t->res);
	clock_gettime(CLOCK_MONOTONIC, &t->made);
	log_debug("presign ahead of %s: %s", t->name,
		  t->verdict == HTTP_OK ? "ready" : t->res.message);
	if (t->verdict == HTTP_CANCELLED) {
		ticket_free(t);
		queue_ticket(ctx->queue, job, NULL, NULL, NULL);
		return;
	}
	queue_ticket(ctx->queue, job, t->name, t, ticket_free);
}

/*
 * The answer asked ahead for this upload, moved into @up, if it was asked
 * under the name being uploaded and is fresh: young enough for a signed
 * URL to have half its life left, and for a failure still to stand.
 */
static bool use_ticket(struct octofs *ctx, struct upload *up,
		       enum http_verdict *v)
{
	struct ticket *t = queue_take_ticket(ctx->queue, up->job);
	double age, max_age = TICKET_MAX_AGE_S;
	bool fresh;

	if (!t)
		return false;
	age = elapsed_s(&t->made);
	if (t->verdict == HTTP_OK && t->ans.expires_in / 2.0 < max_age)
		max_age = t->ans.expires_in / 2.0;
	fresh = !strcmp(t->name, up->name) && age < max_age;
	if (fresh) {
		*v = t->verdict;
		up->ans = t->ans;
		memset(&t->ans, 0, sizeof(t->ans));
		up->res = t->res;
	}
	ticket_free(t);
	return fresh;
}

/* Presign and PUT; a 403 on the PUT means the URL expired: ask again. */
static enum http_verdict transfer(struct worker *w, struct upload *up)
{
	struct octofs *ctx = w->pool->ctx;
	const struct octofs_opts *o = ctx->opts;
	struct presign_request req;
	enum http_verdict v = HTTP_EXPIRED;
	int tries;

	presign_request_for(ctx, up->job, up->name, &req);
	for (tries = 0; tries < PRESIGN_TRIES && v == HTTP_EXPIRED; tries++) {
		presign_answer_clear(&up->ans);
		http_result_init(&up->res);
		if (tries > 0 || !use_ticket(ctx, up, &v))
			v = presign_call(w->http, o->endpoint, o->api_key,
					 &req, &up->ans, &up->res);
		if (v != HTTP_OK)
			break;
		v = put_file(w->http, up->ans.upload_url,
			     up->ans.content_type, up->file_fd, up->size,
			     queue_job_cancel_flag(up->job), report_progress,
			     up->job, &up->res);
	}
	return v == HTTP_EXPIRED ? HTTP_RETRY : v;
}

/*
 * Tell the feed's followers how the upload of the file at @path went;
 * @attempt and @delay_ms: which retry this is and when it is tried again
 * (FEED_RETRYING).  The job may be gone by now: only @up's copies are
 * used.
 */
static void publish(struct octofs *ctx, struct upload *up, const char *path,
		    enum feed_event event, unsigned int attempt,
		    unsigned long delay_ms)
{
	struct feed_record r = {
		.event = event, .path = path, .url = up->ans.public_url,
		.key = up->ans.object_key, .size = up->size,
		.error = up->res.message, .attempt = attempt,
		.next_try = time(NULL) + (time_t)((delay_ms + 999) / 1000),
	};

	if (!ctx->feed)
		return;
	if (!path || feed_publish(ctx->feed, &r))
		log_warn("the feed misses the outcome of %s: out of memory",
			 log_name(up));
}

/* The file's path for the feed, while the job still holds it. */
static char *feed_path(struct octofs *ctx, struct upload *up)
{
	if (!ctx->feed)
		return NULL;
	return inode_path(ctx->inodes, queue_job_file(up->job));
}

/*
 * Record and report the outcome @v.  queue_done() and queue_failed() end
 * the worker's hold on the job: nothing of it is used after them.
 */
static void finish(struct worker *w, struct upload *up, enum http_verdict v)
{
	struct octofs *ctx = w->pool->ctx;
	char *path = feed_path(ctx, up);
	unsigned int attempts;
	unsigned long delay;
	int err;

	switch (v) {
	case HTTP_OK:
		err = persist(ctx, up, STATE_DONE);
		if (!err) {
			log_info("uploaded %s (%lld bytes, %.1fs): %s",
				 up->name, (long long)up->size,
				 elapsed_s(&up->started), up->ans.public_url);
			/* An outcome a newer version overtook is no news. */
			if (queue_done(ctx->queue, up->job, up->gen,
				       up->ans.public_url))
				publish(ctx, up, path, FEED_DONE, 0, 0);
			break;
		}
		unkept(up, err);
		/* fall through */
	case HTTP_FATAL:
		persist(ctx, up, STATE_FAILED);
		log_warn("upload of %s failed (%lld bytes, %.1fs): %s",
			 up->name, (long long)up->size,
			 elapsed_s(&up->started), up->res.message);
		if (queue_failed(ctx->queue, up->job, up->gen))
			publish(ctx, up, path, FEED_FAILED, 0, 0);
		break;
	case HTTP_CANCELLED:
		log_debug("upload of %s cancelled", up->name);
		queue_retry(ctx->queue, up->job, up->gen, 0, NULL);
		break;
	default:
		attempts = queue_job_attempts(ctx->queue, up->job);
		delay = backoff_ms(w, attempts, up->res.retry_after_s);
		persist(ctx, up, STATE_QUEUED);
		log_info("upload of %s: %s; retrying in %.1fs", log_name(up),
			 up->res.message, (double)delay / 1000);
		/* Once a version: when it starts retrying. */
		if (!attempts &&
		    queue_job_current(ctx->queue, up->job, up->gen))
			publish(ctx, up, path, FEED_RETRYING, 1, delay);
		queue_retry(ctx->queue, up->job, up->gen, delay,
			    up->res.message);
		break;
	}
	free(path);
}

/*
 * The start-up scan may queue a file whose upload finished between its
 * look at the stored state and the queueing; the state then says so, and
 * uploading again would only change a URL someone may have read.
 */
static bool finished_meanwhile(struct octofs *ctx, struct upload *up)
{
	struct octofs_inode *inode = queue_job_file(up->job);
	char url[STATE_VALUE_MAX];
	enum state_status st;
	ssize_t len = -1;
	int fd;

	if (!queue_job_resumed(ctx->queue, up->job))
		return false;
	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0)
		return false;	/* opening it says why */
	st = state_read_status(fd);
	if (st == STATE_DONE)
		len = state_get(fd, STATE_URL, url, sizeof(url) - 1);
	inode_fd_put(ctx->inodes, inode);
	if (st == STATE_QUEUED || st == STATE_UPLOADING)
		return false;
	if (len > 0) {
		url[len] = '\0';
		queue_done(ctx->queue, up->job, up->gen, url);
	} else {
		queue_failed(ctx->queue, up->job, up->gen);
	}
	return true;
}

static void upload(struct worker *w, struct octofs_job *job, uint64_t gen)
{
	struct octofs *ctx = w->pool->ctx;
	struct upload up = { .job = job, .gen = gen, .file_fd = -1 };
	enum http_verdict v;

	clock_gettime(CLOCK_MONOTONIC, &up.started);
	http_result_init(&up.res);
	up.name = queue_job_name(ctx->queue, job);
	if (!up.name) {
		snprintf(up.res.message, sizeof(up.res.message),
			 "out of memory");
		finish(w, &up, HTTP_RETRY);
		return;
	}
	if (finished_meanwhile(ctx, &up))
		goto out_free_name;
	persist(ctx, &up, STATE_UPLOADING);
	v = open_file(ctx, &up);
	if (v == HTTP_OK) {
		report_progress(up.job, 0, up.size);
		v = transfer(w, &up);
	}
	finish(w, &up, v);
out_free_name:
	if (up.file_fd >= 0)
		close(up.file_fd);
	presign_answer_clear(&up.ans);
	free(up.name);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_pool *pool = w->pool;
	struct octofs_job *job;
	uint64_t gen;

	if (w->ahead)
		while ((job = queue_pop_ahead(pool->ctx->queue)))
			presign_ahead(w, job);
	else
		while ((job = queue_pop(pool->ctx->queue, &gen)))
			upload(w, job, gen);
	pthread_mutex_lock(&pool->lock);
	pool->running--;
	pthread_cond_broadcast(&pool->idle_cond);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static int start_worker(struct worker_pool *pool, struct worker *w,
			const struct http_config *cfg)
{
	w->pool = pool;
	w->seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)w;
	w->http = http_client_new(cfg);
	if (!w->http)
		return -ENOMEM;
	pthread_mutex_lock(&pool->lock);
	pool->running++;
	pthread_mutex_unlock(&pool->lock);
	if (pthread_create(&w->thread, NULL, worker_main, w)) {
		pthread_mutex_lock(&pool->lock);
		pool->running--;
		pthread_mutex_unlock(&pool->lock);
		return -EAGAIN;
	}
	w->started = true;
	return 0;
}

struct worker_pool *worker_pool_start(struct octofs *ctx)
{
	const struct octofs_opts *o = ctx->opts;
	struct http_config cfg = {
		.ca_file = o->ca_file,
		.connect_timeout_s = o->timeout_s,
		.low_speed_time_s = o->timeout_s,
		.request_timeout_s = o->timeout_s,
	};
	unsigned int n = ctx->opts->jobs + (ctx->opts->presign_ahead ? 1 : 0);
	struct worker_pool *pool;
	unsigned int i;
	int err;

	pool = calloc(1, sizeof(*pool) + n * sizeof(pool->workers[0]));
	if (!pool)
		return NULL;
	pool->ctx = ctx;
	pool->n = n;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->idle_cond, NULL);
	for (i = 0; i < n; i++) {
		/* One thread of its own asks ahead: never an upload's slot. */
		pool->workers[i].ahead = i == ctx->opts->jobs;
		err = start_worker(pool, &pool->workers[i], &cfg);
		if (err) {
			log_error("cannot start upload worker: %s",
				  strerror(-err));
			queue_shutdown(ctx->queue);
			worker_pool_stop(pool, 0);
			return NULL;
		}
	}
	return pool;
}

/* Wait until every worker has left its loop, or @ms passed. */
static void wait_idle(struct worker_pool *pool, unsigned long ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(ms / 1000);
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool->lock);
	while (pool->running)
		if (pthread_cond_timedwait(&pool->idle_cond, &pool->lock,
					   &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&pool->lock);
}

void worker_pool_stop(struct worker_pool *pool, unsigned long grace_ms)
{
	unsigned int i;

	if (!pool)
		return;
	wait_idle(pool, grace_ms);
	queue_abort_uploads(pool->ctx->queue);
	for (i = 0; i < pool->n; i++) {
		if (pool->workers[i].started)
			pthread_join(pool->workers[i].thread, NULL);
		http_client_free(pool->workers[i].http);
	}
	pthread_cond_destroy(&pool->idle_cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
