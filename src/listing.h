/*
 * listing: a directory's entries as the mount shows them: the store's
 * entries, each chunk of them followed by a NAME.url for each regular
 * file in it that shows one, unless a real entry already has that name.
 * Read a chunk at a time (dirwin.h): memory per open directory is bounded
 * whatever its size, and the first entries come before the rest is read.
 */
#ifndef OCTOFS_LISTING_H
#define OCTOFS_LISTING_H

#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "dirwin.h"

struct octofs;
struct octofs_inode;

struct listing {
	struct dirwin win;
};

/*
 * Make the entry at readdir offset @off (0: from the start, the store's
 * current state) entry @first of @l, reading @dp, the open directory of
 * @dir, as needed; @first is listing_count() when no entry is left.
 * 0 or a negative errno (the store's readdir failed, or -ENOMEM).
 */
int listing_at(struct listing *l, struct octofs *ctx,
	       struct octofs_inode *dir, DIR *dp, off_t off, size_t *first);

/* Entries held: those at and after @first belong to the reply. */
size_t listing_count(const struct listing *l);

/* Entry @i's name, in @buf if it must be made (a sibling's). */
const char *listing_name(const struct listing *l, size_t i,
			 char buf[NAME_MAX + 1]);

/* Entry @i's inode number and type, as readdir reports them. */
void listing_stat(const struct listing *l, size_t i, struct stat *st);

/* The offset the kernel resumes at after entry @i. */
off_t listing_next_off(const struct listing *l, size_t i);

/* Free everything: @l is empty, and usable again. */
void listing_clear(struct listing *l);

#endif
