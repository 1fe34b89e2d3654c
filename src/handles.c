/*
 * handles: the open files and directories the kernel holds (handles.h).
 */
#include "config.h"

#include "handles.h"

void handles_init(struct handle_list *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head.prev = &l->head;
	l->head.next = &l->head;
}

void handles_add(struct handle_list *l, struct handle *h,
		 handle_free_fn free_fn)
{
	h->free_fn = free_fn;
	pthread_mutex_lock(&l->lock);
	h->prev = &l->head;
	h->next = l->head.next;
	l->head.next->prev = h;
	l->head.next = h;
	pthread_mutex_unlock(&l->lock);
}

void handles_remove(struct handle_list *l, struct handle *h)
{
	pthread_mutex_lock(&l->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&l->lock);
	h->prev = h->next = NULL;
}

void handles_free_all(struct handle_list *l)
{
	struct handle *h;

	while (l->head.next != &l->head) {
		h = l->head.next;
		handles_remove(l, h);
		h->free_fn(h);
	}
	pthread_mutex_destroy(&l->lock);
}
