/*
 * octofs: start-up and teardown.
 *
 * Parse options and read the key before anything else, so a mistake is
 * reported at mount time; open the store before mounting (it may be the
 * mount point itself); start threads only after daemonizing.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <fuse_lowlevel.h>

#include "caller.h"
#include "fd_cache.h"
#include "feed.h"
#include "fs_ops.h"
#include "ignore.h"
#include "inode.h"
#include "log.h"
#include "mime.h"
#include "octofs.h"
#include "opts.h"
#include "passthrough.h"
#include "queue.h"
#include "resume.h"
#include "state.h"
#include "url_files.h"
#include "worker.h"

#define MIME_TYPES_PATH "/etc/mime.types"
/* The live feed keeps this many latest records, in at most this much. */
#define FEED_RING_RECORDS 4096
#define FEED_RING_BYTES (4 * 1024 * 1024)
/* FUSE request threads: parked URL reads hold none, so a few suffice. */
#define LOOP_MAX_THREADS 16

/* Everything main() sets up, so one function can take it all down. */
struct startup {
	struct octofs_opts opts;
	struct fuse_args args;
	struct octofs ctx;
	struct mime_table *mime;
	struct ignore_set *ignore;
	char *store_path;
	char *mount_path;
	struct resume_scan *resume;
	bool resuming;		/* resume_start() succeeded */
	bool mounted;
	bool signals;
	bool curl;
	unsigned long nofile;	/* the open-file limit in force */
};

/* Start-up errors go to stderr, before any log sink is chosen. */
__attribute__((format(printf, 1, 2)))
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("octofs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/*
 * Open files, uploads and the descriptor cache all take descriptors:
 * allow as many as the hard limit does.  Returns the limit in force.
 */
static unsigned long raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return 1024;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &r)) {
			log_warn("cannot raise the open-file limit: %s",
				 strerror(errno));
			getrlimit(RLIMIT_NOFILE, &r);
		}
	}
	return r.rlim_cur == RLIM_INFINITY ? ULONG_MAX :
					      (unsigned long)r.rlim_cur;
}

/*
 * The descriptor cache's bound: fd_cache=, else a quarter of the limit.
 * One that leaves little for open files and uploads is said at start.
 */
static unsigned int fd_cache_bound(const struct octofs_opts *o,
				   unsigned long nofile)
{
	unsigned int bound = o->fd_cache ? o->fd_cache :
					   fd_cache_default_bound(nofile);

	if (bound > nofile / 2)
		log_warn("fd_cache=%u is more than half the open-file limit "
			 "(%lu): open files and uploads may run short of "
			 "descriptors", bound, nofile);
	return bound;
}

/*
 * The key has been copied: take it out of the environment, so that no
 * child (fusermount3) inherits it and /proc/PID/environ, which shows the
 * original bytes, no longer holds it.
 */
static void wipe_key_env(void)
{
	char *env = getenv("OCTOFS_API_KEY");

	if (!env)
		return;
	explicit_bzero(env, strlen(env));
	unsetenv("OCTOFS_API_KEY");
}

static int parse_all(struct startup *s)
{
	struct octofs_opts *o = &s->opts;
	char err[512];
	enum log_level level = LOG_LEVEL_INFO;

	if (opts_parse_args(&s->args, o, err, sizeof(err)) ||
	    (!o->show_help && !o->show_version &&
	     (opts_load_config(o, err, sizeof(err)) ||
	      opts_load_key(o, err, sizeof(err)) ||
	      opts_validate(o, err, sizeof(err)))))
		return fail("%s", err);
	wipe_key_env();
	if (o->log_level && log_level_parse(o->log_level, &level))
		return fail("log_level=%s: expected error, warn, info or "
			    "debug", o->log_level);
	if (o->debug)
		level = LOG_LEVEL_DEBUG;
	log_init(level, 0);
	return 0;
}

