/*
 * presign: the JSON request for a signed upload URL, the strict parse of
 * its answer, and the exchange itself (step 1 of API.md).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "http_exchange.h"
#include "presign.h"
#include "utf8.h"

#define JSON_DEPTH 16		/* the envelope needs 2; leave room */
#define OBJECT_KEY_MAX 1024
#define CONTENT_TYPE_MAX 255
#define SERVER_MESSAGE_MAX 400	/* leaves room for our prefix */

#if JSON_C_VERSION_NUM < ((0 << 16) | (15 << 8))
/* Before json-c 0.15 the tokener's fields were public. */
#define json_tokener_get_parse_end(tok) ((size_t)(tok)->char_offset)
#endif

/* ---- The request ------------------------------------------------------ */

/*
 * A copy of @s that is valid UTF-8: each byte that does not start a
 * well-formed sequence (stray continuation bytes, overlong forms,
 * surrogates, beyond U+10FFFF) becomes U+FFFD.  json-c escapes quotes,
 * backslashes and control characters but passes other bytes through, so
 * this is what keeps the body valid JSON.
 */
static char *utf8_sanitize(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, out = 0, n;
	char *copy;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	copy = malloc(len * 3 + 1);
	if (!copy)
		return NULL;
	while (i < len) {
		n = utf8_len(u + i, len - i);
		if (n) {
			memcpy(copy + out, s + i, n);
			out += n;
			i += n;
		} else {
			memcpy(copy + out, "\xef\xbf\xbd", 3);
			out += 3;
			i++;
		}
	}
	copy[out] = '\0';
	return copy;
}

/* Add @value (when not NULL) as a string member. */
static int add_string(struct json_object *obj, const char *key,
		      const char *value)
{
	struct json_object *str;
	char *clean;

	if (!value)
		return 0;
	clean = utf8_sanitize(value);
	if (!clean)
		return -ENOMEM;
	str = json_object_new_string(clean);
	free(clean);
	if (!str)
		return -ENOMEM;
	if (json_object_object_add(obj, key, str)) {
		json_object_put(str);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(struct json_object *obj, const char *key, int64_t value)
{
	struct json_object *num = json_object_new_int64(value);

	if (!num)
		return -ENOMEM;
	if (json_object_object_add(obj, key, num)) {
		json_object_put(num);
		return -ENOMEM;
	}
	return 0;
}

char *presign_build_body(const struct presign_request *req)
{
	struct json_object *obj = json_object_new_object();
	const char *text;
	char *body = NULL;

	if (!obj)
		return NULL;
	if (add_string(obj, "file_name", req->file_name) ||
	    add_string(obj, "content_type", req->content_type) ||
	    add_int(obj, "expires_in", req->expires_in) ||
	    add_string(obj, "prefix", req->prefix))
		goto out_put;
	/* Plain: one line; no "\/": prefixes are paths. */
	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text)
		body = strdup(text);
out_put:
	json_object_put(obj);
	return body;
}

/* ---- The answer ------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static int only_space(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!strchr(" \t\r\n", p[i]))
			return 0;
	return 1;
}

/* Refuse what no tokener should see: nothing, too much, NUL bytes. */
static int check_raw(const char *body, size_t len, char *err,
		     size_t err_len)
{
	if (!len)
		return fail(err, err_len,
			    "presign answer: not JSON (empty body)");
	if (len > HTTP_BODY_MAX)
		return fail(err, err_len,
			    "presign answer larger than %d bytes",
			    HTTP_BODY_MAX);
	if (memchr(body, '\0', len))
		return fail(err, err_len,
			    "presign answer: not JSON (NUL byte)");
	return 0;
}

static struct json_tokener *new_tokener(void)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);

	if (!tok)
		return NULL;
#ifdef JSON_TOKENER_VALIDATE_UTF8
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
#else
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
#endif
	return tok;
}

/*
 * Parse all of @body as one JSON value: trailing bytes other than
 * whitespace, and nesting deeper than JSON_DEPTH, are errors.
 */
