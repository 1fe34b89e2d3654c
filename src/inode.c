/*
 * inode: the table of inodes the kernel knows about (finding them again
 * is inode_fd.c's).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fd_cache.h"
#include "inode.h"
#include "inode_table.h"

#define INODE_BUCKETS_MIN 1024

static size_t bucket_of(const struct inode_table *t, dev_t dev, ino_t ino,
			bool virtual)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL;

	h ^= (uint64_t)dev + (virtual ? 0x5bd1e995 : 0);
	return (size_t)(h ^ (h >> 31)) & (t->n_buckets - 1);
}

static void init_inode(struct octofs_inode *inode, const struct stat *st)
{
	inode->dev = st->st_dev;
	inode->ino = st->st_ino;
	inode->type = st->st_mode & S_IFMT;
}

struct inode_table *inode_table_new(int root_fd, unsigned int fd_cache)
{
	struct inode_table *t = calloc(1, sizeof(*t));
	struct stat st;
	size_t i;

	if (!t)
		return NULL;
	if (fstat(root_fd, &st))
		goto out_free_t;
	t->n_buckets = INODE_BUCKETS_MIN;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	if (!t->buckets)
		goto out_free_t;
	t->fds = fd_cache_new(fd_cache);
	if (!t->fds)
		goto out_free_buckets;
	init_inode(&t->root, &st);
	t->root.fd = root_fd;	/* never cached: always open */
	t->root.nlookup = 1;
	t->root.name = strdup("");
	if (!t->root.name)
		goto out_free_fds;
	t->by_handle = inode_handles_work(t);
	pthread_mutex_init(&t->lock, NULL);
	for (i = 0; i < INODE_LOCKS; i++)
		pthread_mutex_init(&t->inode_locks[i], NULL);
	return t;

out_free_fds:
	fd_cache_free(t->fds);
out_free_buckets:
	free(t->buckets);
out_free_t:
	free(t);
	return NULL;
}

static void free_inode(struct inode_table *t, struct octofs_inode *inode)
{
	if (!inode->url_of) {
		if (t->fds)
			fd_cache_forget(t->fds, inode);
		free(inode->name);	/* a virtual file's is part of it */
	}
	free(inode);
}

