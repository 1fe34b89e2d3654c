/*
 * http_exchange: how the clients of the API (presign.c, put.c) run one
 * exchange on a worker's http_client (http.c), and the helpers they
 * share to build requests and read answers.
 */
#ifndef OCTOFS_HTTP_EXCHANGE_H
#define OCTOFS_HTTP_EXCHANGE_H

#include "http.h"

/*
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
