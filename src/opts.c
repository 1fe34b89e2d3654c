/*
 * opts: options from the command line and the config file, and the key.
 *
 * Both sources go through set_option(), so a value means the same thing
 * wherever it is written; the command line wins.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"

/* read_small_file(): not a regular file (open and fstat never say it). */
#define ERR_NOT_REGULAR (-ESPIPE)

#define CONFIG_LINE_MAX 4096
#define CONFIG_SIZE_MAX (1024 * 1024)
#define URL_WAIT_MAX 86400

enum opt_kind { OPT_STR, OPT_UINT, OPT_BOOL, OPT_LEVEL, OPT_KEY };

struct opt_def {
	const char *name;
	enum opt_kind kind;
	size_t offset;
	unsigned int min, max;
	bool clamp;
};

#define STR(n) { #n, OPT_STR, offsetof(struct octofs_opts, n), 0, 0, 0 }
static const struct opt_def opt_defs[] = {
	STR(endpoint), STR(key_file), STR(prefix), STR(ignore), STR(ca_file),
	STR(config),
	{ "expires_in", OPT_UINT, offsetof(struct octofs_opts, expires_in),
	  OPTS_EXPIRES_MIN, OPTS_EXPIRES_MAX, true },
	{ "jobs", OPT_UINT, offsetof(struct octofs_opts, jobs),
	  1, OPTS_JOBS_MAX, false },
	{ "url_wait", OPT_UINT, offsetof(struct octofs_opts, url_wait_s),
	  0, URL_WAIT_MAX, false },
	{ "retry_min_ms", OPT_UINT, offsetof(struct octofs_opts, retry_min_ms),
	  1, OPTS_RETRY_MS_MAX, false },
	{ "retry_max_ms", OPT_UINT, offsetof(struct octofs_opts, retry_max_ms),
	  1, OPTS_RETRY_MS_MAX, false },
	{ "stop_grace", OPT_UINT, offsetof(struct octofs_opts, stop_grace_s),
	  0, OPTS_STOP_GRACE_MAX, false },
	{ "timeout", OPT_UINT, offsetof(struct octofs_opts, timeout_s),
	  1, OPTS_TIMEOUT_MAX, false },
	{ "settle", OPT_UINT, offsetof(struct octofs_opts, settle_ms),
	  0, OPTS_SETTLE_MAX, false },
	{ "cache_timeout", OPT_UINT,
	  offsetof(struct octofs_opts, cache_timeout_s), 0,
	  OPTS_CACHE_TIMEOUT_MAX, false },
	{ "fd_cache", OPT_UINT, offsetof(struct octofs_opts, fd_cache),
	  OPTS_FD_CACHE_MIN, OPTS_FD_CACHE_MAX, false },
	{ "url_files", OPT_BOOL, offsetof(struct octofs_opts, url_files),
	  0, 1, false },
	{ "presign_ahead", OPT_BOOL,
	  offsetof(struct octofs_opts, presign_ahead), 0, 1, false },
	{ "passthrough", OPT_BOOL,
	  offsetof(struct octofs_opts, passthrough), 0, 1, false },
	{ "log_level", OPT_LEVEL, offsetof(struct octofs_opts, log_level),
	  0, 0, false },
	{ "api_key", OPT_KEY, offsetof(struct octofs_opts, api_key),
	  0, 0, false },
};
#undef STR

#define N_OPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

/* One bit of cmdline_set per option. */
_Static_assert(N_OPTS <= sizeof(unsigned int) * 8, "too many options");

static const struct opt_def *find_def(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_OPTS; i++)
		if (strlen(opt_defs[i].name) == len &&
		    !strncmp(opt_defs[i].name, name, len))
			return &opt_defs[i];
	return NULL;
}

