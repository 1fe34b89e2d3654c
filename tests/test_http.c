/*
 * Tests for src/http.c: Retry-After, text cleaning, headers, and a few
 * exchanges with a one-shot server on the loopback interface.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http_exchange.h"
#include "tap.h"
#include "utf8.h"

/* ---- Retry-After ------------------------------------------------------- */

/* 1994-11-06 08:49:00 UTC, the date of RFC 9110's examples, minus 37 s. */
static time_t example_now(void)
{
	struct tm tm = {
		.tm_year = 94, .tm_mon = 10, .tm_mday = 6,
		.tm_hour = 8, .tm_min = 49, .tm_sec = 0,
	};

	return timegm(&tm);
}

static void retry_after_is(const char *value, time_t now, long want,
			   const char *what)
{
	long got = -2;
	int rc = http_parse_retry_after(value, now, &got);

	is_int(rc, 0, "%s: parses", what);
	is_int(got, want, "%s: seconds", what);
}

static void retry_after_bad(const char *value, const char *what)
{
	long got = -2;

	is_int(http_parse_retry_after(value, 0, &got), -EINVAL, "%s", what);
	is_int(got, -2, "%s: seconds untouched", what);
}

static void test_retry_after_delta(void)
{
	retry_after_is("120", 0, 120, "delta");
	retry_after_is("0", 0, 0, "zero");
	retry_after_is(" 5 ", 0, 5, "spaces around");
	retry_after_is("86400", 0, 86400, "a day");
	retry_after_is("86401", 0, HTTP_RETRY_AFTER_MAX_S, "over a day");
	retry_after_is("99999999999999999999999999", 0,
		       HTTP_RETRY_AFTER_MAX_S, "huge number is capped");
	retry_after_bad("", "empty");
	retry_after_bad("   ", "only spaces");
	retry_after_bad("-5", "negative");
	retry_after_bad("+5", "plus sign");
	retry_after_bad("12a", "trailing letters");
	retry_after_bad("1.5", "fraction");
	retry_after_bad("0x10", "hex");
	retry_after_bad("soon", "word");
}

static void test_retry_after_dates(void)
{
	time_t now = example_now();

	retry_after_is("Sun, 06 Nov 1994 08:49:37 GMT", now, 37,
		       "IMF-fixdate");
	retry_after_is("Sunday, 06-Nov-94 08:49:37 GMT", now, 37, "RFC 850");
	retry_after_is("Sun Nov  6 08:49:37 1994", now, 37, "asctime");
	retry_after_is("Sun, 06 Nov 1994 08:48:00 GMT", now, 0, "past date");
	retry_after_is("Sun, 06 Nov 1994 08:49:00 GMT", now, 0, "right now");
	retry_after_is("Fri, 01 Jan 2100 00:00:00 GMT", now,
		       HTTP_RETRY_AFTER_MAX_S, "far future is capped");
	retry_after_bad("Sun, 06 Nov 1994 08:49:37 PST", "not GMT");
	retry_after_bad("Sun, 06 Nov 1994 08:49:37 GMT x", "trailing text");
	retry_after_bad("Sun, 06 Nov 1994", "date without time");
	retry_after_bad("Sun, 06 Foo 1994 08:49:37 GMT", "unknown month");
	retry_after_bad("Sun, 06 Nov 1994 25:49:37 GMT", "hour 25");
}

/* ---- Small helpers ----------------------------------------------------- */

static void test_result_init(void)
{
	struct http_result res;

	memset(&res, 0x55, sizeof(res));
	http_result_init(&res);
	is_int(res.status, 0, "status reset");
	is_int(res.retry_after_s, -1, "retry_after_s absent");
	is_str(res.message, "", "message empty");
}

static void test_result_msg(void)
{
	struct http_result res;
	char text[sizeof(res.message) + 8];

	http_result_msg(&res, "%s (HTTP %d)", "refused", 401);
	is_str(res.message, "refused (HTTP 401)", "formatted");
	/* 510 ASCII bytes then "é": the cut falls inside the é. */
	memset(text, 'a', 510);
	strcpy(text + 510, "\xc3\xa9");
	http_result_msg(&res, "%s", text);
	is_int(strlen(res.message), 510, "cut before an incomplete character");
	memset(text, 'a', 509);
	strcpy(text + 509, "\xc3\xa9xyz");
	http_result_msg(&res, "%s", text);
	is_int(strlen(res.message), 511, "a whole character is kept");
}

