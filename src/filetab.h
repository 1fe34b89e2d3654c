/*
 * filetab: a hash table of items keyed by file, (st_dev, st_ino).  Each
 * item embeds a struct filetab_link, so that adding it never allocates
 * but for the table's own growth.  No lock of its own: its owner's
 * guards the table and every link in it.
 */
#ifndef OCTOFS_FILETAB_H
#define OCTOFS_FILETAB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct filetab_link {
	dev_t dev;		/* the key: set before filetab_add() */
	ino_t ino;
	struct filetab_link *next;	/* private to filetab.c */
};

struct filetab {
	struct filetab_link **buckets;
	size_t n_buckets;	/* a power of two */
	size_t n;		/* items in the table */
};

/* 0, or -ENOMEM. */
int filetab_init(struct filetab *t);

/* Free the buckets; the items stay the caller's. */
void filetab_destroy(struct filetab *t);

struct filetab_link *filetab_find(const struct filetab *t, dev_t dev,
				  ino_t ino);

/*
 * Add @l, which is not in the table.  The buckets double when crowded;
 * when that allocation fails the chains only grow longer.
 */
void filetab_add(struct filetab *t, struct filetab_link *l);

/* Take @l out of the table if it is in it. */
void filetab_remove(struct filetab *t, struct filetab_link *l);

/*
 * Every item, in no particular order:
 *	for (l = filetab_first(t); l; l = filetab_next(t, l))
 * An item may be freed once the next one is known; the table must not
 * change otherwise meanwhile.
 */
struct filetab_link *filetab_first(const struct filetab *t);
struct filetab_link *filetab_next(const struct filetab *t,
				  const struct filetab_link *l);

#endif
