/*
 * fd_cache: a bounded set of open O_PATH descriptors of stored inodes.
 *
 * An inode the kernel remembers holds no descriptor of its own: it is
 * found again by file handle or by name (inode.c), and the descriptors
 * opened that way are kept here, up to a bound, for the next request.
 * A descriptor in use is pinned and never closed under its user; the
 * rest are closed least recently used first (a clock sweep) once there
 * are more than the bound.
 */
#ifndef OCTOFS_FD_CACHE_H
#define OCTOFS_FD_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct octofs_inode;
struct fd_cache;

/* The default bound: a quarter of @nofile_max (the hard limit). */
unsigned int fd_cache_default_bound(unsigned long nofile_max);

/* NULL when out of memory. */
struct fd_cache *fd_cache_new(unsigned int bound);
/* Closes every descriptor still cached; none may be pinned. */
void fd_cache_free(struct fd_cache *c);

/* @inode's cached descriptor, pinned; -1 when it has none. */
int fd_cache_get(struct fd_cache *c, struct octofs_inode *inode);

/*
 * Cache @fd as @inode's and pin it; if another thread cached one first,
 * @fd is closed and that one is pinned instead.  Returns the pinned
 * descriptor.  Out of memory, @fd is returned pinned but uncached: it
 * is closed at its last unpin.
 */
int fd_cache_add(struct fd_cache *c, struct octofs_inode *inode, int fd);

/* Unpin; the descriptor may be closed from now on. */
void fd_cache_put(struct fd_cache *c, struct octofs_inode *inode);

/*
 * @inode's last name is gone: close its descriptor now, or at its last
 * unpin, so that the store frees the file once nothing else holds it.
 */
void fd_cache_forget(struct fd_cache *c, struct octofs_inode *inode);

/*
 * The process ran out of descriptors (EMFILE or ENFILE): close half of
 * the unpinned ones.  True when any was closed, so the caller retries;
 * false when there was nothing to close (logged once until descriptors
 * can be had again, with what to change).
 */
bool fd_cache_relieve(struct fd_cache *c, int err);

/* How many descriptors are cached, and how many of those pinned. */
void fd_cache_counts(struct fd_cache *c, size_t *cached, size_t *pinned);

#endif
