/*
 * inode_fd: finding a stored inode again, by file handle or by name, and
 * the descriptors that takes (kept in fd_cache.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd_cache.h"
#include "fdpath.h"
#include "inode.h"
#include "inode_table.h"
#include "log.h"

#define DEPTH_MAX 4096		/* directories walked to find one by name */

/*
 * The file handle of @name in @dir_fd (never followed; @flags may add
 * AT_EMPTY_PATH), kept in @inode when it fits; an inode without one is
 * found again by name.
 */
void inode_take_handle(struct octofs_inode *inode, int dir_fd,
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
bool inode_handles_work(struct inode_table *t)
{
	int fd;

	t->root_dir_fd = openat(t->root.fd, ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->root_dir_fd < 0)
		return false;
	inode_take_handle(&t->root, t->root.fd, "", AT_EMPTY_PATH);
	if (!t->root.handle_len)
		return false;
	fd = open_handle(&t->root, t->root_dir_fd);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool inode_table_by_handle(struct inode_table *t)
{
	return __atomic_load_n(&t->by_handle, __ATOMIC_RELAXED);
}

void inode_table_by_name(struct inode_table *t)
{
	__atomic_store_n(&t->by_handle, false, __ATOMIC_RELAXED);
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
 * than the store's, mounted inside it: keep it open (at most INODE_MOUNTS_MAX
 * of them) so that inodes there can be reopened by handle too.
 */
void inode_add_mount(struct inode_table *t, int dir_fd, const char *name,
		     const struct stat *st)
{
	struct stat fd_st;
	bool added = false;
	int fd;

	if (!S_ISDIR(st->st_mode) || !inode_table_by_handle(t))
		return;
	pthread_mutex_lock(&t->lock);
	added = has_mount(t, st->st_dev) || t->n_mounts == INODE_MOUNTS_MAX;
	pthread_mutex_unlock(&t->lock);
	if (added)
		return;
	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (!fstat(fd, &fd_st) && fd_st.st_dev == st->st_dev &&
	    !has_mount(t, st->st_dev) && t->n_mounts < INODE_MOUNTS_MAX) {
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
		fd = -ESTALE;		/* see make_inode() */
	}
	/*
	 * A directory just made again under a name the store gave the
	 * number of one just removed was seen to be refused by handle
	 * (the kernel's retry too); its name, unique for a directory,
	 * still finds it, checked by its number.
	 */
	if (fd == -ESTALE && S_ISDIR(inode->type))
		fd = open_by_name(t, inode, depth);
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
		inode_mark_gone(t, inode);
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
