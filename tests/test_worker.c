/*
 * Tests for src/worker.c: the upload threads, with the real queue and
 * state modules over files in /tmp.  The network is stubbed: presign_call
 * and put_file follow a script and record what they were asked; the
 * inode table is a stub that hands out each file's O_PATH descriptor.
 * The allocators (libcurl's too) and log_msg are wrapped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define INJECT_ALLOCATORS
#define INJECT_CURL
#include "http_exchange.h"
#include "inject.h"
#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "opts.h"
#include "presign.h"
#include "put.h"
#include "queue_fuse.h"
#include "queue_worker.h"
#include "state.h"
#include "tap.h"
#include "worker.h"

#define SCRIPT_MAX 8
#define N_STEPS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- What the stubs are told and what they saw, under lock ------------- */

struct step {
	enum http_verdict v;	/* HTTP_OK unless said */
	const char *message;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static struct {
	struct step presign[SCRIPT_MAX];
	struct step put[SCRIPT_MAX];
	int presigns;			/* calls so far */
	int puts;
	int presigns_scripted;		/* the call the script starts at */
	int puts_scripted;
	void (*put_hook)(const atomic_int *cancel);
	char file_name[NAME_MAX + 1];	/* the last presign's request */
	char content_type[64];
	char prefix[32];
	unsigned int expires_in;
	char endpoint[64];
	char api_key[32];
	char put_url[128];		/* the last PUT */
	char put_type[64];
	char body[64];
	off_t size;
	off_t progress;
	bool had_url;			/* the file had a URL at the PUT */
	int retired;			/* jobs retired so far */
	int failed;			/* ... of them failed */
	int nulls;			/* log lines with "(null)" */
	int retries;			/* ... that announce a retry */
} t;

/* The next calls of presign and put follow these steps, then answer OK. */
static void script(const struct step *presign, int n_presign,
		   const struct step *put, int n_put)
{
	pthread_mutex_lock(&lock);
	memset(t.presign, 0, sizeof(t.presign));
	memset(t.put, 0, sizeof(t.put));
	if (n_presign)
		memcpy(t.presign, presign, n_presign * sizeof(*presign));
	if (n_put)
		memcpy(t.put, put, n_put * sizeof(*put));
	t.presigns_scripted = t.presigns;
	t.puts_scripted = t.puts;
	pthread_mutex_unlock(&lock);
}

static struct step next_step(const struct step *steps, int *calls,
			     int scripted)
{
	int i = (*calls)++ - scripted;
	struct step none = { HTTP_OK, NULL };

	return i < SCRIPT_MAX ? steps[i] : none;
}

/* A copy of what the stubs saw so far. */
static void seen(int *presigns, int *puts, int *retired, int *failed)
{
	pthread_mutex_lock(&lock);
	*presigns = t.presigns;
	*puts = t.puts;
	*retired = t.retired;
	*failed = t.failed;
	pthread_mutex_unlock(&lock);
}

/* Wait at most ten seconds for @n jobs retired in all. */
static bool wait_retired(int n)
{
	struct timespec deadline;
	bool got;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (t.retired < n &&
	       !pthread_cond_timedwait(&cond, &lock, &deadline))
		;
	got = t.retired >= n;
	pthread_mutex_unlock(&lock);
	return got;
}

static void on_retire(void *arg, dev_t dev, ino_t ino, bool failed)
{
	pthread_mutex_lock(&lock);
	t.retired++;
	t.failed += failed;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* ---- Stubs: presign.c and put.c ---------------------------------------- */

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "(none)");
}

/* "@base@name/@n", or "@base@name?sig=@n" (@sig) */
static char *dup_answer(const char *base, const char *name, int n, bool sig)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s%s%s%d", base, name, sig ? "?sig=" : "/",
		 n);
	return __real_strdup(buf);
}

/* Answers for call n: .../NAME?sig=n, and the public URL .../NAME/n. */
enum http_verdict presign_call(struct http_client *c, const char *endpoint,
			       const char *api_key,
			       const struct presign_request *req,
			       struct presign_answer *ans,
			       struct http_result *res)
{
	struct step s;
	int n;