void inode_table_free(struct inode_table *t)
{
	struct octofs_inode *inode, *next;
	size_t i;

	if (!t)
		return;
	/*
	 * The cache first: a descriptor still pinned (a file the kernel
	 * never released) keeps its inode in the cache, which must not
	 * outlive it.
	 */
	fd_cache_free(t->fds);
	t->fds = NULL;
	for (i = 0; i < t->n_buckets; i++) {
		for (inode = t->buckets[i]; inode; inode = next) {
			next = inode->hash_next;
			free_inode(t, inode);
		}
	}
	for (i = 0; i < t->n_mounts; i++)
		close(t->mounts[i].fd);
	if (t->root_dir_fd >= 0)
		close(t->root_dir_fd);
	free(t->buckets);
	close(t->root.fd);
	free(t->root.name);
	for (i = 0; i < INODE_LOCKS; i++)
		pthread_mutex_destroy(&t->inode_locks[i]);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct octofs_inode *inode_get(struct inode_table *t, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &t->root;
	return (struct octofs_inode *)(uintptr_t)ino;
}

fuse_ino_t inode_id(struct inode_table *t, struct octofs_inode *inode)
{
	if (inode == &t->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)inode;
}

/* The real inode @dev/@ino; t->lock held. */
static struct octofs_inode *find(struct inode_table *t, dev_t dev,
				 ino_t ino)
{
	struct octofs_inode *inode;

	if (dev == t->root.dev && ino == t->root.ino)
		return &t->root;
	inode = t->buckets[bucket_of(t, dev, ino, false)];
	while (inode && (inode->dev != dev || inode->ino != ino ||
			 inode->url_of || inode->gone))
		inode = inode->hash_next;
	return inode;
}

/*
 * Double the buckets at two inodes a bucket on average (chains stay
 * short, the array half the size); on ENOMEM keep going with the old.
 */
static void maybe_grow(struct inode_table *t)
{
	struct octofs_inode **old = t->buckets, *inode, *next;
	size_t old_n = t->n_buckets, i, b;

	if (t->n_inodes < 2 * t->n_buckets)
		return;
	t->buckets = calloc(old_n * 2, sizeof(*t->buckets));
	if (!t->buckets) {
		t->buckets = old;
		return;
	}
	t->n_buckets = old_n * 2;
	for (i = 0; i < old_n; i++) {
		for (inode = old[i]; inode; inode = next) {
			next = inode->hash_next;
			b = bucket_of(t, inode->dev, inode->ino,
				      !!inode->url_of);
			inode->hash_next = t->buckets[b];
			t->buckets[b] = inode;
		}
	}
	free(old);
}

static void insert(struct inode_table *t, struct octofs_inode *inode)
{
	size_t b;

	maybe_grow(t);
	b = bucket_of(t, inode->dev, inode->ino, !!inode->url_of);
	inode->hash_next = t->buckets[b];
	t->buckets[b] = inode;
	t->n_inodes++;
}

static void maybe_free_locked(struct inode_table *t,
			      struct octofs_inode *inode);

/*
 * Lookups pass a gone inode by (it stays hashed, so that freeing the
 * table frees it too, should the kernel still hold it then).
 */
void inode_mark_gone(struct inode_table *t, struct octofs_inode *inode)
{
	if (inode != &t->root)
		inode->gone = true;
}

/*
 * @inode was seen as @name in @dir: where to find it again.  t->lock
 * held.  Out of memory the old name stays (it will not be found by
 * name until seen again).
 */
static void set_where(struct inode_table *t, struct octofs_inode *inode,
		      struct octofs_inode *dir, const char *name)
{
	struct octofs_inode *old = inode->parent;
	char *copy = NULL;

	if (inode == &t->root)
		return;
	if (!inode->name || strcmp(inode->name, name)) {
		copy = strdup(name);
		if (!copy)
			return;
	}
	if (copy) {
		free(inode->name);
		inode->name = copy;
	}
	inode->parent = dir;
	if (old == dir)
		return;
	dir->refs++;
	if (old) {
		old->refs--;
		maybe_free_locked(t, old);
	}
}

/* Count a lookup of an inode already known as @st; t->lock held. */
static struct octofs_inode *found(struct inode_table *t,
				  struct octofs_inode *dir, const char *name,
				  const struct stat *st)
{
	struct octofs_inode *inode = find(t, st->st_dev, st->st_ino);

	if (inode) {
		inode->nlookup++;
		set_where(t, inode, dir, name);
	}
	return inode;
}

/*
 * A new inode for @name in the directory open as @dir_fd, which @st
 * describes.  Nothing is opened: its handle is taken by name.  Should
 * the name have been replaced between the stat and that, the handle is
 * another file's, which reopen() tells by its number.
 */
static int make_inode(struct inode_table *t, struct octofs_inode *dir,
		      int dir_fd, const char *name, const struct stat *st,
		      struct octofs_inode **out)
{
	struct octofs_inode *inode;

	if (st->st_dev != t->root.dev)
		inode_add_mount(t, dir_fd, name, st);
	inode = calloc(1, sizeof(*inode));
	if (!inode)
		return -ENOMEM;
	init_inode(inode, st);
	inode->fd = -1;
	if (inode_table_by_handle(t))
		inode_take_handle(inode, dir_fd, name, 0);
	pthread_mutex_lock(&t->lock);
	*out = found(t, dir, name, st);
	if (!*out) {
		inode->nlookup = 1;
		set_where(t, inode, dir, name);
		if (inode->name) {
			insert(t, inode);
			*out = inode;
			inode = NULL;
		}
	}
	pthread_mutex_unlock(&t->lock);
	free(inode);
	return *out ? 0 : -ENOMEM;
}

int inode_lookup(struct inode_table *t, struct octofs_inode *dir,
		 const char *name, struct stat *st, struct octofs_inode **out)
{
	int dir_fd, err = 0;

	dir_fd = inode_fd(t, dir);
	if (dir_fd < 0)
		return dir_fd;
	if (fstatat(dir_fd, name, st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		goto out_put;
	}
	pthread_mutex_lock(&t->lock);
	*out = found(t, dir, name, st);
	pthread_mutex_unlock(&t->lock);
	if (!*out)
		err = make_inode(t, dir, dir_fd, name, st, out);
out_put:
	inode_fd_put(t, dir);
	return err;
}

void inode_gone(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct octofs_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = find(t, dev, ino);
	if (inode && inode != &t->root) {
		fd_cache_forget(t->fds, inode);
		inode_mark_gone(t, inode);
	}
	pthread_mutex_unlock(&t->lock);
}

int inode_lookup_url(struct inode_table *t, struct octofs_inode *target,
		     struct octofs_inode *dir, const char *name,
		     struct octofs_inode **out)
{
	struct octofs_inode *inode;
	struct stat st = { .st_mode = S_IFREG, .st_dev = target->dev,
			   .st_ino = target->ino };

	pthread_mutex_lock(&t->lock);
	inode = t->buckets[bucket_of(t, target->dev, target->ino, true)];
	while (inode && (inode->url_of != target || inode->parent != dir ||
			 strcmp(inode->name, name)))
		inode = inode->hash_next;
	if (!inode) {
		/*
		 * One block for the inode's common part and its name, which
		 * never changes.
		 */
		inode = calloc(1, INODE_VIRTUAL_SIZE + strlen(name) + 1);
		if (!inode) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		inode->name = strcpy((char *)inode + INODE_VIRTUAL_SIZE, name);
		init_inode(inode, &st);
		inode->url_of = target;
		inode->parent = dir;
		target->refs++;
		dir->refs++;
		insert(t, inode);
	}
	inode->nlookup++;
	pthread_mutex_unlock(&t->lock);
	*out = inode;
	return 0;
}

size_t inode_urls_of(struct inode_table *t, dev_t dev, ino_t ino,
		     struct octofs_inode **out, size_t max)
{
	struct octofs_inode *inode;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (inode = t->buckets[bucket_of(t, dev, ino, true)];
	     inode && n < max; inode = inode->hash_next) {
		if (inode->url_of && inode->dev == dev && inode->ino == ino) {
			inode->refs++;
			out[n++] = inode;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void unhash(struct inode_table *t, struct octofs_inode *inode)
{
	struct octofs_inode **p;

	p = &t->buckets[bucket_of(t, inode->dev, inode->ino,
				  !!inode->url_of)];
	while (*p != inode)
		p = &(*p)->hash_next;
	*p = inode->hash_next;
	t->n_inodes--;
}

/* Take @inode off the listed directories; t->lock held. */
static void unlist(struct inode_table *t, struct octofs_inode *inode)
{
	struct octofs_inode **p = &t->listed;

	if (inode->url_of || !inode->listed)
		return;
	while (*p != inode)
		p = &(*p)->listed_next;
	*p = inode->listed_next;
	inode->listed = false;
	t->n_listed--;
}

void inode_dir_listed(struct inode_table *t, struct octofs_inode *dir)
{
	pthread_mutex_lock(&t->lock);
	if (!dir->listed) {
		dir->listed = true;
		dir->listed_next = t->listed;
		t->listed = dir;
		t->n_listed++;
	}
	pthread_mutex_unlock(&t->lock);
}

fuse_ino_t *inode_listed_dirs(struct inode_table *t, size_t *n)
{
	struct octofs_inode *dir;
	fuse_ino_t *ids = NULL;
	size_t i = 0;

	pthread_mutex_lock(&t->lock);
	*n = t->n_listed;
	if (*n) {
		ids = malloc(*n * sizeof(*ids));
		if (!ids)
			*n = SIZE_MAX;
	}
	for (dir = ids ? t->listed : NULL; dir; dir = dir->listed_next)
		ids[i++] = inode_id(t, dir);
	pthread_mutex_unlock(&t->lock);
	return ids;
}

/*
 * Free @inode if nobody refers to it any more; t->lock held.  A virtual
 * file's references on its file and directory, and a real one's on its
 * parent, may free those too.
 */
static void maybe_free_locked(struct inode_table *t,
			      struct octofs_inode *inode)
{
	struct octofs_inode *target, *dir;

	if (inode == &t->root || inode->nlookup || inode->refs)
		return;
	target = inode->url_of;
	dir = inode->parent;
	unhash(t, inode);
	unlist(t, inode);
	free_inode(t, inode);
	if (target) {
		target->refs--;
		maybe_free_locked(t, target);
	}
	if (dir) {
		dir->refs--;
		maybe_free_locked(t, dir);
	}
}

void inode_forget(struct inode_table *t, struct octofs_inode *inode,
		  uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	inode->nlookup -= n < inode->nlookup ? n : inode->nlookup;
	maybe_free_locked(t, inode);
	pthread_mutex_unlock(&t->lock);
}

void inode_ref(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_lock(&t->lock);
	inode->refs++;
	pthread_mutex_unlock(&t->lock);
}

void inode_unref(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_lock(&t->lock);
	inode->refs--;
	maybe_free_locked(t, inode);
	pthread_mutex_unlock(&t->lock);
}

/* A millisecond clock for the sibling cache; it wraps after 49 days. */
static uint32_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000 +
			  (uint64_t)ts.tv_nsec / 1000000);
}

enum inode_sibling inode_sibling_get(struct inode_table *t, dev_t dev,
				     ino_t ino, uint32_t max_ms,
				     uint32_t *gen)
{
	enum inode_sibling sibling = INODE_SIBLING_UNKNOWN;
	struct octofs_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = find(t, dev, ino);
	*gen = t->sibling_epoch;
	if (inode && inode->sibling &&
	    now_ms() - inode->sibling_ms <= max_ms)
		sibling = inode->sibling;
	pthread_mutex_unlock(&t->lock);
	return sibling;
}

void inode_sibling_set(struct inode_table *t, dev_t dev, ino_t ino,
		       uint32_t gen, enum inode_sibling sibling)
{
	struct octofs_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = find(t, dev, ino);
	if (inode && t->sibling_epoch == gen) {
		inode->sibling = (unsigned char)sibling;
		inode->sibling_ms = now_ms();
	}
	pthread_mutex_unlock(&t->lock);
}

void inode_sibling_reset(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct octofs_inode *inode;

	pthread_mutex_lock(&t->lock);
	t->sibling_epoch++;
	inode = find(t, dev, ino);
	if (inode)
		inode->sibling = INODE_SIBLING_UNKNOWN;
	pthread_mutex_unlock(&t->lock);
}

static pthread_mutex_t *lock_of(struct inode_table *t,
				struct octofs_inode *inode)
{
	uintptr_t h = (uintptr_t)inode / sizeof(*inode);

	return &t->inode_locks[(h ^ (h >> 8)) % INODE_LOCKS];
}

void inode_lock(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_lock(lock_of(t, inode));
}

void inode_unlock(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_unlock(lock_of(t, inode));
}

/* The length of @inode's path from the root; T held. */
static size_t path_len(struct inode_table *t, struct octofs_inode *inode)
{
	size_t len = 0;

	for (; inode && inode != &t->root; inode = inode->parent)
		len += strlen(inode->name ? inode->name : "") + 1;
	return len;
}

char *inode_path(struct inode_table *t, struct octofs_inode *inode)
{
	struct octofs_inode *i;
	size_t len, n;
	char *path;

	pthread_mutex_lock(&t->lock);
	len = path_len(t, inode);
	path = malloc(len ? len : 1);
	if (path) {
		path[len ? len - 1 : 0] = '\0';
		for (i = inode; i && i != &t->root; i = i->parent) {
			n = strlen(i->name ? i->name : "");
			len -= n + 1;
			memcpy(path + len, i->name ? i->name : "", n);
			if (len)
				path[len - 1] = '/';
		}
	}
	pthread_mutex_unlock(&t->lock);
	return path;
}

char *inode_name(struct inode_table *t, struct octofs_inode *inode)
{
	char *name;

	if (inode->url_of)
		return strdup(inode->name);	/* fixed: no lock */
	pthread_mutex_lock(&t->lock);
	name = strdup(inode->name ? inode->name : "");
	pthread_mutex_unlock(&t->lock);
	return name;
}
