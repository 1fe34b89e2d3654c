/*
 * resume: find the uploads a previous mount left unfinished and queue
 * them again.  See resume.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ignore.h"
#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "queue_worker.h"
#include "resume.h"
#include "state.h"

/* Each level of the walk holds one directory descriptor open. */
#define SCAN_DEPTH_MAX 256

struct resume_scan {
	struct octofs *ctx;
	int root_fd;
	pthread_t thread;
	atomic_bool stop;

	/* Written by the scan thread only; read after it was joined. */
	bool complete;
	unsigned long files;
	unsigned long resumed;
	char path[PATH_MAX];	/* the directory being scanned, for logs */
};

int resume_file(struct octofs *ctx, struct octofs_inode *inode,
		const char *name)
{
	struct stat st;
	int fd, err;

	if (ignore_match(ctx->ignore, name))
		return -EPERM;
	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0)
		return fd;
	err = fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ?
		      -errno : 0;
	inode_fd_put(ctx->inodes, inode);
	if (err)
		return err;
	if (!S_ISREG(st.st_mode) || !st.st_nlink)
		return -EINVAL;
	return queue_resume(ctx->queue, st.st_dev, st.st_ino, inode, name);
}

static bool unfinished(enum state_status st)
{
	return st == STATE_QUEUED || st == STATE_UPLOADING;
}

/*
 * A regular file of the directory @dir (open as @dir_fd): queue it if it
 * is unfinished.  Its job keeps its inode, which holds no descriptor.
 */
static void scan_file(struct resume_scan *r, struct octofs_inode *dir,
		      int dir_fd, const char *name)
{
	struct octofs_inode *inode;
	struct stat st;
	int err;

	r->files++;
	if (!unfinished(state_read_status_at(dir_fd, name)))
		return;
	err = inode_lookup(r->ctx->inodes, dir, name, &st, &inode);
	if (!err) {
		err = resume_file(r->ctx, inode, name);
		inode_forget(r->ctx->inodes, inode, 1);
	}
	if (!err) {
		r->resumed++;
		log_debug("resume: %s/%s queued again", r->path, name);
	} else if (err == -EPERM) {
		log_debug("resume: %s/%s has an ignored name; left alone",
			  r->path, name);
	} else if (err != -EEXIST && err != -ENOENT) {
		log_warn("resume: cannot queue %s/%s again: %s", r->path,
			 name, strerror(-err));
		r->complete = false;
	}
}

static void scan_dir(struct resume_scan *r, struct octofs_inode *dir,
		     int fd, unsigned int depth);

/* Descend into @name of @dir (open as @dir_fd), keeping r->path in step. */
static void scan_subdir(struct resume_scan *r, struct octofs_inode *dir,
			int dir_fd, const char *name, unsigned int depth)
{
	size_t len = strlen(r->path);
	struct octofs_inode *sub;
	struct stat st;
	int fd, err;

	if (len + 1 + strlen(name) >= sizeof(r->path) ||
	    depth >= SCAN_DEPTH_MAX) {
		log_warn("resume: %s/%s is too deep to scan", r->path, name);
		r->complete = false;
		return;
	}
	err = inode_lookup(r->ctx->inodes, dir, name, &st, &sub);
	if (err)
		goto out_err;
	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		inode_forget(r->ctx->inodes, sub, 1);
		goto out_err;
	}
	r->path[len] = '/';
	strcpy(r->path + len + 1, name);
	scan_dir(r, sub, fd, depth + 1);
	r->path[len] = '\0';
	inode_forget(r->ctx->inodes, sub, 1);
	return;

out_err:
	if (err != -ENOENT) {
		log_warn("resume: cannot scan %s/%s: %s", r->path, name,
			 strerror(-err));
		r->complete = false;
	}
}

/*
 * Walk the directory @dir, open as @fd (taken over), without following
 * links.
 */
static void scan_dir(struct resume_scan *r, struct octofs_inode *dir,
		     int fd, unsigned int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	struct stat st;
	unsigned char type;

	if (!d) {
		log_warn("resume: cannot scan %s: %s", r->path,
			 strerror(errno));
		close(fd);
		r->complete = false;
		return;
	}
	while (!atomic_load(&r->stop) && (e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		type = e->d_type;
		if (type == DT_UNKNOWN &&
		    !fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			type = S_ISDIR(st.st_mode) ? DT_DIR :
			       S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		if (type == DT_DIR)
			scan_subdir(r, dir, dirfd(d), e->d_name, depth);
		else if (type == DT_REG)
			scan_file(r, dir, dirfd(d), e->d_name);
	}
	closedir(d);
}

static double since_s(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *scan_main(void *arg)
{
	struct resume_scan *r = arg;
	struct timespec t0;
	int fd;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r->complete = true;
	fd = openat(r->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("resume: cannot scan the store: %s", strerror(errno));
		r->complete = false;
		return NULL;
	}
	scan_dir(r, inode_get(r->ctx->inodes, FUSE_ROOT_ID), fd, 0);
	if (atomic_load(&r->stop))
		r->complete = false;
	log_info("resume: %lu unfinished uploads queued again (%lu files "
		 "scanned in %.2fs%s)", r->resumed, r->files, since_s(&t0),
		 r->complete ? "" : ", scan incomplete");
	return NULL;
}

int resume_start(struct octofs *ctx, int root_fd, struct resume_scan **out)
{
	struct resume_scan *r;

	*out = NULL;
	if (state_take_store_settled(root_fd)) {
		log_debug("resume: the store was left settled; no scan");
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->root_fd = root_fd;
	r->path[0] = '.';
	atomic_init(&r->stop, false);
	if (pthread_create(&r->thread, NULL, scan_main, r)) {
		free(r);
		return -EAGAIN;
	}
	*out = r;
	return 0;
}

bool resume_stop(struct resume_scan *r)
{
	bool complete;

	if (!r)
		return true;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	complete = r->complete;
	free(r);
	return complete;
}
