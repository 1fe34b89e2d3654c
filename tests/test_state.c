/*
 * Tests for src/state.c: the user.octofs.* attributes of stored files,
 * on a scratch directory of the file system /tmp is on (it must keep
 * user.* attributes), and what each write leaves when one of its
 * attribute calls fails (setxattr, removexattr and fsetxattr are
 * wrapped, see inject.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "inject.h"
#include "state.h"
#include "tap.h"

#define OLD_URL "https://cdn.example/u/1/old.png"
#define OLD_KEY "u/1/old.png"
#define NEW_URL "https://cdn.example/u/1/new.png"
#define NEW_KEY "u/1/new.png"

/* ---- Failing attribute writes ----------------------------------------- */

int __real_setxattr(const char *path, const char *name, const void *value,
		    size_t size, int flags);
int __real_removexattr(const char *path, const char *name);
int __real_fsetxattr(int fd, const char *name, const void *value,
		     size_t size, int flags);
int __wrap_setxattr(const char *path, const char *name, const void *value,
		    size_t size, int flags);
int __wrap_removexattr(const char *path, const char *name);
int __wrap_fsetxattr(int fd, const char *name, const void *value,
		     size_t size, int flags);

static int inject_errno = ENOMEM;

int __wrap_setxattr(const char *path, const char *name, const void *value,
		    size_t size, int flags)
{
	if (inject_fail()) {
		errno = inject_errno;
		return -1;
	}
	return __real_setxattr(path, name, value, size, flags);
}

int __wrap_removexattr(const char *path, const char *name)
{
	if (inject_fail()) {
		errno = inject_errno;
		return -1;
	}
	return __real_removexattr(path, name);
}

int __wrap_fsetxattr(int fd, const char *name, const void *value,
		     size_t size, int flags)
{
	if (inject_fail()) {
		errno = inject_errno;
		return -1;
	}
	return __real_fsetxattr(fd, name, value, size, flags);
}

/* ---- The scratch directory -------------------------------------------- */

static char dir_path[64];
static int dir_fd = -1;		/* O_PATH */

static int make_dir(void)
{
	snprintf(dir_path, sizeof(dir_path), "/tmp/octofs-test-state.XXXXXX");
	if (!mkdtemp(dir_path))
		return -errno;
	dir_fd = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return dir_fd < 0 ? -errno : 0;
}

static void remove_dir(void)
{
	DIR *d = opendir(dir_path);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	close(dir_fd);
	rmdir(dir_path);
}

/* A new empty file @name: its O_PATH descriptor. */
static int new_file(const char *name)
{
	int fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
			0600);

	if (fd < 0)
		return -1;
	close(fd);
	return openat(dir_fd, name, O_PATH | O_CLOEXEC);
}

static size_t dir_entries(void)
{
	DIR *d = opendir(dir_path);
	size_t n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* Attribute @attr of @fd as a string, "" when absent. */
static const char *attr_of(int fd, const char *attr)
{
	static char buf[STATE_VALUE_MAX + 1];
	ssize_t len = state_get(fd, attr, buf, sizeof(buf) - 1);

	if (len < 0)
		len = 0;
	buf[len] = '\0';
	return buf;
}

static bool has_attr(int fd, const char *attr)
{
	return state_get(fd, attr, NULL, 0) >= 0;
}

/* Set @attr of @fd to @value directly, as another program could. */
static void put_attr(int fd, const char *attr, const char *value)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (__real_setxattr(path, attr, value, strlen(value), 0))
		ok(0, "setting %s: %s", attr, strerror(errno));
}

/* A finished upload of an earlier version. */
static void make_done(int fd)
{
	put_attr(fd, STATE_URL, OLD_URL);
	put_attr(fd, STATE_KEY, OLD_KEY);
	put_attr(fd, STATE_STATUS, "done");
}

/* ---- Names ------------------------------------------------------------ */

