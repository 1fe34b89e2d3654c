/*
 * put: stream a stored file to a signed upload URL (step 2 of API.md).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_exchange.h"
#include "put.h"

/*
 * libcurl's upload buffer, allocated once per handle: big enough for few
 * pread() calls per second on a fast link, and fixed whatever the file.
 */
#define UPLOAD_BUFFER_BYTES (512 * 1024L)
#define DETAIL_MAX 200		/* bytes of an error body shown */
#define ANSWER_MAX (1024 * 1024L)	/* storage answers are small */

/* The file being sent, and why the callbacks stopped it, if they did. */
struct put_source {
	int fd;
	off_t size;
	off_t offset;		/* next byte to send */
	int read_errno;		/* pread() failed */
	int short_read;		/* the file ended before @size */
	const atomic_int *cancel;
	int cancelled;
	long stall_s;		/* no byte either way this long: give up */
	int stalled;
	int sent;		/* the whole body went out at sent_at */
	struct timespec sent_at;	/* CLOCK_MONOTONIC */
	int answer_late;	/* no complete answer stall_s after that */
	int answer_too_big;	/* over ANSWER_MAX */
	curl_off_t last_ul, last_dl;
	struct timespec last_move;	/* CLOCK_MONOTONIC */
	put_progress_fn progress;
	void *progress_arg;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct put_source *src = arg;
	size_t want = size * nitems;
	off_t left = src->size - src->offset;
	ssize_t n;

	if (left <= 0)
		return 0;
	if ((off_t)want > left)
		want = (size_t)left;
	do
		n = pread(src->fd, buf, want, src->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		src->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	/* Sending fewer bytes than Content-Length would stall the server. */
	if (n == 0) {
		src->short_read = 1;
		return CURL_READFUNC_ABORT;
	}
	src->offset += n;
	return (size_t)n;
}

/*
 * libcurl rewinds when it resends the body, e.g. after a reused
 * connection turned out to be closed.  Only the start position is ever
 * asked for, but any offset within the file is cheap to honour.
 */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct put_source *src = arg;

	if (origin != SEEK_SET || offset < 0 || offset > src->size)
		return CURL_SEEKFUNC_CANTSEEK;
	src->offset = (off_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* At least @s seconds from @since to @now (not whole-second ticks). */
static bool waited_s(const struct timespec *since, const struct timespec *now,
		     long s)
{
	long long ms = (long long)(now->tv_sec - since->tv_sec) * 1000 +
		       (now->tv_nsec - since->tv_nsec) / 1000000;

	return ms >= (long long)s * 1000;
}

/*
 * libcurl's low-speed limit averages over seconds, so a small body sent
 * at once hides a server that then never answers; watch for silence
 * itself: no byte sent or received for stall_s seconds.
 */
static int check_stall(struct put_source *src, curl_off_t ulnow,
		       curl_off_t dlnow)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ulnow != src->last_ul || dlnow != src->last_dl) {
		src->last_ul = ulnow;
		src->last_dl = dlnow;
		src->last_move = now;
		return 0;
	}
	if (!waited_s(&src->last_move, &now, src->stall_s))
		return 0;
	src->stalled = 1;
	return 1;
}

/*
 * A server can also drip its answer a byte at a time, or send an endless
 * one, and never look silent: once the body is out, the answer must end
 * within stall_s seconds and stay under ANSWER_MAX bytes (what is kept
 * of it for messages is capped by http.c in any case).
 */
static int check_answer(struct put_source *src, curl_off_t ulnow,
			curl_off_t dlnow)
{
	struct timespec now;

	if (dlnow > ANSWER_MAX) {
		src->answer_too_big = 1;
		return 1;
	}
	if (ulnow < src->size) {	/* (again, after a rewind) */
		src->sent = 0;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!src->sent) {
		src->sent = 1;
		src->sent_at = now;
		return 0;
	}
	if (!waited_s(&src->sent_at, &now, src->stall_s))
		return 0;
	src->answer_late = 1;
	return 1;
}

static int xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct put_source *src = arg;

	(void)dltotal;
	(void)ultotal;
	if (src->cancel && atomic_load(src->cancel)) {
		src->cancelled = 1;
		return 1;
	}
	if (check_stall(src, ulnow, dlnow) || check_answer(src, ulnow, dlnow))
		return 1;
	if (src->progress)
		src->progress(src->progress_arg, (off_t)ulnow, src->size);
	return 0;
}

/*
 * An exact Content-Length (never chunked: signed PUTs refuse it), and no
 * "Expect: 100-continue" round trip.  No Authorization: the signature in
 * the URL is the credential, and the API key must never reach storage.
 */
static int set_body(CURL *h, struct put_source *src)
{
	if (curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) ||
	    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
			     (curl_off_t)src->size) ||
	    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE,
			     UPLOAD_BUFFER_BYTES) ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb) ||
	    curl_easy_setopt(h, CURLOPT_READDATA, src) ||
	    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb) ||
	    curl_easy_setopt(h, CURLOPT_SEEKDATA, src) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFODATA, src) ||
	    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L))
		return -EIO;
	return 0;
}

