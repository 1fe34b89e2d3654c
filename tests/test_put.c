/*
 * Tests for src/put.c: streamed PUTs of a file to a server on the
 * loopback interface, what the server receives, how each of its answers
 * is classified, and the failures of the file (pread is wrapped: short
 * reads, EINTR, errors, a file that shrinks) and of memory (malloc and
 * friends are wrapped, and libcurl allocates through them too).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define INJECT_ALLOCATORS
#define INJECT_CURL
#include "inject.h"
#include "put.h"
#include "tap.h"

#define BIG_BYTES (1536 * 1024)		/* three of put.c's buffers */
#define BODY_CAP (8 << 20)

/* ---- pread, wrapped --------------------------------------------------- */

struct pread_plan {
	size_t max;		/* > 0: return at most this much per call */
	int eintr_every;	/* > 0: every Nth call fails with EINTR */
	int fail_at;		/* > 0: that call fails with fail_errno */
	int fail_errno;
	int shrink_at;		/* > 0: that call first cuts the file */
	off_t shrink_to;
	atomic_int *cancel_at_2;	/* raised by the second call */
	int calls;
};

static struct pread_plan plan;

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	int call = ++plan.calls;

	if (plan.eintr_every && call % plan.eintr_every == 0) {
		errno = EINTR;
		return -1;
	}
	if (call == plan.fail_at) {
		errno = plan.fail_errno;
		return -1;
	}
	if (call == plan.shrink_at && ftruncate(fd, plan.shrink_to))
		return -1;
	if (call == 2 && plan.cancel_at_2)
		atomic_store(plan.cancel_at_2, 1);
	if (plan.max && n > plan.max)
		n = plan.max;
	return __real_pread(fd, buf, n, off);
}

/* ---- A server on the loopback interface ------------------------------- */

enum serve_mode {
	SERVE_ANSWER,		/* read the request, send the answer */
	SERVE_HOLD,		/* read the request, then say nothing */
	SERVE_DRIP,		/* send the answer a byte at a time */
	SERVE_ENDLESS,		/* send the answer, then body without end */
};

/*
 * Serves one connection at a time until stopped.  The test sets what to
 * answer before each exchange and reads what came after it; the lock
 * makes both visible across the threads.
 */
struct server {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	enum serve_mode mode;
	const char *answer;
	unsigned int requests;	/* connections that sent a request head */
	char head[16384];	/* the last request's head */
	size_t body_len;	/* and how much of its body arrived */
};

static struct server srv;
static char srv_body[BODY_CAP];	/* the last request's body */

static size_t content_length(const char *head)
{
	const char *p = head;

	while ((p = strchr(p, '\n'))) {
		p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			return strtoul(p + 15, NULL, 10);
	}
	return 0;
}

/* The head into srv.head; what came after it into srv_body. */
static size_t read_request(int fd, size_t *head_len)
{
	static char buf[65536];
	size_t have = 0, want = 0, len;
	char *end = NULL;
	ssize_t n;

	while (!end && have < sizeof(srv.head) - 1) {
		n = recv(fd, srv.head + have, sizeof(srv.head) - 1 - have, 0);
		if (n <= 0)
			return 0;
		have += (size_t)n;
		srv.head[have] = '\0';
		end = strstr(srv.head, "\r\n\r\n");
	}
	if (!end)
		return 0;
	*head_len = (size_t)(end + 4 - srv.head);
	len = have - *head_len;
	memcpy(srv_body, end + 4, len);
	end[2] = '\0';		/* keep the last line's CR LF */
	want = content_length(srv.head);
	while (len < want) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (len + (size_t)n <= BODY_CAP)
			memcpy(srv_body + len, buf, (size_t)n);
		len += (size_t)n;
	}
	return len;
}

static void send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Send in @mode until done or the peer is gone. */
static void answer(int fd, enum serve_mode mode, const char *a)
{
	static const char chunk[65536];
	struct timespec pause = { .tv_nsec = 100 * 1000000L };
	char byte;

	if (mode == SERVE_ANSWER || mode == SERVE_ENDLESS)
		send_all(fd, a, strlen(a));
	if (mode == SERVE_DRIP) {	/* the head at once, then the body */
		send_all(fd, a, (size_t)(strstr(a, "\r\n\r\n") + 4 - a));
		a = strstr(a, "\r\n\r\n") + 4;
	}
	while (mode == SERVE_ENDLESS &&
	       send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0)
		;
	while (mode == SERVE_DRIP && send(fd, a, 1, MSG_NOSIGNAL) == 1) {
		if (a[1])
			a++;
		nanosleep(&pause, NULL);
	}
	while (mode == SERVE_HOLD && recv(fd, &byte, 1, 0) > 0)
		;
}

