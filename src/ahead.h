/*
 * ahead: presigning ahead.  Files still being written, or resting after
 * their last close, wait on a list for a thread of their own to ask for
 * their upload URLs; each answer (a "ticket", opaque here) is kept for
 * its file's upload, a bounded number at a time.
 *
 * Each job embeds a struct ahead_entry.  The list and the entries have
 * no lock of their own: they borrow their owner's (the queue's), given
 * to ahead_init().  Every function but ahead_init(), ahead_destroy()
 * and ahead_entry_free() is called with that lock held; the two that
 * wait (ahead_pop() and ahead_take_ticket()) release it while they do,
 * as pthread_cond_wait() does.
 */
#ifndef OCTOFS_AHEAD_H
#define OCTOFS_AHEAD_H

#include <pthread.h>
#include <stdbool.h>

#include "fifo.h"

/* A job's part in presigning ahead; private to ahead.c. */
struct ahead_entry {
	struct fifo_link link;	/* on the list */
	bool presigning;	/* a thread is asking for its URL ahead */
	bool tried;		/* ... and need not again under this name */
	void *ticket;		/* the answer, for the current name */
	void (*ticket_free)(void *ticket);
};

/* All fields, and those of every entry, are guarded by *lock. */
struct ahead {
	pthread_mutex_t *lock;		/* the owner's */
	pthread_cond_t cond;		/* an entry to presign, room for a */
					/* ticket, or stop */
	pthread_cond_t ticket_cond;	/* a presign asked ahead returned */
	struct fifo list;		/* entries to presign ahead */
	unsigned int n_tickets;		/* kept by entries */
	bool on;			/* off until ahead_set() */
	bool stopping;
};

/* 0 or -errno.  @lock outlives ahead_destroy(). */
int ahead_init(struct ahead *a, pthread_mutex_t *lock);
void ahead_destroy(struct ahead *a);

void ahead_set(struct ahead *a, bool on);

/* ahead_pop() returns NULL from now on; wakes every wait. */
void ahead_stop(struct ahead *a);

/*
 * Put @e on the list, unless presigning ahead is off or it has, or is
 * getting, its answer.  The caller checks that its upload has not
 * started and that it is still in its owner's table.
 */
void ahead_want(struct ahead *a, struct ahead_entry *e);

/* Off the list: its upload starts. */
void ahead_remove(struct ahead *a, struct ahead_entry *e);

/*
 * Block until an entry on the list is @wanted (entries that are not are
 * dropped from it) while fewer than the most tickets are kept; mark it
 * as being presigned and return it.  NULL after ahead_stop().
 */
struct ahead_entry *ahead_pop(struct ahead *a,
			      bool (*wanted)(struct ahead_entry *e));

/*
 * The presign of ahead_pop() returned: keep @ticket (when not NULL) if
 * it is @fresh, made for the job's current name, and there is none yet;
 * else free it with @fn.
 */
void ahead_answer(struct ahead *a, struct ahead_entry *e, void *ticket,
		  void (*fn)(void *ticket), bool fresh);

/*
 * Wait for a presign of @e in flight, then hand its ticket to the
 * caller (NULL if none); asking ahead again is allowed.
 */
void *ahead_take_ticket(struct ahead *a, struct ahead_entry *e);

/* The job's name changed: its ticket is freed, it may be asked again. */
void ahead_renamed(struct ahead *a, struct ahead_entry *e);

/*
 * The job is leaving its owner: off the list, its ticket freed.  True
 * when a presign for it is still in flight (the caller stops it).
 */
bool ahead_forget(struct ahead *a, struct ahead_entry *e);

/* Is a presign for @e in flight? */
bool ahead_in_flight(const struct ahead_entry *e);

/*
 * The job is freed: free a ticket it still keeps, which happens only
 * when the whole list goes (ahead_forget() drops it before).  The count
 * is left as it is.
 */
void ahead_entry_free(struct ahead_entry *e);

#endif
