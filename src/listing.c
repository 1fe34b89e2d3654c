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

static int add_entry(struct listing *l, const char *name, ino_t ino,
		     unsigned char type)
{
	struct listing_entry *grown;
	char *copy;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		grown = realloc(l->entries, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		l->entries = grown;
		l->cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	l->entries[l->count].name = copy;
	l->entries[l->count].ino = ino;
	l->entries[l->count].type = type;
	l->count++;
	return 0;
}

void listing_clear(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		free(l->entries[i].name);
	free(l->entries);
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
		j = name_hash(l->entries[i].name) & set->mask;
		while (set->slots[j])
			j = (j + 1) & set->mask;
		set->slots[j] = (uint32_t)i + 1;
	}
	return 0;
}

static bool name_set_has(const struct name_set *set,
			 const struct listing *l, const char *name)
{
	size_t j;

	for (j = name_hash(name) & set->mask; set->slots[j];
	     j = (j + 1) & set->mask)
		if (!strcmp(l->entries[set->slots[j] - 1].name, name))
			return true;
	return false;
}

/* Does the entry @name (of type @type) show a sibling? */
static bool shows_sibling(struct octofs *ctx, struct octofs_inode *dir,
			  const char *name, ino_t ino, unsigned char type)
{
	struct stat st;

	if (type == DT_UNKNOWN &&
	    (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	     !S_ISREG(st.st_mode)))
		return false;
	return url_files_visible(ctx, dir->fd, name, dir->dev, ino);
}

/* NAME.url for every file that shows one, after the real entries. */
static int add_siblings(struct listing *l, struct octofs *ctx,
			struct octofs_inode *dir)
{
	char sibling[NAME_MAX + 1];
	struct name_set set = { 0 };
	size_t real = l->count, i;
	int err;

	err = name_set_init(&set, l);
	for (i = 0; !err && i < real; i++) {
		/* Copies: adding an entry may move the array. */
		const char *name = l->entries[i].name;
		unsigned char type = l->entries[i].type;
		ino_t ino = l->entries[i].ino;

		if ((type != DT_REG && type != DT_UNKNOWN) ||
		    !url_names_sibling(name, sibling, sizeof(sibling)) ||
		    name_set_has(&set, l, sibling) ||
		    !shows_sibling(ctx, dir, name, ino, type))
			continue;
		err = add_entry(l, sibling, url_files_ino(ino), DT_REG);
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
	return ctx->opts->url_files ? add_siblings(l, ctx, dir) : 0;
}