static void test_names(void)
{
	enum state_status st = STATE_NONE;

	is_str(state_status_name(STATE_QUEUED), "queued", "queued");
	is_str(state_status_name(STATE_UPLOADING), "uploading", "uploading");
	is_str(state_status_name(STATE_DONE), "done", "done");
	is_str(state_status_name(STATE_FAILED), "failed", "failed");
	is_str(state_status_name(STATE_NONE), "", "none has no name");
	is_int(state_status_parse("failed", 6, &st), 0, "parse failed");
	is_int(st, STATE_FAILED, "as STATE_FAILED");
	is_int(state_status_parse("donex", 4, &st), 0,
	       "the value need not end in NUL");
	is_int(st, STATE_DONE, "as STATE_DONE");
	st = STATE_QUEUED;
	is_int(state_status_parse("don", 3, &st), -EINVAL, "a prefix is not");
	is_int(state_status_parse("done ", 5, &st), -EINVAL,
	       "nor a longer value");
	is_int(state_status_parse("", 0, &st), -EINVAL,
	       "an empty value is not a status");
	is_int(state_status_parse("DONE", 4, &st), -EINVAL,
	       "case matters");
	is_int(st, STATE_QUEUED, "a failed parse leaves the status");
	ok(state_is_own_attr("user.octofs.url"), "user.octofs.url is ours");
	ok(state_is_own_attr("user.octofs.anything"),
	   "so is any user.octofs.*");
	ok(!state_is_own_attr("user.octofs"), "user.octofs is not");
	ok(!state_is_own_attr("user.octofsx.url"), "nor user.octofsx.url");
	ok(!state_is_own_attr("trusted.octofs.url"), "nor trusted.octofs.*");
	ok(!state_is_own_attr("user.xdg.origin.url"), "nor user.xdg.*");
}

/* ---- One file's life -------------------------------------------------- */

static void test_life(void)
{
	int fd = new_file("life.png");

	is_int(state_read_status(fd), STATE_NONE, "a new file has no status");
	is_int(state_mark_new_queued(fd), 0, "mark new queued");
	is_str(attr_of(fd, STATE_STATUS), "queued", "status queued");
	is_int(state_read_status(fd), STATE_QUEUED, "read back as queued");
	is_int(state_mark_uploading(fd), 0, "mark uploading");
	is_int(state_read_status(fd), STATE_UPLOADING, "uploading");
	is_int(state_mark_done(fd, OLD_URL, OLD_KEY), 0, "mark done");
	is_int(state_read_status(fd), STATE_DONE, "done");
	is_str(attr_of(fd, STATE_URL), OLD_URL, "its URL");
	is_str(attr_of(fd, STATE_KEY), OLD_KEY, "its key");
	is_int(state_get(fd, STATE_URL, NULL, 0), strlen(OLD_URL),
	       "size 0 asks for the length");
	is_int(state_mark_queued(fd), 0, "written again: queued");
	is_int(state_read_status(fd), STATE_QUEUED, "queued");
	ok(!has_attr(fd, STATE_URL) && !has_attr(fd, STATE_KEY),
	   "the old URL and key are gone");
	is_int(state_get(fd, STATE_URL, NULL, 0), -ENODATA,
	       "reading it: ENODATA");
	is_int(state_mark_failed(fd, "upload refused (HTTP 400)"), 0,
	       "mark failed");
	is_int(state_read_status(fd), STATE_FAILED, "failed");
	is_str(attr_of(fd, STATE_ERROR), "upload refused (HTTP 400)",
	       "with its error");
	is_int(state_mark_done(fd, NEW_URL, NEW_KEY), 0, "done after all");
	ok(!has_attr(fd, STATE_ERROR), "the error is gone");
	is_str(attr_of(fd, STATE_URL), NEW_URL, "the new URL");
	is_int(state_mark_unpublished(fd, "cannot write: No space"), 0,
	       "a version that could not be written");
	is_int(state_read_status(fd), STATE_FAILED, "failed");
	ok(!has_attr(fd, STATE_URL) && !has_attr(fd, STATE_KEY),
	   "the earlier URL and key are gone");
	is_str(attr_of(fd, STATE_ERROR), "cannot write: No space",
	       "the reason");
	is_int(state_forget(fd), 0, "forget");
	ok(!has_attr(fd, STATE_STATUS) && !has_attr(fd, STATE_ERROR),
	   "nothing left");
	is_int(state_read_status(fd), STATE_NONE, "no status");
	is_int(state_forget(fd), 0, "forgetting nothing is fine");
	is_int(state_forget_fd(&fd), 0, "also through a pointer");
	put_attr(fd, "user.other", "kept");
	make_done(fd);
	is_int(state_forget_fd(&fd), 0, "forget through a pointer");
	ok(!has_attr(fd, STATE_STATUS) && !has_attr(fd, STATE_URL) &&
	   !has_attr(fd, STATE_KEY), "forgets status, URL and key");
	is_str(attr_of(fd, "user.other"), "kept", "others' attributes stay");
	close(fd);
}

