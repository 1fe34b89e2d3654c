/* Tests for src/opts.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "opts.h"

static int parse(struct octofs_opts *o, const char *const *argv, int argc,
		 char *err, size_t err_len, struct fuse_args *keep)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int i, res;

	for (i = 0; i < argc; i++)
		fuse_opt_add_arg(&args, argv[i]);
	memset(o, 0, sizeof(*o));
	res = opts_parse_args(&args, o, err, err_len);
	if (keep)
		*keep = args;
	else
		fuse_opt_free_args(&args);
	return res;
}

#define PARSE(o, err, ...) ({ \
	static const char *const argv_[] = { "octofs", __VA_ARGS__ }; \
	parse(o, argv_, sizeof(argv_) / sizeof(argv_[0]), err, \
	      sizeof(err), NULL); })

static void test_args(void)
{
	struct octofs_opts o;
	struct fuse_args rest;
	char err[512];
	static const char *const argv[] = {
		"octofs", "-o",
		"jobs=7,allow_other,url_files=0,presign_ahead=0,passthrough=0",
		"-f",
		"store", "mnt",
	};
	int i, found = 0;

	is_int(parse(&o, argv, 6, err, sizeof(err), &rest), 0, "parse");
	is_int(o.jobs, 7, "jobs");
	is_int(o.url_files, 0, "url_files");
	is_int(o.presign_ahead, 0, "presign_ahead");
	is_int(o.passthrough, 0, "passthrough");
	is_int(o.foreground, 1, "-f");
	is_str(o.store, "store", "store");
	is_str(o.mountpoint, "mnt", "mount point");
	is_str(o.endpoint, OPTS_DEFAULT_ENDPOINT, "default endpoint");
	is_int(o.expires_in, 900, "default expires_in");
	for (i = 0; i < rest.argc; i++)
		found |= strstr(rest.argv[i], "allow_other") != NULL;
	ok(found, "unknown -o options stay for libfuse");
	fuse_opt_free_args(&rest);
	opts_free(&o);

	is_int(PARSE(&o, err, "m"), 0, "mount point only");
	ok(o.store == NULL, "no store: the mount point is its own");
	is_int(o.url_wait_s, 60, "default url_wait");
	is_int(o.passthrough, 1, "default passthrough");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "expires_in=10", "m"), 0, "low expiry");
	is_int(o.expires_in, 60, "clamped up to 60");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "expires_in=99999", "m"), 0, "high");
	is_int(o.expires_in, 3600, "clamped down to 3600");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "expires_in=abc", "m"), -EINVAL, "nan");
	ok(strstr(err, "not a number") != NULL, "says so: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "jobs=0", "m"), -EINVAL, "jobs=0");
	ok(strstr(err, "between 1 and 64") != NULL, "range: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "api_key=sk-secret", "m"), -EINVAL,
	       "api_key refused");
	ok(strstr(err, "command line") && !strstr(err, "sk-secret"),
	   "without echoing the key: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "a", "b", "c"), -EINVAL, "three positionals");
	opts_free(&o);
	is_int(PARSE(&o, err, "-f"), -EINVAL, "no mount point");
	ok(strstr(err, "usage") != NULL, "usage: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "--help"), 0, "help needs no mount point");
	ok(o.show_help, "help flag");
	opts_free(&o);
	is_int(PARSE(&o, err, "-V"), 0, "version");
	ok(o.show_version, "version flag");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "log_level=loud", "m"), -EINVAL,
	       "bad log level");
	opts_free(&o);
}

static void test_config(void)
{
	struct octofs_opts o;
	char err[512];
	const char *text = "# comment\n\n  jobs = 9 \nprefix=a/b\n"
			   "api_key = sk-from-config\nexpires_in = 120\n";

	PARSE(&o, err, "-o", "expires_in=300", "m");
	is_int(opts_parse_config_text(&o, text, strlen(text), "cfg", err,
				      sizeof(err)), 0, "config parses");
	is_int(o.jobs, 9, "jobs from config");
	is_str(o.prefix, "a/b", "prefix from config");
	is_int(o.expires_in, 300, "command line wins over config");
	is_str(o.api_key, "sk-from-config", "api_key from config");
	is_int(opts_parse_config_text(&o, "jobs = 2\nbogus = 1\n", 18, "cfg",
				      err, sizeof(err)), -EINVAL,
	       "unknown key");
	is_str(err, "cfg:2: unknown key 'bogus'", "names file and line");
	is_int(opts_parse_config_text(&o, "\n\njobs = many\n", 13, "cfg",
				      err, sizeof(err)), -EINVAL, "bad value");
	ok(!strncmp(err, "cfg:3: jobs=many", 16), "line number: %s", err);
	is_int(opts_parse_config_text(&o, "jobs\n", 5, "cfg", err,
				      sizeof(err)), -EINVAL, "no '='");
	opts_free(&o);
}

static void test_key(void)
{
	char path[] = "/tmp/octofs-key-XXXXXX";
	struct octofs_opts o;
	char err[512];
	int fd;

	fd = mkstemp(path);
	ok(write(fd, "sk-file\n", 8) == 8, "key file written");
	close(fd);
	unsetenv("OCTOFS_API_KEY");
	PARSE(&o, err, "m");
	is_int(opts_load_key(&o, err, sizeof(err)), -EINVAL, "no key");
	ok(strstr(err, "no API key") != NULL, "says so: %s", err);
	o.key_file = strdup(path);
	chmod(path, 0644);
	is_int(opts_load_key(&o, err, sizeof(err)), -EPERM,
	       "group-readable key file refused");
	ok(strstr(err, "chmod 600") != NULL, "with the fix: %s", err);
	chmod(path, 0600);
	is_int(opts_load_key(&o, err, sizeof(err)), 0, "key file");
	is_str(o.api_key, "sk-file", "key read and trimmed");
	setenv("OCTOFS_API_KEY", "sk-env", 1);
	is_int(opts_load_key(&o, err, sizeof(err)), 0, "env");
	is_str(o.api_key, "sk-env", "environment wins");
	setenv("OCTOFS_API_KEY", "sk bad", 1);
	is_int(opts_load_key(&o, err, sizeof(err)), -EINVAL,
	       "key with a space refused");
	unsetenv("OCTOFS_API_KEY");
	opts_free(&o);
	unlink(path);
}

/* Write @text to a new file of @mode; returns its path (static). */
static const char *temp_file(const char *text, mode_t mode)
{
	static char path[] = "/tmp/octofs-cfg-XXXXXX";
	int fd;

	strcpy(path, "/tmp/octofs-cfg-XXXXXX");
	fd = mkstemp(path);
	ok(write(fd, text, strlen(text)) == (ssize_t)strlen(text),
	   "file written");
	close(fd);
	chmod(path, mode);
	return path;
}

