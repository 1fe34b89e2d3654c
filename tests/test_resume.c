/*
 * Tests for src/resume.c: the start-up scan of a store in /tmp that
 * queues again every upload left "queued" or "uploading", with the real
 * queue, state and ignore modules.  The inode table is a stub here: an
 * inode per lookup, holding an O_PATH descriptor, counted so that every
 * lookup is seen forgotten.  The allocators are wrapped (inject.h), and
 * log_msg() too: a scan says when it ends, and warns of what it missed.
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
#include <unistd.h>

#define INJECT_ALLOCATORS
#include "inject.h"
#include "ignore.h"
#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "queue_fuse.h"
#include "queue_worker.h"
#include "resume.h"
#include "state.h"
#include "tap.h"

/* ---- log_msg(), wrapped ------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cond = PTHREAD_COND_INITIALIZER;
static int scans_ended;		/* guarded by log_lock */
static int warnings;		/* ... */

void __wrap_log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void __wrap_log_msg(enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if (level <= LOG_LEVEL_WARN)
		warnings++;
	if (strstr(line, "unfinished uploads queued again")) {
		scans_ended++;
		pthread_cond_broadcast(&log_cond);
	}
	pthread_mutex_unlock(&log_lock);
}

static int warnings_now(void)
{
	int n;

	pthread_mutex_lock(&log_lock);
	n = warnings;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* Wait at most ten seconds for the scan number @n to end. */
static bool scan_ended(int n)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&log_lock);
	while (scans_ended < n &&
	       !pthread_cond_timedwait(&log_cond, &log_lock, &deadline))
		;
	n = scans_ended >= n;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* ---- A stub inode table ------------------------------------------------ */

struct inode_table {
	struct octofs_inode root;
	int live;		/* inodes made and not yet freed */
	int lookups;
	int forgets;
	const char *fail_name;	/* inode_lookup() of it fails ... */
	int fail_err;		/* ... with this */
};

static void maybe_free(struct inode_table *t, struct octofs_inode *inode)
{
	if (inode == &t->root || inode->nlookup || inode->refs)
		return;
	close(inode->fd);
	free(inode);
	t->live--;
}

struct octofs_inode *inode_get(struct inode_table *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : NULL;
}

int inode_lookup(struct inode_table *t, struct octofs_inode *dir,
		 const char *name, struct stat *st, struct octofs_inode **out)
{
	struct octofs_inode *inode;

	if (t->fail_name && !strcmp(name, t->fail_name))
		return t->fail_err;
	if (fstatat(dir->fd, name, st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	inode = __real_calloc(1, sizeof(*inode));
	if (!inode)
		return -ENOMEM;
	inode->fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (inode->fd < 0) {
		free(inode);
		return -errno;
	}
	inode->dev = st->st_dev;
	inode->ino = st->st_ino;
	inode->nlookup = 1;
	t->live++;
	t->lookups++;
	*out = inode;
	return 0;
}

void inode_forget(struct inode_table *t, struct octofs_inode *inode,
		  uint64_t n)
{
	inode->nlookup -= n;
	t->forgets++;
	maybe_free(t, inode);
}

int inode_fd(struct inode_table *t, struct octofs_inode *inode)
{
	return inode->fd >= 0 ? inode->fd : -ESTALE;
}

void inode_fd_put(struct inode_table *t, struct octofs_inode *inode)
{
}

/* Jobs keep their inode, as main.c's file operations make them. */
static void file_get(void *arg, void *file)
{
	((struct octofs_inode *)file)->refs++;
}

static void file_put(void *arg, void *file)
{
	struct octofs_inode *inode = file;

	inode->refs--;
	maybe_free(arg, inode);
}

/* ---- The store --------------------------------------------------------- */

struct store {
	char base[64];		/* holds the store and a directory outside */
	char path[80];
	struct inode_table t;
	struct ignore_set *ignore;
	struct octofs ctx;
};

static void put_status(struct store *s, const char *name, const char *st)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", s->path, name);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || (st && fsetxattr(fd, STATE_STATUS, st, strlen(st), 0)))
		ok(0, "making %s: %s", name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void put_dir(struct store *s, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->path, name);
	if (mkdir(path, 0700))
		ok(0, "making %s: %s", name, strerror(errno));
}

static void put_link(struct store *s, const char *target, const char *name,
		     bool hard)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof(from), "%s/%s", s->path, target);
	snprintf(to, sizeof(to), "%s/%s", s->path, name);
	if (hard ? link(from, to) : symlink(target, to))
		ok(0, "linking %s: %s", name, strerror(errno));
}