static void test_queued_new(void)
{
	int fd = new_file("new.txt");

	make_done(fd);
	is_int(state_mark_new_queued(fd), 0, "new queued");
	is_str(attr_of(fd, STATE_URL), OLD_URL,
	       "a new file has nothing to clear: nothing is");
	close(fd);
}

/* ---- Reading by name -------------------------------------------------- */

static void test_at(void)
{
	int fd = new_file("at.png");
	char buf[64];
	ssize_t len;

	make_done(fd);
	is_int(state_read_status_at(dir_fd, "at.png"), STATE_DONE,
	       "status by name");
	len = state_get_at(dir_fd, "at.png", STATE_URL, buf, sizeof(buf));
	ok(len == (ssize_t)strlen(OLD_URL) && !memcmp(buf, OLD_URL, len),
	   "URL by name");
	is_int(state_get_at(dir_fd, "at.png", STATE_URL, NULL, 0),
	       strlen(OLD_URL), "its length");
	is_int(state_get_at(dir_fd, "at.png", STATE_URL, buf, 4), -ERANGE,
	       "a buffer too small: ERANGE");
	is_int(state_get_at(dir_fd, "nothing", STATE_URL, buf, sizeof(buf)),
	       -ENOENT, "no such file: ENOENT");
	is_int(state_read_status_at(dir_fd, "nothing"), STATE_NONE,
	       "no such file: no status");
	if (symlinkat("at.png", dir_fd, "link.png"))
		ok(0, "symlink: %s", strerror(errno));
	is_int(state_read_status_at(dir_fd, "link.png"), STATE_NONE,
	       "a symbolic link is not followed");
	ok(state_get_at(dir_fd, "link.png", STATE_URL, buf, sizeof(buf)) < 0,
	   "nor is it to read its URL");
	close(fd);
}

/* ---- Values that do not fit ------------------------------------------- */

