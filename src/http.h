/*
 * http: the libcurl handle each worker reuses, and what one exchange
 * ended with.
 *
 * One struct http_client per worker thread (not shared): connections are
 * reused between its requests.  Every transfer is limited to http and
 * https, never follows redirects, verifies TLS, and has connect and
 * low-speed timeouts so a silent server cannot hold a worker forever.
 */
#ifndef OCTOFS_HTTP_H
#define OCTOFS_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include <curl/curl.h>

#define HTTP_BODY_MAX (64 * 1024)	/* cap on any answer body we keep */
#define HTTP_URL_MAX 8192		/* cap on upload_url / public_url */
#define HTTP_HEADER_MAX (64 * 1024)	/* cap on an answer's header lines */

struct http_config {
	const char *ca_file;		/* NULL: system trust store */
	long connect_timeout_s;		/* 0: 15 */
	long low_speed_time_s;		/* abort below 1 byte/s this */
					/* long; 0: 30 */
	long request_timeout_s;		/* whole presign exchange; 0: 60 */
};

/* What the caller should do next with the upload. */
enum http_verdict {
	HTTP_OK,
	HTTP_RETRY,		/* network error, timeout, 429, 5xx */
	HTTP_FATAL,		/* the server said no, or a malformed answer */
	HTTP_EXPIRED,		/* PUT refused with 403: presign again */
	HTTP_CANCELLED,		/* the caller's cancel flag was raised */
};

struct http_result {
	long status;		/* HTTP status, 0 when none was received */
	long retry_after_s;	/* from Retry-After, -1 when absent */
	char message[512];	/* the server's message, or a precise */
				/* local reason */
};

struct http_client;

/* NULL when out of memory or libcurl cannot start. */
struct http_client *http_client_new(const struct http_config *cfg);
void http_client_free(struct http_client *c);

/* How long a transfer may see no byte move either way (seconds). */
long http_client_stall_s(const struct http_client *c);

/* Reset @res to "nothing happened yet". */
void http_result_init(struct http_result *res);

/* Retry-After values beyond this are read as this: a day is plenty. */
#define HTTP_RETRY_AFTER_MAX_S (24 * 3600L)

/*
 * Parse a Retry-After value: delta-seconds or an HTTP-date (relative to
 * @now).  Returns 0 and sets @seconds (0..HTTP_RETRY_AFTER_MAX_S), or
 * -EINVAL (-ENOMEM if the C locale cannot be had).
 */
int http_parse_retry_after(const char *value, time_t now, long *seconds);

#endif
