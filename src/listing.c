/*
 * listing: a directory's entries as the mount shows them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inode.h"
#include "listing.h"
#include "octofs.h"
#include "opts.h"
#include "url_files.h"
#include "url_names.h"

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

/* A real entry: its name goes to the pool. */
static int add_entry(struct listing *l, const char *name, ino_t ino,
		     unsigned char type)
{
	size_t len = strlen(name) + 1;
	struct listing_entry *entries;
	char *pool;

	if (l->pool_len + len > UINT32_MAX)
		return -EOVERFLOW;
	entries = grow(l->entries, &l->cap, l->count + 1, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	l->entries = entries;
	pool = grow(l->pool, &l->pool_cap, l->pool_len + len, 1);
	if (!pool)
		return -ENOMEM;
	l->pool = pool;
	memcpy(pool + l->pool_len, name, len);
	entries[l->count] = (struct listing_entry){
		.ino = ino, .name = (uint32_t)l->pool_len, .type = type };
	l->count++;
	l->pool_len += len;
	return 0;
}

/* The sibling of real entry @i. */
static int add_sibling(struct listing *l, size_t i)
{
	struct listing_entry *entries;

	entries = grow(l->entries, &l->cap, l->count + 1, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	l->entries = entries;
	entries[l->count] = (struct listing_entry){
		.ino = url_files_ino(entries[i].ino), .name = entries[i].name,
		.type = DT_REG, .sibling = true };
	l->count++;
	return 0;
}

const char *listing_name(const struct listing *l, size_t i,
			 char buf[NAME_MAX + 1])
{
	const char *name = l->pool + l->entries[i].name;

	if (!l->entries[i].sibling)
		return name;
	/* Checked when it was listed: it fits. */
	url_names_sibling(name, buf, NAME_MAX + 1);
	return buf;
}

void listing_clear(struct listing *l)
{
	free(l->entries);
	free(l->pool);
	memset(l, 0, sizeof(*l));
}

/*
 * The names of a listing, to tell whether a sibling's name is taken by a
 * real entry without asking the store once per file.
 */
struct name_set {
	uint32_t *slots;	/* entry index + 1; 0 is empty */
	size_t mask;
};

static size_t name_hash(const char *name)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	while (*name) {
		h ^= (unsigned char)*name++;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

static int name_set_init(struct name_set *set, const struct listing *l)
{
	size_t n = 16, i, j;

	if (l->count > UINT32_MAX / 4)
		return -EOVERFLOW;
	while (n < 2 * l->count)
		n *= 2;
	set->slots = calloc(n, sizeof(*set->slots));
	if (!set->slots)
		return -ENOMEM;
	set->mask = n - 1;
	for (i = 0; i < l->count; i++) {
		j = name_hash(l->pool + l->entries[i].name) & set->mask;
		while (set->slots[j])
			j = (j + 1) & set->mask;
		set->slots[j] = (uint32_t)i + 1;
	}
	return 0;
}

static bool name_set_has(const struct name_set *set,
			 const struct listing *l, const char *name)
{
	const struct listing_entry *e;
	size_t j;

	for (j = name_hash(name) & set->mask; set->slots[j];
	     j = (j + 1) & set->mask) {
		e = &l->entries[set->slots[j] - 1];
		if (!strcmp(l->pool + e->name, name))
			return true;
	}
	return false;
}

/*
 * Does the entry @name (of type @type) of @dir, open as @dir_fd, show a
 * sibling?
 */
static bool shows_sibling(struct octofs *ctx, struct octofs_inode *dir,
			  int dir_fd, const char *name, ino_t ino,
			  unsigned char type)
{
	struct stat st;

	if (type == DT_UNKNOWN &&
	    (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	     !S_ISREG(st.st_mode)))
		return false;
	return url_files_visible(ctx, dir_fd, name, dir->dev, ino);
}

/* NAME.url for every file that shows one, after the real entries. */
static int add_siblings(struct listing *l, struct octofs *ctx,
			struct octofs_inode *dir, int dir_fd)
{
	char sibling[NAME_MAX + 1];
	struct name_set set = { 0 };
	size_t real = l->count, i;
	int err;

	err = name_set_init(&set, l);
	for (i = 0; !err && i < real; i++) {
		const char *name = l->pool + l->entries[i].name;
		unsigned char type = l->entries[i].type;

		if ((type != DT_REG && type != DT_UNKNOWN) ||
		    !url_names_sibling(name, sibling, sizeof(sibling)) ||
		    name_set_has(&set, l, sibling) ||
		    !shows_sibling(ctx, dir, dir_fd, name, l->entries[i].ino,
				   type))
			continue;
		err = add_sibling(l, i);
	}
	free(set.slots);
	return err;
}

int listing_take(struct listing *l, struct octofs *ctx,
		 struct octofs_inode *dir, DIR *dp)
{
	struct dirent *de;
	int err;

	listing_clear(l);
	rewinddir(dp);
	for (;;) {
		errno = 0;
		de = readdir(dp);
		if (!de)
			break;
		err = add_entry(l, de->d_name, de->d_ino, de->d_type);
		if (err)
			return err;
	}
	if (errno)
		return -errno;
	return ctx->opts->url_files ? add_siblings(l, ctx, dir, dirfd(dp)) :
				      0;
}