static void test_big_values(void)
{
	int fd = new_file("big.png");
	char url[2001], buf[16];

	/* (ext4 keeps at most a block of attributes per file) */
	memset(url, 'u', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	is_int(state_mark_done(fd, url, "k"), 0, "a URL of 2000 bytes");
	is_int(state_get(fd, STATE_URL, buf, sizeof(buf)), -ERANGE,
	       "into 16 bytes: ERANGE");
	is_int(state_get(fd, STATE_URL, NULL, 0), sizeof(url) - 1,
	       "its length");
	is_str(attr_of(fd, STATE_URL), url, "read whole with room");
	put_attr(fd, STATE_STATUS, "uploading, and then some more");
	is_int(state_read_status(fd), STATE_NONE,
	       "a status longer than any: none");
	put_attr(fd, STATE_STATUS, "paused");
	is_int(state_read_status(fd), STATE_NONE, "an unknown status: none");
	put_attr(fd, STATE_STATUS, "");
	is_int(state_read_status(fd), STATE_NONE, "an empty status: none");
	close(fd);
}

/* ---- The store's "settled" mark --------------------------------------- */

static void test_settled(void)
{
	ok(!state_take_store_settled(dir_fd), "no mark: not settled");
	is_int(state_mark_store_settled(dir_fd), 0, "mark settled");
	is_str(attr_of(dir_fd, STATE_SETTLED), "1", "the mark is \"1\"");
	ok(state_take_store_settled(dir_fd), "taken: settled");
	ok(!has_attr(dir_fd, STATE_SETTLED), "and removed");
	ok(!state_take_store_settled(dir_fd), "taken twice: not settled");
	put_attr(dir_fd, STATE_SETTLED, "0");
	ok(!state_take_store_settled(dir_fd), "\"0\" is not settled");
	ok(!has_attr(dir_fd, STATE_SETTLED), "and is removed");
	put_attr(dir_fd, STATE_SETTLED, "1111111111");
	ok(!state_take_store_settled(dir_fd),
	   "a value longer than the buffer is not settled");
	ok(!has_attr(dir_fd, STATE_SETTLED), "and is removed");
	is_int(state_mark_store_settled(dir_fd), 0, "marked again");
	inject_arm(1);
	ok(!state_take_store_settled(dir_fd),
	   "a mark that cannot be removed is not settled");
	inject_disarm();
	ok(has_attr(dir_fd, STATE_SETTLED), "(it is still there)");
	ok(state_take_store_settled(dir_fd), "until it can be");
}

/* ---- The probe -------------------------------------------------------- */

static void test_probe(void)
{
	size_t before = dir_entries();

	is_int(state_probe(dir_fd), 0, "this directory keeps user.*");
	is_int(dir_entries(), before, "the probe leaves no file");
	inject_errno = ENOTSUP;
	inject_arm(1);
	is_int(state_probe(dir_fd), -ENOTSUP,
	       "a file system without user.*: ENOTSUP");
	ok(inject_disarm(), "(the attribute write was refused)");
	inject_errno = ENOMEM;
	is_int(dir_entries(), before, "and no file is left either");
	is_int(state_probe(-1), -EBADF, "no directory: EBADF");
}

/* ---- Each write, failing at each of its steps ------------------------- */

enum start { START_NONE, START_UPLOADING, START_DONE };

struct step_case {
	const char *what;
	enum start start;
	int (*write)(int fd);
};

static int write_queued(int fd)
{
	return state_mark_queued(fd);
}

static int write_new_queued(int fd)
{
	return state_mark_new_queued(fd);
}

static int write_uploading(int fd)
{
	return state_mark_uploading(fd);
}

static int write_forget(int fd)
{
	return state_forget(fd);
}

static int write_done(int fd)
{
	return state_mark_done(fd, NEW_URL, NEW_KEY);
}

static int write_failed(int fd)
{
	return state_mark_failed(fd, "refused");
}

static int write_unpublished(int fd)
{
	return state_mark_unpublished(fd, "cannot write");
}

static void set_start(int fd, enum start start)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	__real_removexattr(path, STATE_STATUS);
	__real_removexattr(path, STATE_URL);
	__real_removexattr(path, STATE_KEY);
	__real_removexattr(path, STATE_ERROR);
	if (start == START_DONE) {
		make_done(fd);
	} else if (start == START_UPLOADING) {
		put_attr(fd, STATE_ERROR, "an earlier failure");
		put_attr(fd, STATE_STATUS, "uploading");
	}
}

/*
 * What a reader may see: "done" only with the URL and key of one and the
 * same upload, never an earlier upload's URL under a later status.
 */
static bool consistent(int fd, enum start start)
{
	bool url_new = !strcmp(attr_of(fd, STATE_URL), NEW_URL);
	bool url_old = !strcmp(attr_of(fd, STATE_URL), OLD_URL);
	bool key_new = !strcmp(attr_of(fd, STATE_KEY), NEW_KEY);
	bool key_old = !strcmp(attr_of(fd, STATE_KEY), OLD_KEY);

	if (state_read_status(fd) != STATE_DONE)
		return true;
	return (url_new && key_new) ||
	       (start == START_DONE && url_old && key_old);
}

