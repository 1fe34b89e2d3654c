/*
 * fifo: an intrusive first-in, first-out list.  Each item embeds a
 * struct fifo_link per list it can be on, so that listing it never
 * allocates.  No lock of its own: whoever owns a list guards it and its
 * items' links.
 */
#ifndef OCTOFS_FIFO_H
#define OCTOFS_FIFO_H

#include <stdbool.h>
#include <stddef.h>

struct fifo_link {
	struct fifo_link *next;
	bool on;		/* on the list */
};

struct fifo {
	struct fifo_link *head;
	struct fifo_link *tail;
};

/* The item of type @type whose member @member is @link. */
#define FIFO_ITEM(link, type, member) \
	((type *)((char *)(link) - offsetof(type, member)))

static inline void fifo_push(struct fifo *f, struct fifo_link *l)
{
	l->next = NULL;
	if (f->tail)
		f->tail->next = l;
	else
		f->head = l;
	f->tail = l;
	l->on = true;
}

/* Take @l off the list, if it is on it. */
static inline void fifo_remove(struct fifo *f, struct fifo_link *l)
{
	struct fifo_link **p = &f->head, *prev = NULL;

	if (!l->on)
		return;
	while (*p && *p != l) {
		prev = *p;
		p = &(*p)->next;
	}
	if (*p) {
		*p = l->next;
		if (f->tail == l)
			f->tail = prev;
	}
	l->next = NULL;
	l->on = false;
}

#endif
