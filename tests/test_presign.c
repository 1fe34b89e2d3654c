/* Tests for src/presign.c: the request body and the strict answer parse. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "http.h"
#include "presign.h"
#include "tap.h"

#define UPLOAD_URL "\"https://store.example/u/12/x.png?signature=abc\""
#define PUBLIC_URL "\"https://cdn.example/u/12/x.png\""

/* One field of a good answer's data, replaced or removed. */
struct field {
	const char *name;
	const char *json;	/* NULL: leave the field out */
};

/* ---- presign_build_body ------------------------------------------------ */

/* Parse @body back strictly; NULL if it is not valid JSON and UTF-8. */
static struct json_object *reparse(const char *body)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)strlen(body) + 1);
	json_tokener_free(tok);
	return obj;
}

static const char *member_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static void test_body_basic(void)
{
	struct presign_request req = {
		.file_name = "input.png", .content_type = "image/png",
		.prefix = "uploads/user/12", .expires_in = 900,
	};
	char *body = presign_build_body(&req);
	struct json_object *obj = body ? reparse(body) : NULL;
	struct json_object *v;

	ok(obj != NULL, "body is valid JSON: %s", body ? body : "(null)");
	is_str(member_str(obj, "file_name"), "input.png", "file_name");
	is_str(member_str(obj, "content_type"), "image/png", "content_type");
	is_str(member_str(obj, "prefix"), "uploads/user/12", "prefix");
	ok(json_object_object_get_ex(obj, "expires_in", &v) &&
	   json_object_is_type(v, json_type_int) &&
	   json_object_get_int(v) == 900, "expires_in is the integer 900");
	ok(body && !strchr(body, '\n'), "body is one line");
	ok(body && !strstr(body, "\\/"), "slashes are not escaped");
	json_object_put(obj);
	free(body);
}

static void test_body_no_prefix(void)
{
	struct presign_request req = {
		.file_name = "a.txt", .content_type = "text/plain",
		.expires_in = 60,
	};
	char *body = presign_build_body(&req);
	struct json_object *obj = body ? reparse(body) : NULL;

	ok(obj != NULL, "body without prefix is valid JSON");
	ok(obj && !json_object_object_get_ex(obj, "prefix", NULL),
	   "no prefix member when prefix is NULL");
	json_object_put(obj);
	free(body);
}

/* @name must come back from the body as @want. */
static void check_name(const char *name, const char *want, const char *what)
{
	struct presign_request req = {
		.file_name = name, .content_type = "application/octet-stream",
		.expires_in = 900,
	};
	char *body = presign_build_body(&req);
	struct json_object *obj = body ? reparse(body) : NULL;

	ok(obj != NULL, "%s: body is valid JSON", what);
	is_str(member_str(obj, "file_name"), want, "%s: name round-trips",
	       what);
	json_object_put(obj);
	free(body);
}

#define FFFD "\xef\xbf\xbd"

static void test_body_names(void)
{
	check_name("say \"hi\".txt", "say \"hi\".txt", "quotes");
	check_name("back\\slash", "back\\slash", "backslash");
	check_name("two\nlines\r", "two\nlines\r", "newline, CR");
	check_name("bell\x07tab\tesc\x1b\x7f", "bell\x07tab\tesc\x1b\x7f",
		   "control characters");
	check_name("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89",
		   "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89",
		   "valid UTF-8 is kept");
	check_name("a\xff" "b", "a" FFFD "b", "invalid byte");
	check_name("\x80x", FFFD "x", "stray continuation byte");
	check_name("\xc0\xaf", FFFD FFFD, "overlong slash");
	check_name("\xe0\x80\xaf", FFFD FFFD FFFD, "overlong 3-byte form");
	check_name("\xed\xa0\x80", FFFD FFFD FFFD, "UTF-16 surrogate");
	check_name("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD,
		   "beyond U+10FFFF");
	check_name("end\xe6\x97", "end" FFFD FFFD, "truncated sequence");
	check_name("", "", "empty name");
}

static void test_body_invalid_prefix(void)
{
	struct presign_request req = {
		.file_name = "a", .content_type = "text/plain",
		.prefix = "p\xfe/q", .expires_in = 900,
	};
	char *body = presign_build_body(&req);
	struct json_object *obj = body ? reparse(body) : NULL;

	is_str(member_str(obj, "prefix"), "p" FFFD "/q",
	       "invalid UTF-8 in the prefix is replaced too");
	json_object_put(obj);
	free(body);
}