/* Headers, URL and body.  HTTP_OK with *@h set, or the reason in @res. */
static enum http_verdict prepare(struct http_client *c, const char *url,
				 const char *content_type,
				 struct put_source *src,
				 struct http_result *res, CURL **h)
{
	struct http_request req = { .what = "upload", .url = url,
				    .truncate_body = 1 };
	int rc;

	rc = http_add_header(&req.headers, "Content-Type", content_type);
	if (!rc)
		rc = http_add_header(&req.headers, "Expect", "");
	if (rc) {
		http_free_headers(req.headers);
		http_result_msg(res, "upload: %s", rc == -EINVAL ?
				"control characters in the content type" :
				"out of memory");
		return rc == -EINVAL ? HTTP_FATAL : HTTP_RETRY;
	}
	*h = http_prepare(c, &req, res);
	if (!*h)
		return HTTP_RETRY;
	if (set_body(*h, src)) {
		http_result_msg(res, "upload: cannot set up the request");
		return HTTP_RETRY;
	}
	return HTTP_OK;
}

/*
 * What the storage said, for the error message: its JSON or XML message,
 * else the start of a plain-text body (markup is more noise than news).
 */
static void error_detail(struct http_client *c, char *dst, size_t dst_len)
{
	size_t len, skip;
	const char *body = http_body(c, &len);

	dst[0] = '\0';
	if (!http_body_message(body, len, dst, dst_len))
		return;
	skip = strspn(body, " \t\r\n");
	if (skip == len || body[skip] == '<' || body[skip] == '{')
		return;
	http_clean_text(dst, dst_len, body + skip,
			len - skip < DETAIL_MAX ? len - skip : DETAIL_MAX);
}

static enum http_verdict status_verdict(struct http_client *c,
					struct http_result *res)
{
	long st = res->status;
	enum http_verdict v = HTTP_FATAL;
	const char *what = "upload refused";
	char detail[DETAIL_MAX + 1];

	if (st >= 200 && st < 300)
		return HTTP_OK;
	error_detail(c, detail, sizeof(detail));
	/* Signed URLs answer 403 once they expired: ask for a new one. */
	if (st == 403) {
		v = HTTP_EXPIRED;
		what = "upload URL refused";
	} else if (http_status_retryable(st)) {
		v = HTTP_RETRY;
		what = "upload failed";
	} else if (st >= 300 && st < 400) {
		what = "upload: redirect to another location refused";
	}
	http_result_msg(res, "%s (HTTP %ld)%s%s", what, st,
			detail[0] ? ": " : "", detail);
	return v;
}

/* The callbacks' reasons come first: they explain curl's abort. */
static enum http_verdict outcome(struct http_client *c,
				 const struct put_source *src,
				 enum http_verdict v, struct http_result *res)
{
	if (src->read_errno) {
		http_result_msg(res, "cannot read the stored file: %s",
				strerror(src->read_errno));
		return HTTP_FATAL;
	}
	if (src->short_read) {
		http_result_msg(res, "file changed during upload "
				"(%lld of %lld bytes read)",
				(long long)src->offset, (long long)src->size);
		return HTTP_RETRY;
	}
	if (src->cancelled) {
		http_result_msg(res, "upload cancelled");
		return HTTP_CANCELLED;
	}
	if (src->stalled) {
		http_result_msg(res, "upload: no answer from the server for "
				"%ld s", src->stall_s);
		return HTTP_RETRY;
	}
	if (src->answer_late) {
		http_result_msg(res, "upload: the server's answer did not end "
				"within %ld s", src->stall_s);
		return HTTP_RETRY;
	}
	if (src->answer_too_big) {
		http_result_msg(res, "upload: the server's answer is larger "
				"than %ld bytes", ANSWER_MAX);
		return HTTP_FATAL;
	}
	return v == HTTP_OK ? status_verdict(c, res) : v;
}

enum http_verdict put_file(struct http_client *c, const char *url,
			   const char *content_type, int fd, off_t size,
			   const atomic_int *cancel,
			   put_progress_fn progress, void *progress_arg,
			   struct http_result *res)
{
	struct put_source src = {
		.fd = fd, .size = size, .cancel = cancel,
		.progress = progress, .progress_arg = progress_arg,
		.stall_s = http_client_stall_s(c),
	};
	enum http_verdict v;
	CURL *h;

	http_result_init(res);
	if (cancel && atomic_load(cancel)) {
		http_result_msg(res, "upload cancelled");
		return HTTP_CANCELLED;
	}
	if (size < 0) {
		http_result_msg(res, "upload: negative file size");
		return HTTP_FATAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &src.last_move);
	v = prepare(c, url, content_type, &src, res, &h);
	if (v != HTTP_OK)
		return v;
	v = http_perform(c, res);
	return outcome(c, &src, v, res);
}