static struct json_object *parse_json(const char *body, size_t len,
				      char *err, size_t err_len)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (check_raw(body, len, err, err_len))
		return NULL;
	tok = new_tokener();
	if (!tok) {
		fail(err, err_len, "presign answer: out of memory");
		return NULL;
	}
	root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!root && jerr == json_tokener_continue) {
		/* A final NUL ends a top-level number or literal. */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	} else if (root && end < len && !only_space(body + end, len - end)) {
		json_object_put(root);
		root = NULL;
		jerr = json_tokener_error_parse_unexpected;
	}
	if (!root)
		fail(err, err_len, "presign answer: not JSON (%s)",
		     json_tokener_error_desc(jerr));
	json_tokener_free(tok);
	return root;
}

/* Member @key of @obj when it has type @type: 0, or -ENOENT/-EINVAL. */
static int member(struct json_object *obj, const char *key,
		  enum json_type type, struct json_object **val)
{
	if (!json_object_object_get_ex(obj, key, val))
		return -ENOENT;
	return json_object_is_type(*val, type) ? 0 : -EINVAL;
}

/* "data.X is missing" or "data.X is not a T", per member()'s answer. */
static int member_error(int rc, const char *key, const char *type_name,
			char *err, size_t err_len)
{
	if (rc == -ENOENT)
		return fail(err, err_len, "presign answer: %s is missing",
			    key);
	return fail(err, err_len, "presign answer: %s is not %s", key,
		    type_name);
}

/* The "success" flag; a false one yields the server's message. */
static int check_success(struct json_object *root, char *err,
			 size_t err_len)
{
	struct json_object *v, *msg;
	int rc = member(root, "success", json_type_boolean, &v);

	if (rc)
		return member_error(rc, "success", "a boolean", err, err_len);
	if (json_object_get_boolean(v))
		return 0;
	if (!member(root, "message", json_type_string, &msg) &&
	    json_object_get_string_len(msg) > 0)
		http_clean_text(err, err_len, json_object_get_string(msg),
				(size_t)json_object_get_string_len(msg));
	else
		fail(err, err_len, "the server refused the upload");
	return -EREMOTEIO;
}

/* What a data.* string may hold. */
enum text_kind {
	TEXT_URL,		/* absolute http(s) URL, visible ASCII */
	TEXT_KEY,		/* any UTF-8 but control characters */
	TEXT_HEADER,		/* printable ASCII: it becomes a header */
};

struct text_rule {
	const char *key;	/* "data.upload_url", for messages */
	enum text_kind kind;
	size_t max_len;
	const char *bad_chars;	/* what chars_fit() refuses, for messages */
};

static int has_scheme(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

/* Does every byte of @s fit @kind?  The UTF-8 itself json-c checked. */
static int chars_fit(const char *s, size_t len, enum text_kind kind)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] < 0xa0)
			return 0;	/* C1 control */
		if (kind == TEXT_URL && (u[i] == ' ' || u[i] > 0x7f))
			return 0;
		if (kind == TEXT_HEADER && u[i] > 0x7f)
			return 0;
	}
	return 1;
}

static int check_text(const char *s, size_t len,
		      const struct text_rule *rule, char *err,
		      size_t err_len)
{
	const char *host;

	if (!len)
		return fail(err, err_len, "presign answer: %s is empty",
			    rule->key);
	if (len > rule->max_len)
		return fail(err, err_len,
			    "presign answer: %s is longer than %zu bytes",
			    rule->key, rule->max_len);
	if (!chars_fit(s, len, rule->kind))
		return fail(err, err_len, "presign answer: %s contains %s",
			    rule->key, rule->bad_chars);
	if (rule->kind == TEXT_URL &&
	    (!has_scheme(s) || !http_url_host(s, &host)))
		return fail(err, err_len,
			    "presign answer: %s is not an http(s) URL",
			    rule->key);
	return 0;
}

/* Copy data.@rule->key into @out once it passed every check. */
static int take_text(struct json_object *data, const struct text_rule *rule,
		     char **out, char *err, size_t err_len)
{
	const char *name = strchr(rule->key, '.') + 1;
	struct json_object *v;
	const char *s;
	size_t len;
	int rc;

	rc = member(data, name, json_type_string, &v);
	if (rc)
		return member_error(rc, rule->key, "a string", err, err_len);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	rc = check_text(s, len, rule, err, err_len);
	if (rc)
		return rc;
	*out = strndup(s, len);
	if (!*out)
		return fail(err, err_len, "presign answer: out of memory");
	return 0;
}