static void test_private_files(void)
{
	struct octofs_opts o;
	char err[512], fifo[64] = "/tmp/octofs-fifo-XXXXXX";
	const char *path;

	path = temp_file("api_key = sk-cfg\n", 0644);
	PARSE(&o, err, "-o", "config=/nonexistent", "m");
	free(o.config);
	o.config = strdup(path);
	is_int(opts_load_config(&o, err, sizeof(err)), -EPERM,
	       "readable config holding the key refused");
	ok(strstr(err, "readable by group or others; chmod 600") != NULL,
	   "says so: %s", err);
	opts_free(&o);
	unlink(path);

	path = temp_file("expires_in = 120\n", 0644);
	PARSE(&o, err, "m");
	o.config = strdup(path);
	is_int(opts_load_config(&o, err, sizeof(err)), 0,
	       "readable config without a key is fine");
	opts_free(&o);
	unlink(path);

	ok(mkdtemp(fifo) != NULL, "scratch dir");
	strcat(fifo, "/k");
	ok(!mkfifo(fifo, 0600), "fifo");
	PARSE(&o, err, "m");
	o.key_file = strdup(fifo);
	unsetenv("OCTOFS_API_KEY");
	is_int(opts_load_key(&o, err, sizeof(err)), -ESPIPE,
	       "a FIFO key file is refused, not waited on");
	ok(strstr(err, "not a regular file") != NULL, "says so: %s", err);
	opts_free(&o);
	unlink(fifo);
	*strrchr(fifo, '/') = '\0';
	rmdir(fifo);
}

static void test_endpoint(void)
{
	static const char *const good[] = {
		"https://octopusx.ai", "http://127.0.0.1:8080",
		"http://localhost/", "http://[::1]:9/", "http://127.9.8.7",
		"HTTP://LOCALHOST:9", "https://[2001:db8::1]:443/api",
	};
	static const char *const bad[] = {
		"http://example.com", "ftp://x", "https://", "octopusx.ai",
		/* names that only look like loopback */
		"http://127.evil.example", "http://localhost.evil.example",
		"http://127.0.0.1.evil.example", "http://2130706433",
		"http://[::2]:80", "http://[::1", "http://[::1]x",
		/* credentials, query, fragment, odd characters */
		"http://127.0.0.1@evil.example/", "https://u:p@octopusx.ai",
		"https://octopusx.ai/?a=1", "https://octopusx.ai/#x",
		"https://octo pusx.ai", "https://octopusx.ai/\x01",
		"https://octopusx.ai\\@evil.example",
		"https://\xc3\xa9.example", "https://:443",
	};
	struct octofs_opts o = { 0 };
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		o.endpoint = strdup(good[i]);
		is_int(opts_validate(&o, err, sizeof(err)), 0, "%s", good[i]);
		free(o.endpoint);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.endpoint = strdup(bad[i]);
		is_int(opts_validate(&o, err, sizeof(err)), -EINVAL,
		       "%s refused", bad[i]);
		free(o.endpoint);
	}
	o.endpoint = strdup("http://localhost:1/");
	opts_validate(&o, err, sizeof(err));
	is_str(o.endpoint, "http://localhost:1", "trailing slash stripped");
	free(o.endpoint);
}