static int parse_uint(const struct opt_def *d, const char *value,
		      unsigned int *out, char *err, size_t err_len)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (!*value || *end || !isdigit((unsigned char)*value) || errno) {
		snprintf(err, err_len, "%s=%s: not a number", d->name, value);
		return -EINVAL;
	}
	if (d->clamp) {
		v = v < d->min ? d->min : v > d->max ? d->max : v;
	} else if (v < d->min || v > d->max) {
		snprintf(err, err_len, "%s=%s: must be between %u and %u",
			 d->name, value, d->min, d->max);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* Set one option from "name" and "value"; errors name the option. */
static int set_option(struct octofs_opts *o, const struct opt_def *d,
		      const char *value, char *err, size_t err_len)
{
	void *field = (char *)o + d->offset;
	enum log_level level;
	unsigned int v;
	int res;

	switch (d->kind) {
	case OPT_UINT:
	case OPT_BOOL:
		res = parse_uint(d, value, &v, err, err_len);
		if (res)
			return res;
		if (d->kind == OPT_BOOL)
			*(int *)field = (int)v;
		else
			*(unsigned int *)field = v;
		return 0;
	case OPT_LEVEL:
		if (log_level_parse(value, &level)) {
			snprintf(err, err_len, "%s=%s: expected error, warn, "
				 "info or debug", d->name, value);
			return -EINVAL;
		}
		return set_string(field, value);
	default:
		if (!*value && d->kind != OPT_STR) {
			snprintf(err, err_len, "%s: empty value", d->name);
			return -EINVAL;
		}
		return set_string(field, value);
	}
}

/* fuse_opt parsing of the command line. */
enum {
	KEY_OURS, KEY_KEY_REFUSED, KEY_FOREGROUND, KEY_DEBUG, KEY_SINGLE,
	KEY_HELP, KEY_VERSION, KEY_FSTAB, KEY_SHARED, KEY_DEFAULT_PERMS,
};

static const struct fuse_opt cmdline_opts[] = {
	FUSE_OPT_KEY("endpoint=", KEY_OURS),
	FUSE_OPT_KEY("key_file=", KEY_OURS),
	FUSE_OPT_KEY("prefix=", KEY_OURS),
	FUSE_OPT_KEY("expires_in=", KEY_OURS),
	FUSE_OPT_KEY("jobs=", KEY_OURS),
	FUSE_OPT_KEY("ignore=", KEY_OURS),
	FUSE_OPT_KEY("url_files=", KEY_OURS),
	FUSE_OPT_KEY("presign_ahead=", KEY_OURS),
	FUSE_OPT_KEY("passthrough=", KEY_OURS),
	FUSE_OPT_KEY("url_wait=", KEY_OURS),
	FUSE_OPT_KEY("retry_min_ms=", KEY_OURS),
	FUSE_OPT_KEY("retry_max_ms=", KEY_OURS),
	FUSE_OPT_KEY("stop_grace=", KEY_OURS),
	FUSE_OPT_KEY("timeout=", KEY_OURS),
	FUSE_OPT_KEY("settle=", KEY_OURS),
	FUSE_OPT_KEY("cache_timeout=", KEY_OURS),
	FUSE_OPT_KEY("fd_cache=", KEY_OURS),
	FUSE_OPT_KEY("ca_file=", KEY_OURS),
	FUSE_OPT_KEY("config=", KEY_OURS),
	FUSE_OPT_KEY("log_level=", KEY_OURS),
	FUSE_OPT_KEY("api_key=", KEY_KEY_REFUSED),
	FUSE_OPT_KEY("key=", KEY_KEY_REFUSED),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("allow_other", KEY_SHARED),
	FUSE_OPT_KEY("allow_root", KEY_SHARED),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMS),
	/* fstab words that mean nothing to the filesystem itself */
	FUSE_OPT_KEY("defaults", KEY_FSTAB),
	FUSE_OPT_KEY("auto", KEY_FSTAB),
	FUSE_OPT_KEY("noauto", KEY_FSTAB),
	FUSE_OPT_KEY("user", KEY_FSTAB),
	FUSE_OPT_KEY("nouser", KEY_FSTAB),
	FUSE_OPT_KEY("users", KEY_FSTAB),
	FUSE_OPT_KEY("_netdev", KEY_FSTAB),
	FUSE_OPT_KEY("nofail", KEY_FSTAB),
	FUSE_OPT_END
};

struct parse_state {
	struct octofs_opts *o;
	char *err;
	size_t err_len;
	int positional;
};

static int take_positional(struct parse_state *ps, const char *arg)
{
	char **slot;

	if (ps->positional >= 2) {
		snprintf(ps->err, ps->err_len,
			 "usage: octofs [OPTIONS] [STORE] MOUNTPOINT");
		return -1;
	}
	/* The first of two is the store: shift the mount point over. */
	if (ps->positional == 1) {
		ps->o->store = ps->o->mountpoint;
		ps->o->mountpoint = NULL;
	}
	slot = &ps->o->mountpoint;
	ps->positional++;
	return set_string(slot, arg) ? -1 : 0;
}

