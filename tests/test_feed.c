/*
 * Tests for src/feed.c: which records a follower gets, however late the
 * feed's thread comes round to its connection.
 *
 * poll() is wrapped (-Wl,--wrap=poll): while the test holds it, the
 * feed's thread parks in its next poll, as a thread the scheduler has not
 * run yet would, and records are published meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "feed.h"
#include "tap.h"

#define WAIT_MS 5000

/* ---- Holding the feed's thread ---------------------------------------- */

int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool held;		/* guarded by hold_lock */
static atomic_int parked;	/* the feed's thread waits in poll() */
static pthread_t main_thread;

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!pthread_equal(pthread_self(), main_thread)) {
		pthread_mutex_lock(&hold_lock);
		if (held) {
			atomic_store(&parked, 1);
			while (held)
				pthread_cond_wait(&hold_cond, &hold_lock);
			atomic_store(&parked, 0);
		}
		pthread_mutex_unlock(&hold_lock);
	}
	return __real_poll(fds, n, timeout);
}

static void sleep_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static int follow(struct feed *f);

/*
 * From now on the feed's thread parks in its next poll(); a connection
 * that hangs up at once makes it go round to it.  True once parked.
 */
static bool hold(struct feed *f)
{
	int nudge;
	long ms;

	pthread_mutex_lock(&hold_lock);
	held = true;
	pthread_mutex_unlock(&hold_lock);
	nudge = follow(f);
	if (nudge >= 0)
		close(nudge);
	for (ms = 0; ms < WAIT_MS && !atomic_load(&parked); ms++)
		sleep_ms(1);
	return atomic_load(&parked);
}

static void release(void)
{
	pthread_mutex_lock(&hold_lock);
	held = false;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

/* ---- A follower ------------------------------------------------------- */

static bool may_read_all(void *arg, const struct feed_peer *peer,
			 const char *path)
{
	(void)arg;
	(void)peer;
	(void)path;
	return true;
}

/* Connect the socket @fd to @f; 0 or -1. */
static int join(struct feed *f, int fd)
{
	const char *name = feed_address(f);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un,
						   sun_path) + len);

	/* "@NAME": the abstract namespace, a leading NUL. */
	memcpy(sa.sun_path + 1, name + 1, len - 1);
	return connect(fd, (struct sockaddr *)&sa, sa_len);
}

static int follow(struct feed *f)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && join(f, fd)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * The next line the follower gets within WAIT_MS, without its newline;
 * "" on end of file, "(none)" when nothing came.
 */