static int check_method(struct json_object *data, char *err,
			size_t err_len)
{
	struct json_object *v;
	char shown[64];
	int rc = member(data, "method", json_type_string, &v);

	if (rc)
		return member_error(rc, "data.method", "a string", err,
				    err_len);
	if (!strcmp(json_object_get_string(v), "PUT") &&
	    json_object_get_string_len(v) == 3)
		return 0;
	http_clean_text(shown, sizeof(shown), json_object_get_string(v),
			(size_t)json_object_get_string_len(v));
	return fail(err, err_len,
		    "presign answer: data.method is %s, expected PUT", shown);
}

static int take_expires_in(struct json_object *data, long *expires_in,
			   char *err, size_t err_len)
{
	struct json_object *v;
	int64_t n;
	int rc = member(data, "expires_in", json_type_int, &v);

	if (rc)
		return member_error(rc, "data.expires_in", "an integer", err,
				    err_len);
	n = json_object_get_int64(v);
	if (n <= 0 || n > INT32_MAX)
		return fail(err, err_len,
			    "presign answer: data.expires_in is out of range");
	*expires_in = (long)n;
	return 0;
}

#define URL_BAD_CHARS "spaces, control or non-ASCII characters"

static const struct text_rule upload_url_rule = {
	"data.upload_url", TEXT_URL, HTTP_URL_MAX, URL_BAD_CHARS
};
static const struct text_rule public_url_rule = {
	"data.public_url", TEXT_URL, HTTP_URL_MAX, URL_BAD_CHARS
};
static const struct text_rule object_key_rule = {
	"data.object_key", TEXT_KEY, OBJECT_KEY_MAX, "control characters"
};
static const struct text_rule content_type_rule = {
	"data.content_type", TEXT_HEADER, CONTENT_TYPE_MAX,
	"control or non-ASCII characters"
};

static int take_data(struct json_object *root, struct presign_answer *ans,
		     char *err, size_t err_len)
{
	struct json_object *data;
	int rc = member(root, "data", json_type_object, &data);

	if (rc)
		return member_error(rc, "data", "an object", err, err_len);
	rc = check_method(data, err, err_len);
	if (!rc)
		rc = take_text(data, &upload_url_rule, &ans->upload_url, err,
			       err_len);
	if (!rc)
		rc = take_text(data, &public_url_rule, &ans->public_url, err,
			       err_len);
	if (!rc)
		rc = take_text(data, &object_key_rule, &ans->object_key, err,
			       err_len);
	if (!rc)
		rc = take_text(data, &content_type_rule, &ans->content_type,
			       err, err_len);
	if (!rc)
		rc = take_expires_in(data, &ans->expires_in, err, err_len);
	return rc;
}

int presign_parse(const char *body, size_t len, struct presign_answer *ans,
		  char *err, size_t err_len)
{
	struct json_object *root;
	int rc;

	memset(ans, 0, sizeof(*ans));
	root = parse_json(body, len, err, err_len);
	if (!root)
		return -EPROTO;
	if (!json_object_is_type(root, json_type_object))
		rc = fail(err, err_len,
			  "presign answer: not a JSON object");
	else
		rc = check_success(root, err, err_len);
	if (!rc)
		rc = take_data(root, ans, err, err_len);
	if (rc)
		presign_answer_clear(ans);
	json_object_put(root);
	return rc;
}

void presign_answer_clear(struct presign_answer *ans)
{
	free(ans->upload_url);
	free(ans->object_key);
	free(ans->public_url);
	free(ans->content_type);
	memset(ans, 0, sizeof(*ans));
}

/* ---- The exchange ----------------------------------------------------- */

/* @endpoint without trailing slashes, then PRESIGN_PATH. */
static char *presign_url(const char *endpoint)
{
	size_t len = strlen(endpoint);
	char *url;

	while (len && endpoint[len - 1] == '/')
		len--;
	url = malloc(len + sizeof(PRESIGN_PATH));
	if (!url)
		return NULL;
	memcpy(url, endpoint, len);
	memcpy(url + len, PRESIGN_PATH, sizeof(PRESIGN_PATH));
	return url;
}