static int take_ours(struct parse_state *ps, const char *arg)
{
	const char *eq = strchr(arg, '=');
	const struct opt_def *d = eq ? find_def(arg, (size_t)(eq - arg)) :
				       NULL;

	/* The parser's keys and the table are kept in step by hand. */
	if (!d) {
		snprintf(ps->err, ps->err_len, "internal error: option %s "
			 "has no definition", arg);
		return -1;
	}
	if (set_option(ps->o, d, eq + 1, ps->err, ps->err_len))
		return -1;
	ps->o->cmdline_set |= 1u << (d - opt_defs);
	return 0;
}

static int proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct parse_state *ps = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return take_positional(ps, arg);
	case KEY_OURS:
		return take_ours(ps, arg);
	case KEY_KEY_REFUSED:
		snprintf(ps->err, ps->err_len, "the API key is never accepted "
			 "on the command line (other users can read it); use "
			 "OCTOFS_API_KEY, key_file= or the config file");
		return -1;
	case KEY_FOREGROUND:
		ps->o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		ps->o->debug = 1;
		ps->o->foreground = 1;
		return 1;
	case KEY_SINGLE:
		ps->o->singlethread = 1;
		return 0;
	case KEY_HELP:
		ps->o->show_help = 1;
		return 0;
	case KEY_VERSION:
		ps->o->show_version = 1;
		return 0;
	case KEY_FSTAB:
		return 0;
	case KEY_SHARED:	/* kept for libfuse */
		ps->o->shared = 1;
		return 1;
	case KEY_DEFAULT_PERMS:
		ps->o->default_permissions = 1;
		return 1;
	default:
		/* x-systemd.automount and friends are for mount(8) only */
		return strncmp(arg, "x-", 2) ? 1 : 0;
	}
}

static void set_defaults(struct octofs_opts *o)
{
	o->expires_in = 900;
	o->jobs = 4;
	o->url_files = 1;
	o->presign_ahead = 1;
	o->passthrough = 1;
	o->url_wait_s = 60;
	o->retry_min_ms = 500;
	o->retry_max_ms = 60000;
	o->stop_grace_s = 5;
	o->timeout_s = 30;
	o->settle_ms = 300;
	o->cache_timeout_s = OPTS_CACHE_TIMEOUT_AUTO;
}

int opts_parse_args(struct fuse_args *args, struct octofs_opts *o,
		    char *err, size_t err_len)
{
	struct parse_state ps = { .o = o, .err = err, .err_len = err_len };

	err[0] = '\0';
	set_defaults(o);
	if (fuse_opt_parse(args, &ps, cmdline_opts, proc)) {
		if (!err[0])
			snprintf(err, err_len, "cannot parse the options");
		return -EINVAL;
	}
	if (!o->mountpoint && !o->show_help && !o->show_version) {
		snprintf(err, err_len,
			 "usage: octofs [OPTIONS] [STORE] MOUNTPOINT");
		return -EINVAL;
	}
	if (!o->endpoint && set_string(&o->endpoint, OPTS_DEFAULT_ENDPOINT))
		return -ENOMEM;
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One config line; 0, or -EINVAL with "FILE:LINE: reason". */
static int config_line(struct octofs_opts *o, char *line, const char *file,
		       unsigned int lineno, char *err, size_t err_len)
{
	const struct opt_def *d;
	char *eq, *name, *value, why[256];

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, err_len, "%s:%u: expected 'key = value'", file,
			 lineno);
		return -EINVAL;
	}
	*eq = '\0';
	name = trim(line);
	value = trim(eq + 1);
	d = find_def(name, strlen(name));
	if (!d || !strcmp(name, "config")) {
		snprintf(err, err_len, "%s:%u: unknown key '%.64s'", file,
			 lineno, name);
		return -EINVAL;
	}
	if (o->cmdline_set & (1u << (d - opt_defs)))
		return 0;
	if (set_option(o, d, value, why, sizeof(why))) {
		if (d->kind == OPT_KEY)
			snprintf(why, sizeof(why), "api_key: empty value");
		snprintf(err, err_len, "%s:%u: %s", file, lineno, why);
		return -EINVAL;
	}
	return 0;
}

