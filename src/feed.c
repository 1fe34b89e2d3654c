/*
 * feed: the live feed of upload outcomes (feed.h).
 *
 * Publishers (the upload workers) append a finished JSON line to a ring
 * under the feed's lock and wake the feed's thread through an eventfd.
 * Before appending, a publisher accepts the connections waiting on the
 * socket, each with its place at the ring's end, so that a follower gets
 * every record published after its connect() returned, however late the
 * thread comes round to it.  That thread owns the followers: it admits
 * the connections (accepting any still waiting itself), hands each the
 * records from its own place in the ring on, one line at a time with
 * non-blocking writes, and drops those that hang up.  A follower's place
 * behind the ring's oldest record is what it missed.  The ring holds only
 * what some follower has still to take: nothing while nobody follows.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "feed.h"
#include "log.h"
#include "timefmt.h"
#include "utf8.h"

#define FEED_FOLLOWERS_MAX 64
#define FEED_NAME_MAX 48
/* At the end, how long followers get to catch up. */
#define FEED_DRAIN_MS 1000

struct entry {
	char *line;		/* NULL: lost (out of memory) */
	size_t len;
	char *path;
};

struct follower {
	int fd;			/* -1: free slot */
	struct feed_peer peer;
	uint64_t next;		/* the next record it has not considered */
	uint64_t missed;	/* lost to it, not yet told */
	char *out;		/* the line being written, or NULL */
	size_t out_len;
	size_t out_off;
	bool quiet;		/* shut its writing side: input unwatched */
};

/* A connection accepted, and its place in the ring, not yet admitted. */
struct arrival {
	int fd;
	uint64_t next;
};

struct feed {
	/* F in the lock order (octofs.h): guards the ring's fields. */
	pthread_mutex_t lock;
	struct entry *ring;	/* record seq is at ring[seq % cap] */
	unsigned int cap;
	size_t max_bytes;
	size_t bytes;		/* lines and paths held */
	uint64_t first;		/* the oldest record held */
	uint64_t end;		/* the next record's seq */
	struct arrival arrivals[FEED_FOLLOWERS_MAX];
	unsigned int n_arrivals;
	unsigned int following;	/* followers and arrivals */
	int spare_fd;		/* kept to refuse one when out of them */
	bool told_nofile;	/* logged that followers were refused */

	/* Set before the thread starts, then read-only. */
	feed_may_read_fn may_read;
	void *arg;
	int wake_fd;		/* eventfd: records, or stop */
	int listen_fd;
	char name[FEED_NAME_MAX];	/* "@" and the abstract name */
	pthread_t thread;
	atomic_bool stop;

	/* The feed's thread only. */
	struct follower followers[FEED_FOLLOWERS_MAX];
};