static void test_result_redact(void)
{
	struct http_result res;

	http_result_msg(&res, "bad key sk-abc, really sk-abc.");
	http_result_redact(&res, "sk-abc");
	is_str(res.message, "bad key ******, really ******.",
	       "each copy overwritten");
	http_result_redact(&res, "");
	is_str(res.message, "bad key ******, really ******.",
	       "empty secret: nothing to do");
}

static void test_client_lifetime(void)
{
	struct http_config cfg = {
		.ca_file = "/nonexistent/ca.pem", .connect_timeout_s = 3,
	};
	struct http_client *c = http_client_new(NULL);

	ok(c != NULL, "client with default config");
	http_client_free(c);
	c = http_client_new(&cfg);
	ok(c != NULL, "client with a CA file");
	http_client_free(c);
	lives_ok(http_client_free(NULL),
		 "http_client_free(NULL) does nothing");
}

static void test_utf8_len(void)
{
	const unsigned char *u = (const unsigned char *)"a\xc3\xa9\xe6\x97\xa5"
		"\xf0\x9f\x8e\x89";

	is_int(utf8_len(u, 1), 1, "ASCII");
	is_int(utf8_len(u + 1, 2), 2, "2 bytes");
	is_int(utf8_len(u + 3, 3), 3, "3 bytes");
	is_int(utf8_len(u + 6, 4), 4, "4 bytes");
	is_int(utf8_len(u + 6, 3), 0, "4 bytes, cut short");
	is_int(utf8_len((const unsigned char *)"\xc1\xbf", 2), 0,
	       "overlong 2 bytes");
	is_int(utf8_len((const unsigned char *)"\xe0\x9f\xbf", 3), 0,
	       "overlong 3 bytes");
	is_int(utf8_len((const unsigned char *)"\xf0\x8f\xbf\xbf", 4), 0,
	       "overlong 4 bytes");
	is_int(utf8_len((const unsigned char *)"\xed\xbf\xbf", 3), 0,
	       "surrogate");
	is_int(utf8_len((const unsigned char *)"\xed\x9f\xbf", 3), 3,
	       "U+D7FF");
	is_int(utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4,
	       "U+10FFFF");
	is_int(utf8_len((const unsigned char *)"\xf5\x80\x80\x80", 4), 0,
	       "past U+10FFFF");
	is_int(utf8_len((const unsigned char *)"\xc3(", 2), 0,
	       "bad continuation");
	is_int(utf8_len(u, 0), 0, "nothing left");
}

static void test_clean_text(void)
{
	char buf[32];

	http_clean_text(buf, sizeof(buf), "a\nb\tc\x1b[0m\x7f", 10);
	is_str(buf, "a b c [0m ", "controls become spaces");
	http_clean_text(buf, sizeof(buf), "x\xffy\xc2\x85z", 6);
	is_str(buf, "x\xef\xbf\xbdy z", "invalid byte and C1 control");
	http_clean_text(buf, 6, "\xc3\xa9\xc3\xa9\xc3\xa9", 6);
	is_str(buf, "\xc3\xa9\xc3\xa9", "cut on a character boundary");
	http_clean_text(buf, sizeof(buf), "a\0b", 3);
	is_str(buf, "a b", "NUL becomes a space");
	http_clean_text(buf, 1, "abc", 3);
	is_str(buf, "", "room for nothing");
}

static void body_message_is(const char *body, const char *want,
			    const char *what)
{
	char buf[64] = "untouched";
	int rc = http_body_message(body, strlen(body), buf, sizeof(buf));

	is_int(rc, want ? 0 : -ENOENT, "%s: found", what);
	is_str(buf, want ? want : "untouched", "%s: message", what);
}

static void test_body_message(void)
{
	body_message_is("{\"success\": false, \"message\": \"no quota\"}",
			"no quota", "JSON envelope");
	body_message_is("{\"message\": \"two\\nlines\"}", "two lines",
			"JSON message is cleaned");
	body_message_is("<?xml version=\"1.0\"?><Error><Code>AccessDenied"
			"</Code><Message>Request has expired</Message>"
			"</Error>", "Request has expired", "S3 XML");
	body_message_is("{\"success\": false}", NULL, "JSON without message");
	body_message_is("{\"message\": 3}", NULL, "message not a string");
	body_message_is("<Message>", NULL, "unclosed XML");
	body_message_is("Bad Gateway", NULL, "plain text");
	body_message_is("", NULL, "empty");
}

