/*
 * baseline: the "curl-presign" reference client of tests/bench/run.
 *
 * Uploads files the way a careful, fast client of the API in API.md
 * would, so that octofs can be compared with it: one process, JOBS
 * threads, each with its own libcurl easy handle reused for all of its
 * requests (connections stay open), and for each file a presign POST
 * followed by a PUT streamed from disk with an exact Content-Length, the
 * answer's Content-Type and no "Expect: 100-continue" round trip.
 *
 *   baseline [-j JOBS] [-k KEYS] [-t TYPE] ENDPOINT FILE...
 *	upload every FILE; print the elapsed seconds
 *   baseline -n SAMPLES [-k KEYS] [-t TYPE] ENDPOINT FILE
 *	latency on a warm connection: upload FILE once untimed, then
 *	SAMPLES times, printing each presign + PUT time in seconds
 *   baseline -p COUNT [-j JOBS] [-t TYPE] ENDPOINT
 *	presign requests only, COUNT in all: the presign server's rate
 *
 * -k writes "OBJECT_KEY<TAB>FILE" for each upload, for checking the
 * stored objects.  The API key comes from OCTOFS_API_KEY.  Any failure
 * (network, a status other than 2xx, a malformed answer) ends the
 * program with status 1 and a message on stderr.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define PRESIGN_PATH "/api/upload/presign"
#define EXPIRES_IN_S 900
#define ANSWER_MAX (64 * 1024)		/* presign and storage answers */
#define UPLOAD_BUFFER_BYTES (512 * 1024L)	/* libcurl's send buffer */
#define JOBS_MAX 64
#define CONNECT_TIMEOUT_S 10L
#define STALL_S 30L		/* no byte moved this long: fail */

/* What every thread shares.  Only @next and @failed change. */
struct bench {
	char *presign_url;
	char *auth_header;		/* "Authorization: Bearer ..." */
	const char *content_type;	/* asked for in each presign */
	char **files;
	size_t n_files;
	size_t n_presigns;		/* -p: presign only, this many */
	char **keys;			/* object key per file, or NULL */
	atomic_size_t next;		/* next file (or presign) to do */
	atomic_int failed;		/* stop taking work */
};

/* One thread's connection and answer buffer. */
struct client {
	struct bench *b;
	CURL *curl;
	char body[ANSWER_MAX + 1];
	size_t body_len;
	char errbuf[CURL_ERROR_SIZE];
};

/* The fields of a presign answer that the upload needs. */
struct answer {
	char *upload_url;
	char *content_type;
	char *object_key;
};

/* The file being sent by a PUT. */
struct source {
	int fd;
	off_t size;
	off_t offset;
	int read_errno;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void answer_clear(struct answer *ans)
{
	free(ans->upload_url);
	free(ans->content_type);
	free(ans->object_key);
	memset(ans, 0, sizeof(*ans));
}

/* Keep the answer's body, capped; a longer one is an error. */
static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t len = size * nmemb;

	if (len > ANSWER_MAX - c->body_len)
		return 0;
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return len;
}

/*
 * Reset the handle for a new request.  curl_easy_reset() keeps the
 * handle's open connections, which is the point of reusing it.
 */
static int client_reset(struct client *c, const char *url,
			struct curl_slist *headers)
{
	CURL *h = c->curl;

	curl_easy_reset(h);
	c->body_len = 0;
	c->body[0] = '\0';
	c->errbuf[0] = '\0';
	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_S) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, c))
		return -1;
	return 0;
}