static void serve_one(int fd)
{
	struct timeval tv = { .tv_sec = 10 };
	size_t head_len = 0, body_len;
	enum serve_mode mode;
	const char *a;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&srv.lock);
	body_len = read_request(fd, &head_len);
	if (head_len) {
		srv.requests++;
		srv.body_len = body_len;
	}
	mode = srv.mode;
	a = srv.answer;
	pthread_mutex_unlock(&srv.lock);
	if (head_len)
		answer(fd, mode, a);
}

static void *serve(void *arg)
{
	struct pollfd pfd = { .fd = srv.fd, .events = POLLIN };
	int fd;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&srv.lock);
		if (srv.stop) {
			pthread_mutex_unlock(&srv.lock);
			return NULL;
		}
		pthread_mutex_unlock(&srv.lock);
		if (poll(&pfd, 1, 100) != 1)
			continue;
		fd = accept(srv.fd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_one(fd);
		close(fd);
	}
}

static int server_start(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t sa_len = sizeof(sa);

	pthread_mutex_init(&srv.lock, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv.fd < 0)
		return -1;
	if (bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(srv.fd, 8) ||
	    getsockname(srv.fd, (struct sockaddr *)&sa, &sa_len) ||
	    pthread_create(&srv.thread, NULL, serve, NULL)) {
		close(srv.fd);
		return -1;
	}
	srv.port = ntohs(sa.sin_port);
	return 0;
}

static void server_stop(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.stop = true;
	pthread_mutex_unlock(&srv.lock);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	pthread_mutex_destroy(&srv.lock);
}

/* Answer the next requests so. */
static void server_will(enum serve_mode mode, const char *a)
{
	pthread_mutex_lock(&srv.lock);
	srv.mode = mode;
	srv.answer = a;
	srv.requests = 0;
	srv.head[0] = '\0';
	srv.body_len = 0;
	pthread_mutex_unlock(&srv.lock);
}

/* What the last request was (the lock orders it after the exchange). */
static unsigned int server_got(char *head, size_t head_size,
			       size_t *body_len)
{
	unsigned int requests;

	pthread_mutex_lock(&srv.lock);
	snprintf(head, head_size, "%s", srv.head);
	*body_len = srv.body_len;
	requests = srv.requests;
	pthread_mutex_unlock(&srv.lock);
	return requests;
}

static const char *answer_of(const char *status, const char *extra,
			     const char *body)
{
	static char buf[4][1024];
	static int next;
	char *a = buf[next++ % 4];

	snprintf(a, sizeof(buf[0]), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
		 "%sConnection: close\r\n\r\n%s", status, strlen(body), extra,
		 body);
	return a;
}

/* ---- Files ------------------------------------------------------------ */

static char pattern[BIG_BYTES];