/* ---- presign_parse ----------------------------------------------------- */

static const char *field_json(const struct field *over, const char *name,
			      const char *def)
{
	if (over && !strcmp(over->name, name))
		return over->json;
	return def;
}

/* Print the data object of a good answer with @over applied. */
static void print_data(char *buf, size_t len, const struct field *over)
{
	static const char *const names[] = {
		"method", "upload_url", "object_key", "public_url",
		"expires_in", "content_type",
	};
	static const char *const defaults[] = {
		"\"PUT\"", UPLOAD_URL, "\"u/12/x.png\"", PUBLIC_URL, "900",
		"\"image/png\"",
	};
	size_t i, used = 0;

	used += (size_t)snprintf(buf, len, "{");
	for (i = 0; i < 6; i++) {
		const char *json = field_json(over, names[i], defaults[i]);

		if (!json)
			continue;
		used += (size_t)snprintf(buf + used, len - used,
					 "%s\"%s\": %s", used > 1 ? ", " : "",
					 names[i], json);
	}
	snprintf(buf + used, len - used, "}");
}

/* A good answer with one data field replaced (or removed); caller frees. */
static char *answer_with(const char *name, const char *json)
{
	struct field over = { name, json };
	size_t len = 2 * HTTP_URL_MAX + 1024;
	char *data = malloc(len), *body = malloc(len + 64);

	print_data(data, len, name ? &over : NULL);
	snprintf(body, len + 64, "{\"success\": true, \"message\": \"\", "
		 "\"data\": %s}", data);
	free(data);
	return body;
}

static int is_empty(const struct presign_answer *a)
{
	return !a->upload_url && !a->object_key && !a->public_url &&
	       !a->content_type && !a->expires_in;
}

/* Parse @body (of @len bytes) and expect failure @rc with @msg. */
static void expect_fail_len(const char *body, size_t len, int rc,
			    const char *msg, const char *what)
{
	struct presign_answer ans;
	char err[512] = "";
	int got = presign_parse(body, len, &ans, err, sizeof(err));

	is_int(got, rc, "%s: refused", what);
	ok(is_empty(&ans), "%s: answer left empty", what);
	if (msg)
		is_str(err, msg, "%s: message", what);
	presign_answer_clear(&ans);
}

static void expect_fail(const char *body, int rc, const char *msg,
			const char *what)
{
	expect_fail_len(body, strlen(body), rc, msg, what);
}

/* Parse a good answer with one field replaced; expect @msg. */
static void expect_field(const char *name, const char *json, const char *msg,
			 const char *what)
{
	char *body = answer_with(name, json);

	expect_fail(body, -EPROTO, msg, what);
	free(body);
}

static void test_parse_good(void)
{
	char *body = answer_with(NULL, NULL);
	struct presign_answer ans;
	char err[256] = "";
	int rc = presign_parse(body, strlen(body), &ans, err, sizeof(err));

	is_int(rc, 0, "good answer parses (%s)", err);
	is_str(ans.upload_url,
	       "https://store.example/u/12/x.png?signature=abc", "upload_url");
	is_str(ans.public_url, "https://cdn.example/u/12/x.png", "public_url");
	is_str(ans.object_key, "u/12/x.png", "object_key");
	is_str(ans.content_type, "image/png", "content_type");
	is_int(ans.expires_in, 900, "expires_in");
	presign_answer_clear(&ans);
	ok(is_empty(&ans), "presign_answer_clear empties the answer");
	presign_answer_clear(&ans);
	free(body);
}

/* A body given by length only: bytes past @len must not be looked at. */
static void test_parse_by_length(void)
{
	char *good = answer_with(NULL, NULL);
	size_t len = strlen(good);
	char *body = malloc(len + 8);
	struct presign_answer ans;
	char err[256] = "";

	memcpy(body, good, len);
	memcpy(body + len, "garbage", 8);
	is_int(presign_parse(body, len, &ans, err, sizeof(err)), 0,
	       "only @len bytes are parsed");
	presign_answer_clear(&ans);
	memcpy(body, "{\"success\": false}  ", 20);
	is_int(presign_parse(body, 20, &ans, err, sizeof(err)), -EREMOTEIO,
	       "trailing whitespace is fine");
	free(body);
	free(good);
}

