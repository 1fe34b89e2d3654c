/*
 * outage: since when uploads have been failing to get through, and why.
 *
 * Every transient failure (network error, timeout, 429, 5xx) is noted;
 * any answer that ends an upload (done, or failed for good) clears it,
 * since the endpoint answered.  While it is set, nothing has reached
 * the endpoint since @since: "unreachable since 10:42: connection
 * refused".  No lock of its own: its owner's guards it (the queue's).
 */
#ifndef OCTOFS_OUTAGE_H
#define OCTOFS_OUTAGE_H

#include <time.h>

#define OUTAGE_WHY_MAX 256

struct outage {
	time_t since;			/* 0: none */
	char why[OUTAGE_WHY_MAX];	/* the latest failure's reason */
};

/* A transient failure at @now because of @why. */
void outage_note(struct outage *o, const char *why, time_t now);
/* An upload ended with an answer. */
void outage_clear(struct outage *o);

#endif
