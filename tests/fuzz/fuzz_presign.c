/*
 * libFuzzer target: the presign answer (API.md step 1) as the server
 * sends it.  The same bytes go through presign_parse(), as for a 2xx
 * answer, and http_body_message(), as for an error status.
 *
 * An answer the parser accepts must keep the header's promise: every
 * string present and free of control characters (they end up in a
 * request line, a header, the log and the user's xattrs), both URLs
 * http(s) without spaces or non-ASCII bytes, the content type ASCII.  A
 * refused answer leaves @ans empty and @err one printable line.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_exchange.h"
#include "presign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message for the log and an xattr: terminated, one printable line. */
static void check_line(const char *s, size_t size)
{
	size_t i, len = strnlen(s, size);

	if (len == size)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

/* Present, not empty, every byte in @lo..@hi and none a DEL or C1. */
static void check_text(const char *s, unsigned char lo, unsigned char hi)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!s || !*s)
		abort();
	for (; *u; u++)
		if (*u < lo || *u > hi || *u == 0x7f ||
		    (u[0] == 0xc2 && u[1] >= 0x80 && u[1] < 0xa0))
			abort();
}

static void check_url(const char *s)
{
	check_text(s, 0x21, 0x7e);
	if (strncasecmp(s, "http://", 7) && strncasecmp(s, "https://", 8))
		abort();
}

static void check_answer(const struct presign_answer *ans)
{
	check_url(ans->upload_url);
	check_url(ans->public_url);
	check_text(ans->object_key, 0x20, 0xff);
	check_text(ans->content_type, 0x20, 0x7e);
	if (ans->expires_in <= 0)
		abort();
}

static void check_empty(const struct presign_answer *ans)
{
	if (ans->upload_url || ans->public_url || ans->object_key ||
	    ans->content_type || ans->expires_in)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct presign_answer ans;
	char err[400], msg[400];

	err[0] = '\0';
	if (presign_parse(body, size, &ans, err, sizeof(err))) {
		check_empty(&ans);
		check_line(err, sizeof(err));
	} else {
		check_answer(&ans);
	}
	presign_answer_clear(&ans);

	if (!http_body_message(body, size, msg, sizeof(msg)))
		check_line(msg, sizeof(msg));
	return 0;
}
