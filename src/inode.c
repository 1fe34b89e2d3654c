/*
 * inode: the table of inodes the kernel knows about, and finding a
 * stored inode again by file handle or by name.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fd_cache.h"
#include "fdpath.h"
#include "inode.h"
#include "log.h"

#define INODE_BUCKETS_MIN 1024
#define MOUNTS_MAX 32		/* filesystems inside the store, by handle */
#define DEPTH_MAX 4096		/* directories walked to find one by name */
#define LOCKS 256		/* inode locks, each shared by many inodes */

/*
 * A directory of each filesystem in the store, for open_by_handle_at,
 * which takes no O_PATH descriptor for it.
 */
struct mount_ref {
	dev_t dev;
	int fd;
};

/*
 * lock guards the buckets, n_inodes, mounts and every inode's nlookup,
 * refs, parent, name and hash_next.  Lock order: only the descriptor
 * cache's lock is taken under it; it may be taken under any other (an
 * inode's, the upload queue's).
 */
struct inode_table {
	pthread_mutex_t lock;
	struct octofs_inode root;
	struct octofs_inode **buckets;
	size_t n_buckets;
	size_t n_inodes;
	uint32_t sibling_epoch;	/* bumped by every inode_sibling_reset() */
	struct octofs_inode *listed;	/* see inode_dir_listed() */
	size_t n_listed;
	struct fd_cache *fds;
	int root_dir_fd;	/* the store's directory, O_RDONLY */
	bool by_handle;		/* set at creation; cleared if refused */
	struct mount_ref mounts[MOUNTS_MAX];
	size_t n_mounts;
	pthread_mutex_t inode_locks[LOCKS];	/* see inode_lock() */
};

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

/*
 * The file handle of @name in @dir_fd (never followed; @flags may add
 * AT_EMPTY_PATH), kept in @inode when it fits; an inode without one is
 * found again by name.
 */
static void take_handle(struct octofs_inode *inode, int dir_fd,
			const char *name, int flags)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[INODE_HANDLE_MAX];
	} h = { .fh.handle_bytes = INODE_HANDLE_MAX };
	int mount_id;

	if (name_to_handle_at(dir_fd, name, &h.fh, &mount_id, flags) ||
	    h.fh.handle_type < 0 || h.fh.handle_type > UCHAR_MAX)
		return;
	inode->handle_type = (unsigned char)h.fh.handle_type;
	inode->handle_len = (unsigned char)h.fh.handle_bytes;
	memcpy(inode->handle, h.fh.f_handle, h.fh.handle_bytes);
}