/* The Authorization line is built in a buffer wiped before it is freed. */
static int request_headers(struct curl_slist **headers, const char *api_key)
{
	static const char bearer[] = "Bearer ";
	size_t len = sizeof(bearer) + strlen(api_key);
	char *auth;
	int rc;

	rc = http_add_header(headers, "Content-Type", "application/json");
	if (!rc)
		rc = http_add_header(headers, "Accept", "application/json");
	if (!rc)	/* small bodies: waiting for 100-continue is a delay */
		rc = http_add_header(headers, "Expect", "");
	if (rc)
		return rc;
	auth = malloc(len);
	if (!auth)
		return -ENOMEM;
	snprintf(auth, len, "%s%s", bearer, api_key);
	rc = http_add_header(headers, "Authorization", auth);
	explicit_bzero(auth, len);
	free(auth);
	return rc;
}

/* "presign refused (HTTP 401): invalid API key", or without the reason. */
static void status_message(struct http_result *res, const char *what,
			   const char *body, size_t len)
{
	char reason[SERVER_MESSAGE_MAX];

	if (http_body_message(body, len, reason, sizeof(reason)))
		http_result_msg(res, "%s (HTTP %ld)", what, res->status);
	else
		http_result_msg(res, "%s (HTTP %ld): %s", what, res->status,
				reason);
}

/* A 2xx answer: the envelope decides. */
static enum http_verdict answer_verdict(const char *body, size_t len,
					struct presign_answer *ans,
					struct http_result *res)
{
	char reason[SERVER_MESSAGE_MAX];
	int rc;

	rc = presign_parse(body, len, ans, reason, sizeof(reason));
	if (!rc)
		return HTTP_OK;
	if (rc == -EREMOTEIO)
		http_result_msg(res, "presign refused: %s", reason);
	else
		http_result_msg(res, "%s", reason);
	return HTTP_FATAL;
}

static enum http_verdict status_verdict(struct http_client *c,
					struct presign_answer *ans,
					struct http_result *res)
{
	size_t len;
	const char *body = http_body(c, &len);
	long st = res->status;

	if (st >= 200 && st < 300)
		return answer_verdict(body, len, ans, res);
	if (st >= 300 && st < 400) {
		http_result_msg(res, "presign: redirect to another location "
				"refused (HTTP %ld)", st);
		return HTTP_FATAL;
	}
	if (http_status_retryable(st)) {
		status_message(res, "presign failed", body, len);
		return HTTP_RETRY;
	}
	status_message(res, "presign refused", body, len);
	return HTTP_FATAL;
}

/* Headers and URL.  HTTP_OK with *@h set, or the reason in @res. */
static enum http_verdict prepare(struct http_client *c, const char *url,
				 const char *api_key, const atomic_int *cancel,
				 struct http_result *res, CURL **h)
{
	struct http_request req = {
		.what = "presign",
		.url = url,
		.timed = 1,
		.cancel = cancel,
	};
	int rc = request_headers(&req.headers, api_key);

	if (rc == -EINVAL) {
		http_free_headers(req.headers);
		http_result_msg(res, "presign: the API key holds control "
				"characters");
		return HTTP_FATAL;
	}
	if (rc) {
		http_free_headers(req.headers);
		http_result_msg(res, "presign: out of memory");
		return HTTP_RETRY;
	}
	*h = http_prepare(c, &req, res);
	return *h ? HTTP_OK : HTTP_RETRY;
}

enum http_verdict presign_call(struct http_client *c, const char *endpoint,
			       const char *api_key,
			       const struct presign_request *req,
			       struct presign_answer *ans,
			       struct http_result *res)
{
	enum http_verdict v = HTTP_RETRY;
	char *url, *body;
	CURL *h;

	http_result_init(res);
	url = presign_url(endpoint);
	body = presign_build_body(req);
	if (!url || !body) {
		http_result_msg(res, "presign: out of memory");
		goto out_free;
	}
	v = prepare(c, url, api_key, req->cancel, res, &h);
	if (v != HTTP_OK)
		goto out_free;
	if (curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)strlen(body))) {
		http_result_msg(res, "presign: cannot set up the request");
		v = HTTP_RETRY;
		goto out_free;
	}
	v = http_perform(c, res);
	if (v == HTTP_OK)
		v = status_verdict(c, ans, res);
	if (v != HTTP_OK)
		http_result_redact(res, api_key);
out_free:
	free(body);
	free(url);
	return v;
}
