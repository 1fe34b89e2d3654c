/*
 * http: one libcurl easy handle per worker, the options every transfer
 * shares, and how a transfer's outcome becomes an http_verdict.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "http_exchange.h"
#include "log.h"
#include "utf8.h"

#define DEFAULT_CONNECT_TIMEOUT_S 15L
#define DEFAULT_LOW_SPEED_TIME_S 30L
#define DEFAULT_REQUEST_TIMEOUT_S 60L
#define KEEPALIVE_IDLE_S 60L
#define KEEPALIVE_INTERVAL_S 20L
#define RETRY_AFTER_LEN 64	/* an HTTP-date is 29 characters */
#define HOST_LEN 256
#define USER_AGENT "octofs/" PACKAGE_VERSION
#define MESSAGE_JSON_DEPTH 8

struct http_client {
	CURL *curl;
	char *ca_file;			/* NULL: system trust store */
	long connect_timeout_s;
	long low_speed_time_s;
	long request_timeout_s;

	/* State of the request in progress, set by http_prepare(). */
	const char *what;
	struct curl_slist *headers;	/* may hold the API key */
	int truncate_body;
	char host[HOST_LEN];		/* for messages: no path or query */

	/* What came back. */
	char *body;			/* HTTP_BODY_MAX + 1 bytes */
	size_t body_len;
	int body_overflow;
	size_t header_bytes;		/* all header lines of the answer */
	int header_overflow;
	char retry_after[RETRY_AFTER_LEN];
	char errbuf[CURL_ERROR_SIZE];
};

static long or_default(long value, long fallback)
{
	return value > 0 ? value : fallback;
}

struct http_client *http_client_new(const struct http_config *cfg)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->body = malloc(HTTP_BODY_MAX + 1);
	if (!c->body)
		goto out_free_client;
	if (cfg && cfg->ca_file) {
		c->ca_file = strdup(cfg->ca_file);
		if (!c->ca_file)
			goto out_free_body;
	}
	c->connect_timeout_s = or_default(cfg ? cfg->connect_timeout_s : 0,
					  DEFAULT_CONNECT_TIMEOUT_S);
	c->low_speed_time_s = or_default(cfg ? cfg->low_speed_time_s : 0,
					 DEFAULT_LOW_SPEED_TIME_S);
	c->request_timeout_s = or_default(cfg ? cfg->request_timeout_s : 0,
					  DEFAULT_REQUEST_TIMEOUT_S);
	c->curl = curl_easy_init();
	if (!c->curl)
		goto out_free_ca;
	c->body[0] = '\0';
	return c;

out_free_ca:
	free(c->ca_file);
out_free_body:
	free(c->body);
out_free_client:
	free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	http_free_headers(c->headers);
	curl_easy_cleanup(c->curl);
	free(c->ca_file);
	free(c->body);
	free(c);
}

void http_result_init(struct http_result *res)
{
	res->status = 0;
	res->retry_after_s = -1;
	res->message[0] = '\0';
}

/* @s was cut at @len: drop a multibyte character left incomplete. */
static void cut_utf8(char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t start = len;

	while (start && (u[start - 1] & 0xc0) == 0x80)
		start--;
	if (start && u[start - 1] >= 0xc0 &&
	    !utf8_len(u + start - 1, len - start + 1))
		s[start - 1] = '\0';
}

void http_result_msg(struct http_result *res, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		res->message[0] = '\0';
	else if ((size_t)n >= sizeof(res->message))
		cut_utf8(res->message, sizeof(res->message) - 1);
}

void http_result_redact(struct http_result *res, const char *secret)
{
	size_t len = strlen(secret);
	char *p = res->message;

	if (!len)
		return;
	while ((p = strstr(p, secret))) {
		memset(p, '*', len);
		p += len;
	}
}

/* ---- Retry-After ------------------------------------------------------ */

static int only_space_left(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

/* delta-seconds: digits only; an absurd number is capped, not refused. */
static int parse_delta(const char *p, long *seconds)
{
	long v = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > HTTP_RETRY_AFTER_MAX_S)
			v = HTTP_RETRY_AFTER_MAX_S + 1;
	}
	if (!only_space_left(p))
		return -EINVAL;
	*seconds = v > HTTP_RETRY_AFTER_MAX_S ? HTTP_RETRY_AFTER_MAX_S : v;
	return 0;
}

/* One strptime() format; day and month names must be English. */
static int parse_date_as(const char *p, const char *fmt, time_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(p, fmt, &tm);
	if (!end || !only_space_left(end))
		return -EINVAL;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -EINVAL : 0;
}