/* A file of @len bytes of the pattern, already unlinked. */
static int pattern_file(size_t len)
{
	char path[] = "/tmp/octofs-test-put.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, pattern, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- Exchanges -------------------------------------------------------- */

struct progress {
	int calls;
	off_t last_sent;
	off_t total;
	bool backwards;
};

static void on_progress(void *arg, off_t sent, off_t total)
{
	struct progress *p = arg;

	if (sent < p->last_sent)
		p->backwards = true;
	p->calls++;
	p->last_sent = sent;
	p->total = total;
}

static char url[64];

static enum http_verdict put(struct http_client *c, int fd, off_t size,
			     const atomic_int *cancel, struct progress *p,
			     struct http_result *res)
{
	plan.calls = 0;
	return put_file(c, url, "image/png", fd, size, cancel,
			p ? on_progress : NULL, p, res);
}

static void test_whole_file(struct http_client *c)
{
	struct progress p = { 0 };
	struct http_result res;
	char head[16384], want[64];
	size_t got;
	int fd = pattern_file(BIG_BYTES);

	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	is_int(put(c, fd, BIG_BYTES, NULL, &p, &res), HTTP_OK,
	       "1.5 MiB uploaded");
	is_int(res.status, 200, "status 200");
	is_int(server_got(head, sizeof(head), &got), 1, "one request");
	ok(!strncmp(head, "PUT /up?sig=1 HTTP/1.1\r\n", 24), "a PUT of the "
	   "signed path");
	snprintf(want, sizeof(want), "Content-Length: %d\r\n", BIG_BYTES);
	ok(strstr(head, want) != NULL, "exact Content-Length");
	ok(strstr(head, "Content-Type: image/png\r\n") != NULL,
	   "the content type");
	ok(!strcasestr(head, "Transfer-Encoding"), "not chunked");
	ok(!strcasestr(head, "Expect:"), "no Expect: 100-continue");
	ok(!strcasestr(head, "Authorization"), "no Authorization");
	ok(got == BIG_BYTES && !memcmp(srv_body, pattern, BIG_BYTES),
	   "the server has every byte");
	ok(plan.calls >= 3, "read in pieces (%d reads)", plan.calls);
	ok(p.calls > 0 && p.last_sent == BIG_BYTES && p.total == BIG_BYTES,
	   "progress ends at the size");
	ok(!p.backwards, "progress never goes back");
	close(fd);
}

static void test_empty_file(struct http_client *c)
{
	struct http_result res;
	char head[16384];
	size_t got;
	int fd = pattern_file(0);

	server_will(SERVE_ANSWER, answer_of("201 Created", "", ""));
	is_int(put(c, fd, 0, NULL, NULL, &res), HTTP_OK, "an empty file");
	server_got(head, sizeof(head), &got);
	ok(strstr(head, "Content-Length: 0\r\n") && got == 0,
	   "Content-Length: 0, no body");
	close(fd);
}

/* pread() may return less than asked, or be interrupted: all is sent. */
static void test_short_reads(struct http_client *c)
{
	struct http_result res;
	char head[16384];
	size_t got;
	int fd = pattern_file(BIG_BYTES);

	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	plan = (struct pread_plan){ .max = 1000, .eintr_every = 3 };
	is_int(put(c, fd, BIG_BYTES, NULL, NULL, &res), HTTP_OK,
	       "1000 bytes a read, every third interrupted");
	server_got(head, sizeof(head), &got);
	ok(got == BIG_BYTES && !memcmp(srv_body, pattern, BIG_BYTES),
	   "the server has every byte, in order");
	ok(plan.calls > BIG_BYTES / 1000, "in %d reads", plan.calls);
	plan = (struct pread_plan){ 0 };
	close(fd);
}

static void test_file_shorter(struct http_client *c)
{
	struct http_result res;
	int fd = pattern_file(1000);

	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	is_int(put(c, fd, 5000, NULL, NULL, &res), HTTP_RETRY,
	       "a file shorter than its size: retried");
	is_str(res.message, "file changed during upload (1000 of 5000 bytes "
	       "read)", "and says so");
	close(fd);

	fd = pattern_file(BIG_BYTES);
	plan = (struct pread_plan){ .shrink_at = 2, .shrink_to = 4096 };
	is_int(put(c, fd, BIG_BYTES, NULL, NULL, &res), HTTP_RETRY,
	       "a file cut during the upload: retried");
	ok(!strncmp(res.message, "file changed during upload", 26),
	   "message: %s", res.message);
	plan = (struct pread_plan){ 0 };
	close(fd);
}

static void test_read_errors(struct http_client *c)
{
	struct http_result res;
	char path[] = "/tmp/octofs-test-put.XXXXXX";
	int fd = mkstemp(path), wfd;

	wfd = open(path, O_WRONLY | O_CLOEXEC);
	unlink(path);
	close(fd);
	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	is_int(put(c, wfd, 100, NULL, NULL, &res), HTTP_FATAL,
	       "a descriptor that cannot be read: fatal");
	is_str(res.message, "cannot read the stored file: Bad file "
	       "descriptor", "and says why");
	close(wfd);

	fd = pattern_file(BIG_BYTES);
	plan = (struct pread_plan){ .fail_at = 2, .fail_errno = EIO };
	is_int(put(c, fd, BIG_BYTES, NULL, NULL, &res), HTTP_FATAL,
	       "EIO on the second read: fatal");
	is_str(res.message, "cannot read the stored file: Input/output error",
	       "and says why");
	plan = (struct pread_plan){ 0 };
	close(fd);
}

/* ---- Answers ---------------------------------------------------------- */

static void answer_is(struct http_client *c, int fd, const char *a,
		      enum http_verdict want, const char *message,
		      const char *what)
{
	struct http_result res;

	server_will(SERVE_ANSWER, a);
	is_int(put(c, fd, 100, NULL, NULL, &res), want, "%s: verdict", what);
	is_str(res.message, message, "%s: message", what);
}

static void test_answers(struct http_client *c)
{
	struct http_result res;
	int fd = pattern_file(100);

	answer_is(c, fd, answer_of("403 Forbidden", "", "<?xml version=\"1.0"
		  "\"?><Error><Code>AccessDenied</Code><Message>Request has "
		  "expired</Message></Error>"), HTTP_EXPIRED,
		  "upload URL refused (HTTP 403): Request has expired",
		  "403: the URL expired");
	answer_is(c, fd, answer_of("503 Slow Down", "", "busy, try later\n"),
		  HTTP_RETRY, "upload failed (HTTP 503): busy, try later ",
		  "503 with text");
	answer_is(c, fd, answer_of("500 Oops", "", "<html><body>x</body>"),
		  HTTP_RETRY, "upload failed (HTTP 500)",
		  "500 with markup: no detail");
	answer_is(c, fd, answer_of("400 Bad Request", "",
				   "{\"message\": \"bad \\\"part\\\"\"}"),
		  HTTP_FATAL, "upload refused (HTTP 400): bad \"part\"",
		  "400 with JSON");
	answer_is(c, fd, answer_of("302 Found", "Location: http://x/\r\n",
				   ""), HTTP_FATAL,
		  "upload: redirect to another location refused (HTTP 302)",
		  "302");
	answer_is(c, fd, answer_of("204 No Content", "", ""), HTTP_OK, "",
		  "204");
	server_will(SERVE_ANSWER, answer_of("429 Too Many", "Retry-After: 7"
					    "\r\n", ""));
	is_int(put(c, fd, 100, NULL, NULL, &res), HTTP_RETRY, "429: retried");
	is_int(res.retry_after_s, 7, "after Retry-After");
	close(fd);
}

/* ---- Cancelling, and what is refused before any request --------------- */

static void test_cancel(struct http_client *c)
{
	atomic_int cancel = 1;
	struct http_result res;
	char head[16384];
	size_t got;
	int fd = pattern_file(BIG_BYTES);

	server_will(SERVE_HOLD, NULL);
	is_int(put(c, fd, BIG_BYTES, &cancel, NULL, &res), HTTP_CANCELLED,
	       "cancelled before it starts");
	is_str(res.message, "upload cancelled", "says so");
	is_int(server_got(head, sizeof(head), &got), 0, "no request made");

	atomic_store(&cancel, 0);
	plan = (struct pread_plan){ .cancel_at_2 = &cancel };
	is_int(put(c, fd, BIG_BYTES, &cancel, NULL, &res), HTTP_CANCELLED,
	       "cancelled on its way");
	is_str(res.message, "upload cancelled", "says so");
	plan = (struct pread_plan){ 0 };
	close(fd);
}

static void test_refused_early(struct http_client *c)
{
	struct http_result res;
	char head[16384];
	size_t got;
	int fd = pattern_file(10);

	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	is_int(put(c, fd, -1, NULL, NULL, &res), HTTP_FATAL,
	       "negative size: fatal");
	is_str(res.message, "upload: negative file size", "says so");
	is_int(put_file(c, url, "text/plain\r\nX-Evil: 1", fd, 10, NULL,
			NULL, NULL, &res), HTTP_FATAL,
	       "CR LF in the content type: fatal");
	is_str(res.message, "upload: control characters in the content type",
	       "says so");
	is_int(server_got(head, sizeof(head), &got), 0, "no request made");
	is_int(put_file(c, "http://127.0.0.1:1/x", "text/plain", fd, 10,
			NULL, NULL, NULL, &res), HTTP_RETRY,
	       "connection refused: retried");
	close(fd);
}

/* ---- Servers that never finish ---------------------------------------- */

static double since_s(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_never_ending(void)
{
	struct http_config cfg = { .low_speed_time_s = 1 };
	struct http_client *c = http_client_new(&cfg);
	struct http_result res;
	struct timespec t0;
	int fd = pattern_file(100);

	server_will(SERVE_HOLD, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(put(c, fd, 100, NULL, NULL, &res), HTTP_RETRY,
	       "no answer: retried");
	ok(since_s(&t0) < 5, "within seconds: %s", res.message);

	server_will(SERVE_DRIP, "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n"
		    "Connection: close\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(put(c, fd, 100, NULL, NULL, &res), HTTP_RETRY,
	       "an answer body dripping ten bytes a second: retried");
	is_str(res.message, "upload: the server's answer did not end within "
	       "1 s", "says so");
	ok(since_s(&t0) < 5, "within seconds");

	server_will(SERVE_ENDLESS, "HTTP/1.1 200 OK\r\n"
		    "Content-Length: 100000000\r\nConnection: close\r\n\r\n");
	is_int(put(c, fd, 100, NULL, NULL, &res), HTTP_FATAL,
	       "an endless answer: fatal");
	is_str(res.message, "upload: the server's answer is larger than "
	       "1048576 bytes", "says so");
	http_client_free(c);
	close(fd);
}

/* ---- Out of memory ---------------------------------------------------- */

/*
 * Fail each allocation of a whole upload in turn, put.c's, http.c's and
 * libcurl's: each time the upload is retried (or goes through, where
 * libcurl can do without), never fatal, never a crash; the sanitizer
 * build sees any leak.
 */
static void test_nomem(struct http_client *c)
{
	int n, tries = 0, bad = 0, through = 0;
	int fd = pattern_file(BIG_BYTES);
	struct http_result res;
	enum http_verdict v = HTTP_FATAL;
	char head[16384];
	size_t got;

	server_will(SERVE_ANSWER, answer_of("200 OK", "", ""));
	for (n = 1; n < 10000; n++) {
		inject_arm(n);
		v = put(c, fd, BIG_BYTES, NULL, NULL, &res);
		if (!inject_disarm())
			break;
		tries++;
		through += v == HTTP_OK;
		if ((v != HTTP_RETRY || !res.message[0]) && v != HTTP_OK) {
			bad++;
			printf("# allocation %d: verdict %d, %s\n", n, v,
			       res.message);
		}
	}
	is_int(v, HTTP_OK, "an upload allocates %d times", n - 1);
	ok(tries > 0 && !bad, "each of them failing: the upload is retried");
	printf("# %d of %d went through all the same\n", through, tries);
	server_got(head, sizeof(head), &got);
	ok(got == BIG_BYTES && !memcmp(srv_body, pattern, BIG_BYTES),
	   "then it goes through");

	inject_arm(1);
	v = put(c, fd, BIG_BYTES, NULL, NULL, &res);
	inject_disarm();
	is_int(v, HTTP_RETRY, "the first allocation failing: retried");
	is_str(res.message, "upload: out of memory", "says so");
	close(fd);
}

static void test_client_nomem(void)
{
	struct http_config cfg = { .ca_file = "/etc/ssl/certs/x.pem" };
	struct http_client *c;
	int n, nulls = 0;

	for (n = 1; n < 1000; n++) {
		inject_arm(n);
		c = http_client_new(&cfg);
		if (!inject_disarm())
			break;
		if (!c)
			nulls++;
		http_client_free(c);
	}
	ok(c != NULL, "a client allocates %d times", n - 1);
	is_int(nulls, n - 1, "each failing: no client");
	http_client_free(c);
}

int main(void)
{
	struct http_client *c;
	size_t i;

	if (inject_curl_init())
		return 1;
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)(i * 7 + i / 251);
	if (server_start())
		return 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/up?sig=1", srv.port);
	c = http_client_new(NULL);
	test_whole_file(c);
	test_empty_file(c);
	test_short_reads(c);
	test_file_shorter(c);
	test_read_errors(c);
	test_answers(c);
	test_cancel(c);
	test_refused_early(c);
	test_never_ending();
	test_nomem(c);
	test_client_nomem();
	http_client_free(c);
	server_stop();
	curl_global_cleanup();
	return tap_done();
}
