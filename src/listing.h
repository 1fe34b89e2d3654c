/*
 * listing: a directory's entries as the mount shows them, taken at once
 * (readdir offset 0) and served from memory after: the store's entries,
 * then a NAME.url for each regular file that shows one, unless a real
 * entry already has that name.
 */
#ifndef OCTOFS_LISTING_H
#define OCTOFS_LISTING_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct octofs;
struct octofs_inode;

/* Names live in one block (pool), siblings are made from their file's. */
struct listing_entry {
	ino_t ino;
	uint32_t name;		/* offset in pool */
	unsigned char type;	/* DT_* */
	bool sibling;		/* NAME.url of the entry named by name */
};

struct listing {
	struct listing_entry *entries;
	size_t count;
	size_t cap;
	char *pool;
	size_t pool_len;
	size_t pool_cap;
};

/* Entry @i's name, in @buf if it must be made (a sibling's). */
const char *listing_name(const struct listing *l, size_t i,
			 char buf[NAME_MAX + 1]);

/*
 * Replace @l with the entries of @dp (rewound first), the open directory
 * of @dir, and their siblings.  0 or a negative errno (@l is then
 * partial, still safe to clear).
 */
int listing_take(struct listing *l, struct octofs *ctx,
		 struct octofs_inode *dir, DIR *dp);

/* Free everything: @l is empty, and usable again. */
void listing_clear(struct listing *l);

#endif
