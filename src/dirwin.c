/*
 * dirwin: a directory listed through a bounded window.
 *
 * What a listing shows when the directory changes while it is read (POSIX
 * leaves open whether names added or removed after opendir() or
 * rewinddir() appear):
 * - Reading on, as the kernel does from one request to the next, reads
 *   the source once, in its order, with no seek: every entry it returns
 *   is shown once, exactly as the source's own readdir returns them.
 * - Offset 0 (rewinddir) starts again from the source's current state.
 * - A seek elsewhere (seekdir, or a kernel request outside the window)
 *   reads that chunk again from its start position, up to the start of
 *   the next chunk or DIRWIN_CHUNK_ENTRIES entries, whichever comes
 *   first.  Unchanged, the chunk is read as before and every offset finds
 *   its entry again.  Changed, what it holds is what the source's
 *   seekdir() to that position gives: names added in it since may push
 *   its last ones past the read (they show again after a rewind), and
 *   after removals one chunk can overlap the next only when the entry
 *   the next chunk starts at was removed too.  Nothing ever points
 *   outside the window: an index the chunk no longer has resumes at the
 *   next chunk.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirwin.h"

#define POS_MASK ((UINT64_C(1) << DIRWIN_POS_BITS) - 1)
/* Window entries: the chunk's source entries and one sibling each. */
#define WINDOW_MAX ((size_t)1 << DIRWIN_POS_BITS)

_Static_assert(2 * DIRWIN_CHUNK_ENTRIES <= WINDOW_MAX, "window size");

static off_t make_off(size_t chunk, size_t index)
{
	return (off_t)(((uint64_t)chunk << DIRWIN_POS_BITS) | index);
}

/* @buf (of @*cap elements of @size bytes) grown to hold @need. */
static void *grow(void *buf, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *grown;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return buf;
	grown = realloc(buf, n * size);
	if (grown)
		*cap = n;
	return grown;
}

static int push_entry(struct dirwin *w, struct dirwin_entry e)
{
	struct dirwin_entry *entries;

	if (w->count == WINDOW_MAX)
		return -EOVERFLOW;
	entries = grow(w->entries, &w->cap, w->count + 1, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	w->entries = entries;
	entries[w->count++] = e;
	return 0;
}

/* A source entry: its name goes to the pool. */
static int add_entry(struct dirwin *w, const char *name, ino_t ino,
		     unsigned char type)
{
	size_t len = strlen(name) + 1;
	char *pool;
	int err;

	pool = grow(w->pool, &w->pool_cap, w->pool_len + len, 1);
	if (!pool)
		return -ENOMEM;
	w->pool = pool;
	err = push_entry(w, (struct dirwin_entry){
		.ino = ino, .name = (uint32_t)w->pool_len, .type = type });
	if (err)
		return err;
	memcpy(pool + w->pool_len, name, len);
	w->pool_len += len;
	return 0;
}

int dirwin_add_sibling(struct dirwin *w, size_t i, ino_t ino)
{
	return push_entry(w, (struct dirwin_entry){
		.ino = ino, .name = w->entries[i].name, .type = DT_REG,
		.sibling = true });
}

static int push_start(struct dirwin *w, long pos)
{
	long *starts;

	starts = grow(w->starts, &w->starts_cap, w->chunks + 1,
		      sizeof(*starts));
	if (!starts)
		return -ENOMEM;
	w->starts = starts;
	starts[w->chunks++] = pos;
	return 0;
}

/* The source entries of chunk @k into the window, up to where it ends. */
static int read_chunk(struct dirwin *w, const struct dirwin_ops *ops,
		      void *src, size_t k, bool *end, bool *reached)
{
	bool next_known = k + 1 < w->chunks;
	unsigned char type;
	const char *name;
	size_t n;
	ino_t ino;
	int res;

	*end = *reached = false;
	for (n = 0;; n++) {
		if (next_known && ops->tell(src) == w->starts[k + 1]) {
			*reached = true;
			return 0;
		}
		if (n == DIRWIN_CHUNK_ENTRIES)
			return 0;
		res = ops->next(src, &name, &ino, &type);
		if (res <= 0) {
			*end = !res;
			return res;
		}
		res = add_entry(w, name, ino, type);
		if (res)
			return res;
	}
}

/*
 * Chunk @k into the window: read on from where the source stands when it
 * is at the chunk's start, else seek there first.  Read for the first
 * time, the chunk tells where the next one starts, or that there is none.
 */
static int load(struct dirwin *w, const struct dirwin_ops *ops, void *src,
		size_t k)
{
	bool first_read = k + 1 == w->chunks, end, reached;
	int err;

	w->loaded = false;
	w->count = 0;
	w->pool_len = 0;
	if (!w->at_known || w->at != k)
		ops->seek(src, w->starts[k]);
	w->at_known = false;
	err = read_chunk(w, ops, src, k, &end, &reached);
	if (err)
		goto out_empty;
	if (first_read) {
		w->ended = end;
		if (!end) {
			err = push_start(w, ops->tell(src));
			if (err)
				goto out_empty;
			reached = true;
		}
	}
	w->at_known = reached;
	w->at = k + 1;
	if (ops->complete) {
		err = ops->complete(src, w);
		if (err)
			goto out_empty;
	}
	w->chunk = k;
	w->loaded = true;
	return 0;

out_empty:
	w->count = 0;
	return err;
}

/* Offset 0: a new listing, from the source's current state. */
static int restart(struct dirwin *w, const struct dirwin_ops *ops,
		   void *src)
{
	ops->rewind(src);
	w->chunks = 0;
	w->ended = false;
	w->loaded = false;
	w->at_known = true;
	w->at = 0;
	return push_start(w, ops->tell(src));
}

int dirwin_at(struct dirwin *w, const struct dirwin_ops *ops, void *src,
	      off_t off, size_t *first)
{
	size_t k, index;
	int err;

	if (off < 0)
		return -EINVAL;
	if (off == 0 || !w->chunks) {
		err = restart(w, ops, src);
		if (err)
			return err;
	}
	k = (size_t)((uint64_t)off >> DIRWIN_POS_BITS);
	index = (size_t)((uint64_t)off & POS_MASK);
	/* Only an offset we never gave lies past what was read: read on. */
	while (k >= w->chunks && !w->ended) {
		err = load(w, ops, src, w->chunks - 1);
		if (err)
			return err;
	}
	/* An index the chunk no longer has (it changed): the next chunk. */
	for (; k < w->chunks; k++, index = 0) {
		if (!w->loaded || w->chunk != k) {
			err = load(w, ops, src, k);
			if (err)
				return err;
		}
		if (index < w->count) {
			*first = index;
			return 0;
		}
		if (k + 1 == w->chunks && w->ended)
			break;
	}
	*first = w->count;
	return 0;
}

off_t dirwin_next_off(const struct dirwin *w, size_t i)
{
	if (i + 1 < w->count)
		return make_off(w->chunk, i + 1);
	return make_off(w->chunk + 1, 0);
}

const char *dirwin_name(const struct dirwin *w, size_t i)
{
	return w->pool + w->entries[i].name;
}

void dirwin_clear(struct dirwin *w)
{
	free(w->starts);
	free(w->entries);
	free(w->pool);
	memset(w, 0, sizeof(*w));
}
