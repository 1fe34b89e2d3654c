/*
 * filetab: items found by (st_dev, st_ino), chained in buckets that
 * double as the table fills.  See filetab.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "filetab.h"

#define FILETAB_BUCKETS_MIN 64

static size_t bucket_of(const struct filetab *t, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	return (size_t)(h ^ (h >> 29)) & (t->n_buckets - 1);
}

int filetab_init(struct filetab *t)
{
	t->n = 0;
	t->n_buckets = FILETAB_BUCKETS_MIN;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

void filetab_destroy(struct filetab *t)
{
	free(t->buckets);
	t->buckets = NULL;
}

struct filetab_link *filetab_find(const struct filetab *t, dev_t dev,
				  ino_t ino)
{
	struct filetab_link *l = t->buckets[bucket_of(t, dev, ino)];

	while (l && (l->dev != dev || l->ino != ino))
		l = l->next;
	return l;
}

/* Double the buckets when crowded; on ENOMEM keep the old ones. */
static void maybe_grow(struct filetab *t)
{
	struct filetab_link **old = t->buckets, *l, *next;
	size_t old_n = t->n_buckets, i;
	struct filetab_link **fresh;

	if (t->n < t->n_buckets)
		return;
	fresh = calloc(old_n * 2, sizeof(*fresh));
	if (!fresh)
		return;
	t->buckets = fresh;
	t->n_buckets = old_n * 2;
	for (i = 0; i < old_n; i++) {
		for (l = old[i]; l; l = next) {
			size_t b = bucket_of(t, l->dev, l->ino);

			next = l->next;
			l->next = fresh[b];
			fresh[b] = l;
		}
	}
	free(old);
}

void filetab_add(struct filetab *t, struct filetab_link *l)
{
	size_t b;

	maybe_grow(t);
	b = bucket_of(t, l->dev, l->ino);
	l->next = t->buckets[b];
	t->buckets[b] = l;
	t->n++;
}

void filetab_remove(struct filetab *t, struct filetab_link *l)
{
	struct filetab_link **p = &t->buckets[bucket_of(t, l->dev, l->ino)];

	while (*p && *p != l)
		p = &(*p)->next;
	if (*p) {
		*p = l->next;
		t->n--;
	}
}

/* The first item in bucket @b or after it, or NULL. */
static struct filetab_link *first_from(const struct filetab *t, size_t b)
{
	for (; b < t->n_buckets; b++)
		if (t->buckets[b])
			return t->buckets[b];
	return NULL;
}

struct filetab_link *filetab_first(const struct filetab *t)
{
	return first_from(t, 0);
}

struct filetab_link *filetab_next(const struct filetab *t,
				  const struct filetab_link *l)
{
	if (l->next)
		return l->next;
	return first_from(t, bucket_of(t, l->dev, l->ino) + 1);
}