	pthread_mutex_lock(&lock);
	s = next_step(t.presign, &t.presigns, t.presigns_scripted);
	n = t.presigns;
	copy(t.file_name, sizeof(t.file_name), req->file_name);
	copy(t.content_type, sizeof(t.content_type), req->content_type);
	copy(t.prefix, sizeof(t.prefix), req->prefix);
	t.expires_in = req->expires_in;
	copy(t.endpoint, sizeof(t.endpoint), endpoint);
	copy(t.api_key, sizeof(t.api_key), api_key);
	pthread_mutex_unlock(&lock);
	if (s.v != HTTP_OK) {
		http_result_msg(res, "%s", s.message);
		return s.v;
	}
	ans->upload_url = dup_answer("http://store.example/up/",
				     req->file_name, n, true);
	ans->object_key = dup_answer("u/", req->file_name, n, false);
	ans->public_url = dup_answer("https://cdn.example/u/",
				     req->file_name, n, false);
	ans->content_type = __real_strdup(req->content_type);
	ans->expires_in = 900;
	return HTTP_OK;
}

void presign_answer_clear(struct presign_answer *ans)
{
	free(ans->upload_url);
	free(ans->object_key);
	free(ans->public_url);
	free(ans->content_type);
	memset(ans, 0, sizeof(*ans));
}

enum http_verdict put_file(struct http_client *c, const char *url,
			   const char *content_type, int fd, off_t size,
			   const atomic_int *cancel,
			   put_progress_fn progress, void *progress_arg,
			   struct http_result *res)
{
	void (*hook)(const atomic_int *cancel);
	char body[64] = "";
	struct step s;
	ssize_t n;

	n = pread(fd, body, sizeof(body) - 1, 0);
	body[n > 0 ? n : 0] = '\0';
	if (progress)
		progress(progress_arg, size, size);
	pthread_mutex_lock(&lock);
	s = next_step(t.put, &t.puts, t.puts_scripted);
	copy(t.put_url, sizeof(t.put_url), url);
	copy(t.put_type, sizeof(t.put_type), content_type);
	copy(t.body, sizeof(t.body), body);
	t.size = size;
	t.had_url = fgetxattr(fd, STATE_URL, NULL, 0) >= 0;
	hook = t.put_hook;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (hook)
		hook(cancel);
	if (s.v != HTTP_OK)
		http_result_msg(res, "%s", s.message);
	return s.v;
}

/* ---- Stubs: the inode table -------------------------------------------- */

int inode_fd(struct inode_table *it, struct octofs_inode *inode)
{
	return inode->fd >= 0 ? inode->fd : -ESTALE;
}

void inode_fd_put(struct inode_table *it, struct octofs_inode *inode)
{
}

bool inode_fd_relieve(struct inode_table *it, int err)
{
	return false;
}

char *inode_path(struct inode_table *it, struct octofs_inode *inode)
{
	return strdup(inode->name ? inode->name : "");
}

/* ---- log_msg, wrapped --------------------------------------------------- */

void __wrap_log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void __wrap_log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	if (strstr(line, "(null)"))
		t.nulls++;
	if (strstr(line, "; retrying in "))
		t.retries++;
	pthread_mutex_unlock(&lock);
}

/* ---- The mount ---------------------------------------------------------- */

static char store_path[64];
static int store_fd = -1;
static struct octofs_opts opts = {
	.endpoint = "http://api.example", .api_key = "sk-test",
	.prefix = "pre", .expires_in = 900, .jobs = 1,
	.retry_min_ms = 1, .retry_max_ms = 20, .timeout_s = 5,
};
static struct octofs ctx = { .opts = &opts };

/* A file of the store with @content, and its inode (a stub's). */
static struct octofs_inode *new_file(const char *name, const char *content)
{
	struct octofs_inode *inode = __real_calloc(1, sizeof(*inode));
	struct stat st;
	int fd;