static void add_str(struct json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

/* Append @len bytes of @s to @pb; false when out of memory. */
static bool append(struct printbuf *pb, const char *s, size_t len)
{
	return printbuf_memappend(pb, s, (int)len) >= 0;
}

/*
 * A file name as a JSON string that is always valid UTF-8, whatever its
 * bytes: a byte that starts no well-formed sequence is written \udcXX,
 * as Python's surrogateescape (os.fsdecode) reads it, so that a reader
 * can get the exact name back; quotes, backslashes and controls are
 * escaped as JSON asks.  (json-c would pass such bytes through.)
 */
static int path_to_json(struct json_object *o, struct printbuf *pb,
			int level, int flags)
{
	const unsigned char *s =
		(const unsigned char *)json_object_get_string(o);
	size_t len = (size_t)json_object_get_string_len(o), i, n;
	bool fits = append(pb, "\"", 1);
	char esc[8];

	(void)level;
	(void)flags;
	for (i = 0; i < len && fits; i += n) {
		n = utf8_len(s + i, len - i);
		if (n == 1 && (s[i] < 0x20 || s[i] == '"' || s[i] == '\\')) {
			snprintf(esc, sizeof(esc), s[i] < 0x20 ? "\\u%04x" :
				 "\\%c", s[i]);
			fits = append(pb, esc, strlen(esc));
		} else if (n) {
			fits = append(pb, (const char *)s + i, n);
		} else {
			snprintf(esc, sizeof(esc), "\\udc%02x", s[i]);
			fits = append(pb, esc, strlen(esc));
			n = 1;
		}
	}
	return fits && append(pb, "\"", 1) ? 0 : -1;
}

/* False when out of memory: a record without its path would mislead. */
static bool add_path(struct json_object *o, const char *path)
{
	struct json_object *v = json_object_new_string(path);

	if (!v)
		return false;
	json_object_set_serializer(v, path_to_json, NULL, NULL);
	if (json_object_object_add(o, "path", v)) {
		json_object_put(v);
		return false;
	}
	return true;
}

/* @r as one JSON line (caller frees), or NULL when out of memory. */
static char *record_line(const struct feed_record *r, size_t *len)
{
	static const char *const names[] = {
		[FEED_DONE] = "done",
		[FEED_FAILED] = "failed",
		[FEED_RETRYING] = "retrying",
	};
	struct json_object *o = json_object_new_object();
	char when[TIMEFMT_ISO_MAX];
	const char *text;
	char *line = NULL;

	if (!o)
		return NULL;
	add_str(o, "event", names[r->event]);
	add_str(o, "time", timefmt_iso(time(NULL), when, sizeof(when)));
	if (r->path && !add_path(o, r->path)) {
		json_object_put(o);
		*len = 0;
		return NULL;
	}
	if (r->event == FEED_DONE) {
		add_str(o, "url", r->url);
		add_str(o, "key", r->key);
		json_object_object_add(o, "size",
				       json_object_new_int64(r->size));
	} else {
		add_str(o, "error", r->error);
	}
	if (r->event == FEED_RETRYING) {
		json_object_object_add(o, "attempt",
				       json_object_new_int64(r->attempt));
		add_str(o, "next_try",
			timefmt_iso(r->next_try, when, sizeof(when)));
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	json_object_put(o);
	*len = line ? strlen(line) : 0;
	return line;
}

static size_t entry_bytes(const struct entry *e)
{
	return e->len + (e->path ? strlen(e->path) + 1 : 0);
}

/* Forget the oldest record; F held. */
static void drop_oldest(struct feed *f)
{
	struct entry *e = &f->ring[f->first % f->cap];

	f->bytes -= entry_bytes(e);
	free(e->line);
	free(e->path);
	memset(e, 0, sizeof(*e));
	f->first++;
}

/*
 * Out of descriptors: a connection left waiting would keep the socket
 * readable and the feed's thread polling it without end.  Accept it on
 * the descriptor kept spare for this and hang up at once (the follower
 * sees end of file), saying why once; F held.
 */
static void refuse_one(struct feed *f)
{
	int fd;

	if (f->spare_fd < 0)
		return;
	close(f->spare_fd);
	fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	f->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!f->told_nofile)
		log_warn("feed: a follower refused: out of file "
			 "descriptors; raise the open-file limit "
			 "(LimitNOFILE=, ulimit -n)");
	f->told_nofile = true;
}

/*
 * Accept the connections waiting on the socket, each placed at the
 * ring's end, for the feed's thread to admit; F held.
 */
static void take_arrivals(struct feed *f)
{
	int fd;

	while (f->n_arrivals < FEED_FOLLOWERS_MAX) {
		fd = accept4(f->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				refuse_one(f);
			return;
		}
		f->told_nofile = false;
		f->arrivals[f->n_arrivals++] = (struct arrival){
			.fd = fd, .next = f->end };
		f->following++;
	}
}

/*
 * Nobody follows: the record at the ring's end goes by unkept, and what
 * the last followers left is let go; F held.  True when so.
 */
static bool pass_unseen(struct feed *f)
{
	take_arrivals(f);
	if (f->following)
		return false;
	while (f->first < f->end)
		drop_oldest(f);
	f->first = ++f->end;
	return true;
}

int feed_publish(struct feed *f, const struct feed_record *r)
{
	struct entry e = { .line = NULL };
	uint64_t one = 1;
	bool unseen;
	int err = 0;

	pthread_mutex_lock(&f->lock);
	unseen = pass_unseen(f);
	pthread_mutex_unlock(&f->lock);
	if (unseen)
		return 0;
	e.line = record_line(r, &e.len);
	e.path = strdup(r->path ? r->path : "");
	if (!e.line || !e.path) {
		/* Kept as a gap, so that followers are told they missed it. */
		free(e.line);
		free(e.path);
		memset(&e, 0, sizeof(e));
		err = -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	take_arrivals(f);
	while (f->end > f->first &&
	       (f->end - f->first >= f->cap ||
		f->bytes + entry_bytes(&e) > f->max_bytes))
		drop_oldest(f);
	f->ring[f->end % f->cap] = e;
	f->bytes += entry_bytes(&e);
	f->end++;
	pthread_mutex_unlock(&f->lock);
	if (write(f->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the feed: %s", strerror(errno));
	return err;
}

/* Hang up on @fl and free its slot. */
static void follower_drop(struct feed *f, struct follower *fl)
{
	pthread_mutex_lock(&f->lock);
	f->following--;
	pthread_mutex_unlock(&f->lock);
	close(fl->fd);
	free(fl->out);
	memset(fl, 0, sizeof(*fl));
	fl->fd = -1;
}

/*
 * The next line for @fl, if any: a "missed" line when records were lost
 * to it, else the next record it may read.  True when one was set.
 */
static bool next_line(struct feed *f, struct follower *fl)
{
	struct entry *e;
	char *line = NULL, *path = NULL;
	size_t len = 0;
	bool gap;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		if (fl->next < f->first) {
			fl->missed += f->first - fl->next;
			fl->next = f->first;
		}
		if (fl->missed || fl->next == f->end) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		e = &f->ring[fl->next % f->cap];
		gap = !e->line;
		if (!gap) {
			line = strndup(e->line, e->len);
			path = strdup(e->path);
			len = e->len;
		}
		fl->next++;
		pthread_mutex_unlock(&f->lock);
		if (gap || !line || !path) {
			fl->missed++;
		} else if (f->may_read(f->arg, &fl->peer, path)) {
			free(path);
			fl->out = line;
			fl->out_len = len;
			fl->out_off = 0;
			return true;
		}
		free(line);
		free(path);
		line = path = NULL;
	}
	if (!fl->missed)
		return false;
	if (asprintf(&fl->out, "{\"event\":\"missed\",\"count\":%llu}\n",
		     (unsigned long long)fl->missed) < 0) {
		fl->out = NULL;
		return false;
	}
	fl->missed = 0;
	fl->out_len = strlen(fl->out);
	fl->out_off = 0;
	return true;
}

/* Write to @fl what it can take without blocking. */
static void follower_feed(struct feed *f, struct follower *fl)
{
	ssize_t n;

	while (fl->out || next_line(f, fl)) {
		n = send(fl->fd, fl->out + fl->out_off,
			 fl->out_len - fl->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			follower_drop(f, fl);
			return;
		}
		fl->out_off += (size_t)n;
		if (fl->out_off == fl->out_len) {
			free(fl->out);
			fl->out = NULL;
		}
	}
}

/* The peer's ids and groups; groups beyond FEED_GROUPS_MAX are unseen. */
static int peer_of(int fd, struct feed_peer *peer)
{
	gid_t groups[FEED_GROUPS_MAX];
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		len = 0;	/* more than we keep, or none known */
	peer->n_groups = (int)(len / sizeof(gid_t));
	memcpy(peer->groups, groups, len);
	return 0;
}

/* Make the connection @fd a follower from record @next on. */
static void admit(struct feed *f, int fd, uint64_t next)
{
	struct follower *fl = NULL;
	size_t i;

	for (i = 0; i < FEED_FOLLOWERS_MAX && !fl; i++)
		if (f->followers[i].fd < 0)
			fl = &f->followers[i];
	if (!fl || peer_of(fd, &fl->peer)) {
		if (!fl)
			log_warn("feed: more than %d followers; one refused",
				 FEED_FOLLOWERS_MAX);
		pthread_mutex_lock(&f->lock);
		f->following--;
		pthread_mutex_unlock(&f->lock);
		close(fd);
		return;
	}
	fl->fd = fd;
	fl->next = next;
}

/* Let go of the records every follower has taken. */
static void trim(struct feed *f)
{
	uint64_t oldest;
	size_t i;

	pthread_mutex_lock(&f->lock);
	oldest = f->end;
	for (i = 0; i < FEED_FOLLOWERS_MAX; i++)
		if (f->followers[i].fd >= 0 && f->followers[i].next < oldest)
			oldest = f->followers[i].next;
	for (i = 0; i < f->n_arrivals; i++)
		if (f->arrivals[i].next < oldest)
			oldest = f->arrivals[i].next;
	while (f->first < oldest)
		drop_oldest(f);
	pthread_mutex_unlock(&f->lock);
}

/* Admit the connections accepted so far and those still waiting. */
static void admit_arrivals(struct feed *f)
{
	struct arrival a[FEED_FOLLOWERS_MAX];
	unsigned int i, n;

	pthread_mutex_lock(&f->lock);
	take_arrivals(f);
	n = f->n_arrivals;
	memcpy(a, f->arrivals, n * sizeof(*a));
	f->n_arrivals = 0;
	pthread_mutex_unlock(&f->lock);
	for (i = 0; i < n; i++)
		admit(f, a[i].fd, a[i].next);
}

/* A follower never writes: anything it sends is dropped; EOF ends it. */
static void follower_input(struct feed *f, struct follower *fl,
			   short revents)
{
	char buf[256];
	ssize_t n;

	if (revents & (POLLHUP | POLLERR)) {
		follower_drop(f, fl);
		return;
	}
	n = recv(fl->fd, buf, sizeof(buf), 0);
	/* Only its writing side shut (shutdown(SHUT_WR)): it still reads. */
	if (n == 0)
		fl->quiet = true;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		follower_drop(f, fl);
}

/* Fill @pfd: wake, listen, then one per follower slot. */
static nfds_t poll_set(struct feed *f, struct pollfd *pfd)
{
	size_t i;

	pfd[0] = (struct pollfd){ .fd = f->wake_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = f->listen_fd, .events = POLLIN };
	for (i = 0; i < FEED_FOLLOWERS_MAX; i++) {
		struct follower *fl = &f->followers[i];

		pfd[2 + i].fd = fl->fd;
		pfd[2 + i].events = (fl->quiet ? 0 : POLLIN) |
				    (fl->out ? POLLOUT : 0);
		pfd[2 + i].revents = 0;
	}
	return 2 + FEED_FOLLOWERS_MAX;
}

static long ms_until(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(end->tv_sec - now.tv_sec) * 1000 +
	       (end->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * The feed ends: followers get what is left if they take it within
 * FEED_DRAIN_MS, so that neither one a little behind nor the wake-up that
 * came with the stop loses the last outcomes.
 */
static void drain(struct feed *f)
{
	struct pollfd pfd[FEED_FOLLOWERS_MAX];
	struct timespec end;
	bool left;
	long ms;
	size_t i;

	admit_arrivals(f);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += FEED_DRAIN_MS / 1000;
	end.tv_nsec += (FEED_DRAIN_MS % 1000) * 1000000L;
	for (;;) {
		left = false;
		for (i = 0; i < FEED_FOLLOWERS_MAX; i++) {
			struct follower *fl = &f->followers[i];

			if (fl->fd >= 0)
				follower_feed(f, fl);
			left |= fl->fd >= 0 && fl->out;
			pfd[i] = (struct pollfd){
				.fd = fl->fd >= 0 && fl->out ? fl->fd : -1,
				.events = (fl->quiet ? 0 : POLLIN) | POLLOUT };
		}
		ms = ms_until(&end);
		if (!left || ms <= 0 ||
		    (poll(pfd, FEED_FOLLOWERS_MAX, (int)ms) < 0 &&
		     errno != EINTR))
			return;
		for (i = 0; i < FEED_FOLLOWERS_MAX; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				follower_input(f, &f->followers[i],
					       pfd[i].revents);
	}
}

static void *feed_main(void *arg)
{
	struct pollfd pfd[2 + FEED_FOLLOWERS_MAX];
	struct feed *f = arg;
	uint64_t count;
	size_t i;

	while (!atomic_load(&f->stop)) {
		if (poll(pfd, poll_set(f, pfd), -1) < 0) {
			if (errno != EINTR)
				log_error("feed: poll: %s", strerror(errno));
			continue;
		}
		if ((pfd[0].revents & POLLIN) &&
		    read(f->wake_fd, &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			log_warn("feed: %s", strerror(errno));
		if ((pfd[0].revents | pfd[1].revents) & POLLIN)
			admit_arrivals(f);
		for (i = 0; i < FEED_FOLLOWERS_MAX; i++) {
			struct follower *fl = &f->followers[i];

			if (pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
				follower_input(f, fl, pfd[2 + i].revents);
			if (fl->fd >= 0)
				follower_feed(f, fl);
		}
		trim(f);
	}
	drain(f);
	return NULL;
}

/* Bind a listening socket to a fresh abstract name. */
static int listen_abstract(struct feed *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int nonce = 0;
	size_t len;
	int fd;

	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) < 0)
		nonce = (unsigned int)time(NULL);
	snprintf(f->name, sizeof(f->name), "@octofs-feed-%ld-%08x",
		 (long)getpid(), nonce);
	len = strlen(f->name);
	memcpy(sa.sun_path + 1, f->name + 1, len - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) ||
	    listen(fd, 16)) {
		int err = -errno;

		close(fd);
		return err;
	}
	f->listen_fd = fd;
	return 0;
}

static void feed_free(struct feed *f)
{
	size_t i;

	for (i = 0; i < FEED_FOLLOWERS_MAX; i++)
		if (f->followers[i].fd >= 0)
			follower_drop(f, &f->followers[i]);
	for (i = 0; i < f->n_arrivals; i++)
		close(f->arrivals[i].fd);
	while (f->first < f->end)
		drop_oldest(f);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	if (f->spare_fd >= 0)
		close(f->spare_fd);
	pthread_mutex_destroy(&f->lock);
	free(f->ring);
	free(f);
}

/* Start the thread with every signal blocked: they are main's. */
static int start_thread(struct feed *f)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&f->thread, NULL, feed_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

struct feed *feed_start(unsigned int ring_records, size_t ring_bytes,
			feed_may_read_fn may_read, void *arg)
{
	struct feed *f = calloc(1, sizeof(*f));
	size_t i;
	int err = -ENOMEM;

	if (!f)
		goto out_errno;
	pthread_mutex_init(&f->lock, NULL);
	f->listen_fd = -1;
	f->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < FEED_FOLLOWERS_MAX; i++)
		f->followers[i].fd = -1;
	f->cap = ring_records ? ring_records : 1;
	f->max_bytes = ring_bytes;
	f->may_read = may_read;
	f->arg = arg;
	f->ring = calloc(f->cap, sizeof(*f->ring));
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!f->ring || f->wake_fd < 0) {
		err = f->ring ? -errno : -ENOMEM;
		goto out_free;
	}
	err = listen_abstract(f);
	if (!err)
		err = start_thread(f);
	if (!err)
		return f;
out_free:
	feed_free(f);
out_errno:
	errno = -err;
	return NULL;
}

void feed_stop(struct feed *f)
{
	uint64_t one = 1;

	if (!f)
		return;
	atomic_store(&f->stop, true);
	if (write(f->wake_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the feed: %s", strerror(errno));
	pthread_join(f->thread, NULL);
	feed_free(f);
}

void feed_held(struct feed *f, unsigned int *records, size_t *bytes,
	       unsigned int *following)
{
	pthread_mutex_lock(&f->lock);
	*records = (unsigned int)(f->end - f->first);
	*bytes = f->bytes;
	*following = f->following;
	pthread_mutex_unlock(&f->lock);
}

const char *feed_address(const struct feed *f)
{
	return f->name;
}
