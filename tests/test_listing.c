/*
 * Tests for src/dirwin.c: a directory listed through a bounded window,
 * against a fake store directory that orders its entries by hash and
 * tells positions as ext4 does (the next entry's hash), so that chunks,
 * offsets, seeks, changes between chunks and read errors can be checked
 * without a mount.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirwin.h"
#include "tap.h"

#define CHUNK DIRWIN_CHUNK_ENTRIES
#define END_POS LONG_MAX
#define SIBLING_BIT ((ino_t)1 << 40)

/* -- The fake store directory ----------------------------------------- */

struct fake_entry {
	long pos;		/* its hash: the order of the listing */
	unsigned int num;	/* named "f<num>"; ino num */
};

struct fake {
	struct fake_entry *e;	/* sorted by pos */
	size_t n;
	size_t cap;
	long cur;		/* where the next entry is looked for */
	int fail_in;		/* > 0: that many next() from now fails */
	size_t reads;		/* entries returned */
	size_t seeks;
	char name[32];
};

static long hash_of(unsigned int num)
{
	return (long)(uint32_t)(num * 2654435761u) + 1;
}

/* The first entry at or after @pos. */
static size_t fake_find(const struct fake *f, long pos)
{
	size_t lo = 0, hi = f->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (f->e[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void fake_add(struct fake *f, unsigned int num)
{
	long pos = hash_of(num);
	size_t i = fake_find(f, pos);

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->e = realloc(f->e, f->cap * sizeof(*f->e));
		if (!f->e)
			abort();
	}
	memmove(f->e + i + 1, f->e + i, (f->n - i) * sizeof(*f->e));
	f->e[i] = (struct fake_entry){ .pos = pos, .num = num };
	f->n++;
}

static void fake_remove(struct fake *f, unsigned int num)
{
	size_t i = fake_find(f, hash_of(num));

	if (i == f->n || f->e[i].num != num)
		abort();
	memmove(f->e + i, f->e + i + 1, (f->n - i - 1) * sizeof(*f->e));
	f->n--;
}

static void fake_fill(struct fake *f, unsigned int from, unsigned int n)
{
	memset(f, 0, sizeof(*f));
	while (n--)
		fake_add(f, from++);
}

static void fake_rewind(void *src)
{
	((struct fake *)src)->cur = 0;
}

static long fake_tell(void *src)
{
	struct fake *f = src;
	size_t i = fake_find(f, f->cur);

	return i < f->n ? f->e[i].pos : END_POS;
}

static void fake_seek(void *src, long pos)
{
	struct fake *f = src;

	f->cur = pos;
	f->seeks++;
}

static int fake_next(void *src, const char **name, ino_t *ino,
		     unsigned char *type)
{
	struct fake *f = src;
	size_t i;

	if (f->fail_in > 0 && --f->fail_in == 0)
		return -EIO;
	i = fake_find(f, f->cur);
	if (i == f->n)
		return 0;
	f->cur = f->e[i].pos + 1;
	f->reads++;
	snprintf(f->name, sizeof(f->name), "f%u", f->e[i].num);
	*name = f->name;
	*ino = f->e[i].num;
	*type = DT_REG;
	return 1;
}

static bool shows_sibling(unsigned int num)
{
	return num % 3 == 0;
}

/* A sibling after the chunk's entries for every third file. */
static int fake_complete(void *src, struct dirwin *w)
{
	size_t real = w->count, i;
	int err;

	for (i = 0; i < real; i++) {
		if (!shows_sibling((unsigned int)w->entries[i].ino))
			continue;
		err = dirwin_add_sibling(w, i,
					 w->entries[i].ino | SIBLING_BIT);
		if (err)
			return err;
	}
	return 0;
}

static const struct dirwin_ops fake_ops = {
	.rewind = fake_rewind,
	.tell = fake_tell,
	.seek = fake_seek,
	.next = fake_next,
	.complete = fake_complete,
};

/* -- Listing it as the kernel does ------------------------------------- */

struct seen_entry {
	char name[40];
	off_t at;		/* the offset it was found at */
};

struct seen {
	struct seen_entry *e;
	size_t n;
	size_t cap;
	size_t window_max;	/* most entries the window could hold */
};

static void seen_add(struct seen *s, const char *name, off_t at)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		if (!s->e)
			abort();
	}
	snprintf(s->e[s->n].name, sizeof(s->e[s->n].name), "%s", name);
	s->e[s->n++].at = at;
}

