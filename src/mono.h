/*
 * mono: deadlines on the monotonic clock, and condition variables whose
 * timed waits use it, so that setting the wall clock moves no deadline.
 */
#ifndef OCTOFS_MONO_H
#define OCTOFS_MONO_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

static inline void mono_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static inline void mono_add_ms(struct timespec *ts, unsigned long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Is @a earlier than @b? */
static inline bool mono_before(const struct timespec *a,
			       const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec;
	return a->tv_nsec < b->tv_nsec;
}

/* 0, or -errno when the condition variable cannot be made. */
static inline int mono_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	err = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -err;
}

#endif