/* Reopen @inode by its handle, relative to @mount_fd. */
static int open_handle(const struct octofs_inode *inode, int mount_fd)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[INODE_HANDLE_MAX];
	} h;
	int fd;

	h.fh.handle_bytes = inode->handle_len;
	h.fh.handle_type = inode->handle_type;
	memcpy(h.fh.f_handle, inode->handle, inode->handle_len);
	fd = open_by_handle_at(mount_fd, &h.fh, O_PATH | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * Can the store's inodes be reopened by handle?  open_by_handle_at
 * needs CAP_DAC_READ_SEARCH, and the filesystem must make handles.
 */
static bool handles_work(struct inode_table *t)
{
	int fd;

	t->root_dir_fd = openat(t->root.fd, ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->root_dir_fd < 0)
		return false;
	take_handle(&t->root, t->root.fd, "", AT_EMPTY_PATH);
	if (!t->root.handle_len)
		return false;
	fd = open_handle(&t->root, t->root_dir_fd);
	if (fd < 0)
		return false;
	close(fd);
	return true;
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
	t->by_handle = handles_work(t);
	pthread_mutex_init(&t->lock, NULL);
	for (i = 0; i < LOCKS; i++)
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

bool inode_table_by_handle(struct inode_table *t)
{
	return __atomic_load_n(&t->by_handle, __ATOMIC_RELAXED);
}

void inode_table_by_name(struct inode_table *t)
{
	__atomic_store_n(&t->by_handle, false, __ATOMIC_RELAXED);
}

static void free_inode(struct inode_table *t, struct octofs_inode *inode)
{
	if (!inode->url_of) {
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
	fd_cache_free(t->fds);
	free(t->buckets);
	close(t->root.fd);
	free(t->root.name);
	for (i = 0; i < LOCKS; i++)
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
			 inode->url_of))
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
static void unhash(struct inode_table *t, struct octofs_inode *inode);

/* Take @inode out of the table for good; t->lock held. */
static void unhash_gone(struct inode_table *t, struct octofs_inode *inode)
{
	if (inode == &t->root || inode->gone)
		return;
	unhash(t, inode);
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

/* Is a directory of @dev's filesystem kept for open_by_handle_at? */
static bool has_mount(struct inode_table *t, dev_t dev)
{
	size_t i;

	if (dev == t->root.dev)
		return true;
	for (i = 0; i < t->n_mounts; i++)
		if (t->mounts[i].dev == dev)
			return true;
	return false;
}

/*
 * The directory @name in @dir_fd (stat @st) is on a filesystem other
 * than the store's, mounted inside it: keep it open (at most MOUNTS_MAX
 * of them) so that inodes there can be reopened by handle too.
 */
static void add_mount(struct inode_table *t, int dir_fd, const char *name,
		      const struct stat *st)
{
	struct stat fd_st;
	bool added = false;
	int fd;

	if (!S_ISDIR(st->st_mode) || !inode_table_by_handle(t))
		return;
	pthread_mutex_lock(&t->lock);
	added = has_mount(t, st->st_dev) || t->n_mounts == MOUNTS_MAX;
	pthread_mutex_unlock(&t->lock);
	if (added)
		return;
	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (!fstat(fd, &fd_st) && fd_st.st_dev == st->st_dev &&
	    !has_mount(t, st->st_dev) && t->n_mounts < MOUNTS_MAX) {
		t->mounts[t->n_mounts].dev = st->st_dev;
		t->mounts[t->n_mounts++].fd = fd;
		added = true;
	}
	pthread_mutex_unlock(&t->lock);
	if (!added)
		close(fd);
}

/* openat(2), retried while closing cached descriptors makes room. */
static int open_at(struct inode_table *t, int dir_fd, const char *name)
{
	int fd;

	do
		fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	while (fd < 0 && inode_fd_relieve(t, errno));
	return fd < 0 ? -errno : fd;
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
		add_mount(t, dir_fd, name, st);
	inode = calloc(1, sizeof(*inode));
	if (!inode)
		return -ENOMEM;
	init_inode(inode, st);
	inode->fd = -1;
	if (inode_table_by_handle(t))
		take_handle(inode, dir_fd, name, 0);
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

static int fd_at_depth(struct inode_table *t, struct octofs_inode *inode,
		       unsigned int depth);

/* A descriptor on @dev's filesystem to open handles with; -1: none. */
static int mount_fd_of(struct inode_table *t, dev_t dev)
{
	int fd = -1;
	size_t i;

	if (dev == t->root.dev)
		return t->root_dir_fd;
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->n_mounts && fd < 0; i++)
		if (t->mounts[i].dev == dev)
			fd = t->mounts[i].fd;
	pthread_mutex_unlock(&t->lock);
	return fd;
}

static bool same_inode(const struct octofs_inode *inode, int fd)
{
	struct stat st;

	return !fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) &&
	       st.st_dev == inode->dev && st.st_ino == inode->ino;
}

/*
 * Where @inode was last seen: its parent (with a reference, which the
 * caller drops) and its name in @name.  NULL for the root or a file
 * that has no parent known.
 */
static struct octofs_inode *where(struct inode_table *t,
				  struct octofs_inode *inode,
				  char name[NAME_MAX + 1])
{
	struct octofs_inode *parent;

	pthread_mutex_lock(&t->lock);
	parent = inode->parent;
	if (parent) {
		parent->refs++;
		snprintf(name, NAME_MAX + 1, "%s", inode->name);
	}
	pthread_mutex_unlock(&t->lock);
	return parent;
}

/*
 * Open @inode again as the name it was last seen under, in its parent
 * (found the same way), and check that the name still holds it: a file
 * renamed or replaced behind the mount is -ESTALE, and the kernel walks
 * the path again.
 */
static int open_by_name(struct inode_table *t, struct octofs_inode *inode,
			unsigned int depth)
{
	struct octofs_inode *parent;
	char name[NAME_MAX + 1];
	int dir_fd, fd;

	parent = where(t, inode, name);
	if (!parent)
		return -ESTALE;
	dir_fd = fd_at_depth(t, parent, depth + 1);
	fd = dir_fd < 0 ? dir_fd : open_at(t, dir_fd, name);
	if (dir_fd >= 0)
		inode_fd_put(t, parent);
	inode_unref(t, parent);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return -ESTALE;
	if (fd >= 0 && !same_inode(inode, fd)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* Open @inode again: by handle where it has one, else by name. */
static int reopen(struct inode_table *t, struct octofs_inode *inode,
		  unsigned int depth)
{
	int mount_fd = -1, fd;

	if (inode->handle_len && inode_table_by_handle(t))
		mount_fd = mount_fd_of(t, inode->dev);
	if (mount_fd < 0)
		return open_by_name(t, inode, depth);
	do
		fd = open_handle(inode, mount_fd);
	while ((fd == -EMFILE || fd == -ENFILE) &&
	       inode_fd_relieve(t, -fd));
	/* Refused after all (capabilities dropped?): by name from now. */
	if (fd == -EPERM) {
		log_warn("open_by_handle_at refused: inodes are found again "
			 "by name from now on");
		inode_table_by_name(t);
		return open_by_name(t, inode, depth);
	}
	if (fd >= 0 && !same_inode(inode, fd)) {
		close(fd);
		return -ESTALE;		/* see make_inode() */
	}
	return fd;
}

static int fd_at_depth(struct inode_table *t, struct octofs_inode *inode,
		       unsigned int depth)
{
	int fd;

	if (inode == &t->root)
		return t->root.fd;
	if (inode->url_of)
		return -EINVAL;
	if (depth > DEPTH_MAX)
		return -ELOOP;
	fd = fd_cache_get(t->fds, inode);
	if (fd >= 0)
		return fd;
	fd = reopen(t, inode, depth);
	if (fd == -ESTALE) {
		/*
		 * Deleted behind the mount (or moved, found by name): the
		 * store may give its number to a new file, which must not
		 * be taken for this one.
		 */
		pthread_mutex_lock(&t->lock);
		unhash_gone(t, inode);
		pthread_mutex_unlock(&t->lock);
	}
	if (fd < 0)
		return fd;
	return fd_cache_add(t->fds, inode, fd);
}

int inode_fd(struct inode_table *t, struct octofs_inode *inode)
{
	return fd_at_depth(t, inode, 0);
}

/* fstatat of @name in @dir, if that is @inode still: 0 or -ESTALE. */
static int stat_by_name(struct inode_table *t, struct octofs_inode *dir,
			const char *name, struct octofs_inode *inode,
			struct stat *st)
{
	int dir_fd = inode_fd(t, dir), err = -ESTALE;

	if (dir_fd < 0)
		return err;
	if (!fstatat(dir_fd, name, st, AT_SYMLINK_NOFOLLOW) &&
	    st->st_dev == inode->dev && st->st_ino == inode->ino)
		err = 0;
	inode_fd_put(t, dir);
	return err;
}

int inode_stat(struct inode_table *t, struct octofs_inode *inode,
	       struct stat *st)
{
	char name[NAME_MAX + 1];
	struct octofs_inode *parent = NULL;
	int fd, err = -ESTALE;

	fd = inode == &t->root ? t->root.fd : fd_cache_get(t->fds, inode);
	if (fd < 0 && !inode->url_of) {
		parent = where(t, inode, name);
		if (parent) {
			err = stat_by_name(t, parent, name, inode, st);
			inode_unref(t, parent);
		}
		if (!err)
			return 0;
		fd = inode_fd(t, inode);
	}
	if (fd < 0)
		return fd;
	err = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ?
		      -errno : 0;
	inode_fd_put(t, inode);
	return err;
}

void inode_fd_seed(struct inode_table *t, struct octofs_inode *inode,
		   int open_fd)
{
	char path[FDPATH_MAX];
	int fd;

	if (inode == &t->root || inode->url_of)
		return;
	fd = fd_cache_get(t->fds, inode);
	if (fd < 0) {
		fd = open(fdpath(open_fd, path), O_PATH | O_CLOEXEC);
		if (fd < 0)
			return;		/* found again when needed */
		fd_cache_add(t->fds, inode, fd);
	}
	fd_cache_put(t->fds, inode);
}

void inode_fd_put(struct inode_table *t, struct octofs_inode *inode)
{
	if (inode != &t->root)
		fd_cache_put(t->fds, inode);
}

void inode_gone(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct octofs_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = find(t, dev, ino);
	if (inode && inode != &t->root) {
		fd_cache_forget(t->fds, inode);
		unhash_gone(t, inode);
	}
	pthread_mutex_unlock(&t->lock);
}

bool inode_fd_relieve(struct inode_table *t, int err)
{
	if (err != EMFILE && err != ENFILE)
		return false;
	return fd_cache_relieve(t->fds, err);
}

void inode_fd_counts(struct inode_table *t, size_t *cached, size_t *pinned)
{
	fd_cache_counts(t->fds, cached, pinned);
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
	if (inode->url_of || !inode->gone)
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

	return &t->inode_locks[(h ^ (h >> 8)) % LOCKS];
}

void inode_lock(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_lock(lock_of(t, inode));
}

void inode_unlock(struct inode_table *t, struct octofs_inode *inode)
{
	pthread_mutex_unlock(lock_of(t, inode));
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