static void host_is(const char *url, const char *want)
{
	const char *host;
	size_t len = http_url_host(url, &host);

	ok(len == strlen(want) && !strncmp(host, want, len), "host of %s",
	   url);
}

static void test_url_host(void)
{
	host_is("https://example.com/a?b#c", "example.com");
	host_is("https://user:pw@example.com:8443/x", "example.com");
	host_is("http://[::1]:8080/", "[::1]");
	host_is("http://127.0.0.1", "127.0.0.1");
	host_is("https://h?q=a@b", "h");
	host_is("https:///x", "");
	host_is("https://:80/x", "");
	host_is("http://[::1/", "");
	host_is("example.com", "");
}

static void test_headers(void)
{
	struct curl_slist *list = NULL;

	is_int(http_add_header(&list, "Content-Type", "image/png"), 0,
	       "add a header");
	is_int(http_add_header(&list, "Expect", ""), 0, "add an empty one");
	is_int(http_add_header(&list, "X", "a\r\nAuthorization: x"), -EINVAL,
	       "CR LF refused");
	is_int(http_add_header(&list, "X", "a\nb"), -EINVAL, "LF refused");
	ok(list && !strcmp(list->data, "Content-Type: image/png"),
	   "header line");
	ok(list && list->next && !strcmp(list->next->data, "Expect:"),
	   "empty header removes curl's own");
	ok(list && list->next && !list->next->next,
	   "refused headers were not added");
	http_free_headers(list);
	http_free_headers(NULL);
	is_int(http_status_retryable(503), 1, "503 is retried");
	is_int(http_status_retryable(429), 1, "429 is retried");
	is_int(http_status_retryable(408), 1, "408 is retried");
	is_int(http_status_retryable(404), 0, "404 is not");
	is_int(http_status_retryable(403), 0, "403 is not");
}

/* ---- Exchanges with a one-shot server ---------------------------------- */

/* Accepts one connection, reads the request head, sends @answer. */
struct server {
	int fd;
	int port;
	const char *answer;
	size_t answer_len;
	int hold;		/* keep the connection open until the peer
				 * closes it */
	char request[16384];
	size_t request_len;
	pthread_t thread;
};

static void read_head(struct server *s, int fd)
{
	ssize_t n;

	while (s->request_len < sizeof(s->request) - 1 &&
	       !memmem(s->request, s->request_len, "\r\n\r\n", 4)) {
		n = recv(fd, s->request + s->request_len,
			 sizeof(s->request) - 1 - s->request_len, 0);
		if (n <= 0)
			break;
		s->request_len += (size_t)n;
	}
	s->request[s->request_len] = '\0';
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 10 };
	size_t sent = 0;
	ssize_t n;
	char byte;
	int fd;

	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	fd = accept(s->fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	read_head(s, fd);
	while (sent < s->answer_len) {
		n = send(fd, s->answer + sent, s->answer_len - sent,
			 MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	if (s->hold)
		while (recv(fd, &byte, 1, 0) > 0)
			;
	close(fd);
	return NULL;
}

static int server_start(struct server *s, const char *answer, size_t len)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t sa_len = sizeof(sa);

	s->answer = answer;
	s->answer_len = len;
	s->request_len = 0;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->fd, 4) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sa_len) ||
	    pthread_create(&s->thread, NULL, serve, s)) {
		close(s->fd);
		return -1;
	}
	s->port = ntohs(sa.sin_port);
	return 0;
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* Run one GET of @answer through @c with @headers; fills @res. */
static enum http_verdict exchange(struct http_client *c, struct server *s,
				  const char *answer, size_t len,
				  struct curl_slist *headers,
				  int truncate_body, struct http_result *res)
{
	struct http_request req = {
		.what = "test", .headers = headers,
		.truncate_body = truncate_body,
	};
	enum http_verdict v = HTTP_FATAL;
	char url[64];

	http_result_init(res);
	if (server_start(s, answer, len)) {
		http_free_headers(headers);
		return HTTP_FATAL;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
	req.url = url;
	if (http_prepare(c, &req, res))
		v = http_perform(c, res);
	server_stop(s);
	return v;
}

/* An answer of @status with a @body_len byte body; caller frees. */
static char *big_answer(const char *status, size_t body_len, size_t *len)
{
	char head[128];
	char *a;
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Length: "
		     "%zu\r\nConnection: close\r\n\r\n", status, body_len);
	a = malloc((size_t)n + body_len);
	memcpy(a, head, (size_t)n);
	memset(a + n, 'b', body_len);
	*len = (size_t)n + body_len;
	return a;
}