static void seen_free(struct seen *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static void entry_name(const struct dirwin *w, size_t i, char *buf,
		       size_t size)
{
	snprintf(buf, size, "%s%s", dirwin_name(w, i),
		 w->entries[i].sibling ? ".url" : "");
}

/*
 * From @off on, up to @step entries a request, each request at the offset
 * of the last entry taken, until the end or @max entries (0: no limit).
 * The offset to resume at goes to @off.
 */
static int list_on(struct dirwin *w, struct fake *f, off_t *off,
		   size_t step, size_t max, struct seen *s)
{
	char name[40];
	size_t i, end;
	int err;

	for (;;) {
		err = dirwin_at(w, &fake_ops, f, *off, &i);
		if (err)
			return err;
		if (w->cap > s->window_max)
			s->window_max = w->cap;
		if (i == w->count)
			return 0;
		end = i + step < w->count ? i + step : w->count;
		for (; i < end; i++) {
			entry_name(w, i, name, sizeof(name));
			seen_add(s, name, *off);
			*off = dirwin_next_off(w, i);
			if (max && s->n == max)
				return 0;
		}
	}
}

static int list_all(struct dirwin *w, struct fake *f, size_t step,
		    struct seen *s)
{
	off_t off = 0;

	return list_on(w, f, &off, step, 0, s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names seen, sorted (pointers into @s). */
static char **sorted_names(const struct seen *s)
{
	char **names = calloc(s->n + 1, sizeof(*names));
	size_t i;

	if (!names)
		abort();
	for (i = 0; i < s->n; i++)
		names[i] = s->e[i].name;
	qsort(names, s->n, sizeof(*names), cmp_str);
	return names;
}

static size_t duplicates(const struct seen *s)
{
	char **names = sorted_names(s);
	size_t i, dup = 0;

	for (i = 1; i < s->n; i++)
		dup += !strcmp(names[i - 1], names[i]);
	free(names);
	return dup;
}

static bool seen_has(char **sorted, size_t n, const char *name)
{
	return bsearch(&name, sorted, n, sizeof(*sorted), cmp_str) != NULL;
}

/* How many entries of @f (and their siblings) @s lacks. */
static size_t missing(const struct seen *s, const struct fake *f)
{
	char **names = sorted_names(s);
	char name[40];
	size_t i, lacks = 0;

	for (i = 0; i < f->n; i++) {
		snprintf(name, sizeof(name), "f%u", f->e[i].num);
		lacks += !seen_has(names, s->n, name);
		if (!shows_sibling(f->e[i].num))
			continue;
		snprintf(name, sizeof(name), "f%u.url", f->e[i].num);
		lacks += !seen_has(names, s->n, name);
	}
	free(names);
	return lacks;
}

static size_t expected_count(const struct fake *f)
{
	size_t i, n = f->n;

	for (i = 0; i < f->n; i++)
		n += shows_sibling(f->e[i].num);
	return n;
}

/* Exactly the entries of @f and their siblings, each once. */
static void is_exact(const struct seen *s, const struct fake *f,
		     const char *what)
{
	is_int(s->n, expected_count(f), "%s: as many entries as expected",
	       what);
	is_int(duplicates(s), 0, "%s: no entry twice", what);
	is_int(missing(s, f), 0, "%s: no entry missing", what);
}

/* -- Tests --------------------------------------------------------------- */

static void test_full_pass(void)
{
	static const size_t steps[] = { 1, 7, 100, 100000 };
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 };
	size_t i;
	char what[64];

	fake_fill(&f, 0, 3 * CHUNK + 17);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(what, sizeof(what), "%zu a request", steps[i]);
		f.reads = f.seeks = 0;
		seen_free(&s);
		is_int(list_all(&w, &f, steps[i], &s), 0, "%s: listed", what);
		is_exact(&s, &f, what);
		is_int(f.reads, f.n, "%s: each store entry read once", what);
		is_int(f.seeks, 0, "%s: reading on never seeks", what);
		ok(s.window_max <= 2 * CHUNK,
		   "%s: the window stays within two chunks (%zu)", what,
		   s.window_max);
	}
	ok(s.e[0].at == 0 && s.e[1].at > 0, "offset 0 is the first entry");
	is_int(w.chunks, 4, "the chunks' starts are all it keeps");
	seen_free(&s);
	dirwin_clear(&w);
	free(f.e);
}

static void test_sizes(void)
{
	static const unsigned int sizes[] = { 0, 1, CHUNK - 1, CHUNK,
					      CHUNK + 1, 2 * CHUNK };
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 };
	size_t i;
	char what[64];

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(what, sizeof(what), "%u entries", sizes[i]);
		fake_fill(&f, 0, sizes[i]);
		is_int(list_all(&w, &f, 50, &s), 0, "%s: listed", what);
		is_exact(&s, &f, what);
		seen_free(&s);
		dirwin_clear(&w);
		free(f.e);
	}
}

