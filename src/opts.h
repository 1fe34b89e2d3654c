/*
 * opts: command line, -o options, config file and API key.
 *
 * Order of precedence: command line over config file over defaults.
 * The API key comes from OCTOFS_API_KEY, then key_file=, then the config
 * file's api_key; never from the command line.
 */
#ifndef OCTOFS_OPTS_H
#define OCTOFS_OPTS_H

#include <limits.h>
#include <stddef.h>
#include <fuse_opt.h>

#define OPTS_DEFAULT_ENDPOINT "https://octopusx.ai"
#define OPTS_EXPIRES_MIN 60
#define OPTS_EXPIRES_MAX 3600
#define OPTS_JOBS_MAX 64
#define OPTS_KEY_MAX 4096
#define OPTS_RETRY_MS_MAX 3600000	/* one hour */
#define OPTS_STOP_GRACE_MAX 3600
#define OPTS_TIMEOUT_MAX 3600
#define OPTS_SETTLE_MAX 60000
#define OPTS_CACHE_TIMEOUT_MAX 3600
#define OPTS_FD_CACHE_MIN 16
#define OPTS_FD_CACHE_MAX (1U << 20)

/* All strings are owned by the struct and freed by opts_free(). */
/*
 * cache_timeout's default.  A store under its own mount point can change
 * only through the mount, and the kernel sees every such change: it may
 * keep what it learnt long.  A separate store may be changed directly,
 * which shows only once the kernel asks again.
 */
#define OPTS_CACHE_TIMEOUT_AUTO UINT_MAX
#define OPTS_CACHE_TIMEOUT_HIDDEN 600	/* the store is under the mount */
#define OPTS_CACHE_TIMEOUT_SHARED 1	/* a separate store */

struct octofs_opts {
	char *store;		/* NULL: the mount point is its own store */
	char *mountpoint;
	char *endpoint;		/* without trailing '/' */
	char *key_file;
	char *prefix;		/* NULL: server's default */
	unsigned int expires_in;	/* seconds, clamped to 60..3600 */
	unsigned int jobs;		/* 1..OPTS_JOBS_MAX */
	char *ignore;		/* ':'-separated globs; NULL: defaults */
	int url_files;		/* 0 or 1 */
	int presign_ahead;	/* 0 or 1: ask for URLs while files */
				/* are written */
	int passthrough;	/* 0 or 1: the kernel moves file */
				/* bytes itself */
	unsigned int url_wait_s;
	unsigned int retry_min_ms;	/* first retry delay (before jitter) */
	unsigned int retry_max_ms;	/* backoff cap, >= retry_min_ms */
	unsigned int stop_grace_s;	/* uploads in flight at unmount */
	unsigned int timeout_s;		/* a silent server is given up on */
	unsigned int settle_ms;		/* a closed file rests before upload */
	unsigned int cache_timeout_s;	/* the kernel keeps names and */
					/* attributes this long; */
					/* OPTS_CACHE_TIMEOUT_AUTO: */
					/* opts_validate() picks */
	unsigned int fd_cache;		/* descriptors kept for inodes; 0: */
					/* a quarter of the open-file limit */
	char *ca_file;
	char *config;		/* NULL: $XDG_CONFIG_HOME/octofs/config */
	char *log_level;	/* NULL: "info" */
	char *api_key;		/* secret: never printed or logged */

	int foreground;		/* -f (also set by -d) */
	int debug;		/* -d */
	int singlethread;	/* -s */
	int show_help;		/* -h, --help */
	int show_version;	/* -V, --version */
	int shared;		/* allow_other or allow_root was given */
	int default_permissions;	/* ... and default_permissions */

	unsigned int cmdline_set;	/* options given on the command line */
};

/*
 * Parse argv.  Options octofs knows are taken out of @args; what remains
 * (e.g. "-o allow_other", "-d") is for fuse_session_new().  Positional
 * arguments: [STORE] MOUNTPOINT.  Config file and key are NOT read here.
 * Returns 0, or -EINVAL with a one-line reason in @err.
 */
int opts_parse_args(struct fuse_args *args, struct octofs_opts *o,
		    char *err, size_t err_len);

/*
 * Read the config file (o->config, or the XDG default; a missing default
 * file is not an error, a missing explicit one is).  Values already set on
 * the command line win.  Errors name the file and line number.
 */
int opts_load_config(struct octofs_opts *o, char *err, size_t err_len);

/*
 * Parse config text (for tests and the fuzzer).  @file_name is used in
 * error messages only.  Options already given on the command line are
 * not overridden (the struct records which ones were given).
 */
int opts_parse_config_text(struct octofs_opts *o, const char *text,
			   size_t len, const char *file_name,
			   char *err, size_t err_len);

/* Resolve the API key into o->api_key; a missing key is an error. */
int opts_load_key(struct octofs_opts *o, char *err, size_t err_len);

/*
 * Check values that depend on each other and the endpoint (scheme,
 * host, plain http only to loopback); strips the endpoint's trailing
 * slashes.
 */
int opts_validate(struct octofs_opts *o, char *err, size_t err_len);

/* Print the --help text (options summary) to stdout. */
void opts_print_help(const char *progname);

/* Free every string (wiping the key first); the struct may be reused. */
void opts_free(struct octofs_opts *o);

#endif