static void test_retry_and_stop(void)
{
	struct octofs_opts o;
	char err[512];

	is_int(PARSE(&o, err, "m"), 0, "defaults");
	is_int(o.retry_min_ms, 500, "default retry_min_ms");
	is_int(o.retry_max_ms, 60000, "default retry_max_ms");
	is_int(o.stop_grace_s, 5, "default stop_grace");
	is_int(o.timeout_s, 30, "default timeout");
	opts_free(&o);

	is_int(PARSE(&o, err, "-o", "retry_min_ms=20,retry_max_ms=100,"
		     "stop_grace=0,timeout=2", "m"), 0, "all set");
	is_int(o.retry_min_ms, 20, "retry_min_ms");
	is_int(o.retry_max_ms, 100, "retry_max_ms");
	is_int(o.stop_grace_s, 0, "stop_grace=0 is allowed");
	is_int(o.timeout_s, 2, "timeout");
	o.endpoint = o.endpoint ? o.endpoint : strdup("https://x");
	is_int(opts_validate(&o, err, sizeof(err)), 0, "consistent");
	opts_free(&o);

	PARSE(&o, err, "-o", "retry_min_ms=5000,retry_max_ms=100", "m");
	is_int(opts_validate(&o, err, sizeof(err)), -EINVAL, "min above max");
	is_str(err, "retry_min_ms=5000 is above retry_max_ms=100",
	       "says which");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "timeout=0", "m"), -EINVAL, "timeout=0");
	ok(strstr(err, "between 1 and 3600") != NULL, "range: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "retry_max_ms=-1", "m"), -EINVAL,
	       "negative delay");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "stop_grace=3601", "m"), -EINVAL,
	       "grace too long");
	opts_free(&o);
}

static void test_scale_options(void)
{
	struct octofs_opts o;
	char err[512];

	is_int(PARSE(&o, err, "m"), 0, "defaults");
	is_int(opts_validate(&o, err, sizeof(err)), 0, "defaults are valid");
	is_int(o.cache_timeout_s, 600, "default cache_timeout over its own "
	       "store: nothing changes it behind the mount");
	is_int(o.fd_cache, 0, "default fd_cache: from the open-file limit");
	opts_free(&o);
	is_int(PARSE(&o, err, "/srv/store", "m"), 0, "a separate store");
	is_int(opts_validate(&o, err, sizeof(err)), 0, "valid");
	is_int(o.cache_timeout_s, 1, "default cache_timeout over a separate "
	       "store, which may change directly");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "cache_timeout=5", "m"), 0, "given");
	is_int(opts_validate(&o, err, sizeof(err)), 0, "valid");
	is_int(o.cache_timeout_s, 5, "a cache_timeout given wins");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "cache_timeout=0,fd_cache=16", "m"), 0,
	       "smallest values");
	is_int(o.cache_timeout_s, 0, "cache_timeout=0: nothing kept");
	is_int(o.fd_cache, 16, "fd_cache=16");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "fd_cache=15", "m"), -EINVAL,
	       "fd_cache below 16");
	ok(strstr(err, "fd_cache") != NULL, "names it: %s", err);
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "fd_cache=1048577", "m"), -EINVAL,
	       "fd_cache above 1048576");
	opts_free(&o);
	is_int(PARSE(&o, err, "-o", "cache_timeout=3601", "m"), -EINVAL,
	       "cache_timeout above an hour");
	ok(strstr(err, "cache_timeout") != NULL, "names it: %s", err);
	opts_free(&o);
}

static void test_fstab_words(void)
{
	struct octofs_opts o;
	struct fuse_args rest;
	char err[512];
	static const char *const argv[] = {
		"octofs", "-o", "defaults,noauto,_netdev,nofail,user,users,"
		"x-systemd.automount,noatime", "store", "mnt",
	};
	int i, kept = 0, dropped = 0;

	is_int(parse(&o, argv, 5, err, sizeof(err), &rest), 0, "accepted");
	for (i = 0; i < rest.argc; i++) {
		kept |= strstr(rest.argv[i], "noatime") != NULL;
		dropped |= strstr(rest.argv[i], "defaults") ||
			   strstr(rest.argv[i], "x-systemd") ||
			   strstr(rest.argv[i], "_netdev");
	}
	ok(kept, "mount flags stay for libfuse");
	ok(!dropped, "fstab-only words are not passed on");
	fuse_opt_free_args(&rest);
	opts_free(&o);
}

int main(void)
{
	test_args();
	test_config();
	test_key();
	test_private_files();
	test_endpoint();
	test_retry_and_stop();
	test_scale_options();
	test_fstab_words();
	return tap_done();
}
