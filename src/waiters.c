/*
 * waiters: readers parked for a URL, answered when the upload ends or,
 * by the reaper thread, when their timeout passes.  See waiters.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "mono.h"
#include "waiters.h"

void waiters_add(struct waiters *ws, struct queue_waiter *w, dev_t dev,
		 ino_t ino, unsigned long timeout_ms)
{
	w->dev = dev;
	w->ino = ino;
	mono_now(&w->deadline);
	mono_add_ms(&w->deadline, timeout_ms);
	w->next = ws->head;
	ws->head = w;
	pthread_cond_signal(&ws->cond);
}

bool waiters_has(const struct waiters *ws, dev_t dev, ino_t ino)
{
	const struct queue_waiter *w;

	for (w = ws->head; w; w = w->next)
		if (w->dev == dev && w->ino == ino)
			return true;
	return false;
}

struct queue_waiter *waiters_take(struct waiters *ws, dev_t dev, ino_t ino)
{
	struct queue_waiter **p = &ws->head, *taken = NULL, *w;

	while ((w = *p)) {
		if (w->dev == dev && w->ino == ino) {
			*p = w->next;
			w->next = taken;
			taken = w;
		} else {
			p = &w->next;
		}
	}
	return taken;
}

void waiters_answer(struct queue_waiter *taken, const char *url, int err)
{
	struct queue_waiter *w, *next;

	for (w = taken; w; w = next) {
		next = w->next;
		w->next = NULL;
		w->done(w, url, err);
	}
}

/* Collect the waiters whose deadline passed (all when stopping). */
static struct queue_waiter *take_expired(struct waiters *ws,
					 struct timespec *next_wake,
					 bool *have_wake)
{
	struct queue_waiter **p = &ws->head, *taken = NULL, *w;
	struct timespec now;

	mono_now(&now);
	*have_wake = false;
	while ((w = *p)) {
		if (ws->stopping || !mono_before(&now, &w->deadline)) {
			*p = w->next;
			w->next = taken;
			taken = w;
			continue;
		}
		if (!*have_wake || mono_before(&w->deadline, next_wake)) {
			*next_wake = w->deadline;
			*have_wake = true;
		}
		p = &w->next;
	}
	return taken;
}

/* Answers the waiters whose wait ran out. */
static void *reaper_main(void *arg)
{
	struct waiters *ws = arg;
	struct queue_waiter *expired;
	struct timespec wake;
	bool have_wake, stop;

	pthread_mutex_lock(ws->lock);
	for (;;) {
		expired = take_expired(ws, &wake, &have_wake);
		stop = ws->stopping;
		if (expired) {
			pthread_mutex_unlock(ws->lock);
			waiters_answer(expired, NULL, -ETIMEDOUT);
			pthread_mutex_lock(ws->lock);
			continue;
		}
		if (stop)
			break;
		if (have_wake)
			pthread_cond_timedwait(&ws->cond, ws->lock, &wake);
		else
			pthread_cond_wait(&ws->cond, ws->lock);
	}
	pthread_mutex_unlock(ws->lock);
	return NULL;
}

void waiters_stop(struct waiters *ws)
{
	ws->stopping = true;
	pthread_cond_broadcast(&ws->cond);
}

int waiters_init(struct waiters *ws, pthread_mutex_t *lock)
{
	int err;

	ws->lock = lock;
	ws->head = NULL;
	ws->stopping = false;
	err = mono_cond_init(&ws->cond);
	if (err)
		return err;
	err = -pthread_create(&ws->reaper, NULL, reaper_main, ws);
	if (err)
		goto out_destroy_cond;
	return 0;

out_destroy_cond:
	pthread_cond_destroy(&ws->cond);
	return err;
}

void waiters_destroy(struct waiters *ws)
{
	pthread_join(ws->reaper, NULL);
	pthread_cond_destroy(&ws->cond);
}