static void test_parse_refused(void)
{
	expect_fail("{\"success\": false, \"message\": \"quota exceeded\"}",
		    -EREMOTEIO, "quota exceeded", "success false");
	expect_fail("{\"success\": false, \"message\": "
		    "\"bad\\nkey\\u001b[31m\\u0085!\"}", -EREMOTEIO,
		    "bad key [31m !", "server message is cleaned");
	expect_fail("{\"success\": false}", -EREMOTEIO,
		    "the server refused the upload",
		    "success false, no message");
	expect_fail("{\"success\": false, \"message\": \"\"}", -EREMOTEIO,
		    "the server refused the upload", "empty message");
	expect_fail("{\"success\": false, \"message\": 42}", -EREMOTEIO,
		    "the server refused the upload", "message not a string");
	expect_fail("{\"message\": \"hello\", \"data\": {}}", -EPROTO,
		    "presign answer: success is missing", "success missing");
	expect_fail("{\"success\": \"true\"}", -EPROTO,
		    "presign answer: success is not a boolean",
		    "success is a string");
	expect_fail("{\"success\": 1}", -EPROTO,
		    "presign answer: success is not a boolean",
		    "success is a number");
}

static void test_parse_small_err(void)
{
	struct presign_answer ans;
	char err[8];
	const char *body = "{\"success\": false, \"message\": \"\xc3\xa9\xc3"
			   "\xa9\xc3\xa9\xc3\xa9\"}";

	is_int(presign_parse(body, strlen(body), &ans, err, sizeof(err)),
	       -EREMOTEIO, "small error buffer");
	is_str(err, "\xc3\xa9\xc3\xa9\xc3\xa9",
	       "message cut on a character boundary");
	is_int(presign_parse("x", 1, &ans, NULL, 0), -EPROTO,
	       "no error buffer at all");
}

static void test_parse_data(void)
{
	expect_fail("{\"success\": true}", -EPROTO,
		    "presign answer: data is missing", "data missing");
	expect_fail("{\"success\": true, \"data\": [1]}", -EPROTO,
		    "presign answer: data is not an object",
		    "data is an array");
	expect_fail("{\"success\": true, \"data\": null}", -EPROTO,
		    "presign answer: data is not an object", "data is null");
	expect_field("method", "\"POST\"",
		     "presign answer: data.method is POST, expected PUT",
		     "method POST");
	expect_field("method", "\"put\"",
		     "presign answer: data.method is put, expected PUT",
		     "method is case-sensitive");
	expect_field("method", "\"PUT\\u0000x\"",
		     "presign answer: data.method is PUT x, expected PUT",
		     "method with a NUL");
	expect_field("method", NULL, "presign answer: data.method is missing",
		     "method missing");
	expect_field("method", "1",
		     "presign answer: data.method is not a string",
		     "method is a number");
}

/* Missing and wrong-typed, for each string field. */
static void test_parse_string_fields(void)
{
	static const char *const names[] = {
		"upload_url", "public_url", "object_key", "content_type",
	};
	char msg[128], what[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(msg, sizeof(msg),
			 "presign answer: data.%s is missing", names[i]);
		snprintf(what, sizeof(what), "%s missing", names[i]);
		expect_field(names[i], NULL, msg, what);
		snprintf(msg, sizeof(msg),
			 "presign answer: data.%s is not a string", names[i]);
		snprintf(what, sizeof(what), "%s is a number", names[i]);
		expect_field(names[i], "7", msg, what);
		snprintf(what, sizeof(what), "%s is null", names[i]);
		expect_field(names[i], "null", msg, what);
		snprintf(what, sizeof(what), "%s is an object", names[i]);
		expect_field(names[i], "{}", msg, what);
		snprintf(msg, sizeof(msg),
			 "presign answer: data.%s is empty", names[i]);
		snprintf(what, sizeof(what), "%s is empty", names[i]);
		expect_field(names[i], "\"\"", msg, what);
	}
}

