/*
 * presign: ask the API for a signed upload URL (step 1 of API.md).
 *
 * Builds the JSON request, sends it with the API key to the endpoint
 * only, and parses the envelope strictly: every field type-checked,
 * URLs absolute http(s), bounded, free of control characters.
 */
#ifndef OCTOFS_PRESIGN_H
#define OCTOFS_PRESIGN_H

#include <stdatomic.h>
#include <stddef.h>
#include "http.h"

#define PRESIGN_PATH "/api/upload/presign"

struct presign_request {
	const char *file_name;		/* basename only; required */
	const char *content_type;	/* required */
	const char *prefix;		/* NULL: omitted */
	unsigned int expires_in;	/* seconds */
	const atomic_int *cancel;	/* raised: give up; NULL: never */
};

/* All strings malloc'd; presign_answer_clear() frees them. */
struct presign_answer {
	char *upload_url;
	char *object_key;
	char *public_url;
	char *content_type;
	long expires_in;
};

/*
 * The request body as a NUL-terminated JSON string (caller frees), or
 * NULL when out of memory.  Bytes of the file name that are not valid
 * UTF-8 are replaced by U+FFFD so the body is always valid JSON.
 */
char *presign_build_body(const struct presign_request *req);

/*
 * Parse a presign answer body.  Returns 0 with @ans filled; -EPROTO for a
 * malformed answer (reason in @err); -EREMOTEIO for "success": false (the
 * server's message, or a generic one, in @err).  @ans is overwritten
 * (pass it empty) and left empty on failure.
 */
int presign_parse(const char *body, size_t len, struct presign_answer *ans,
		  char *err, size_t err_len);

void presign_answer_clear(struct presign_answer *ans);

/*
 * POST the request to @endpoint PRESIGN_PATH with "Authorization: Bearer
 * @api_key".  On HTTP_OK @ans is filled; otherwise @res says why.
 * 401/403, other 4xx, success:false and malformed answers are
 * HTTP_FATAL; connection errors, timeouts, 429 and 5xx are HTTP_RETRY.
 */
enum http_verdict presign_call(struct http_client *c, const char *endpoint,
			       const char *api_key,
			       const struct presign_request *req,
			       struct presign_answer *ans,
			       struct http_result *res);

#endif
