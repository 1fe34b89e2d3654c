/*
 * ahead: the list of jobs to presign ahead and the tickets kept for
 * their uploads.  See ahead.h; the caller holds a->lock throughout.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>

#include "ahead.h"
#include "mono.h"

/*
 * Answers asked ahead kept at once (about 1 KiB each): a long queue does
 * not make memory grow, nor the answers go stale before their uploads.
 */
#define AHEAD_TICKETS_MAX 64

/* @e's ticket leaves the count: freed, or (!@free_it) handed out. */
static void drop_ticket(struct ahead *a, struct ahead_entry *e, bool free_it)
{
	if (!e->ticket)
		return;
	if (a->n_tickets-- == AHEAD_TICKETS_MAX)
		pthread_cond_signal(&a->cond);
	if (free_it)
		e->ticket_free(e->ticket);
	e->ticket = NULL;
	e->ticket_free = NULL;
}

void ahead_want(struct ahead *a, struct ahead_entry *e)
{
	if (!a->on || e->link.on || e->ticket || e->tried || e->presigning)
		return;
	fifo_push(&a->list, &e->link);
	pthread_cond_signal(&a->cond);
}

void ahead_remove(struct ahead *a, struct ahead_entry *e)
{
	fifo_remove(&a->list, &e->link);
}

/* The next entry worth asking ahead for, or NULL. */
static struct ahead_entry *next_wanted(struct ahead *a,
				       bool (*wanted)(struct ahead_entry *e))
{
	struct ahead_entry *e;

	if (a->n_tickets >= AHEAD_TICKETS_MAX)
		return NULL;
	while (a->list.head) {
		e = FIFO_ITEM(a->list.head, struct ahead_entry, link);
		fifo_remove(&a->list, &e->link);
		if (wanted(e))
			return e;
	}
	return NULL;
}

struct ahead_entry *ahead_pop(struct ahead *a,
			      bool (*wanted)(struct ahead_entry *e))
{
	struct ahead_entry *e = NULL;

	while (!a->stopping && !(e = next_wanted(a, wanted)))
		pthread_cond_wait(&a->cond, a->lock);
	if (e) {
		e->presigning = true;
		e->tried = true;
	}
	return e;
}

void ahead_answer(struct ahead *a, struct ahead_entry *e, void *ticket,
		  void (*fn)(void *ticket), bool fresh)
{
	e->presigning = false;
	if (ticket && fresh && !e->ticket) {
		e->ticket = ticket;
		e->ticket_free = fn;
		a->n_tickets++;
	} else if (ticket) {
		fn(ticket);
	}
	pthread_cond_broadcast(&a->ticket_cond);
}

void *ahead_take_ticket(struct ahead *a, struct ahead_entry *e)
{
	void *ticket;

	while (e->presigning)
		pthread_cond_wait(&a->ticket_cond, a->lock);
	ticket = e->ticket;
	drop_ticket(a, e, false);
	e->tried = false;
	return ticket;
}

void ahead_renamed(struct ahead *a, struct ahead_entry *e)
{
	drop_ticket(a, e, true);
	e->tried = false;
}

bool ahead_forget(struct ahead *a, struct ahead_entry *e)
{
	ahead_remove(a, e);
	drop_ticket(a, e, true);
	return e->presigning;
}

bool ahead_in_flight(const struct ahead_entry *e)
{
	return e->presigning;
}

void ahead_entry_free(struct ahead_entry *e)
{
	if (e->ticket)
		e->ticket_free(e->ticket);
	e->ticket = NULL;
	e->ticket_free = NULL;
}

void ahead_set(struct ahead *a, bool on)
{
	a->on = on;
}

void ahead_stop(struct ahead *a)
{
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_cond_broadcast(&a->ticket_cond);
}

int ahead_init(struct ahead *a, pthread_mutex_t *lock)
{
	int err;

	a->lock = lock;
	a->list.head = NULL;
	a->list.tail = NULL;
	a->n_tickets = 0;
	a->on = false;
	a->stopping = false;
	err = mono_cond_init(&a->cond);
	if (err)
		return err;
	err = mono_cond_init(&a->ticket_cond);
	if (err)
		goto out_destroy_cond;
	return 0;

out_destroy_cond:
	pthread_cond_destroy(&a->cond);
	return err;
}

void ahead_destroy(struct ahead *a)
{
	pthread_cond_destroy(&a->cond);
	pthread_cond_destroy(&a->ticket_cond);
}