	fd = openat(store_fd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC,
		    0600);
	if (!inode || fd < 0 ||
	    write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	close(fd);
	inode->fd = openat(store_fd, name, O_PATH | O_CLOEXEC);
	if (inode->fd < 0 || fstat(inode->fd, &st))
		abort();
	inode->dev = st.st_dev;
	inode->ino = st.st_ino;
	return inode;
}

static void free_file(struct octofs_inode *inode)
{
	if (inode->fd >= 0)
		close(inode->fd);
	free(inode);
}

/* The file was written and closed under @name. */
static void written(struct octofs_inode *inode, const char *name)
{
	queue_job_put(ctx.queue, queue_hold(ctx.queue, inode->dev, inode->ino,
					    inode, name));
	queue_submit(ctx.queue, inode->dev, inode->ino, NULL, 0);
}

static const char *attr(struct octofs_inode *inode, const char *name)
{
	static char buf[256];
	ssize_t len = state_get(inode->fd, name, buf, sizeof(buf) - 1);

	buf[len > 0 ? len : 0] = '\0';
	return buf;
}

static int start_mount(void)
{
	snprintf(store_path, sizeof(store_path),
		 "/tmp/octofs-test-worker.XXXXXX");
	if (!mkdtemp(store_path))
		return -1;
	store_fd = open(store_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ctx.queue = queue_new(0);
	if (store_fd < 0 || !ctx.queue)
		return -1;
	queue_on_retire(ctx.queue, on_retire, NULL);
	ctx.workers = worker_pool_start(&ctx);
	return ctx.workers ? 0 : -1;
}

static void remove_store(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_path);
	if (system(cmd))
		ok(0, "removing %s", store_path);
	close(store_fd);
}

/* ---- Tests -------------------------------------------------------------- */

static void test_upload(void)
{
	struct octofs_inode *f = new_file("photo.png", "hello png");
	int presigns, puts, retired, failed;

	script(NULL, 0, NULL, 0);
	written(f, "photo.png");
	ok(wait_retired(1), "the upload ends");
	seen(&presigns, &puts, &retired, &failed);
	ok(presigns == 1 && puts == 1 && failed == 0,
	   "one presign, one PUT, done");
	is_int(state_read_status(f->fd), STATE_DONE, "status done");
	is_str(attr(f, STATE_URL), "https://cdn.example/u/photo.png/1",
	       "the public URL");
	is_str(attr(f, STATE_KEY), "u/photo.png/1", "the object key");
	is_str(t.file_name, "photo.png", "presigned under its name");
	is_str(t.content_type, "image/png", "with its type");
	is_str(t.prefix, "pre", "the prefix");
	is_int(t.expires_in, 900, "expires_in");
	is_str(t.endpoint, "http://api.example", "to the endpoint");
	is_str(t.api_key, "sk-test", "with the key");
	is_str(t.put_url, "http://store.example/up/photo.png?sig=1",
	       "PUT to the signed URL");
	is_str(t.put_type, "image/png", "with the answer's content type");
	is_int(t.size, 9, "of the file's size");
	is_str(t.body, "hello png", "from a descriptor that reads the file");
	free_file(f);
}

static void test_expired(void)
{
	static const struct step two[] = {
		{ HTTP_EXPIRED, "upload URL refused (HTTP 403)" },
		{ HTTP_EXPIRED, "upload URL refused (HTTP 403)" },
	};
	static const struct step three[] = {
		{ HTTP_EXPIRED, "upload URL refused (HTTP 403)" },
		{ HTTP_EXPIRED, "upload URL refused (HTTP 403)" },
		{ HTTP_EXPIRED, "upload URL refused (HTTP 403)" },
	};
	struct octofs_inode *f = new_file("exp.txt", "x");
	int p0, u0, r0, f0, p, u, r, fl;
	char want[64];

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, two, N_STEPS(two));
	written(f, "exp.txt");
	ok(wait_retired(r0 + 1), "two expired URLs: the upload ends");
	seen(&p, &u, &r, &fl);
	ok(p - p0 == 3 && u - u0 == 3 && fl == f0,
	   "done with the third URL asked for");
	is_int(t.retries, 0, "within one attempt");
	snprintf(want, sizeof(want), "https://cdn.example/u/exp.txt/%d", p);
	is_str(attr(f, STATE_URL), want, "its URL is the last one asked");

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, three, N_STEPS(three));
	written(f, "exp.txt");
	ok(wait_retired(r0 + 1), "three expired URLs: the upload ends");
	seen(&p, &u, &r, &fl);
	ok(p - p0 == 4 && u - u0 == 4 && fl == f0,
	   "after a retry, with a fourth URL");
	is_int(t.retries, 1, "one retry");
	is_int(state_read_status(f->fd), STATE_DONE, "done");
	free_file(f);
}

