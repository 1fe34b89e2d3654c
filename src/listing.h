/*
 * listing: a directory's entries as the mount shows them, taken at once
 * (readdir offset 0) and served from memory after: the store's entries,
 * then a NAME.url for each regular file that shows one, unless a real
 * entry already has that name.
 */
#ifndef OCTOFS_LISTING_H
#define OCTOFS_LISTING_H

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

struct octofs;
struct octofs_inode;

struct listing_entry {
	char *name;
	ino_t ino;
	unsigned char type;	/* DT_* */
};

struct listing {
	struct listing_entry *entries;
	size_t count;
	size_t cap;
};

/*
 * Replace @l with the entries of @dp (rewound first), the open directory
 * of @dir, and their siblings.  0 or a negative errno (@l is then
 * partial, still safe to clear).
 */
int listing_take(struct listing *l, struct octofs *ctx,
		 struct octofs_inode *dir, DIR *dp);

/* Free the entries; @l stays usable. */
void listing_clear(struct listing *l);

#endif