/* A JSON string of an URL @len bytes long. */
static char *long_url(size_t len)
{
	char *s = malloc(len + 3);

	memset(s, 'a', len + 2);
	memcpy(s, "\"https://h/", 11);
	s[len + 1] = '"';
	s[len + 2] = '\0';
	return s;
}

static void test_parse_urls(void)
{
	const char *bad = "presign answer: data.upload_url is not an http(s) "
			  "URL";
	const char *chars = "presign answer: data.upload_url contains spaces, "
			    "control or non-ASCII characters";
	char *s;

	expect_field("upload_url", "\"/u/12/x.png\"", bad, "relative URL");
	expect_field("upload_url", "\"ftp://h/x\"", bad, "ftp URL");
	expect_field("upload_url", "\"https:/h/x\"", bad, "one slash");
	expect_field("upload_url", "\"https:///x\"", bad, "no host");
	expect_field("upload_url", "\"https://u@:80/x\"", bad,
		     "userinfo and port but no host");
	expect_field("public_url", "\"javascript:alert(1)\"",
		     "presign answer: data.public_url is not an http(s) URL",
		     "public_url javascript");
	expect_field("upload_url", "\"https://h/a b\"", chars, "space");
	expect_field("upload_url", "\"https://h/a\\tb\"", chars, "tab");
	expect_field("upload_url", "\"https://h/a\\r\\nX: y\"", chars,
		     "CR LF");
	expect_field("upload_url", "\"https://h/\\u0000\"", chars, "NUL");
	expect_field("upload_url", "\"https://h/\xc3\xa9\"", chars,
		     "non-ASCII");
	s = long_url(HTTP_URL_MAX + 1);
	expect_field("upload_url", s,
		     "presign answer: data.upload_url is longer than 8192 "
		     "bytes", "URL too long");
	free(s);

	s = long_url(HTTP_URL_MAX);
	{
		char *body = answer_with("public_url", s);
		struct presign_answer ans;

		is_int(presign_parse(body, strlen(body), &ans, NULL, 0), 0,
		       "URL of exactly HTTP_URL_MAX bytes is fine");
		ok(ans.public_url && strlen(ans.public_url) == HTTP_URL_MAX,
		   "and is kept whole");
		presign_answer_clear(&ans);
		free(body);
	}
	free(s);
}

static void test_parse_key_and_type(void)
{
	char big[1100];

	expect_field("object_key", "\"a\\nb\"",
		     "presign answer: data.object_key contains control "
		     "characters", "object_key with newline");
	expect_field("object_key", "\"a\\u0085b\"",
		     "presign answer: data.object_key contains control "
		     "characters", "object_key with a C1 control");
	memset(big, 'k', sizeof(big));
	big[0] = '"';
	big[1026] = '"';
	big[1027] = '\0';
	expect_field("object_key", big,
		     "presign answer: data.object_key is longer than 1024 "
		     "bytes", "object_key too long");
	expect_field("content_type", "\"text/plain\\r\\nX-Evil: 1\"",
		     "presign answer: data.content_type contains control or "
		     "non-ASCII characters", "content_type with CR LF");
	expect_field("content_type", "\"text/\xc3\xa9\"",
		     "presign answer: data.content_type contains control or "
		     "non-ASCII characters", "content_type not ASCII");
	memset(big, 't', 258);
	big[0] = '"';
	big[257] = '"';
	big[258] = '\0';
	expect_field("content_type", big,
		     "presign answer: data.content_type is longer than 255 "
		     "bytes", "content_type too long");
}

static void test_parse_expires_in(void)
{
	const char *not_int = "presign answer: data.expires_in is not an "
			      "integer";
	const char *range = "presign answer: data.expires_in is out of range";

	expect_field("expires_in", NULL,
		     "presign answer: data.expires_in is missing",
		     "expires_in missing");
	expect_field("expires_in", "\"900\"", not_int, "expires_in string");
	expect_field("expires_in", "900.5", not_int, "expires_in fraction");
	expect_field("expires_in", "true", not_int, "expires_in boolean");
	expect_field("expires_in", "0", range, "expires_in zero");
	expect_field("expires_in", "-60", range, "expires_in negative");
	expect_field("expires_in", "99999999999999999999", range,
		     "expires_in huge");
}