static void test_failures(void)
{
	static const struct step refused[] = {
		{ HTTP_FATAL, "presign refused (HTTP 401): bad key" },
	};
	static const struct step busy[] = {
		{ HTTP_RETRY, "upload failed (HTTP 503)" },
	};
	struct octofs_inode *f = new_file("fail.txt", "x");
	int p0, u0, r0, f0, p, u, r, fl;

	seen(&p0, &u0, &r0, &f0);
	script(refused, N_STEPS(refused), NULL, 0);
	written(f, "fail.txt");
	ok(wait_retired(r0 + 1), "a refused presign: the upload ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 + 1 && u == u0, "failed, with no PUT");
	is_int(state_read_status(f->fd), STATE_FAILED, "status failed");
	is_str(attr(f, STATE_ERROR), "presign refused (HTTP 401): bad key",
	       "the error says why");

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, busy, N_STEPS(busy));
	written(f, "fail.txt");
	ok(wait_retired(r0 + 1), "a busy server: the upload ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 && u - u0 == 2, "done at the second PUT");
	is_int(state_read_status(f->fd), STATE_DONE, "status done");
	is_int(state_get(f->fd, STATE_ERROR, NULL, 0), -ENODATA,
	       "the earlier error is gone");

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, NULL, 0);
	close(f->fd);
	f->fd = -1;
	written(f, "fail.txt");
	ok(wait_retired(r0 + 1), "a file that cannot be found: ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 + 1 && p == p0 && u == u0,
	   "failed, with no presign and no PUT");
	free_file(f);
}

/* At start-up the scan may queue a file whose upload ended meanwhile. */
static void test_resumed(void)
{
	struct octofs_inode *f = new_file("res.txt", "resumed");
	int p0, u0, r0, f0, p, u, r, fl;

	state_mark_done(f->fd, "https://cdn.example/earlier", "k");
	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, NULL, 0);
	is_int(queue_resume(ctx.queue, f->dev, f->ino, f, "res.txt"), 0,
	       "a done file queued by the scan");
	ok(wait_retired(r0 + 1), "ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 && p == p0 && u == u0, "done, not uploaded again");
	is_str(attr(f, STATE_URL), "https://cdn.example/earlier",
	       "its URL kept");

	state_mark_failed(f->fd, "refused");
	queue_resume(ctx.queue, f->dev, f->ino, f, "res.txt");
	ok(wait_retired(r0 + 2), "a failed one: ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 + 1 && p == p0 && u == u0, "failed, not uploaded again");

	state_mark_queued(f->fd);
	queue_resume(ctx.queue, f->dev, f->ino, f, "res.txt");
	ok(wait_retired(r0 + 3), "a queued one: ends");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 + 1 && p == p0 + 1 && u == u0 + 1, "uploaded");
	is_str(t.body, "resumed", "its bytes");
	free_file(f);
}

/* A write during the PUT: that outcome is not recorded; the new one is. */
static struct octofs_inode *overtaker;

static void write_again(const atomic_int *cancel)
{
	struct octofs_inode *f = overtaker;
	int fd;

	if (!f)
		return;
	overtaker = NULL;
	fd = openat(store_fd, "over.txt", O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, "second", 6) != 6)
		abort();
	close(fd);
	written(f, "over.txt");
	pthread_mutex_lock(&lock);
	t.progress = atomic_load(cancel);
	pthread_mutex_unlock(&lock);
}

static void test_overtaken(void)
{
	struct octofs_inode *f = new_file("over.txt", "first");
	int p0, u0, r0, f0, p, u, r, fl;
	char want[64];

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, NULL, 0);
	overtaker = f;
	pthread_mutex_lock(&lock);
	t.put_hook = write_again;
	pthread_mutex_unlock(&lock);
	written(f, "over.txt");
	ok(wait_retired(r0 + 1), "written again during its PUT: ends");
	seen(&p, &u, &r, &fl);
	pthread_mutex_lock(&lock);
	t.put_hook = NULL;
	pthread_mutex_unlock(&lock);
	ok(p - p0 == 2 && u - u0 == 2 && r - r0 == 1 && fl == f0,
	   "uploaded twice, retired once");
	is_int(t.progress, 1, "the first PUT was told to stop");
	is_str(t.body, "second", "the second PUT sent the new bytes");
	ok(!t.had_url, "the first outcome was not recorded");
	snprintf(want, sizeof(want), "https://cdn.example/u/over.txt/%d", p);
	is_str(attr(f, STATE_URL), want, "the URL is the second upload's");
	free_file(f);
}