/* Fail the write's first attribute call, then its second, and so on. */
static void fail_each_step(int fd, const struct step_case *c)
{
	int n, err, bad_err = 0, bad_state = 0, steps = 0;

	for (n = 1; n < 16; n++) {
		set_start(fd, c->start);
		inject_arm(n);
		err = c->write(fd);
		if (!inject_disarm()) {
			is_int(err, 0, "%s: succeeds with no failure",
			       c->what);
			break;
		}
		steps++;
		if (err != -ENOMEM) {
			bad_err++;
			printf("# %s: step %d returned %d\n", c->what, n, err);
		}
		if (!consistent(fd, c->start)) {
			bad_state++;
			printf("# %s: step %d left status %s", c->what, n,
			       attr_of(fd, STATE_STATUS));
			printf(" with URL %s\n", attr_of(fd, STATE_URL));
		}
	}
	ok(steps > 0 && !bad_err, "%s: each of its %d steps failing gives "
	   "-ENOMEM", c->what, steps);
	ok(steps > 0 && !bad_state, "%s: and never shows a URL as another's",
	   c->what);
}

static void test_failing_steps(void)
{
	static const struct step_case cases[] = {
		{ "queued after done", START_DONE, write_queued },
		{ "new queued", START_NONE, write_new_queued },
		{ "uploading after done", START_DONE, write_uploading },
		{ "done after uploading", START_UPLOADING, write_done },
		{ "failed after done", START_DONE, write_failed },
		{ "unpublished after done", START_DONE, write_unpublished },
		{ "forget after done", START_DONE, write_forget },
	};
	int fd = new_file("steps.png");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fail_each_step(fd, &cases[i]);

	/* Status first: a failed clear leaves no old URL under "queued". */
	set_start(fd, START_DONE);
	inject_arm(2);
	is_int(state_mark_queued(fd), -ENOMEM, "queued: clearing fails");
	inject_disarm();
	is_int(state_read_status(fd), STATE_QUEUED,
	       "the status says queued already");
	/* URL and key first: a failure leaves the status as it was. */
	set_start(fd, START_UPLOADING);
	inject_arm(3);
	is_int(state_mark_done(fd, NEW_URL, NEW_KEY), -ENOMEM,
	       "done: removing the error fails");
	inject_disarm();
	is_int(state_read_status(fd), STATE_UPLOADING,
	       "the status is still uploading");
	close(fd);
}

/*
 * A URL or key the store refuses (too big for it, no room): "done" is
 * not written, and nothing of the URL or key stays behind.
 */
static void test_done_refused(void)
{
	int fd = new_file("refused.png");
	int n, err, left = 0, steps = 0;

	for (n = 1; n < 8; n++) {
		set_start(fd, START_UPLOADING);
		inject_arm(n);
		err = state_mark_done(fd, NEW_URL, NEW_KEY);
		if (!inject_disarm())
			break;
		steps++;
		if (err != -ENOMEM || state_read_status(fd) == STATE_DONE ||
		    has_attr(fd, STATE_URL) || has_attr(fd, STATE_KEY))
			left++;
	}
	ok(steps > 0 && !left, "done refused at each of its %d steps: "
	   "-ENOMEM, not done, no URL or key left", steps);
	close(fd);
}

int main(void)
{
	int err = make_dir();

	if (err) {
		printf("1..0 # SKIP no scratch directory: %s\n",
		       strerror(-err));
		return 0;
	}
	if (state_probe(dir_fd)) {
		printf("1..0 # SKIP /tmp keeps no user.* attributes\n");
		remove_dir();
		return 0;
	}
	test_names();
	test_life();
	test_queued_new();
	test_at();
	test_big_values();
	test_settled();
	test_probe();
	test_failing_steps();
	test_done_refused();
	remove_dir();
	return tap_done();
}