/* Run the transfer; 0 on a 2xx answer, else -1 with a message. */
static int client_perform(struct client *c, const char *what,
			  const char *subject)
{
	CURLcode rc = curl_easy_perform(c->curl);
	long status = 0;

	if (rc != CURLE_OK) {
		fprintf(stderr, "baseline: %s of %s: %s\n", what, subject,
			c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		fprintf(stderr, "baseline: %s of %s: HTTP %ld: %.200s\n",
			what, subject, status, c->body);
		return -1;
	}
	return 0;
}

/* The JSON body of a presign request, as a new string. */
static char *presign_body(const char *file_name, const char *content_type)
{
	struct json_object *obj = json_object_new_object();
	char *body = NULL;

	if (!obj)
		return NULL;
	if (!json_object_object_add(obj, "file_name",
				    json_object_new_string(file_name)) &&
	    !json_object_object_add(obj, "content_type",
				    json_object_new_string(content_type)) &&
	    !json_object_object_add(obj, "expires_in",
				    json_object_new_int(EXPIRES_IN_S)))
		body = strdup(json_object_to_json_string_ext(
			obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	return body;
}

/* A copy of string member @name of @obj, or NULL. */
static char *member_string(struct json_object *obj, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

/* Pick upload_url, content_type and object_key out of the envelope. */
static int parse_answer(const char *body, size_t len, struct answer *ans)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *v, *data;
	int err = -1;

	if (!tok)
		return -1;
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (!root || !json_object_object_get_ex(root, "success", &v) ||
	    !json_object_get_boolean(v) ||
	    !json_object_object_get_ex(root, "data", &data) ||
	    !json_object_object_get_ex(data, "method", &v) ||
	    strcmp(json_object_get_string(v), "PUT"))
		goto out_free;
	ans->upload_url = member_string(data, "upload_url");
	ans->content_type = member_string(data, "content_type");
	ans->object_key = member_string(data, "object_key");
	if (ans->upload_url && ans->content_type && ans->object_key)
		err = 0;
	else
		answer_clear(ans);
out_free:
	json_object_put(root);
	json_tokener_free(tok);
	return err;
}

/* A header list of the @n lines in @lines, or NULL. */
static struct curl_slist *header_list(const char *const *lines, size_t n)
{
	struct curl_slist *list = NULL, *grown;
	size_t i;

	for (i = 0; i < n; i++) {
		grown = curl_slist_append(list, lines[i]);
		if (!grown) {
			curl_slist_free_all(list);
			return NULL;
		}
		list = grown;
	}
	return list;
}

/* Step 1 of API.md: POST the presign request and parse the answer. */
static int presign(struct client *c, const char *file_name,
		   struct answer *ans)
{
	const char *lines[] = { c->b->auth_header,
				"Content-Type: application/json", "Expect:" };
	struct curl_slist *headers = header_list(lines, 3);
	char *body = presign_body(file_name, c->b->content_type);
	int err = -1;

	if (!headers || !body)
		goto out_free;
	if (client_reset(c, c->b->presign_url, headers) ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
			     (long)strlen(body)))
		goto out_free;
	if (client_perform(c, "presign", file_name))
		goto out_free;
	err = parse_answer(c->body, c->body_len, ans);
	if (err)
		fprintf(stderr, "baseline: presign of %s: malformed answer: "
			"%.200s\n", file_name, c->body);
out_free:
	curl_slist_free_all(headers);
	free(body);
	return err;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct source *src = arg;
	size_t want = size * nitems;
	ssize_t n;

	if ((off_t)want > src->size - src->offset)
		want = (size_t)(src->size - src->offset);
	if (!want)
		return 0;
	do
		n = read(src->fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* Fewer bytes than Content-Length would hang the server. */
		src->read_errno = n < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	src->offset += n;
	return (size_t)n;
}

/* libcurl rewinds when it resends a body on a connection found closed. */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct source *src = arg;

	if (origin != SEEK_SET || lseek(src->fd, (off_t)offset, SEEK_SET) < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	src->offset = (off_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int set_body(CURL *h, struct source *src)
{
	if (curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) ||
	    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
			     (curl_off_t)src->size) ||
	    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE,
			     UPLOAD_BUFFER_BYTES) ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb) ||
	    curl_easy_setopt(h, CURLOPT_READDATA, src) ||
	    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb) ||
	    curl_easy_setopt(h, CURLOPT_SEEKDATA, src))
		return -1;
	return 0;
}