/* Memory runs out when the worker copies the job's name: a retry. */
static void test_nomem_name(void)
{
	struct octofs_inode *f = new_file("mem.txt", "x");
	int p0, u0, r0, f0, p, u, r, fl;

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, NULL, 0);
	queue_job_put(ctx.queue, queue_hold(ctx.queue, f->dev, f->ino, f,
					    "mem.txt"));
	inject_arm(1);
	queue_submit(ctx.queue, f->dev, f->ino, NULL, 0);
	ok(wait_retired(r0 + 1), "out of memory for the name: ends");
	ok(inject_disarm(), "(the allocation failed)");
	seen(&p, &u, &r, &fl);
	ok(fl == f0 && p - p0 == 1 && u - u0 == 1, "done at the retry");
	is_int(state_read_status(f->fd), STATE_DONE, "status done");
	free_file(f);
}

/* Each allocation of a pool's start failing: no pool, nothing left. */
static void test_nomem_start(void)
{
	struct octofs o = ctx;
	struct worker_pool *pool;
	int n, bad = 0;

	opts.jobs = 2;
	for (n = 1; n < 1000; n++) {
		o.queue = queue_new(0);
		inject_arm(n);
		pool = worker_pool_start(&o);
		if (!inject_disarm())
			break;
		bad += pool != NULL;
		worker_pool_stop(pool, 0);
		queue_free(o.queue);
	}
	ok(pool != NULL, "two workers allocate %d times", n - 1);
	is_int(bad, 0, "each failing: no pool");
	queue_shutdown(o.queue);
	worker_pool_stop(pool, 0);
	queue_free(o.queue);
	opts.jobs = 1;
}

/* Unmounting with an upload in flight: it is cancelled, left queued. */
static void wait_cancel(const atomic_int *cancel)
{
	int i;

	for (i = 0; i < 1000 && !atomic_load(cancel); i++)
		usleep(10000);
	pthread_mutex_lock(&lock);
	t.progress = atomic_load(cancel);
	pthread_mutex_unlock(&lock);
}

static void test_stop(void)
{
	static const struct step cancelled[] = {
		{ HTTP_CANCELLED, "upload cancelled" },
	};
	struct octofs_inode *f = new_file("stop.txt", "x");
	struct timespec t0, t1;
	int p0, u0, r0, f0, p, u, r, fl;

	seen(&p0, &u0, &r0, &f0);
	script(NULL, 0, cancelled, N_STEPS(cancelled));
	pthread_mutex_lock(&lock);
	t.put_hook = wait_cancel;
	t.progress = 0;
	pthread_mutex_unlock(&lock);
	written(f, "stop.txt");
	pthread_mutex_lock(&lock);
	while (t.puts == u0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	queue_shutdown(ctx.queue);
	worker_pool_stop(ctx.workers, 0);
	ctx.workers = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(t1.tv_sec - t0.tv_sec < 5, "the pool stops at once");
	is_int(t.progress, 1, "the upload in flight was told to stop");
	seen(&p, &u, &r, &fl);
	is_int(r, r0, "nothing retired");
	is_int(state_read_status(f->fd), STATE_UPLOADING,
	       "left unfinished on disk, for the next mount");
	free_file(f);
}

int main(void)
{
	if (inject_curl_init())
		return 1;
	if (start_mount()) {
		printf("1..0 # SKIP cannot start: %s\n", strerror(errno));
		return 0;
	}
	if (state_probe(store_fd)) {
		printf("1..0 # SKIP /tmp keeps no user.* attributes\n");
		return 0;
	}
	test_upload();
	test_expired();
	test_failures();
	test_resumed();
	test_overtaken();
	test_nomem_name();
	test_nomem_start();
	test_stop();
	is_int(t.nulls, 0, "no log line says (null)");
	queue_free(ctx.queue);
	remove_store();
	curl_global_cleanup();
	return tap_done();
}