/* The Authorization of one request must not reach the next one. */
static void test_headers_do_not_leak(struct http_client *c)
{
	static const char ok_answer[] = "HTTP/1.1 200 OK\r\n"
		"Content-Length: 5\r\nRetry-After: 7\r\n"
		"Connection: close\r\n\r\nhello";
	struct curl_slist *h = NULL;
	struct http_result res;
	struct server s = { 0 };
	const char *body;
	size_t len;

	http_add_header(&h, "Authorization", "Bearer sk-SECRET");
	is_int(exchange(c, &s, ok_answer, sizeof(ok_answer) - 1, h, 0, &res),
	       HTTP_OK, "exchange completes");
	is_int(res.status, 200, "status 200");
	is_int(res.retry_after_s, 7, "Retry-After captured");
	body = http_body(c, &len);
	ok(len == 5 && !strcmp(body, "hello"), "body captured");
	ok(strstr(s.request, "Authorization: Bearer sk-SECRET") != NULL,
	   "first request carries its header");
	ok(strstr(s.request, "User-Agent: octofs/" PACKAGE_VERSION) != NULL,
	   "User-Agent");

	is_int(exchange(c, &s, ok_answer, sizeof(ok_answer) - 1, NULL, 0,
			&res), HTTP_OK, "second exchange completes");
	ok(s.request_len && !strstr(s.request, "SECRET") &&
	   !strstr(s.request, "Authorization"),
	   "second request has no Authorization");
}

static void test_redirect_not_followed(struct http_client *c)
{
	static const char answer[] = "HTTP/1.1 302 Found\r\n"
		"Location: http://127.0.0.1:1/elsewhere\r\n"
		"Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct http_result res;
	struct server s = { 0 };

	is_int(exchange(c, &s, answer, sizeof(answer) - 1, NULL, 0, &res),
	       HTTP_OK, "a 3xx is handed to the caller");
	is_int(res.status, 302, "status 302, Location not followed");
	is_int(res.retry_after_s, -1, "no Retry-After");
}

static void test_body_cap(struct http_client *c)
{
	struct http_result res;
	struct server s = { 0 };
	size_t len, got;
	char *a;

	a = big_answer("200 OK", HTTP_BODY_MAX + 1, &len);
	is_int(exchange(c, &s, a, len, NULL, 0, &res), HTTP_FATAL,
	       "2xx body over the cap is fatal");
	is_str(res.message, "test answer larger than 65536 bytes",
	       "and says so");
	is_int(exchange(c, &s, a, len, NULL, 1, &res), HTTP_OK,
	       "unless the body may be cut");
	http_body(c, &got);
	is_int(got, HTTP_BODY_MAX, "cut at the cap");
	free(a);

	a = big_answer("503 Busy", 4 * HTTP_BODY_MAX, &len);
	is_int(exchange(c, &s, a, len, NULL, 0, &res), HTTP_OK,
	       "error body over the cap still gives the status");
	is_int(res.status, 503, "status 503");
	free(a);

	a = big_answer("200 OK", HTTP_BODY_MAX, &len);
	is_int(exchange(c, &s, a, len, NULL, 0, &res), HTTP_OK,
	       "body of exactly the cap is fine");
	http_body(c, &got);
	is_int(got, HTTP_BODY_MAX, "all of it kept");
	free(a);
}