/* Resolve the paths and open the store, refusing one without xattrs. */
static int open_store(struct startup *s)
{
	const char *store = s->opts.store ? s->opts.store : s->opts.mountpoint;
	int fd, err;

	s->mount_path = realpath(s->opts.mountpoint, NULL);
	if (!s->mount_path)
		return fail("mount point %s: %s", s->opts.mountpoint,
			    strerror(errno));
	s->store_path = realpath(store, NULL);
	if (!s->store_path)
		return fail("store %s: %s", store, strerror(errno));
	fd = open(s->store_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail("store %s: %s", s->store_path, strerror(errno));
	err = state_probe(fd);
	if (err == -ENOTSUP || err == -EOPNOTSUPP) {
		close(fd);
		return fail("store %s does not support user.* extended "
			    "attributes; octofs keeps upload state in them",
			    s->store_path);
	}
	if (err) {
		close(fd);
		return fail("store %s: cannot write to it: %s",
			    s->store_path, strerror(-err));
	}
	s->ctx.inodes = inode_table_new(fd, fd_cache_bound(&s->opts,
							   s->nofile));
	if (!s->ctx.inodes) {
		close(fd);
		return fail("out of memory");
	}
	if (!inode_table_by_handle(s->ctx.inodes))
		log_info("no file handles here (open_by_handle_at needs "
			 "CAP_DAC_READ_SEARCH): files are found again by "
			 "name");
	return 0;
}

static int build_context(struct startup *s)
{
	char err[256];

	s->mime = mime_table_new(MIME_TYPES_PATH);
	if (!s->mime)
		return fail("out of memory");
	if (ignore_set_new(s->opts.ignore, &s->ignore, err, sizeof(err)))
		return fail("ignore=%s: %s", s->opts.ignore, err);
	s->ctx.opts = &s->opts;
	s->ctx.mime = s->mime;
	s->ctx.ignore = s->ignore;
	s->ctx.timeout_s = s->opts.cache_timeout_s;
	return 0;
}

/*
 * fsname shows in df and mount; commas would split the option.  The
 * daemon serves every caller with its own rights, so a mount other users
 * may enter must have the kernel check each file's mode for them.
 */
static int add_mount_options(struct startup *s)
{
	char opt[PATH_MAX + 32];
	const char *name = s->store_path;

	if (s->opts.shared && !s->opts.default_permissions) {
		if (fuse_opt_add_arg(&s->args, "-odefault_permissions"))
			return -1;
		log_info("allow_other: default_permissions added, so users "
			 "see only what each file's mode allows them");
	}
	if (strpbrk(name, ",\\"))
		name = "octofs";
	snprintf(opt, sizeof(opt), "-osubtype=octofs,fsname=%s", name);
	return fuse_opt_add_arg(&s->args, opt);
}

static void set_notify(struct startup *s, struct fuse_session *se)
{
	pthread_mutex_lock(&s->ctx.notify_lock);
	s->ctx.notify_se = se;
	pthread_mutex_unlock(&s->ctx.notify_lock);
}

static int mount_fs(struct startup *s)
{
	if (add_mount_options(s))
		return fail("out of memory");
	s->ctx.se = fuse_session_new(&s->args, &fs_ops, sizeof(fs_ops),
				     &s->ctx);
	if (!s->ctx.se)
		return -1;	/* libfuse said why */
	if (fuse_set_signal_handlers(s->ctx.se))
		return fail("cannot set signal handlers");
	s->signals = true;
	if (fuse_session_mount(s->ctx.se, s->mount_path))
		return -1;
	s->mounted = true;
	if (s->opts.passthrough) {
		s->ctx.passthrough = passthrough_attach(s->ctx.se);
		if (!s->ctx.passthrough)
			log_warn("passthrough is not available with libfuse "
				 "%s: every write goes through octofs",
				 fuse_pkgversion());
	}
	set_notify(s, s->ctx.se);
	return 0;
}

/* The store's directory: the root inode keeps its descriptor open. */
static int store_fd(struct startup *s)
{
	return inode_get(s->ctx.inodes, FUSE_ROOT_ID)->fd;
}

/*
 * An upload job keeps its file's inode (not a descriptor: a queue of a
 * million files holds none), found again as any inode is.
 */
static void job_file_get(void *inodes, void *inode)
{
	inode_ref(inodes, inode);
}

static void job_file_put(void *inodes, void *inode)
{
	inode_unref(inodes, inode);
}

/* A URL appeared, or a sibling is to vanish: the kernel asks again. */
static void upload_ended(void *arg, dev_t dev, ino_t ino, bool failed)
{
	url_files_changed(arg, dev, ino);
	if (failed)
		url_files_listings_changed(arg);
}

/* Threads exist only from here on: after fuse_daemonize(). */
/* A follower of the feed sees the files it may read through the mount. */
static bool follower_may_read(void *arg, const struct feed_peer *peer,
			      const char *path)
{
	struct octofs *ctx = arg;

	return caller_may_read(inode_get(ctx->inodes, FUSE_ROOT_ID)->fd, path,
			       peer->uid, peer->gid, peer->groups,
			       peer->n_groups);
}

static int start_threads(struct startup *s)
{
	int err;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("cannot initialise libcurl");
		return -1;
	}
	s->curl = true;
	s->ctx.queue = queue_new(s->opts.settle_ms);
	if (!s->ctx.queue) {
		log_error("cannot create the upload queue");
		return -1;
	}
	queue_on_file(s->ctx.queue, &(struct queue_file_ops){
		.get = job_file_get, .put = job_file_put,
		.arg = s->ctx.inodes });
	queue_on_retire(s->ctx.queue, upload_ended, &s->ctx);
	queue_presign_ahead(s->ctx.queue, s->opts.presign_ahead);
	s->ctx.feed = feed_start(FEED_RING_RECORDS, FEED_RING_BYTES,
				 follower_may_read, &s->ctx);
	if (!s->ctx.feed)
		log_warn("no live feed of upload outcomes: %s",
			 strerror(errno));
	s->ctx.workers = worker_pool_start(&s->ctx);
	if (!s->ctx.workers)
		return -1;
	err = resume_start(&s->ctx, store_fd(s), &s->resume);
	if (err) {
		log_error("cannot resume unfinished uploads: %s",
			  strerror(-err));
		return -1;
	}
	s->resuming = true;
	return 0;
}

