/* Tests for src/filetab.c: finding, growing, removing, walking. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>

#include "filetab.h"
#include "tap.h"

#define N_ITEMS 1000

struct item {
	struct filetab_link link;	/* first: the table hands it back */
	int seen;
};

static struct item items[N_ITEMS];

/* Walk the table; true when each item in it is seen exactly once. */
static bool walk_once(struct filetab *t, size_t *n)
{
	struct filetab_link *l;
	bool once = true;
	size_t i;

	for (i = 0; i < N_ITEMS; i++)
		items[i].seen = 0;
	*n = 0;
	for (l = filetab_first(t); l; l = filetab_next(t, l)) {
		((struct item *)l)->seen++;
		(*n)++;
	}
	for (i = 0; i < N_ITEMS; i++)
		if (items[i].seen > 1)
			once = false;
	return once;
}

static void test_find_and_grow(struct filetab *t)
{
	bool all_found = true;
	size_t i, n;

	ok(filetab_first(t) == NULL, "an empty table walks to nothing");
	for (i = 0; i < N_ITEMS; i++) {
		items[i].link.dev = 1 + i % 3;
		items[i].link.ino = 100 + i;
		filetab_add(t, &items[i].link);
	}
	is_int(t->n, N_ITEMS, "each item counted");
	ok(t->n_buckets > 64, "the buckets grew (%zu)", t->n_buckets);
	for (i = 0; i < N_ITEMS; i++)
		if (filetab_find(t, 1 + i % 3, 100 + i) != &items[i].link)
			all_found = false;
	ok(all_found, "each found by its file after growing");
	ok(filetab_find(t, 2, 100) == NULL, "same inode, other device: none");
	ok(filetab_find(t, 1, 99) == NULL, "an unknown file: none");
	ok(walk_once(t, &n), "a walk sees each item once");
	is_int(n, N_ITEMS, "and all of them");
}

static void test_remove(struct filetab *t)
{
	size_t i, n;

	for (i = 0; i < N_ITEMS; i += 2)
		filetab_remove(t, &items[i].link);
	is_int(t->n, N_ITEMS / 2, "half removed");
	ok(filetab_find(t, 1, 100) == NULL, "a removed item is not found");
	ok(filetab_find(t, 2, 101) == &items[1].link, "a kept one is");
	filetab_remove(t, &items[0].link);
	is_int(t->n, N_ITEMS / 2, "removing it again changes nothing");
	ok(walk_once(t, &n) && n == N_ITEMS / 2, "a walk sees the rest once");
	for (i = 0; i < N_ITEMS; i += 2)
		if (items[i].seen)
			break;
	ok(i >= N_ITEMS, "and none of the removed");
}

/* The walk of queue_free(): the next item is known before one goes. */
static void test_walk_while_removing(struct filetab *t)
{
	struct filetab_link *l, *next;
	size_t n = 0;

	for (l = filetab_first(t); l; l = next) {
		next = filetab_next(t, l);
		filetab_remove(t, l);
		n++;
	}
	is_int(n, N_ITEMS / 2, "each item walked while removing");
	is_int(t->n, 0, "the table is empty");
	ok(filetab_first(t) == NULL, "and walks to nothing");
}

int main(void)
{
	struct filetab t;

	is_int(filetab_init(&t), 0, "filetab_init");
	test_find_and_grow(&t);
	test_remove(&t);
	test_walk_while_removing(&t);
	filetab_destroy(&t);
	return tap_done();
}