/* Every offset a pass gave finds its entry again, in any order. */
static void test_seek(void)
{
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 }, again = { 0 };
	size_t i, j, k, wrong = 0, wrong_on = 0, seeks;
	off_t off;

	fake_fill(&f, 0, 4 * CHUNK + 5);
	list_all(&w, &f, 100, &s);
	srand(7);
	for (i = 0; i < 2000; i++) {
		j = (size_t)rand() % s.n;
		off = s.e[j].at;
		seen_free(&again);
		if (list_on(&w, &f, &off, 3, 5, &again) ||
		    strcmp(again.e[0].name, s.e[j].name))
			wrong++;
		/* Reading on from there gives what followed it. */
		for (k = 1; k < again.n; k++)
			wrong_on += !!strcmp(again.e[k].name, s.e[j + k].name);
	}
	is_int(wrong, 0, "seeking to an offset finds its entry");
	is_int(wrong_on, 0, "and reading on gives the entries after it");
	/* Back to an earlier chunk, then on to the end: one seek only. */
	off = s.e[s.n - 50].at;
	seen_free(&again);
	list_on(&w, &f, &off, 1, 1, &again);
	seeks = f.seeks;
	off = s.e[s.n - 45].at;
	seen_free(&again);
	list_on(&w, &f, &off, 1, 0, &again);
	is_int(again.n, 45, "read on to the end");
	is_int(f.seeks, seeks, "from the window and on, no further seek");
	seen_free(&again);
	seen_free(&s);
	dirwin_clear(&w);
	free(f.e);
}

/* Offsets never given (lseek on the directory) do no harm. */
static void test_offsets_never_given(void)
{
	struct dirwin w = { 0 }, fresh = { 0 };
	struct fake f;
	struct seen s = { 0 }, one = { 0 };
	size_t i;
	off_t off;

	fake_fill(&f, 0, 3 * CHUNK);
	list_all(&w, &f, 100, &s);
	for (i = 0; i < s.n && s.e[i].at != (off_t)2 << DIRWIN_POS_BITS; i++)
		;
	ok(i < s.n, "the third chunk starts at its own offset");
	off = s.e[i].at + 3;
	list_on(&fresh, &f, &off, 1, 1, &one);
	is_str(one.n ? one.e[0].name : NULL, s.e[i + 3].name,
	       "an offset past what was read reads on to it");
	seen_free(&one);
	off = (off_t)9 << DIRWIN_POS_BITS;
	is_int(list_on(&fresh, &f, &off, 1, 1, &one), 0,
	       "an offset past the end");
	is_int(one.n, 0, "lists nothing");
	off = ((off_t)1 << DIRWIN_POS_BITS) + 60000;
	list_on(&fresh, &f, &off, 1, 1, &one);
	is_str(one.n ? one.e[0].name : NULL,
	       s.e[i].name, "an index past its chunk's end: the next chunk");
	is_int(dirwin_at(&fresh, &fake_ops, &f, -1, &i), -EINVAL,
	       "a negative offset is refused");
	seen_free(&one);
	seen_free(&s);
	dirwin_clear(&fresh);
	dirwin_clear(&w);
	free(f.e);
}

static void test_rewind_sees_changes(void)
{
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 };
	unsigned int n;

	fake_fill(&f, 0, 2 * CHUNK + 3);
	list_all(&w, &f, 100, &s);
	for (n = 0; n < 2 * CHUNK; n += 5)
		fake_remove(&f, n);
	for (n = 10 * CHUNK; n < 11 * CHUNK; n++)
		fake_add(&f, n);
	seen_free(&s);
	is_int(list_all(&w, &f, 100, &s), 0, "listed again from 0");
	is_exact(&s, &f, "after a rewind");
	seen_free(&s);
	dirwin_clear(&w);
	free(f.e);
}

/*
 * Names added and removed between two requests of one pass: those left
 * alone show exactly once, those removed before their chunk was read do
 * not show, and nothing shows twice.
 */