/*
 * Five unfinished uploads (one with a second name), some finished or
 * never started, one with an ignored name, and one outside the store
 * behind a symbolic link.
 */
static int store_open(struct store *s)
{
	char err[128];

	memset(s, 0, sizeof(*s));
	snprintf(s->base, sizeof(s->base), "/tmp/octofs-test-resume.XXXXXX");
	if (!mkdtemp(s->base))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/store", s->base);
	if (mkdir(s->path, 0700))
		return -1;
	s->t.root.fd = open(s->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->t.root.fd < 0 ||
	    ignore_set_new(IGNORE_DEFAULT_SPEC, &s->ignore, err, sizeof(err)))
		return -1;
	s->ctx.inodes = &s->t;
	s->ctx.ignore = s->ignore;
	put_status(s, "q1.png", "queued");
	put_link(s, "q1.png", "q1-again.png", true);
	put_status(s, "u1.png", "uploading");
	put_status(s, "d1.png", "done");
	put_status(s, "f1.png", "failed");
	put_status(s, "n1.png", NULL);
	put_status(s, "x1.png", "paused");
	put_status(s, "draft.tmp", "queued");
	put_dir(s, "sub");
	put_status(s, "sub/q2.txt", "queued");
	put_dir(s, "sub/deeper");
	put_status(s, "sub/deeper/u2.txt", "uploading");
	put_dir(s, "elsewhere");
	put_status(s, "elsewhere/q3.txt", "queued");
	put_dir(s, "../outside");
	put_status(s, "../outside/o.txt", "queued");
	put_link(s, "../outside", "link", false);
	return 0;
}

static void store_close(struct store *s)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->base);
	if (system(cmd))
		ok(0, "removing %s", s->path);
	ignore_set_free(s->ignore);
	close(s->t.root.fd);
}

static const char *const unfinished[] = {
	"q1.png", "u1.png", "sub/q2.txt", "sub/deeper/u2.txt",
	"elsewhere/q3.txt",
};
#define N_UNFINISHED (sizeof(unfinished) / sizeof(unfinished[0]))

static int new_queue(struct store *s)
{
	static struct queue_file_ops ops = {
		.get = file_get, .put = file_put,
	};

	s->ctx.queue = queue_new(0);
	if (!s->ctx.queue)
		return -1;
	ops.arg = &s->t;
	queue_on_file(s->ctx.queue, &ops);
	return 0;
}

static void free_queue(struct store *s)
{
	queue_free(s->ctx.queue);
	s->ctx.queue = NULL;
}

static bool has_job(struct store *s, const char *name)
{
	enum job_state st;
	struct stat sb;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->path, name);
	return !stat(path, &sb) &&
	       !queue_state(s->ctx.queue, sb.st_dev, sb.st_ino, &st);
}

static unsigned long queued(struct store *s)
{
	struct queue_counts c;

	queue_counts(s->ctx.queue, &c);
	return c.queued;
}

/*
 * Scan once, to its end: resume_stop()'s answer, or -1 when nothing
 * started.
 */
