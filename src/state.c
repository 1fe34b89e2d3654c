/*
 * state: user.octofs.* attributes on stored files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fdpath.h"
#include "log.h"
#include "state.h"

static const char *const status_names[] = {
	[STATE_NONE] = "",
	[STATE_QUEUED] = "queued",
	[STATE_UPLOADING] = "uploading",
	[STATE_DONE] = "done",
	[STATE_FAILED] = "failed",
};

const char *state_status_name(enum state_status st)
{
	return status_names[st];
}

int state_status_parse(const char *value, size_t len, enum state_status *st)
{
	size_t i;

	for (i = STATE_QUEUED; i <= STATE_FAILED; i++) {
		if (strlen(status_names[i]) == len &&
		    !memcmp(status_names[i], value, len)) {
			*st = (enum state_status)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool state_is_own_attr(const char *name)
{
	return !strncmp(name, STATE_PREFIX, strlen(STATE_PREFIX));
}

static int set_attr(int fd, const char *attr, const char *value)
{
	char path[FDPATH_MAX];

	if (setxattr(fdpath(fd, path), attr, value, strlen(value), 0))
		return -errno;
	return 0;
}

static int remove_attr(int fd, const char *attr)
{
	char path[FDPATH_MAX];

	if (removexattr(fdpath(fd, path), attr) && errno != ENODATA)
		return -errno;
	return 0;
}

static int set_status(int fd, enum state_status st)
{
	return set_attr(fd, STATE_STATUS, status_names[st]);
}

/* Drop what an earlier upload left: its URL, key and error. */
static int clear_result(int fd)
{
	int err = remove_attr(fd, STATE_URL);

	if (!err)
		err = remove_attr(fd, STATE_KEY);
	if (!err)
		err = remove_attr(fd, STATE_ERROR);
	return err;
}

/*
 * Status first: once it no longer says "done", a crash between the
 * writes cannot leave an old URL looking current.
 */
int state_mark_queued(int fd)
{
	int err = set_status(fd, STATE_QUEUED);

	return err ? err : clear_result(fd);
}

int state_mark_new_queued(int fd)
{
	return set_status(fd, STATE_QUEUED);
}

int state_mark_uploading(int fd)
{
	return set_status(fd, STATE_UPLOADING);
}

/*
 * URL and key before the status, so "done" always comes with its URL.
 * When the store refuses one of them (a value larger than its limit, a
 * full disk), what was written is taken back.
 */
int state_mark_done(int fd, const char *url, const char *key)
{
	int err = set_attr(fd, STATE_URL, url);

	if (!err)
		err = set_attr(fd, STATE_KEY, key);
	if (!err)
		err = remove_attr(fd, STATE_ERROR);
	if (!err)
		err = set_status(fd, STATE_DONE);
	if (err)
		clear_result(fd);
	return err;
}

int state_mark_failed(int fd, const char *error)
{
	int err = set_attr(fd, STATE_ERROR, error);

	if (!err)
		err = set_status(fd, STATE_FAILED);
	return err;
}

/*
 * Status first, as in state_mark_queued(): a URL of an earlier version
 * must never look like this one's.
 */
int state_mark_unpublished(int fd, const char *error)
{
	int err = set_status(fd, STATE_FAILED);

	if (!err)
		err = clear_result(fd);
	if (!err)
		err = set_attr(fd, STATE_ERROR, error);
	return err;
}

int state_forget_fd(void *fd)
{
	return state_forget(*(int *)fd);
}

int state_forget(int fd)
{
	int err = remove_attr(fd, STATE_STATUS);

	return err ? err : clear_result(fd);
}

/* A status attribute read into @value (@len < 0: not read). */
static enum state_status status_read(const char *value, ssize_t len)
{
	enum state_status st;

	if (len < 0 || state_status_parse(value, (size_t)len, &st))
		return STATE_NONE;
	return st;
}

enum state_status state_read_status(int fd)
{
	char path[FDPATH_MAX], value[16];

	return status_read(value, getxattr(fdpath(fd, path), STATE_STATUS,
					   value, sizeof(value)));
}

/*
 * getxattrat(2), Linux 6.13: reads the attribute relative to @dir_fd
 * without a walk through /proc, which dominates listing a large
 * directory.  -ENOSYS where the kernel (or a seccomp filter, EPERM)
 * does not have it.
 */
static ssize_t getxattr_at(int dir_fd, const char *name, const char *attr,
			   void *buf, size_t size)
{
#if defined(__linux__) && defined(__x86_64__)
	struct {
		uint64_t value;
		uint32_t size;
		uint32_t flags;
	} args = { .value = (uintptr_t)buf, .size = (uint32_t)size };
	long res = syscall(464 /* getxattrat */, dir_fd, name,
			   AT_SYMLINK_NOFOLLOW, attr, &args, sizeof(args));

	if (res >= 0)
		return res;
	return errno == EPERM ? -ENOSYS : -errno;
#else
	(void)dir_fd;
	(void)name;
	(void)attr;
	(void)buf;
	(void)size;
	return -ENOSYS;
#endif
}

ssize_t state_get_at(int dir_fd, const char *name, const char *attr,
		     char *buf, size_t size)
{
	char path[FDPATH_MAX + NAME_MAX + 2];
	ssize_t len;

	len = getxattr_at(dir_fd, name, attr, buf, size);
	if (len != -ENOSYS)
		return len;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir_fd, name);
	len = lgetxattr(path, attr, buf, size);
	return len < 0 ? -errno : len;
}

enum state_status state_read_status_at(int dir_fd, const char *name)
{
	char value[16];

	return status_read(value, state_get_at(dir_fd, name, STATE_STATUS,
					       value, sizeof(value)));
}

ssize_t state_get(int fd, const char *attr, char *buf, size_t size)
{
	char path[FDPATH_MAX];
	ssize_t len;

	len = getxattr(fdpath(fd, path), attr, buf, size);
	return len < 0 ? -errno : len;
}

int state_mark_store_settled(int dir_fd)
{
	return set_attr(dir_fd, STATE_SETTLED, "1");
}

bool state_take_store_settled(int dir_fd)
{
	char path[FDPATH_MAX], value[4];
	ssize_t len;

	len = getxattr(fdpath(dir_fd, path), STATE_SETTLED, value,
		       sizeof(value));
	/* Remove it even when unreadable; unremovable means "not settled". */
	if (remove_attr(dir_fd, STATE_SETTLED))
		return false;
	return len == 1 && value[0] == '1';
}

int state_probe(int dir_fd)
{
	char name[64];
	int fd, err = 0;

	snprintf(name, sizeof(name), ".octofs-probe.%ld", (long)getpid());
	fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	if (fsetxattr(fd, STATE_PREFIX "probe", "1", 1, 0))
		err = -errno;
	close(fd);
	unlinkat(dir_fd, name, 0);
	return err;
}