static void test_changes_during_pass(void)
{
	struct dirwin w = { 0 };
	struct fake f, kept;
	struct seen s = { 0 };
	off_t off = 0;
	size_t i;

	fake_fill(&f, 0, 4 * CHUNK);
	list_on(&w, &f, &off, 100, CHUNK + CHUNK / 2, &s);
	memset(&kept, 0, sizeof(kept));
	for (i = 0; i < f.n; i++) {
		if (f.e[i].num % 4 == 1)
			continue;
		fake_add(&kept, f.e[i].num);
	}
	for (i = 0; i < f.n;) {
		if (f.e[i].num % 4 == 1)
			fake_remove(&f, f.e[i].num);
		else
			i++;
	}
	for (i = 0; i < CHUNK; i++)
		fake_add(&f, 100 * CHUNK + (unsigned int)i);
	is_int(list_on(&w, &f, &off, 100, 0, &s), 0, "listed on");
	is_int(duplicates(&s), 0, "no entry twice");
	is_int(missing(&s, &kept), 0, "every entry left alone shows");
	for (i = CHUNK + CHUNK / 2; i < s.n; i++) {
		if (s.e[i].at >> DIRWIN_POS_BITS < 2)
			continue;	/* read before the change */
		if (atoi(s.e[i].name + 1) % 4 == 1 &&
		    atoi(s.e[i].name + 1) < 100 * CHUNK)
			break;
	}
	is_int(i, s.n, "no entry removed before its chunk was read shows");
	seen_free(&s);
	dirwin_clear(&w);
	free(kept.e);
	free(f.e);
}

/* How many entries @s shows that @f does not hold. */
static size_t strays(const struct seen *s, const struct fake *f)
{
	size_t i, j, n = 0;
	unsigned int num;

	for (i = 0; i < s->n; i++) {
		num = (unsigned int)atoi(s->e[i].name + 1);
		j = fake_find(f, hash_of(num));
		n += j == f->n || f->e[j].num != num;
	}
	return n;
}

/*
 * A chunk read again after half of its names were removed, and @added
 * names added across the directory: no entry shows twice, none that is
 * gone shows.  With none added, the chunk ends where the next one starts
 * and all that follows shows; with many, the chunk is read no further
 * than a chunk's worth (the rest shows after a rewind).
 */
static void test_changed_chunk_read_again(unsigned int added)
{
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 }, on = { 0 };
	char **names;
	unsigned int n;
	size_t i, j, lacks = 0;
	off_t off;

	fake_fill(&f, 0, 3 * CHUNK);
	list_all(&w, &f, 100, &s);
	for (i = 0; s.e[i].at >> DIRWIN_POS_BITS != 1; i++)
		;
	for (n = 0; n < CHUNK / 2; n++)
		fake_remove(&f, f.e[CHUNK + 1 + n].num);
	for (n = 0; n < added; n++)
		fake_add(&f, 50 * CHUNK + n);
	off = s.e[i + 10].at;
	is_int(list_on(&w, &f, &off, 100, 0, &on), 0,
	       "%u added: listed on from inside a changed chunk", added);
	is_int(duplicates(&on), 0, "%u added: no entry twice", added);
	is_int(strays(&on, &f), 0, "%u added: no entry that is gone", added);
	names = sorted_names(&on);
	for (j = i; j < s.n; j++)
		if (s.e[j].at >> DIRWIN_POS_BITS >= 2)
			lacks += !seen_has(names, on.n, s.e[j].name);
	free(names);
	if (!added)
		is_int(lacks, 0, "the next chunks follow in full");
	seen_free(&on);
	seen_free(&s);
	dirwin_clear(&w);
	free(f.e);
}

/* A store read error is returned, and the same offset works again. */
static void test_read_error(void)
{
	struct dirwin w = { 0 };
	struct fake f;
	struct seen s = { 0 };
	off_t off = 0;

	fake_fill(&f, 0, 3 * CHUNK);
	list_on(&w, &f, &off, 100, CHUNK + 10, &s);
	f.fail_in = CHUNK / 2;	/* in the middle of the next chunk */
	is_int(list_on(&w, &f, &off, 100, 0, &s), -EIO,
	       "a read error mid-way is returned");
	is_int(w.count, 0, "the window is left empty");
	is_int(list_on(&w, &f, &off, 100, 0, &s), 0,
	       "the same offset then lists on");
	is_exact(&s, &f, "across the error");
	f.fail_in = 1;
	off = 0;
	is_int(dirwin_at(&w, &fake_ops, &f, 0, &(size_t){ 0 }), -EIO,
	       "an error on the first entry");
	seen_free(&s);
	is_int(list_all(&w, &f, 100, &s), 0, "then a rewind lists");
	is_exact(&s, &f, "after an error at the start");
	seen_free(&s);
	dirwin_clear(&w);
	free(f.e);
}

int main(void)
{
	test_full_pass();
	test_sizes();
	test_seek();
	test_offsets_never_given();
	test_rewind_sees_changes();
	test_changes_during_pass();
	test_changed_chunk_read_again(0);
	test_changed_chunk_read_again(3 * CHUNK);
	test_read_error();
	return tap_done();
}
