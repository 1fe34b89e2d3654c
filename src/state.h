/*
 * state: a file's upload state, kept in its own user.octofs.* extended
 * attributes in the store so it follows renames and survives restarts.
 *
 * All functions take an O_PATH descriptor of the stored file and return 0
 * or a negative errno.  Callers order writes with the job's state lock
 * (queue.h).
 */
#ifndef OCTOFS_STATE_H
#define OCTOFS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define STATE_PREFIX "user.octofs."
#define STATE_URL STATE_PREFIX "url"
#define STATE_STATUS STATE_PREFIX "status"
#define STATE_KEY STATE_PREFIX "key"
#define STATE_ERROR STATE_PREFIX "error"
#define STATE_SETTLED STATE_PREFIX "settled"	/* on the store's root */
#define STATE_PROGRESS STATE_PREFIX "progress"	/* in memory only */
#define STATE_RETRY STATE_PREFIX "retry"	/* in memory only */
#define STATE_STATS STATE_PREFIX "stats"	/* mount root, in memory */
#define STATE_FEED STATE_PREFIX "feed"	/* mount root: feed.h */
#define STATE_VALUE_MAX 8192

enum state_status {
	STATE_NONE,		/* never uploaded through the mount */
	STATE_QUEUED,
	STATE_UPLOADING,
	STATE_DONE,
	STATE_FAILED,
};

const char *state_status_name(enum state_status st);
/* Parse an attribute value (not NUL-terminated); -EINVAL if unknown. */
int state_status_parse(const char *value, size_t len, enum state_status *st);

/* True for the names octofs owns (user.octofs.*). */
bool state_is_own_attr(const char *name);

int state_mark_queued(int fd);
/* The same for a file just created: it has no earlier result to clear. */
int state_mark_new_queued(int fd);
int state_mark_uploading(int fd);
int state_mark_done(int fd, const char *url, const char *key);
int state_mark_failed(int fd, const char *error);
/*
 * Failed before any upload (writing the version failed): also drops
 * the URL and key an earlier version left.
 */
int state_mark_unpublished(int fd, const char *error);
/* Remove every user.octofs.* attribute octofs writes. */
int state_forget(int fd);
/* The same with a pointer to the descriptor, for queue_cancel_with(). */
int state_forget_fd(void *fd);

/* The stored status; STATE_NONE when absent or unreadable. */
enum state_status state_read_status(int fd);
/* Same, for @name in the directory behind the O_PATH @dir_fd. */
enum state_status state_read_status_at(int dir_fd, const char *name);

/*
 * Read attribute @attr into @buf (like getxattr: @size 0 asks for the
 * length).  Returns the length or a negative errno.
 */
ssize_t state_get(int fd, const char *attr, char *buf, size_t size);
/* Same, for @name (never followed) in the directory behind @dir_fd. */
ssize_t state_get_at(int dir_fd, const char *name, const char *attr,
		     char *buf, size_t size);

/*
 * The store's root carries "settled" between a clean unmount that left
 * no upload unfinished and the next mount, which takes it away (so a
 * crash in between is never mistaken for a clean stop).  Take returns
 * true when the mark was there and could be removed.
 */
int state_mark_store_settled(int dir_fd);
bool state_take_store_settled(int dir_fd);

/*
 * Check that the directory behind @dir_fd can hold user.* attributes by
 * writing one on a scratch file.  -ENOTSUP when it cannot.
 */
int state_probe(int dir_fd);

#endif