/* Step 2 of API.md: PUT the file, streamed, with its exact length. */
static int put(struct client *c, const struct answer *ans, const char *path)
{
	struct source src = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	struct curl_slist *headers = NULL;
	char *ctype = NULL;
	struct stat st;
	int err = -1;

	if (src.fd < 0 || fstat(src.fd, &st)) {
		fprintf(stderr, "baseline: %s: %s\n", path, strerror(errno));
		goto out_close;
	}
	src.size = st.st_size;
	if (asprintf(&ctype, "Content-Type: %s", ans->content_type) < 0) {
		ctype = NULL;
		goto out_close;
	}
	headers = header_list((const char *const[]){ ctype, "Expect:" }, 2);
	if (!headers)
		goto out_free;
	if (client_reset(c, ans->upload_url, headers) ||
	    set_body(c->curl, &src))
		goto out_free;
	err = client_perform(c, "upload", path);
	if (src.read_errno)
		fprintf(stderr, "baseline: reading %s: %s\n", path,
			strerror(src.read_errno));
out_free:
	curl_slist_free_all(headers);
	free(ctype);
out_close:
	if (src.fd >= 0)
		close(src.fd);
	return err;
}

/* Presign and PUT file @i; its object key goes to b->keys[i]. */
static int upload(struct client *c, size_t i)
{
	const char *path = c->b->files[i];
	char *copy = strdup(path);
	struct answer ans = { 0 };
	int err = -1;

	if (!copy)
		return -1;
	if (!presign(c, basename(copy), &ans) && !put(c, &ans, path)) {
		free(c->b->keys[i]);
		c->b->keys[i] = ans.object_key;
		ans.object_key = NULL;
		err = 0;
	}
	answer_clear(&ans);
	free(copy);
	return err;
}

/* -p mode: one presign, its answer checked and dropped. */
static int presign_only(struct client *c, size_t i)
{
	struct answer ans = { 0 };
	char name[64];
	int err;

	snprintf(name, sizeof(name), "presign-%zu.bin", i);
	err = presign(c, name, &ans);
	answer_clear(&ans);
	return err;
}

static struct client *client_new(struct bench *b)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->b = b;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	return c;
}