static void test_parse_not_json(void)
{
	char *body = answer_with(NULL, NULL);
	size_t len = strlen(body);
	char *nested;
	int i;

	expect_fail("<html>oops</html>", -EPROTO,
		    "presign answer: not JSON (unexpected character)", "HTML");
	expect_fail("", -EPROTO, "presign answer: not JSON (empty body)",
		    "empty body");
	expect_fail("{\"success\": true", -EPROTO,
		    "presign answer: not JSON (unexpected end of data)",
		    "cut short");
	expect_fail("{\"success\": false} x", -EPROTO, NULL,
		    "trailing garbage");
	expect_fail("{\"success\": false}{}", -EPROTO, NULL,
		    "two values");
	expect_fail("[]", -EPROTO, "presign answer: not a JSON object",
		    "array at top level");
	expect_fail("123", -EPROTO, "presign answer: not a JSON object",
		    "number at top level");
	expect_fail("{\"success\": false, \"message\": \"\xff\"}", -EPROTO,
		    NULL, "invalid UTF-8 in a string");

	/* NUL bytes, inside the value or after it. */
	body[len / 2] = '\0';
	expect_fail_len(body, len, -EPROTO,
			"presign answer: not JSON (NUL byte)", "embedded NUL");
	free(body);
	expect_fail_len("{\"success\": false}\0", 19, -EPROTO,
			"presign answer: not JSON (NUL byte)",
			"NUL after the value");

	nested = malloc(2 * 100 + 64);
	i = sprintf(nested, "{\"success\": false, \"x\": ");
	memset(nested + i, '[', 100);
	memset(nested + i + 100, ']', 100);
	strcpy(nested + i + 200, "}");
	expect_fail(nested, -EPROTO,
		    "presign answer: not JSON (nesting too deep)",
		    "deeply nested");
	free(nested);
}

/* Over HTTP_BODY_MAX is refused before parsing, even if valid. */
static void test_parse_huge(void)
{
	size_t len = HTTP_BODY_MAX + 100;
	char *body = malloc(len + 1);
	const char *head = "{\"success\": false, \"pad\": \"";

	memset(body, 'x', len);
	memcpy(body, head, strlen(head));
	memcpy(body + len - 2, "\"}", 2);
	body[len] = '\0';
	expect_fail(body, -EPROTO, "presign answer larger than 65536 bytes",
		    "huge body");
	free(body);
}

/* ---- presign_call without a server ------------------------------------ */

static void test_call_offline(void)
{
	struct http_client *c = http_client_new(NULL);
	struct presign_request req = {
		.file_name = "a.txt", .content_type = "text/plain",
		.expires_in = 900,
	};
	struct presign_answer ans = { 0 };
	struct http_result res;
	enum http_verdict v;

	ok(c != NULL, "http_client_new");
	v = presign_call(c, "http://127.0.0.1:1", "sk-SECRET", &req, &ans,
			 &res);
	is_int(v, HTTP_RETRY, "refused connection is retried");
	ok(!strncmp(res.message, "presign: connection to 127.0.0.1 failed",
		    39), "message names the host: %s", res.message);
	ok(!strstr(res.message, "SECRET"), "message has no key");
	ok(is_empty(&ans), "no answer");

	v = presign_call(c, "ftp://127.0.0.1", "sk-SECRET", &req, &ans, &res);
	is_int(v, HTTP_FATAL, "ftp endpoint is fatal");
	ok(!strncmp(res.message, "presign: unusable URL", 21),
	   "message: %s", res.message);

	v = presign_call(c, "http://127.0.0.1:1", "sk-\r\nX: y", &req, &ans,
			 &res);
	is_int(v, HTTP_FATAL, "key with CR LF is fatal");
	is_str(res.message, "presign: the API key holds control characters",
	       "and the message does not show it");
	http_client_free(c);
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	test_body_basic();
	test_body_no_prefix();
	test_body_names();
	test_body_invalid_prefix();
	test_parse_good();
	test_parse_by_length();
	test_parse_refused();
	test_parse_small_err();
	test_parse_data();
	test_parse_string_fields();
	test_parse_urls();
	test_parse_key_and_type();
	test_parse_expires_in();
	test_parse_not_json();
	test_parse_huge();
	test_call_offline();
	curl_global_cleanup();
	return tap_done();
}