/* The three HTTP-date forms of RFC 9110, section 5.6.7; all are GMT. */
static int parse_date(const char *p, time_t now, long *seconds)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",	/* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",	/* RFC 850 */
		"%a %b %d %H:%M:%S %Y",		/* asctime() */
	};
	locale_t c_locale, old;
	time_t t;
	size_t i;
	int err = -EINVAL;

	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c_locale == (locale_t)0)
		return -ENOMEM;
	old = uselocale(c_locale);
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]) && err; i++)
		err = parse_date_as(p, formats[i], &t);
	uselocale(old);
	freelocale(c_locale);
	if (err)
		return err;
	if (t <= now)
		*seconds = 0;
	else if (t - now > HTTP_RETRY_AFTER_MAX_S)
		*seconds = HTTP_RETRY_AFTER_MAX_S;
	else
		*seconds = (long)(t - now);
	return 0;
}

int http_parse_retry_after(const char *value, time_t now, long *seconds)
{
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9')
		return parse_delta(value, seconds);
	if (!*value)
		return -EINVAL;
	return parse_date(value, now, seconds);
}

/* ---- Text from the network -------------------------------------------- */

/* C0, DEL and C1 controls: they could steer a terminal reading the log. */
static int is_control(const unsigned char *s, size_t n)
{
	if (n == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/*
 * The bytes that stand for the character at @s: itself, U+FFFD for an
 * invalid byte, a space for a control.  Sets @used to the bytes of @s
 * it stands for.
 */
static const char *clean_char(const unsigned char *s, size_t left,
			      size_t *used, size_t *len)
{
	size_t n = utf8_len(s, left);

	*used = n ? n : 1;
	if (!n) {
		*len = 3;
		return "\xef\xbf\xbd";
	}
	if (is_control(s, n)) {
		*len = 1;
		return " ";
	}
	*len = n;
	return (const char *)s;
}

void http_clean_text(char *dst, size_t dst_len, const char *src,
		     size_t src_len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, out = 0, used, len;
	const char *piece;

	if (!dst_len)
		return;
	while (i < src_len) {
		piece = clean_char(s + i, src_len - i, &used, &len);
		if (out + len >= dst_len)
			break;
		memcpy(dst + out, piece, len);
		out += len;
		i += used;
	}
	dst[out] = '\0';
}

static int json_message(const char *body, size_t len, char *dst,
			size_t dst_len)
{
	struct json_tokener *tok;
	struct json_object *root, *msg;
	int err = -ENOENT;

	tok = json_tokener_new_ex(MESSAGE_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "message", &msg) &&
	    json_object_is_type(msg, json_type_string) &&
	    json_object_get_string_len(msg) > 0) {
		http_clean_text(dst, dst_len, json_object_get_string(msg),
				(size_t)json_object_get_string_len(msg));
		err = 0;
	}
	json_object_put(root);
	json_tokener_free(tok);
	return err;
}

/* S3 and its imitators answer <Error><Message>...</Message></Error>. */
static int xml_message(const char *body, size_t len, char *dst,
		       size_t dst_len)
{
	static const char tag_open[] = "<Message>";
	static const char tag_close[] = "</Message>";
	const char *start, *end;

	start = memmem(body, len, tag_open, sizeof(tag_open) - 1);
	if (!start)
		return -ENOENT;
	start += sizeof(tag_open) - 1;
	end = memmem(start, len - (size_t)(start - body), tag_close,
		     sizeof(tag_close) - 1);
	if (!end || end == start)
		return -ENOENT;
	http_clean_text(dst, dst_len, start, (size_t)(end - start));
	return 0;
}

int http_body_message(const char *body, size_t len, char *dst,
		      size_t dst_len)
{
	if (!len || len > HTTP_BODY_MAX)
		return -ENOENT;
	if (!json_message(body, len, dst, dst_len))
		return 0;
	return xml_message(body, len, dst, dst_len);
}

size_t http_url_host(const char *url, const char **host)
{
	const char *p = strstr(url, "://"), *end, *at, *colon;

	*host = url;
	if (!p)
		return 0;
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memrchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		colon = memchr(p, ']', (size_t)(end - p));
		if (!colon)
			return 0;
		end = colon + 1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon)
			end = colon;
	}
	*host = p;
	return (size_t)(end - p);
}

int http_status_retryable(long status)
{
	return status == 408 || status == 429 ||
	       (status >= 500 && status < 600);
}

/* ---- Headers ---------------------------------------------------------- */

int http_add_header(struct curl_slist **list, const char *name,
		    const char *value)
{
	struct curl_slist *grown;
	size_t len, i;
	char *line;

	for (i = 0; value[i]; i++)
		if (((unsigned char)value[i] < 0x20 && value[i] != '\t') ||
		    value[i] == 0x7f)
			return -EINVAL;
	len = strlen(name) + 2 + i + 1;
	line = malloc(len);
	if (!line)
		return -ENOMEM;
	snprintf(line, len, "%s:%s%s", name, *value ? " " : "", value);
	grown = curl_slist_append(*list, line);
	explicit_bzero(line, len);
	free(line);
	if (!grown)
		return -ENOMEM;
	*list = grown;
	return 0;
}