static int scan(struct store *s)
{
	struct resume_scan *r;
	int n;

	pthread_mutex_lock(&log_lock);
	n = scans_ended + 1;
	pthread_mutex_unlock(&log_lock);
	if (resume_start(&s->ctx, s->t.root.fd, &r) || !r)
		return -1;
	if (!scan_ended(n))
		ok(0, "the scan did not end");
	return resume_stop(r);
}

/* ---- Tests ------------------------------------------------------------- */

static void test_scan(struct store *s)
{
	static const char *const left[] = {
		"d1.png", "f1.png", "n1.png", "x1.png", "draft.tmp",
		"link/o.txt",
	};
	struct octofs_job *job;
	size_t i, found = 0, stray = 0, resumed = 0;
	int warned = warnings_now();
	uint64_t gen;

	new_queue(s);
	is_int(scan(s), 1, "the scan runs to its end, complete");
	is_int(warnings_now(), warned, "with no warning");
	for (i = 0; i < N_UNFINISHED; i++)
		found += has_job(s, unfinished[i]);
	is_int(found, N_UNFINISHED, "every unfinished upload has a job, "
	       "in subdirectories too");
	for (i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		stray += has_job(s, left[i]);
	is_int(stray, 0, "done, failed, unknown, no status, ignored, or "
	       "behind a link: none");
	is_int(queued(s), N_UNFINISHED, "one job each (two names, one job)");
	is_int(s->t.live, (int)N_UNFINISHED, "the jobs keep their inodes");
	while (queued(s) && (job = queue_pop(s->ctx.queue, &gen))) {
		resumed += queue_job_resumed(s->ctx.queue, job);
		queue_done(s->ctx.queue, job, gen, "https://cdn.example/x");
	}
	is_int(resumed, N_UNFINISHED, "each marked as resumed");
	free_queue(s);
	is_int(s->t.live, 0, "no inode left behind");
	is_int(s->t.lookups, s->t.forgets, "each lookup forgotten");
}

static void test_settled(struct store *s)
{
	struct resume_scan *r = (void *)1;

	new_queue(s);
	is_int(state_mark_store_settled(s->t.root.fd), 0, "store settled");
	is_int(resume_start(&s->ctx, s->t.root.fd, &r), 0, "start");
	ok(r == NULL, "a settled store is not scanned");
	is_int(queued(s), 0, "nothing queued");
	ok(resume_stop(r), "stopping no scan: complete");
	is_int(scan(s), 1, "the next start scans");
	is_int(queued(s), N_UNFINISHED, "and queues");
	free_queue(s);
}

/* A chain of @levels directories "d" in the store (longer: stays). */
static void put_deep(struct store *s, int levels)
{
	int fd = openat(s->t.root.fd, ".", O_RDONLY | O_DIRECTORY), next;

	while (levels-- && fd >= 0) {
		next = -1;
		if (!mkdirat(fd, "d", 0700) || errno == EEXIST)
			next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		close(fd);
}

static void test_errors(struct store *s)
{
	char cmd[128];

	int warned = warnings_now();

	new_queue(s);
	s->t.fail_name = "u1.png";
	s->t.fail_err = -EIO;
	is_int(scan(s), 0, "a file that cannot be looked up: incomplete");
	is_int(warnings_now(), warned + 1, "with a warning");
	is_int(queued(s), N_UNFINISHED - 1, "the others are queued");
	free_queue(s);

	new_queue(s);
	s->t.fail_err = -ENOENT;
	warned = warnings_now();
	is_int(scan(s), 1, "a file gone meanwhile: still complete");
	is_int(warnings_now(), warned, "with no warning");
	free_queue(s);

	new_queue(s);
	s->t.fail_name = "deeper";
	s->t.fail_err = -EACCES;
	is_int(scan(s), 0, "a directory that cannot be entered: incomplete");
	ok(!has_job(s, "sub/deeper/u2.txt") && has_job(s, "sub/q2.txt"),
	   "the rest is scanned");
	s->t.fail_name = NULL;
	free_queue(s);

	new_queue(s);
	put_deep(s, 256);
	is_int(scan(s), 1, "a tree 256 levels deep: complete");
	free_queue(s);
	new_queue(s);
	put_deep(s, 257);
	is_int(scan(s), 0, "a level deeper: incomplete");
	is_int(queued(s), N_UNFINISHED, "all else queued");
	free_queue(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/d'", s->path);
	if (system(cmd))
		ok(0, "removing the deep tree");
	is_int(s->t.lookups, s->t.forgets, "each lookup forgotten");
}

static void test_resume_file(struct store *s)
{
	struct octofs_inode *inode;
	struct stat st;

	new_queue(s);
	inode_lookup(&s->t, &s->t.root, "q1.png", &st, &inode);
	is_int(resume_file(&s->ctx, inode, "q1.png"), 0, "resume a file");
	is_int(resume_file(&s->ctx, inode, "q1.png"), -EEXIST,
	       "twice: EEXIST");
	is_int(resume_file(&s->ctx, inode, "q1.tmp"), -EPERM,
	       "an ignored name: EPERM");
	inode_forget(&s->t, inode, 1);
	inode_lookup(&s->t, &s->t.root, "sub", &st, &inode);
	is_int(resume_file(&s->ctx, inode, "sub"), -EINVAL,
	       "a directory: EINVAL");
	inode_forget(&s->t, inode, 1);
	inode_lookup(&s->t, &s->t.root, "u1.png", &st, &inode);
	if (unlinkat(s->t.root.fd, "u1.png", 0))
		return;
	is_int(resume_file(&s->ctx, inode, "u1.png"), -EINVAL,
	       "a file no longer in the store: EINVAL");
	queue_shutdown(s->ctx.queue);
	put_status(s, "u1.png", "uploading");
	inode_forget(&s->t, inode, 1);
	inode_lookup(&s->t, &s->t.root, "u1.png", &st, &inode);
	is_int(resume_file(&s->ctx, inode, "u1.png"), -ECANCELED,
	       "after shutdown: ECANCELED");
	inode_forget(&s->t, inode, 1);
	free_queue(s);
}

/* Each allocation failing in turn: a scan that says it is incomplete. */
static void test_nomem(struct store *s)
{
	struct resume_scan *r;
	int n, err, ended, bad = 0, done = -1;

	for (n = 1; n < 100; n++) {
		new_queue(s);
		inject_arm(n);
		r = NULL;
		pthread_mutex_lock(&log_lock);
		ended = scans_ended + 1;
		pthread_mutex_unlock(&log_lock);
		err = resume_start(&s->ctx, s->t.root.fd, &r);
		if (r && !scan_ended(ended))
			bad++;
		done = r ? resume_stop(r) : -1;
		if (!inject_disarm()) {
			free_queue(s);
			break;
		}
		if (n == 1 && (err != -ENOMEM || r))
			bad++;
		/* (the job of q1.png may come from its other name) */
		if (n > 1 && (done || queued(s) < N_UNFINISHED - 1))
			bad++;
		free_queue(s);
	}
	is_int(done, 1, "a scan allocates %d times", n - 1);
	ok(n > 1 && !bad, "the first failing: ENOMEM; any other: one upload "
	   "not queued and the scan incomplete");
	is_int(s->t.live, 0, "no inode left behind");
}

int main(void)
{
	struct store s;

	if (store_open(&s)) {
		printf("1..0 # SKIP no store in /tmp: %s\n", strerror(errno));
		return 0;
	}
	if (state_probe(s.t.root.fd)) {
		printf("1..0 # SKIP /tmp keeps no user.* attributes\n");
		store_close(&s);
		return 0;
	}
	test_scan(&s);
	test_settled(&s);
	test_errors(&s);
	test_nomem(&s);
	test_resume_file(&s);
	store_close(&s);
	return tap_done();
}
