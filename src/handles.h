/*
 * handles: the open files and directories the kernel holds, so that those
 * it never releases can be freed when the mount ends.
 *
 * The kernel releases each handle it opened, except when the connection
 * ends first: a lazy unmount (fusermount3 -uz) while a program keeps a
 * file open, say.  Each handle embeds a struct handle while it is open;
 * handles_free_all() frees what is left once no request can come.
 */
#ifndef OCTOFS_HANDLES_H
#define OCTOFS_HANDLES_H

#include <pthread.h>

struct handle;
typedef void (*handle_free_fn)(struct handle *h);

struct handle {
	struct handle *prev;	/* H below */
	struct handle *next;
	handle_free_fn free_fn;	/* frees the struct it is embedded in */
};

struct handle_list {
	pthread_mutex_t lock;	/* H in the lock order (octofs.h) */
	struct handle head;	/* of a circular list */
};

void handles_init(struct handle_list *l);
/* @h, freed by @free_fn if the mount ends while it is open. */
void handles_add(struct handle_list *l, struct handle *h,
		 handle_free_fn free_fn);
void handles_remove(struct handle_list *l, struct handle *h);
/* Free every handle left; no other thread may use @l any more. */
void handles_free_all(struct handle_list *l);

#endif
