/* Tests for src/waiters.c: taking a file's waiters, timeouts, stopping. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "tap.h"
#include "waiters.h"

/*
 * A waiter that records how it was answered.  done() runs in the
 * reaper's thread or the test's; calls is what the test polls.
 */
struct probe {
	struct queue_waiter w;
	atomic_int calls;
	int err;		/* written before calls */
	const char *url;
	bool unlinked;		/* next was NULL when done() ran */
};

static void probe_done(struct queue_waiter *w, const char *url, int err)
{
	struct probe *p = (struct probe *)w;

	p->err = err;
	p->url = url;
	p->unlinked = !w->next;
	atomic_fetch_add(&p->calls, 1);
}

static void probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	p->w.done = probe_done;
}

/* Poll at most @ms for the probe to be answered; returns its calls. */
static int probe_wait(struct probe *p, long ms)
{
	const struct timespec tick = { .tv_nsec = 1000000L };

	while (!atomic_load(&p->calls) && ms-- > 0)
		nanosleep(&tick, NULL);
	return atomic_load(&p->calls);
}

static int probe_calls(struct probe *p)
{
	return atomic_load(&p->calls);
}

/* The list's owner: its lock, which the list borrows. */
struct owner {
	pthread_mutex_t lock;
	struct waiters ws;
};

static void owner_start(struct owner *o)
{
	pthread_mutex_init(&o->lock, NULL);
	is_int(waiters_init(&o->ws, &o->lock), 0, "waiters_init");
}

static void owner_add(struct owner *o, struct probe *p, ino_t ino,
		      unsigned long timeout_ms)
{
	pthread_mutex_lock(&o->lock);
	waiters_add(&o->ws, &p->w, 1, ino, timeout_ms);
	pthread_mutex_unlock(&o->lock);
}

static bool owner_has(struct owner *o, ino_t ino)
{
	bool has;

	pthread_mutex_lock(&o->lock);
	has = waiters_has(&o->ws, 1, ino);
	pthread_mutex_unlock(&o->lock);
	return has;
}

static void owner_stop(struct owner *o)
{
	pthread_mutex_lock(&o->lock);
	waiters_stop(&o->ws);
	pthread_mutex_unlock(&o->lock);
	waiters_destroy(&o->ws);
	pthread_mutex_destroy(&o->lock);
}

/* Only the file's waiters are taken, each answered once. */
static void test_take_for_file(void)
{
	struct probe a, b, c;
	struct queue_waiter *taken;
	struct owner o;

	owner_start(&o);
	probe_init(&a);
	probe_init(&b);
	probe_init(&c);
	ok(!owner_has(&o, 10), "no waiter at first");
	owner_add(&o, &a, 10, 60000);
	owner_add(&o, &b, 11, 60000);
	owner_add(&o, &c, 10, 60000);
	ok(owner_has(&o, 10) && owner_has(&o, 11), "both files have some");
	ok(!owner_has(&o, 12), "another file has none");

	pthread_mutex_lock(&o.lock);
	taken = waiters_take(&o.ws, 1, 10);
	pthread_mutex_unlock(&o.lock);
	ok(taken != NULL, "the file's waiters are taken");
	ok(!owner_has(&o, 10), "and are no longer listed");
	ok(owner_has(&o, 11), "the other file's stay");
	is_int(probe_calls(&a) + probe_calls(&c), 0,
	       "nobody is answered while taken");
	waiters_answer(taken, "https://x/10", 0);
	ok(probe_calls(&a) == 1 && probe_calls(&c) == 1 &&
	   probe_calls(&b) == 0,
	   "answering calls each taken waiter once");
	ok(a.err == 0 && !strcmp(a.url, "https://x/10"), "with the URL");
	ok(a.unlinked && c.unlinked, "each unlinked before its done()");

	pthread_mutex_lock(&o.lock);
	taken = waiters_take(&o.ws, 1, 10);
	pthread_mutex_unlock(&o.lock);
	ok(taken == NULL, "a second take finds none");
	waiters_answer(taken, NULL, -ENODATA);

	owner_stop(&o);
	is_int(probe_wait(&b, 5000), 1, "stopping answers the rest");
	is_int(b.err, -ETIMEDOUT, "with ETIMEDOUT");
	ok(b.url == NULL, "and no URL");
}

/* Each waiter goes when its own deadline passes, not before. */
static void test_expiry(void)
{
	struct probe slow, fast, late;
	struct owner o;

	owner_start(&o);
	probe_init(&slow);
	probe_init(&fast);
	probe_init(&late);
	owner_add(&o, &slow, 20, 60000);
	/* a shorter deadline added later wakes the reaper earlier */
	owner_add(&o, &fast, 20, 50);
	owner_add(&o, &late, 21, 2000);
	is_int(probe_wait(&fast, 5000), 1, "a short wait times out");
	is_int(fast.err, -ETIMEDOUT, "with ETIMEDOUT");
	ok(fast.unlinked, "unlinked before its done()");
	is_int(probe_calls(&late), 0, "a longer one is still waiting");
	is_int(probe_calls(&slow), 0, "so is the file's other waiter");
	ok(owner_has(&o, 20), "which keeps the file listed");
	is_int(probe_wait(&late, 10000), 1, "the longer one times out too");
	ok(!owner_has(&o, 21), "its file has no waiter left");
	is_int(probe_calls(&slow), 0, "the 60 s wait is not cut short");
	owner_stop(&o);
	is_int(probe_wait(&slow, 5000), 1, "until the list stops");
	is_int(probe_calls(&slow), 1, "answered once");
}

/* A zero timeout is already due. */
static void test_zero_timeout(void)
{
	struct probe p;
	struct owner o;

	owner_start(&o);
	probe_init(&p);
	owner_add(&o, &p, 30, 0);
	is_int(probe_wait(&p, 5000), 1, "a zero timeout is answered");
	is_int(p.err, -ETIMEDOUT, "with ETIMEDOUT");
	owner_stop(&o);
	is_int(probe_calls(&p), 1, "once, stop or not");
}

int main(void)
{
	test_take_for_file();
	test_expiry();
	test_zero_timeout();
	return tap_done();
}