int opts_parse_config_text(struct octofs_opts *o, const char *text,
			   size_t len, const char *file_name,
			   char *err, size_t err_len)
{
	char line[CONFIG_LINE_MAX + 1];
	unsigned int lineno = 0;
	size_t pos = 0, n;
	const char *nl;
	int res;

	while (pos < len) {
		lineno++;
		nl = memchr(text + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (n > CONFIG_LINE_MAX || memchr(text + pos, '\0', n)) {
			snprintf(err, err_len, "%s:%u: line too long or not "
				 "text", file_name, lineno);
			return -EINVAL;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		res = config_line(o, line, file_name, lineno, err, err_len);
		explicit_bzero(line, sizeof(line));
		if (res)
			return res;
		pos += n + 1;
	}
	return 0;
}

/* The config file's path; NULL when there is none to look at. */
static char *config_path(const struct octofs_opts *o)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char buf[PATH_MAX];

	if (o->config)
		return strdup(o->config);
	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/octofs/config", xdg);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.config/octofs/config", home);
	else
		return NULL;
	return strdup(buf);
}

/*
 * Read all of @fd, at most @max bytes, into a new buffer.  read(2), not
 * stdio: no library buffer is left behind holding a secret.
 */
static int read_all(int fd, size_t max, char **out, size_t *len)
{
	char *buf = malloc(max + 2);
	size_t got = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	do {
		n = read(fd, buf + got, max + 1 - got);
		if (n > 0)
			got += (size_t)n;
	} while ((n > 0 && got <= max) || (n < 0 && errno == EINTR));
	if (n < 0 || got > max) {
		explicit_bzero(buf, got);
		free(buf);
		return n < 0 ? -EIO : -EFBIG;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/*
 * Read the regular file @path, at most @max bytes, and its @st: -errno,
 * -EFBIG, or ERR_NOT_REGULAR (a FIFO would hang start-up).
 */
static int read_small_file(const char *path, size_t max, struct stat *st,
			   char **out, size_t *len)
{
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st))
		err = -errno;
	else if (!S_ISREG(st->st_mode))
		err = ERR_NOT_REGULAR;
	else
		err = read_all(fd, max, out, len);
	close(fd);
	return err;
}

/* A file holding the key must be its owner's alone. */
static int check_private(const struct stat *st, const char *what,
			 const char *path, char *err, size_t err_len)
{
	if (!(st->st_mode & (S_IRWXG | S_IRWXO)))
		return 0;
	snprintf(err, err_len, "%s %s is readable by group or others; "
		 "chmod 600 %s", what, path, path);
	return -EPERM;
}

/* What read_small_file()'s error means, for a message. */
static const char *file_error(int err)
{
	switch (err) {
	case -EFBIG:
		return "too large";
	case ERR_NOT_REGULAR:
		return "not a regular file";
	default:
		return strerror(-err);
	}
}

int opts_load_config(struct octofs_opts *o, char *err, size_t err_len)
{
	char *path = config_path(o), *text = NULL;
	bool had_key = o->api_key != NULL;
	struct stat st;
	size_t len = 0;
	int res;

	if (!path)
		return 0;
	res = read_small_file(path, CONFIG_SIZE_MAX, &st, &text, &len);
	if (res == -ENOENT && !o->config) {
		res = 0;
		goto out_free_path;
	}
	if (res) {
		snprintf(err, err_len, "config %s: %s", path,
			 res == -EFBIG ? "larger than 1 MiB" :
					 file_error(res));
		goto out_free_path;
	}
	res = opts_parse_config_text(o, text, len, path, err, err_len);
	if (!res && !had_key && o->api_key)
		res = check_private(&st, "config file with api_key", path,
				    err, err_len);
	explicit_bzero(text, len);
	free(text);
out_free_path:
	free(path);
	return res;
}

static int check_key(const char *key, const char *from, char *err,
		     size_t err_len)
{
	const char *p;

	if (!*key) {
		snprintf(err, err_len, "the API key from %s is empty", from);
		return -EINVAL;
	}
	if (strlen(key) > OPTS_KEY_MAX) {
		snprintf(err, err_len, "the API key from %s is too long",
			 from);
		return -EINVAL;
	}
	for (p = key; *p; p++) {
		if (!isgraph((unsigned char)*p)) {
			snprintf(err, err_len, "the API key from %s contains "
				 "spaces or control characters", from);
			return -EINVAL;
		}
	}
	return 0;
}