void http_free_headers(struct curl_slist *list)
{
	struct curl_slist *l;

	for (l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* ---- Callbacks -------------------------------------------------------- */

/*
 * Keep the answer up to HTTP_BODY_MAX bytes.  Past that, a body we must
 * parse aborts the transfer (returning short makes curl stop), and one
 * we only mine for an error message is cut.
 */
static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_client *c = arg;
	size_t len = size * nmemb, room = HTTP_BODY_MAX - c->body_len;

	if (len > room) {
		c->body_overflow = 1;
		if (!c->truncate_body)
			return 0;
		len = room;
	}
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return size * nmemb;
}

/* Keep a bounded copy of Retry-After, trimmed; drop overlong values. */
static void keep_retry_after(struct http_client *c, const char *v,
			     size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
		       v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len >= sizeof(c->retry_after) || memchr(v, '\0', len))
		len = 0;
	memcpy(c->retry_after, v, len);
	c->retry_after[len] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "retry-after:";
	struct http_client *c = arg;
	size_t len = size * nmemb, name_len = sizeof(name) - 1;

	/* Endless headers must not keep a worker (returning short stops). */
	c->header_bytes += len;
	if (c->header_bytes > HTTP_HEADER_MAX) {
		c->header_overflow = 1;
		return 0;
	}
	/* A status line starts a new answer (after a 1xx): forget the old. */
	if (len >= 5 && !memcmp(line, "HTTP/", 5))
		c->retry_after[0] = '\0';
	else if (len > name_len && !strncasecmp(line, name, name_len))
		keep_retry_after(c, line + name_len, len - name_len);
	return size * nmemb;
}

/* ---- One exchange ----------------------------------------------------- */

static CURLcode set_protocols(CURL *h)
{
#if LIBCURL_VERSION_NUM >= 0x075500
	CURLcode rc;

	rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
				      "http,https");
	return rc;
#else
	long p = CURLPROTO_HTTP | CURLPROTO_HTTPS;
	CURLcode rc;

	rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS, p);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, p);
	return rc;
#endif
}

/*
 * Redirects are never followed: the presign request carries the API key,
 * and refusing every 3xx is the one rule that guarantees it can never be
 * sent anywhere but the endpoint.  A 3xx is left to the caller, which
 * turns it into an error.  The TLS options only restate libcurl's
 * defaults, so that no build or environment can weaken them.
 */
static int set_security(struct http_client *c, CURL *h)
{
	if (set_protocols(h) ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_HEADEROPT,
			     (long)CURLHEADER_SEPARATE) ||
	    curl_easy_setopt(h, CURLOPT_VERBOSE, 0L))
		return -EIO;
	if (c->ca_file && curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file))
		return -EIO;
	return 0;
}

/*
 * NOSIGNAL because workers are threads; the low-speed limit frees a
 * worker from a server that went silent, whatever the transfer's size.
 */
static int set_limits(struct http_client *c, CURL *h)
{
	if (curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
			     c->connect_timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_IDLE_S) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S))
		return -EIO;
	return 0;
}

static int set_io(struct http_client *c, CURL *h)
{
	if (curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, c) ||
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb) ||
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, c))
		return -EIO;
	return 0;
}

static int cancel_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		     curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load((const atomic_int *)arg) ? 1 : 0;
}

/* Let the caller's flag stop the transfer (checked about once a second,
 * and whenever data moves). */
static int set_cancel(CURL *h, const atomic_int *cancel)
{
	if (!cancel)
		return 0;
	if (curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_cb) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel) ||
	    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L))
		return -EIO;
	return 0;
}

static void set_host(struct http_client *c, const char *url)
{
	const char *host;
	size_t len = http_url_host(url, &host);

	if (len)
		http_clean_text(c->host, sizeof(c->host), host, len);
	else
		snprintf(c->host, sizeof(c->host), "the server");
}

static void clear_answer(struct http_client *c)
{
	c->body_len = 0;
	c->body[0] = '\0';
	c->body_overflow = 0;
	c->header_bytes = 0;
	c->header_overflow = 0;
	c->retry_after[0] = '\0';
	c->errbuf[0] = '\0';
}

/*
 * curl_easy_reset() keeps live connections, the DNS and TLS session
 * caches, and forgets every option: the previous request's headers (the
 * presign's Authorization) cannot ride along to the next one.
 */
