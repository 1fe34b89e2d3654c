/*
 * put: stream a stored file to a signed upload URL (step 2 of API.md).
 *
 * The body is read with pread() in fixed-size pieces, so memory does not
 * grow with the file; Content-Length is exact; no Authorization header is
 * ever sent here.
 */
#ifndef OCTOFS_PUT_H
#define OCTOFS_PUT_H

#include <stdatomic.h>
#include <sys/types.h>
#include "http.h"

/* Called as bytes go out; may be NULL. */
typedef void (*put_progress_fn)(void *arg, off_t sent, off_t total);

/*
 * PUT @size bytes of @fd (from offset 0) to @url with @content_type.
 * @cancel is polled during the transfer; once non-zero the transfer is
 * aborted and HTTP_CANCELLED returned.  A file that turns out shorter
 * than @size aborts with HTTP_RETRY (it changed under us).  2xx is
 * HTTP_OK; 403 is HTTP_EXPIRED; 429/5xx/network are HTTP_RETRY; other
 * statuses HTTP_FATAL.
 */
enum http_verdict put_file(struct http_client *c, const char *url,
			   const char *content_type, int fd, off_t size,
			   const atomic_int *cancel,
			   put_progress_fn progress, void *progress_arg,
			   struct http_result *res);

#endif