static int key_from_file(struct octofs_opts *o, char *err, size_t err_len)
{
	char *text = NULL, *line;
	struct stat st;
	size_t len = 0;
	int res;

	res = read_small_file(o->key_file, OPTS_KEY_MAX + 2, &st, &text,
			      &len);
	if (res) {
		snprintf(err, err_len, "key file %s: %s", o->key_file,
			 file_error(res));
		return res;
	}
	text[strcspn(text, "\n")] = '\0';
	line = trim(text);
	res = check_private(&st, "key file", o->key_file, err, err_len);
	if (!res)
		res = check_key(line, o->key_file, err, err_len);
	if (!res)
		res = set_string(&o->api_key, line);
	explicit_bzero(text, len);
	free(text);
	return res;
}

int opts_load_key(struct octofs_opts *o, char *err, size_t err_len)
{
	const char *env = getenv("OCTOFS_API_KEY");
	char *path;

	if (env && *env) {
		if (check_key(env, "OCTOFS_API_KEY", err, err_len))
			return -EINVAL;
		if (o->api_key)
			explicit_bzero(o->api_key, strlen(o->api_key));
		return set_string(&o->api_key, env);
	}
	if (o->key_file)
		return key_from_file(o, err, err_len);
	if (o->api_key)
		return check_key(o->api_key, "the config file", err, err_len);
	path = config_path(o);
	snprintf(err, err_len, "no API key: set OCTOFS_API_KEY, "
		 "key_file=PATH or api_key in %s",
		 path ? path : "the config file");
	free(path);
	return -EINVAL;
}

/*
 * Is @host (the authority's host part, no port) a loopback address?
 * Only literal addresses and "localhost" (which libcurl resolves to
 * loopback itself): "127.evil.example" is a name like any other.
 */
static bool loopback_host(const char *host, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct in_addr a4;
	struct in6_addr a6;

	if (len == 9 && !strncasecmp(host, "localhost", 9))
		return true;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (len < 2 || buf[0] != '[' || buf[len - 1] != ']')
		return false;
	buf[len - 1] = '\0';
	return inet_pton(AF_INET6, buf + 1, &a6) == 1 &&
	       IN6_IS_ADDR_LOOPBACK(&a6);
}

/*
 * The characters an endpoint may hold: visible ASCII only, and none
 * that would make appending the presign path change its meaning
 * (query, fragment) or carry credentials in the URL (userinfo).
 */