CURL *http_prepare(struct http_client *c, struct http_request *req,
		   struct http_result *res)
{
	CURL *h = c->curl;

	curl_easy_reset(h);
	http_free_headers(c->headers);
	c->headers = req->headers;
	req->headers = NULL;
	c->what = req->what;
	c->truncate_body = req->truncate_body;
	set_host(c, req->url);
	clear_answer(c);
	if (set_security(c, h) || set_limits(c, h) || set_io(c, h) ||
	    set_cancel(h, req->cancel) ||
	    curl_easy_setopt(h, CURLOPT_URL, req->url) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers) ||
	    (req->timed && curl_easy_setopt(h, CURLOPT_TIMEOUT,
					    c->request_timeout_s))) {
		http_result_msg(res, "%s: cannot set up the request", c->what);
		curl_easy_reset(h);
		http_free_headers(c->headers);
		c->headers = NULL;
		return NULL;
	}
	return h;
}

static int is_tls_verification(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return 1;
	default:
		return 0;
	}
}

static bool reached_server(struct http_client *c)
{
	char *ip = NULL;

	return !curl_easy_getinfo(c->curl, CURLINFO_PRIMARY_IP, &ip) &&
	       ip && *ip;
}

/* What a failed curl_easy_perform() means for the upload. */
static enum http_verdict transport_verdict(struct http_client *c,
					   CURLcode rc,
					   struct http_result *res)
{
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		http_result_msg(res, "%s cancelled", c->what);
		return HTTP_CANCELLED;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		http_result_msg(res, "%s: %s timed out: %s", c->what,
				c->host, why);
		return HTTP_RETRY;
	}
	/*
	 * Schemes are checked before any request, so once a server was
	 * reached an "unsupported protocol" is a garbled answer (curl's
	 * "HTTP/0.9 not allowed"): a damaged connection, worth a retry.
	 */
	if (rc == CURLE_UNSUPPORTED_PROTOCOL && reached_server(c)) {
		http_result_msg(res, "%s: garbled answer from %s: %s",
				c->what, c->host, why);
		return HTTP_RETRY;
	}
	if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
		http_result_msg(res, "%s: unusable URL: %s", c->what, why);
		return HTTP_FATAL;
	}
	/* A certificate that does not verify is not fixed by retrying. */
	if (is_tls_verification(rc)) {
		http_result_msg(res, "%s: TLS verification of %s failed: %s",
				c->what, c->host, why);
		return HTTP_FATAL;
	}
	http_result_msg(res, "%s: connection to %s failed: %s", c->what,
			c->host, why);
	return HTTP_RETRY;
}

/*
 * A 2xx body over the cap cannot be trusted whole; others only carry a
 * status, which still says what happened.
 */
static enum http_verdict overflow_verdict(struct http_client *c,
					  struct http_result *res)
{
	if (res->status >= 200 && res->status < 300) {
		http_result_msg(res, "%s answer larger than %d bytes",
				c->what, HTTP_BODY_MAX);
		return HTTP_FATAL;
	}
	return HTTP_OK;
}

/* Endless headers: a broken or hostile server, not a passing fault. */
static enum http_verdict header_overflow_verdict(struct http_client *c,
						 struct http_result *res)
{
	http_result_msg(res, "%s: answer headers from %s larger than %d "
			"bytes", c->what, c->host, HTTP_HEADER_MAX);
	return HTTP_FATAL;
}

static void read_answer_info(struct http_client *c, struct http_result *res)
{
	long seconds;

	res->status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
	res->retry_after_s = -1;
	if (c->retry_after[0] &&
	    !http_parse_retry_after(c->retry_after, time(NULL), &seconds))
		res->retry_after_s = seconds;
}

enum http_verdict http_perform(struct http_client *c,
			       struct http_result *res)
{
	enum http_verdict v = HTTP_OK;
	CURLcode rc;

	rc = curl_easy_perform(c->curl);
	read_answer_info(c, res);
	if (rc == CURLE_WRITE_ERROR && c->header_overflow)
		v = header_overflow_verdict(c, res);
	else if (rc == CURLE_WRITE_ERROR && c->body_overflow)
		v = overflow_verdict(c, res);
	else if (rc != CURLE_OK)
		v = transport_verdict(c, rc, res);
	log_debug("%s: %s: HTTP %ld, %s", c->what, c->host, res->status,
		  curl_easy_strerror(rc));
	/* Leave no pointer into the caller's request behind. */
	curl_easy_reset(c->curl);
	http_free_headers(c->headers);
	c->headers = NULL;
	return v;
}

long http_client_stall_s(const struct http_client *c)
{
	return c->low_speed_time_s;
}

const char *http_body(const struct http_client *c, size_t *len)
{
	*len = c->body_len;
	return c->body;
}