static const char *next_line(int fd)
{
	static char line[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(line) - 1) {
		if (poll(&pfd, 1, WAIT_MS) != 1)
			return "(none)";
		r = recv(fd, line + n, 1, 0);
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return line;
}

static void publish(struct feed *f, const char *path)
{
	struct feed_record r = {
		.event = FEED_DONE, .path = path, .url = "https://cdn/x",
		.key = "k", .size = 1 };

	feed_publish(f, &r);
}

/* A feed of 16 records whose followers may read everything. */
static struct feed *new_feed(void)
{
	struct feed *f = feed_start(16, 1 << 20, may_read_all, NULL);

	if (!f)
		ok(0, "a feed: %s", strerror(errno));
	return f;
}

/* A new feed whose thread is held back (hold()), or NULL. */
static struct feed *held_feed(void)
{
	struct feed *f = new_feed();

	if (f)
		ok(hold(f), "its thread held");
	return f;
}

static bool names(const char *line, const char *path)
{
	char want[64];

	snprintf(want, sizeof(want), "\"path\":\"%s\"", path);
	return strstr(line, want) != NULL;
}

/* ---- Tests ------------------------------------------------------------ */

/*
 * Connected, and a record published before the feed's thread ran: the
 * follower gets it all the same; one published before the connection, it
 * does not.
 */
static void test_connected_before_accepted(void)
{
	struct feed *f = held_feed();
	const char *line;
	int fd;

	if (!f)
		return;
	publish(f, "before.txt");
	fd = follow(f);
	ok(fd >= 0, "connected");
	publish(f, "after.txt");
	release();
	line = next_line(fd);
	ok(names(line, "after.txt"),
	   "the record published once connected, before the thread ran: %s",
	   line);
	feed_stop(f);
	is_str(next_line(fd), "", "then end of file at the stop");
	close(fd);
}

/* A connection no thread admitted before the stop still gets its record. */
static void test_connected_at_the_stop(void)
{
	struct feed *f = held_feed();
	const char *line;
	int fd;

	if (!f)
		return;
	fd = follow(f);
	publish(f, "last.txt");
	release();
	feed_stop(f);
	line = next_line(fd);
	ok(names(line, "last.txt"), "the last record, at the stop: %s", line);
	is_str(next_line(fd), "", "then end of file");
	close(fd);
}

/* Ten connections waiting for the thread: each follows. */
static void test_many_waiting(void)
{
	struct feed *f = held_feed();
	int fds[10], i, got = 0;

	if (!f)
		return;
	for (i = 0; i < 10; i++)
		fds[i] = follow(f);
	publish(f, "all.txt");
	release();
	for (i = 0; i < 10; i++)
		got += fds[i] >= 0 && names(next_line(fds[i]), "all.txt");
	is_int(got, 10, "each of 10 waiting followers got the record");
	feed_stop(f);
	for (i = 0; i < 10; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Any name is valid UTF-8 JSON: a byte that starts no UTF-8 sequence as
 * \udcXX (Python's surrogateescape), quotes, backslashes and controls
 * escaped, other characters as they are.
 */
static void test_path_bytes(void)
{
	struct feed *f = new_feed();
	const char *line;
	int fd;

	if (!f)
		return;
	fd = follow(f);
	publish(f, "caf\xe9/\"q\"\\\t\x01\xc3\xbc\xed\xa0\x80.txt");
	line = next_line(fd);
	ok(strstr(line, "\"path\":\"caf\\udce9/\\\"q\\\"\\\\\\u0009"
		  "\\u0001\xc3\xbc\\udced\\udca0\\udc80.txt\"") != NULL,
	   "a name's bytes, escaped: %s", line);
	feed_stop(f);
	close(fd);
}

/* Nobody follows: nothing is kept. */
static void test_nobody_follows(void)
{
	struct feed *f = new_feed();
	unsigned int records, following;
	size_t bytes;
	int i;

	if (!f)
		return;
	for (i = 0; i < 100; i++)
		publish(f, "unseen.txt");
	feed_held(f, &records, &bytes, &following);
	ok(records == 0 && bytes == 0, "100 records with nobody following: "
	   "%u kept, %zu bytes", records, bytes);
	feed_stop(f);
}

/* What every follower has taken is let go; a new follower gets the rest. */
static void test_taken_records_go(void)
{
	struct feed *f = new_feed();
	unsigned int records = 1, following;
	size_t bytes = 1;
	int fd, i, got = 0;
	long ms;

	if (!f)
		return;
	fd = follow(f);
	for (i = 0; i < 10; i++)
		publish(f, "taken.txt");
	for (i = 0; i < 10; i++)
		got += names(next_line(fd), "taken.txt");
	is_int(got, 10, "the follower got all 10");
	for (ms = 0; ms < WAIT_MS && (records || bytes); ms++) {
		feed_held(f, &records, &bytes, &following);
		if (records || bytes)
			sleep_ms(1);
	}
	ok(records == 0 && bytes == 0, "then none kept: %u, %zu bytes",
	   records, bytes);
	close(fd);
	feed_stop(f);
}

/*
 * Out of descriptors, a connection cannot be taken: it is hung up on at
 * once (end of file, not a wait for ever), and the feed serves the next
 * follower once descriptors are free again.
 */
static void test_out_of_descriptors(void)
{
	struct feed *f = new_feed();
	struct rlimit was, low;
	int fd, later, fill[64], n = 0;

	if (!f)
		return;
	/* The socket first: connecting takes no descriptor. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	getrlimit(RLIMIT_NOFILE, &was);
	low = was;
	low.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &low);
	while (n < 64 && (fill[n] = dup(0)) >= 0)
		n++;
	ok(fd >= 0 && !join(f, fd), "connected with no descriptor left");
	publish(f, "no room.txt");
	is_str(next_line(fd), "", "a follower with no descriptor for it: "
	       "end of file");
	while (n > 0)
		close(fill[--n]);
	setrlimit(RLIMIT_NOFILE, &was);
	close(fd);
	later = follow(f);
	publish(f, "room.txt");
	ok(names(next_line(later), "room.txt"), "the next one follows");
	close(later);
	feed_stop(f);
}

/* Until @want follow @f, at most WAIT_MS; how many follow then. */
static unsigned int wait_following(struct feed *f, unsigned int want)
{
	unsigned int records, following;
	size_t bytes;
	long ms;

	for (ms = 0; ms < WAIT_MS; ms++) {
		feed_held(f, &records, &bytes, &following);
		if (following == want)
			break;
		sleep_ms(1);
	}
	return following;
}

/*
 * Followers that hang up, or that are one too many, are no longer
 * counted: then nothing is kept again.
 */
static void test_followers_counted(void)
{
	struct feed *f = new_feed();
	unsigned int records, following;
	size_t bytes;
	int fds[65], i, got = 0;

	if (!f)
		return;
	for (i = 0; i < 65; i++)
		fds[i] = follow(f);
	publish(f, "to all.txt");
	for (i = 0; i < 65; i++)
		got += fds[i] >= 0 && names(next_line(fds[i]), "to all.txt");
	is_int(got, 64, "64 followers got the record, one too many did not");
	is_int(wait_following(f, 64), 64, "64 counted");
	for (i = 0; i < 65; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	is_int(wait_following(f, 0), 0, "none once they hung up");
	for (i = 0; i < 100; i++)
		publish(f, "after.txt");
	feed_held(f, &records, &bytes, &following);
	ok(records == 0 && bytes == 0, "then nothing is kept: %u, %zu bytes",
	   records, bytes);
	feed_stop(f);
}

int main(void)
{
	main_thread = pthread_self();
	test_connected_before_accepted();
	test_connected_at_the_stop();
	test_many_waiting();
	test_path_bytes();
	test_nobody_follows();
	test_taken_records_go();
	test_out_of_descriptors();
	test_followers_counted();
	return tap_done();
}