#if FUSE_USE_VERSION >= 312
static int loop_mt(struct fuse_session *se)
{
	struct fuse_loop_config *cfg;
	int res;

	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, LOOP_MAX_THREADS);
	res = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return res;
}
#else
/* libfuse 3.10 and 3.11: no thread limit, only an idle limit. */
static int loop_mt(struct fuse_session *se)
{
	struct fuse_loop_config cfg = {
		.clone_fd = 0,
		.max_idle_threads = LOOP_MAX_THREADS,
	};

	return fuse_session_loop_mt(se, &cfg);
}
#endif

/*
 * Serve until unmounted or signalled.  The loop reports the signal that
 * ended it; SIGTERM, SIGINT and SIGHUP are the way to stop: no error.
 * When the last user of a mount goes (unmount, or the end of a lazy one)
 * Linux ends the connection; a thread that had just taken a request off
 * /dev/fuse then reads ECONNABORTED instead of the usual ENODEV (libfuse
 * says "splice from device: Software caused connection abort"): the
 * mount has ended all the same.
 */
static int run_loop(struct startup *s)
{
	int res;

	log_info("serving %s on %s", s->store_path, s->mount_path);
	if (s->opts.singlethread)
		res = fuse_session_loop(s->ctx.se);
	else
		res = loop_mt(s->ctx.se);
	if (res == SIGTERM || res == SIGINT || res == SIGHUP) {
		log_info("stopping on signal %d", res);
		res = 0;
	} else if (res == -ECONNABORTED) {
		log_info("the kernel ended the mount's connection");
		res = 0;
	}
	return res;
}