static int endpoint_chars(const char *url, char *err, size_t err_len)
{
	const unsigned char *u = (const unsigned char *)url;
	size_t i;

	for (i = 0; u[i]; i++) {
		if (u[i] <= 0x20 || u[i] >= 0x7f) {
			snprintf(err, err_len, "endpoint: spaces, control or "
				 "non-ASCII characters are not allowed");
			return -EINVAL;
		}
		if (strchr("?#@\\", u[i])) {
			snprintf(err, err_len, "endpoint=%s: '%c' is not "
				 "allowed (no query, fragment or user name)",
				 url, u[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Length of the host part at @host ("[v6]" kept whole); 0 when there is
 * none or what follows it is not ":PORT", a path or the end.
 */
static size_t host_len(const char *host)
{
	size_t len, digits;
	const char *p;

	if (host[0] != '[') {
		len = strcspn(host, ":/");
	} else {
		len = strcspn(host, "]/");
		if (host[len] != ']')
			return 0;
		len++;
	}
	p = host + len;
	if (*p == ':') {
		digits = strspn(p + 1, "0123456789");
		if (!digits || digits > 5)
			return 0;
		p += 1 + digits;
	}
	return *p == '\0' || *p == '/' ? len : 0;
}

static int validate_endpoint(struct octofs_opts *o, char *err,
			     size_t err_len)
{
	char *url = o->endpoint;
	const char *host;
	size_t len;
	bool http;

	if (endpoint_chars(url, err, err_len))
		return -EINVAL;
	http = !strncasecmp(url, "http://", 7);
	if (!http && strncasecmp(url, "https://", 8)) {
		snprintf(err, err_len, "endpoint=%s: must be an https:// URL",
			 url);
		return -EINVAL;
	}
	host = url + (http ? 7 : 8);
	len = host_len(host);
	if (!len) {
		snprintf(err, err_len, "endpoint=%s: no host, or a "
			 "malformed host or port", url);
		return -EINVAL;
	}
	if (http && !loopback_host(host, len)) {
		snprintf(err, err_len, "endpoint=%s: plain http is refused "
			 "except for loopback addresses; use https", url);
		return -EINVAL;
	}
	len = strlen(url);
	while (len && url[len - 1] == '/')
		url[--len] = '\0';
	return 0;
}

int opts_validate(struct octofs_opts *o, char *err, size_t err_len)
{
	if (o->cache_timeout_s == OPTS_CACHE_TIMEOUT_AUTO)
		o->cache_timeout_s = o->store ? OPTS_CACHE_TIMEOUT_SHARED :
						OPTS_CACHE_TIMEOUT_HIDDEN;
	if (o->retry_min_ms > o->retry_max_ms) {
		snprintf(err, err_len, "retry_min_ms=%u is above "
			 "retry_max_ms=%u", o->retry_min_ms, o->retry_max_ms);
		return -EINVAL;
	}
	return validate_endpoint(o, err, err_len);
}

void opts_print_help(const char *progname)
{
	printf("usage: %s [OPTIONS] [STORE] MOUNTPOINT\n\n"
"A drop folder: files saved into MOUNTPOINT are kept in STORE (default: the\n"
"mount point's own directory) and uploaded; their public URL shows as the\n"
"xattr user.octofs.url and in NAME.url.\n\n"
"options:\n"
"  -h, --help            this summary (see octofs(1))\n"
"  -V, --version         print the version\n"
"  -f                    stay in the foreground\n"
"  -d                    debug output (implies -f)\n"
"  -s                    single-threaded\n"
"  -o endpoint=URL       API base (https://octopusx.ai)\n"
"  -o key_file=PATH      file holding the API key (mode 600)\n"
"  -o prefix=STR         object key prefix (server's default)\n"
"  -o expires_in=N       signed URL lifetime, 60..3600 (900)\n"
"  -o jobs=N             uploads in flight at once, 1..64 (4)\n"
"  -o ignore=GLOB:GLOB   names never uploaded (editor temporaries,\n"
"                        file-sharing clients' litter)\n"
"  -o url_files=0|1      show NAME.url siblings (1)\n"
"  -o presign_ahead=0|1  ask for the upload URL while a file is written (1)\n"
"  -o passthrough=0|1    let the kernel move file bytes to and from the\n"
"                        store itself where it can (1)\n"
"  -o settle=MS          rest after the last close before uploading;\n"
"                        reading the URL, or its writer creating or\n"
"                        truncating another file, ends the rest (300)\n"
"  -o url_wait=SECONDS   how long reading a URL waits (60)\n"
"  -o cache_timeout=SECONDS\n"
"                        how long the kernel keeps names and attributes;\n"
"                        changes made in the store directly show after\n"
"                        this, 0..3600 (600 when the mount point is its\n"
"                        own store, else 1)\n"
"  -o fd_cache=N         descriptors kept open for files the kernel\n"
"                        remembers, 16..1048576 (a quarter of the\n"
"                        open-file limit, at most 16384)\n"
"  -o retry_min_ms=N     first retry delay of a failed request (500)\n"
"  -o retry_max_ms=N     longest retry delay (60000)\n"
"  -o stop_grace=SECONDS time uploads in flight get at unmount (5)\n"
"  -o timeout=SECONDS    retry a request to a silent server after\n"
"                        this (30)\n"
"  -o ca_file=PATH       extra TLS trust anchors (system CAs)\n"
"  -o config=PATH        config file ($XDG_CONFIG_HOME/octofs/config)\n"
"  -o log_level=LEVEL    error, warn, info or debug (info)\n"
"  -o allow_other, ...   libfuse mount options\n\n"
"The API key comes from OCTOFS_API_KEY, key_file= or api_key in the config\n"
"file; never from the command line.\n", progname);
}

void opts_free(struct octofs_opts *o)
{
	char **strs[] = {
		&o->store, &o->mountpoint, &o->endpoint, &o->key_file,
		&o->prefix, &o->ignore, &o->ca_file, &o->config,
		&o->log_level, &o->api_key,
	};
	size_t i;

	if (o->api_key)
		explicit_bzero(o->api_key, strlen(o->api_key));
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}