/* Header lines without end: a hostile server, refused at the cap. */
static void test_header_cap(struct http_client *c)
{
	static const char line[] = "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	static const char status[] = "HTTP/1.1 200 OK\r\n";
	struct http_result res;
	struct server s = { 0 };
	size_t n = HTTP_HEADER_MAX / (sizeof(line) - 1) + 2, i, len;
	char *a, *p;

	a = malloc(sizeof(status) + n * (sizeof(line) - 1) + 64);
	p = a + sprintf(a, "%s", status);
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s", line);
	p += sprintf(p, "Content-Length: 0\r\nConnection: close\r\n\r\n");
	len = (size_t)(p - a);
	is_int(exchange(c, &s, a, len, NULL, 1, &res), HTTP_FATAL,
	       "headers over the cap are fatal");
	is_str(res.message, "test: answer headers from 127.0.0.1 larger "
	       "than 65536 bytes", "and say so");
	free(a);
}

static void test_retry_after_header(struct http_client *c)
{
	static const char past[] = "HTTP/1.1 429 Slow down\r\n"
		"retry-after:  Wed, 21 Oct 2015 07:28:00 GMT \r\n"
		"Content-Length: 0\r\nConnection: close\r\n\r\n";
	static const char junk[] = "HTTP/1.1 503 Busy\r\n"
		"Retry-After: whenever\r\n"
		"Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct http_result res;
	struct server s = { 0 };

	is_int(exchange(c, &s, past, sizeof(past) - 1, NULL, 0, &res),
	       HTTP_OK, "429 answer");
	is_int(res.retry_after_s, 0, "past date, any case: retry now");
	is_int(exchange(c, &s, junk, sizeof(junk) - 1, NULL, 0, &res),
	       HTTP_OK, "503 answer");
	is_int(res.retry_after_s, -1, "junk Retry-After is ignored");
}

static void test_stall(void)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n"
		"Content-Length: 100\r\n\r\nonly this";
	struct http_config cfg = { .low_speed_time_s = 1 };
	struct http_client *c = http_client_new(&cfg);
	struct http_result res;
	struct server s = { .hold = 1 };

	is_int(exchange(c, &s, head, sizeof(head) - 1, NULL, 0, &res),
	       HTTP_RETRY, "a stalled answer is retried");
	ok(!strncmp(res.message, "test: 127.0.0.1 timed out", 25),
	   "message: %s", res.message);
	http_client_free(c);
}

static void test_transport_errors(struct http_client *c)
{
	struct http_request req = { .what = "test" };
	struct http_result res;

	req.url = "http://127.0.0.1:1/";
	ok(http_prepare(c, &req, &res) != NULL, "prepare");
	is_int(http_perform(c, &res), HTTP_RETRY, "refused connection");
	ok(!strncmp(res.message, "test: connection to 127.0.0.1 failed", 36),
	   "message: %s", res.message);
	is_int(res.status, 0, "no status");

	req.url = "file:///etc/passwd";
	ok(http_prepare(c, &req, &res) != NULL, "prepare");
	is_int(http_perform(c, &res), HTTP_FATAL, "file:// refused");
	ok(!strncmp(res.message, "test: unusable URL", 18), "message: %s",
	   res.message);
	is_int(http_body(c, &(size_t){ 0 })[0], '\0', "nothing was read");
}

/* A reply that is not HTTP at all: a damaged connection, retried. */
static void test_garbled_answer(struct http_client *c)
{
	static const char junk[] = "{\"leftover\": \"body\"}\r\n\r\n";
	struct http_result res;
	struct server s = { 0 };

	is_int(exchange(c, &s, junk, sizeof(junk) - 1, NULL, 0, &res),
	       HTTP_RETRY, "garbled answer is retried");
	ok(strstr(res.message, "garbled answer from 127.0.0.1") != NULL,
	   "message: %s", res.message);
}

static void test_exchanges(void)
{
	struct http_client *c = http_client_new(NULL);

	test_headers_do_not_leak(c);
	test_redirect_not_followed(c);
	test_body_cap(c);
	test_header_cap(c);
	test_retry_after_header(c);
	test_garbled_answer(c);
	test_transport_errors(c);
	http_client_free(c);
	test_stall();
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	test_retry_after_delta();
	test_retry_after_dates();
	test_result_init();
	test_result_msg();
	test_result_redact();
	test_client_lifetime();
	test_utf8_len();
	test_clean_text();
	test_body_message();
	test_url_host();
	test_headers();
	test_exchanges();
	curl_global_cleanup();
	return tap_done();
}