/*
 * Mark the store settled when this mount leaves nothing to resume: the
 * next mount can skip its scan.
 */
static void settle_store(struct startup *s, bool scanned,
			 const struct queue_counts *c)
{
	int err;

	if (!s->resuming || !scanned || c->queued || c->uploading)
		return;
	err = state_mark_store_settled(store_fd(s));
	if (err)
		log_warn("cannot mark the store settled (the next mount "
			 "scans it): %s", strerror(-err));
}

static void stop_uploads(struct startup *s)
{
	struct queue_counts c;
	bool scanned;

	if (!s->ctx.queue)
		return;
	scanned = resume_stop(s->resume);
	s->resume = NULL;
	queue_shutdown(s->ctx.queue);
	worker_pool_stop(s->ctx.workers, s->opts.stop_grace_s * 1000UL);
	s->ctx.workers = NULL;
	queue_counts(s->ctx.queue, &c);
	log_info("stopped: %lu uploads not finished stay queued in the store "
		 "for the next mount", c.queued + c.uploading);
	settle_store(s, scanned, &c);
	queue_free(s->ctx.queue);
	s->ctx.queue = NULL;
}

/*
 * Unmount first, so nothing waits on a filesystem nobody serves while
 * uploads in flight get their grace period.
 */
static void teardown(struct startup *s)
{
	set_notify(s, NULL);
	if (s->mounted)
		fuse_session_unmount(s->ctx.se);
	stop_uploads(s);
	/* After the workers: followers get the last outcomes, then EOF. */
	feed_stop(s->ctx.feed);
	s->ctx.feed = NULL;
	if (s->signals)
		fuse_remove_signal_handlers(s->ctx.se);
	if (s->ctx.se)
		fuse_session_destroy(s->ctx.se);
	/* No request comes any more: what the kernel never released. */
	handles_free_all(&s->ctx.handles);
	passthrough_free(s->ctx.passthrough);
	if (s->curl)
		curl_global_cleanup();
	inode_table_free(s->ctx.inodes);
	pthread_mutex_destroy(&s->ctx.notify_lock);
	ignore_set_free(s->ignore);
	mime_table_free(s->mime);
	free(s->store_path);
	free(s->mount_path);
	fuse_opt_free_args(&s->args);
	opts_free(&s->opts);
}

/*
 * glibc gives each thread an arena of its own (up to eight per core),
 * and each keeps what its thread freed resident: with a dozen FUSE and
 * upload threads that is megabytes of peak memory after one large
 * listing.  The daemon's threads allocate little and briefly, so one
 * arena serves them all (peak after listing 10 000 files and their
 * siblings: 17.0 MiB with two arenas, 15.7 MiB with one).
 */
static void limit_arenas(void)
{
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 1);
#endif
}

int main(int argc, char *argv[])
{
	struct startup s = { .args = FUSE_ARGS_INIT(argc, argv) };
	int res = 1;

	limit_arenas();
	pthread_mutex_init(&s.ctx.notify_lock, NULL);
	handles_init(&s.ctx.handles);
	if (parse_all(&s))
		goto out;
	if (s.opts.show_help) {
		opts_print_help(argv[0]);
		res = 0;
		goto out;
	}
	if (s.opts.show_version) {
		printf("octofs %s\n", PACKAGE_VERSION);
		printf("libfuse %s, %s\n", fuse_pkgversion(), curl_version());
		res = 0;
		goto out;
	}
	s.nofile = raise_fd_limit();
	if (open_store(&s) || build_context(&s) || mount_fs(&s))
		goto out;
	if (fuse_daemonize(s.opts.foreground))
		goto out;
	if (!s.opts.foreground)
		log_init(log_get_level(), 1);
	if (start_threads(&s))
		goto out;
	res = run_loop(&s) ? 1 : 0;
out:
	teardown(&s);
	return res;
}
