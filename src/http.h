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
	long low_speed_time_s;		/* abort below 1 byte/s this long; 0: 30 */
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
	char message[512];	/* server's message or a precise local reason */
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

/*
 * ---- Internal: for presign.c and put.c only ------------------------
 *
 * One exchange is http_prepare(), request-specific options on the
 * returned handle, then http_perform(), which classifies what the
 * transport did; the caller classifies the status.  After
 * http_perform() the handle is back to its reset state, so nothing a
 * request set (headers, body pointers, callbacks) outlives it.
 */
struct http_request {
	const char *what;	/* "presign", "upload": starts each message */
	const char *url;
	struct curl_slist *headers;	/* taken over; wiped and freed */
	int timed;		/* apply request_timeout_s to the exchange */
	int truncate_body;	/* keep the first HTTP_BODY_MAX bytes of a
				 * longer body instead of failing */
	const atomic_int *cancel;	/* raised: abort (HTTP_CANCELLED);
					 * NULL: never.  A caller that sets
					 * its own progress callback checks
					 * it there instead. */
};

/*
 * Reset the handle, apply the options every transfer has, and set
 * @req's URL and headers.  Returns the handle for request-specific
 * options, or NULL with the reason in @res.  @req->headers is taken
 * over in both cases.
 */
CURL *http_prepare(struct http_client *c, struct http_request *req,
		   struct http_result *res);

/*
 * Run the prepared transfer.  Fills @res->status and
 * @res->retry_after_s.  HTTP_OK means an answer arrived (any status);
 * otherwise @res->message says what went wrong: HTTP_RETRY for network
 * errors and timeouts, HTTP_FATAL for what retrying cannot fix (bad URL,
 * TLS verification, 2xx body or any headers over the cap),
 * HTTP_CANCELLED when a callback aborted.  A non-2xx body over the cap
 * is cut, not an error: its status still says what happened.
 */
enum http_verdict http_perform(struct http_client *c,
			       struct http_result *res);

/*
 * Format @res->message.  A message too long for it is cut on a UTF-8
 * character boundary.
 */
void http_result_msg(struct http_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Overwrite each copy of @secret in @res->message with '*': a server
 * may echo what it was sent, and messages reach logs and attributes.
 */
void http_result_redact(struct http_result *res, const char *secret);

/* The last answer's body, NUL-terminated; owned by @c. */
const char *http_body(const struct http_client *c, size_t *len);

/*
 * Append "@name: @value" to @list.  -EINVAL when @value holds CR, LF or
 * other control characters (header injection), -ENOMEM.  The line is
 * built in a buffer that is wiped before it is freed: values may be
 * secret.
 */
int http_add_header(struct curl_slist **list, const char *name,
		    const char *value);

/* Wipe every line of @list, then free it; NULL is fine. */
void http_free_headers(struct curl_slist *list);

/* 408, 429 and 5xx: the server asks to be asked again. */
int http_status_retryable(long status);

/*
 * The host name of an absolute URL, without userinfo and port: sets
 * @host to its start and returns its length (0: none).
 */
size_t http_url_host(const char *url, const char **host);

/* Length of the valid UTF-8 sequence at @s (0: invalid here). */
size_t http_utf8_len(const unsigned char *s, size_t left);

/*
 * Copy untrusted text into @dst as one printable line: invalid UTF-8
 * becomes U+FFFD, control characters a space; cut on a character
 * boundary to fit @dst_len.
 */
void http_clean_text(char *dst, size_t dst_len, const char *src,
		     size_t src_len);

/*
 * The reason an error answer gives: a JSON envelope's "message" or an
 * S3-style XML <Message>, cleaned with http_clean_text().  Returns 0, or
 * -ENOENT when the body has none.
 */
int http_body_message(const char *body, size_t len, char *dst,
		      size_t dst_len);

#endif
