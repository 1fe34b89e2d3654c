/*
 * fd_cache: a bounded set of open O_PATH descriptors of stored inodes.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fd_cache.h"
#include "inode.h"
#include "log.h"

#define FD_CACHE_MIN 64
#define FD_CACHE_DEFAULT_MAX 16384
#define RELIEVE_BATCH 256	/* descriptors closed per pass of a relief */

/* inode->fd_flags */
#define FD_USED 1		/* used since the sweep last passed */
#define FD_DROP 2		/* close at the last unpin */

/*
 * lock guards everything here and every inode's fd, fd_slot, fd_pins
 * and fd_flags (C in the lock order, octofs.h).
 */
struct fd_cache {
	pthread_mutex_t lock;
	struct octofs_inode **slots;	/* inode->fd_slot - 1 is its index */
	size_t n;
	size_t cap;
	size_t hand;			/* the clock sweep's position */
	unsigned int bound;
	bool starved;			/* a request failed for lack of fds */
};

unsigned int fd_cache_default_bound(unsigned long nofile_max)
{
	unsigned long bound = nofile_max / 4;

	if (bound < FD_CACHE_MIN)
		return FD_CACHE_MIN;
	return bound > FD_CACHE_DEFAULT_MAX ? FD_CACHE_DEFAULT_MAX :
					      (unsigned int)bound;
}

struct fd_cache *fd_cache_new(unsigned int bound)
{
	struct fd_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->bound = bound ? bound : 1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void fd_cache_free(struct fd_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		close(c->slots[i]->fd);
		c->slots[i]->fd = -1;
		c->slots[i]->fd_slot = 0;
	}
	free(c->slots);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Take @inode's slot out of the array; its descriptor is the caller's. */
static int unslot(struct fd_cache *c, struct octofs_inode *inode)
{
	size_t i = inode->fd_slot - 1;
	int fd = inode->fd;

	c->slots[i] = c->slots[--c->n];
	c->slots[i]->fd_slot = (uint32_t)i + 1;
	if (c->hand >= c->n)
		c->hand = 0;
	inode->fd_slot = 0;
	inode->fd = -1;
	inode->fd_flags = 0;
	return fd;
}

/* Detach @inode's descriptor (not pinned) for the caller to close. */
static int detach(struct fd_cache *c, struct octofs_inode *inode)
{
	int fd = inode->fd;

	if (inode->fd_slot)
		return unslot(c, inode);
	inode->fd = -1;
	inode->fd_flags = 0;
	return fd;
}

/*
 * The clock sweep: the next unpinned descriptor not used since the hand
 * last passed it, detached; -1 when every one is pinned.
 */
static int sweep_one(struct fd_cache *c)
{
	struct octofs_inode *inode;
	size_t steps;

	for (steps = 0; steps < 2 * c->n; steps++) {
		inode = c->slots[c->hand];
		if (!inode->fd_pins && !(inode->fd_flags & FD_USED))
			return unslot(c, inode);
		if (!inode->fd_pins)
			inode->fd_flags &= (uint8_t)~FD_USED;
		c->hand = (c->hand + 1) % c->n;
	}
	return -1;
}

int fd_cache_get(struct fd_cache *c, struct octofs_inode *inode)
{
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = inode->fd;
	if (fd >= 0) {
		inode->fd_pins++;
		inode->fd_flags |= FD_USED;
	}
	pthread_mutex_unlock(&c->lock);
	return fd;
}

/* Put @inode in the array; false when out of memory. */
static bool slot_in(struct fd_cache *c, struct octofs_inode *inode)
{
	struct octofs_inode **slots;
	size_t cap;

	if (c->n == c->cap) {
		cap = c->cap ? c->cap * 2 : 64;
		slots = realloc(c->slots, cap * sizeof(*slots));
		if (!slots)
			return false;
		c->slots = slots;
		c->cap = cap;
	}
	c->slots[c->n++] = inode;
	inode->fd_slot = (uint32_t)c->n;
	return true;
}

int fd_cache_add(struct fd_cache *c, struct octofs_inode *inode, int fd)
{
	int spare = -1, evicted = -1;

	pthread_mutex_lock(&c->lock);
	c->starved = false;
	inode->fd_pins++;	/* first: the sweep must pass it by */
	inode->fd_flags |= FD_USED;
	if (inode->fd >= 0) {
		spare = fd;
		fd = inode->fd;
	} else {
		inode->fd = fd;
		slot_in(c, inode);
		if (c->n > c->bound)
			evicted = sweep_one(c);
	}
	pthread_mutex_unlock(&c->lock);
	if (spare >= 0)
		close(spare);
	if (evicted >= 0)
		close(evicted);
	return fd;
}

void fd_cache_put(struct fd_cache *c, struct octofs_inode *inode)
{
	int fd = -1;

	pthread_mutex_lock(&c->lock);
	if (!--inode->fd_pins &&
	    ((inode->fd_flags & FD_DROP) || !inode->fd_slot))
		fd = detach(c, inode);
	else if (c->n > c->bound)	/* pinned ones kept it over */
		fd = sweep_one(c);
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
}

void fd_cache_forget(struct fd_cache *c, struct octofs_inode *inode)
{
	int fd = -1;

	pthread_mutex_lock(&c->lock);
	if (inode->fd >= 0 && inode->fd_pins)
		inode->fd_flags |= FD_DROP;
	else if (inode->fd >= 0)
		fd = detach(c, inode);
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
}

/* Say once, until descriptors can be had again, what to change. */
static void log_starved(struct fd_cache *c, int err, size_t pinned)
{
	struct rlimit r = { 0 };

	if (c->starved)
		return;
	c->starved = true;
	getrlimit(RLIMIT_NOFILE, &r);
	log_error("out of file descriptors (%s; limit %llu, %zu in use for "
		  "inodes): raise the open-file limit (LimitNOFILE=, ulimit "
		  "-n) or lower fd_cache (%u)", strerror(err),
		  (unsigned long long)r.rlim_cur, pinned, c->bound);
}

bool fd_cache_relieve(struct fd_cache *c, int err)
{
	int fds[RELIEVE_BATCH];
	size_t n = 0, i, want;

	pthread_mutex_lock(&c->lock);
	want = c->n / 2 ? c->n / 2 : 1;
	if (want > RELIEVE_BATCH)
		want = RELIEVE_BATCH;
	while (n < want) {
		fds[n] = c->n ? sweep_one(c) : -1;
		if (fds[n] < 0)
			break;
		n++;
	}
	if (!n)
		log_starved(c, err, c->n);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return n > 0;
}

void fd_cache_counts(struct fd_cache *c, size_t *cached, size_t *pinned)
{
	size_t i, p = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++)
		p += c->slots[i]->fd_pins > 0;
	*cached = c->n;
	*pinned = p;
	pthread_mutex_unlock(&c->lock);
}