static void client_free(struct client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

/* A thread: take the next file until none is left or one failed. */
static void *worker_main(void *arg)
{
	struct bench *b = arg;
	size_t total = b->n_presigns ? b->n_presigns : b->n_files;
	struct client *c = client_new(b);
	size_t i;
	int err;

	if (!c) {
		fprintf(stderr, "baseline: out of memory\n");
		atomic_store(&b->failed, 1);
		return NULL;
	}
	while (!atomic_load(&b->failed)) {
		i = atomic_fetch_add(&b->next, 1);
		if (i >= total)
			break;
		err = b->n_presigns ? presign_only(c, i) : upload(c, i);
		if (err)
			atomic_store(&b->failed, 1);
	}
	client_free(c);
	return NULL;
}

/* Run @jobs threads over the work; 0 when all of it succeeded. */
static int run_threads(struct bench *b, unsigned int jobs)
{
	pthread_t threads[JOBS_MAX];
	unsigned int i, started = 0;

	for (i = 0; i < jobs; i++) {
		if (pthread_create(&threads[i], NULL, worker_main, b)) {
			fprintf(stderr, "baseline: cannot start a thread\n");
			atomic_store(&b->failed, 1);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return atomic_load(&b->failed) ? -1 : 0;
}

/* -n mode: one warm-up upload, then @samples timed ones of files[0]. */
static int run_latency(struct bench *b, unsigned long samples)
{
	struct client *c = client_new(b);
	unsigned long i;
	double start;
	int err = -1;

	if (!c)
		return -1;
	for (i = 0; i <= samples; i++) {
		start = now_s();
		if (upload(c, i))
			goto out_free;
		if (i > 0)
			printf("%.6f\n", now_s() - start);
	}
	err = 0;
out_free:
	client_free(c);
	return err;
}

/* Write "KEY<TAB>FILE" for each upload done. */
static int write_keys(const struct bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f) {
		fprintf(stderr, "baseline: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < b->n_files; i++)
		if (b->keys[i])
			fprintf(f, "%s\t%s\n", b->keys[i], b->files[i]);
	if (fclose(f)) {
		fprintf(stderr, "baseline: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: baseline [-j JOBS] [-k KEYS] [-t TYPE] ENDPOINT "
		"FILE...\n"
		"       baseline -n SAMPLES [-k KEYS] [-t TYPE] ENDPOINT "
		"FILE\n"
		"       baseline -p COUNT [-j JOBS] [-t TYPE] ENDPOINT\n"
		"The API key comes from OCTOFS_API_KEY.\n");
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		usage();
	return v;
}

struct args {
	unsigned int jobs;
	unsigned long samples;		/* -n */
	const char *keys_path;		/* -k */
};

static void parse_args(int argc, char **argv, struct bench *b,
		       struct args *a)
{
	int opt;

	while ((opt = getopt(argc, argv, "j:k:n:p:t:")) != -1) {
		if (opt == 'j')
			a->jobs = (unsigned int)number(optarg, JOBS_MAX);
		else if (opt == 'k')
			a->keys_path = optarg;
		else if (opt == 'n')
			a->samples = number(optarg, 1000000);
		else if (opt == 'p')
			b->n_presigns = number(optarg, 100000000);
		else if (opt == 't')
			b->content_type = optarg;
		else
			usage();
	}
	if (optind >= argc)
		usage();
	b->files = argv + optind + 1;
	b->n_files = (size_t)(argc - optind - 1);
	if (b->n_presigns ? b->n_files != 0 :
	    a->samples ? b->n_files != 1 : b->n_files == 0)
		usage();
	if (a->samples)
		b->n_files = a->samples + 1;	/* one file, many uploads */
}

/* The endpoint, the key header and the key slots. */
static int setup(struct bench *b, const char *endpoint)
{
	const char *key = getenv("OCTOFS_API_KEY");
	size_t len = strlen(endpoint);

	if (!key || !*key) {
		fprintf(stderr, "baseline: OCTOFS_API_KEY is not set\n");
		return -1;
	}
	while (len && endpoint[len - 1] == '/')
		len--;
	if (asprintf(&b->presign_url, "%.*s%s", (int)len, endpoint,
		     PRESIGN_PATH) < 0 ||
	    asprintf(&b->auth_header, "Authorization: Bearer %s", key) < 0)
		return -1;
	b->keys = calloc(b->n_files ? b->n_files : 1, sizeof(*b->keys));
	return b->keys ? 0 : -1;
}

static void bench_free(struct bench *b)
{
	size_t i;

	for (i = 0; b->keys && i < b->n_files; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b->presign_url);
	free(b->auth_header);
}

int main(int argc, char **argv)
{
	struct bench b = { .content_type = "application/octet-stream" };
	struct args a = { .jobs = 1 };
	char **one_file = NULL;
	double start;
	int err = -1;
	size_t i;

	parse_args(argc, argv, &b, &a);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	if (setup(&b, argv[optind]))
		goto out_free;
	if (a.samples) {
		one_file = calloc(b.n_files, sizeof(*one_file));
		if (!one_file)
			goto out_free;
		for (i = 0; i < b.n_files; i++)
			one_file[i] = b.files[0];
		b.files = one_file;
	}
	start = now_s();
	if (a.samples)
		err = run_latency(&b, a.samples);
	else
		err = run_threads(&b, a.jobs);
	if (!err && !a.samples)
		printf("%.6f\n", now_s() - start);
	if (!err && a.keys_path)
		err = write_keys(&b, a.keys_path);
out_free:
	bench_free(&b);
	free(one_file);
	curl_global_cleanup();
	return err ? 1 : 0;
}
