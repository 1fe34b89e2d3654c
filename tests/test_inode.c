/*
 * Unit tests for src/inode.c and src/fd_cache.c: inodes found again by
 * handle and by name, the bounded descriptor cache, pins, relief when
 * the process runs out of descriptors, and forgetting a deleted file.
 * Works in a scratch directory of its own under TMPDIR.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_cache.h"
#include "inode.h"
#include "log.h"
#include "tap.h"

#define N_FILES 40

static char scratch[PATH_MAX];
static int scratch_fd = -1;

static void make_file(const char *name)
{
	int fd = openat(scratch_fd, name, O_CREAT | O_WRONLY | O_CLOEXEC,
			0644);

	if (fd < 0) {
		perror(name);
		exit(2);
	}
	close(fd);
}

static struct inode_table *new_table(unsigned int bound, bool by_name)
{
	int root = open(scratch, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct inode_table *t = root < 0 ? NULL : inode_table_new(root, bound);

	if (!t) {
		fprintf(stderr, "cannot make a table over %s\n", scratch);
		exit(2);
	}
	if (by_name)
		inode_table_by_name(t);
	return t;
}

static struct octofs_inode *look(struct inode_table *t,
				 struct octofs_inode *dir, const char *name)
{
	struct octofs_inode *inode = NULL;
	struct stat st;

	if (inode_lookup(t, dir, name, &st, &inode))
		return NULL;
	return inode;
}

static struct octofs_inode *root_of(struct inode_table *t)
{
	return inode_get(t, FUSE_ROOT_ID);
}

/* Does @inode's descriptor name the file now at @path in the scratch? */
static bool fd_is(struct inode_table *t, struct octofs_inode *inode,
		  const char *path)
{
	struct stat a, b;
	int fd = inode_fd(t, inode);
	bool same;

	if (fd < 0)
		return false;
	same = !fstatat(fd, "", &a, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) &&
	       !fstatat(scratch_fd, path, &b, AT_SYMLINK_NOFOLLOW) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	inode_fd_put(t, inode);
	return same;
}

static size_t cached(struct inode_table *t)
{
	size_t n, pinned;

	inode_fd_counts(t, &n, &pinned);
	return n;
}

/* Close every unpinned cached descriptor. */
static void drain(struct inode_table *t)
{
	while (inode_fd_relieve(t, EMFILE))
		;
}

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void test_bound(bool by_name)
{
	size_t before = open_fds(), i, good = 0;
	struct inode_table *t = new_table(8, by_name);
	struct octofs_inode *inodes[N_FILES];
	const char *how = by_name ? "by name" : "by handle";
	char name[32];

	for (i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		inodes[i] = look(t, root_of(t), name);
	}
	ok(cached(t) <= 8, "%s: %d lookups keep at most the bound (8) "
	   "open, kept %zu", how, N_FILES, cached(t));
	ok(open_fds() <= before + 2 + 8, "%s: and the process holds no "
	   "more (the store's directory twice, and the cache)", how);
	for (i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		good += inodes[i] && fd_is(t, inodes[i], name);
	}
	is_int(good, N_FILES, "%s: every inode is found again", how);
	for (i = 0; i < N_FILES; i++)
		if (inodes[i])
			inode_forget(t, inodes[i], 1);
	inode_table_free(t);
	is_int(open_fds(), before, "%s: freeing the table closes all, "
	       "the store's directory with it", how);
}

static void test_pins(void)
{
	struct inode_table *t = new_table(4, false);
	struct octofs_inode *inodes[12];
	int fds[12];
	char name[32];
	size_t i, valid = 0;

	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		inodes[i] = look(t, root_of(t), name);
		fds[i] = inodes[i] ? inode_fd(t, inodes[i]) : -1;
	}
	ok(cached(t) >= 12, "pinned descriptors stay open past the bound");
	ok(!inode_fd_relieve(t, EMFILE), "relief closes nothing pinned");
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		valid += fds[i] >= 0 && fd_is(t, inodes[i], name);
	}
	is_int(valid, 12, "and each pinned one still names its file");
	for (i = 0; i < 12; i++)
		if (fds[i] >= 0)
			inode_fd_put(t, inodes[i]);
	ok(cached(t) <= 4, "unpinned, the cache is back within its bound "
	   "(%zu)", cached(t));
	ok(inode_fd_relieve(t, EMFILE), "EMFILE: relief closes some");
	drain(t);
	ok(!inode_fd_relieve(t, EINVAL), "any other error: no relief");
	for (i = 0; i < 12; i++)
		if (inodes[i])
			inode_forget(t, inodes[i], 1);
	inode_table_free(t);
}

/*
 * Found by name: renames through the mount (each followed by the lookup
 * of the new name that the daemon makes) keep an inode reachable, the
 * file's own and its parent's; one behind the mount makes it stale.
 */
static void is_path(struct inode_table *t, struct octofs_inode *inode,
		    const char *want, const char *what)
{
	char *path = inode_path(t, inode);

	ok(path && !strcmp(path, want), "%s (%s)", what, path ? path : "-");
	free(path);
}

static void test_renames_by_name(void)
{
	struct inode_table *t = new_table(16, true);
	struct octofs_inode *dir, *file, *other;

	mkdirat(scratch_fd, "d", 0755);
	make_file("d/x");
	dir = look(t, root_of(t), "d");
	file = dir ? look(t, dir, "x") : NULL;
	ok(file && fd_is(t, file, "d/x"), "by name: d/x found");
	drain(t);
	is_int(cached(t), 0, "by name: nothing cached after relief");

	renameat(scratch_fd, "d/x", scratch_fd, "d/y");
	other = look(t, dir, "y");
	ok(other == file, "by name: the renamed file is the same inode");
	drain(t);
	ok(fd_is(t, file, "d/y"), "by name: found again after its rename");
	is_path(t, file, "d/y", "by name: the path follows the rename");

	renameat(scratch_fd, "d", scratch_fd, "e");
	other = look(t, root_of(t), "e");
	ok(other == dir, "by name: the renamed directory is the same inode");
	drain(t);
	ok(fd_is(t, file, "e/y"), "by name: found again through its "
	   "renamed parent");
	is_path(t, file, "e/y", "by name: the path follows the parent");
	is_path(t, dir, "e", "by name: a directory's path");
	is_path(t, root_of(t), "", "the root's path is empty");

	renameat(scratch_fd, "e/y", scratch_fd, "e/z");
	make_file("e/y");
	drain(t);
	is_int(inode_fd(t, file), -ESTALE, "by name: replaced behind the "
	       "mount, the old inode is stale, not the new file");

	inode_forget(t, other, 1);
	inode_forget(t, file, 2);
	inode_forget(t, dir, 1);
	inode_table_free(t);
	unlinkat(scratch_fd, "e/y", 0);
	unlinkat(scratch_fd, "e/z", 0);
	unlinkat(scratch_fd, "e", AT_REMOVEDIR);
}

/* By handle: a rename behind the mount does not lose the inode. */
static void test_renames_by_handle(void)
{
	struct inode_table *t = new_table(16, false);
	struct octofs_inode *file;

	if (!inode_table_by_handle(t)) {
		printf("# no open_by_handle_at here (not root?)\n");
		ok(geteuid() != 0, "by handle: only root may lack handles");
		inode_table_free(t);
		return;
	}
	make_file("h");
	file = look(t, root_of(t), "h");
	renameat(scratch_fd, "h", scratch_fd, "h2");
	drain(t);
	ok(file && fd_is(t, file, "h2"), "by handle: found again after a "
	   "rename behind the mount");
	unlinkat(scratch_fd, "h2", 0);
	drain(t);
	ok(file && inode_fd(t, file) == -ESTALE, "by handle: deleted, it "
	   "is stale");
	if (file)
		inode_forget(t, file, 1);
	inode_table_free(t);
}

/* Deleting: the cached descriptor goes, at once or at its last unpin. */
static void test_forget(void)
{
	struct inode_table *t = new_table(16, false);
	struct octofs_inode *a, *b;
	struct stat st;
	size_t n;
	int fd;

	make_file("del-a");
	make_file("del-b");
	a = look(t, root_of(t), "del-a");
	b = look(t, root_of(t), "del-b");
	ok(a && b && cached(t) == 0, "a lookup opens nothing");
	ok(a && b && fd_is(t, a, "del-a") && fd_is(t, b, "del-b"),
	   "both found again");
	n = cached(t);
	ok(n == 2, "and cached");
	fstatat(scratch_fd, "del-a", &st, 0);
	unlinkat(scratch_fd, "del-a", 0);
	inode_gone(t, st.st_dev, st.st_ino);
	is_int(cached(t), n - 1, "an unpinned one is closed at once");

	fd = b ? inode_fd(t, b) : -1;
	fstatat(scratch_fd, "del-b", &st, 0);
	unlinkat(scratch_fd, "del-b", 0);
	inode_gone(t, st.st_dev, st.st_ino);
	ok(fd >= 0 && !fstat(fd, &st), "a pinned one stays usable");
	if (fd >= 0)
		inode_fd_put(t, b);
	is_int(cached(t), n - 2, "and is closed at its last unpin");
	if (a)
		inode_forget(t, a, 1);
	if (b)
		inode_forget(t, b, 1);
	inode_table_free(t);
}

/*
 * A file whose last name went is out of the table: the store may give
 * its number to a new file, which must get an inode (a FUSE node id) of
 * its own, while the kernel may still use the old one.
 */
static void test_gone(void)
{
	struct inode_table *t = new_table(16, false);
	struct octofs_inode *old, *again;
	struct stat st;

	make_file("gone-a");
	linkat(scratch_fd, "gone-a", scratch_fd, "gone-b", 0);
	old = look(t, root_of(t), "gone-a");
	ok(old && look(t, root_of(t), "gone-b") == old,
	   "two names of a file are one inode");
	fstatat(scratch_fd, "gone-a", &st, 0);
	inode_gone(t, st.st_dev, st.st_ino);
	again = look(t, root_of(t), "gone-b");
	ok(again && again != old, "once gone, the same number is a new "
	   "inode");
	ok(old && fd_is(t, old, "gone-b"), "the old one still works while "
	   "the kernel holds it");
	if (old)
		inode_forget(t, old, 2);
	/*
	 * One still held at the end (the kernel keeps nodes until it
	 * forgets them, unmounting or not): freeing the table frees it,
	 * which LeakSanitizer checks in the sanitizer build.
	 */
	fstatat(scratch_fd, "gone-b", &st, 0);
	inode_gone(t, st.st_dev, st.st_ino);
	inode_table_free(t);
	unlinkat(scratch_fd, "gone-a", 0);
	unlinkat(scratch_fd, "gone-b", 0);
}

/* Attributes by name where the name still holds the file. */
static void test_stat(void)
{
	struct inode_table *t = new_table(16, false);
	struct octofs_inode *file;
	struct stat st, want;

	make_file("st-a");
	file = look(t, root_of(t), "st-a");
	drain(t);
	fstatat(scratch_fd, "st-a", &want, 0);
	ok(file && !inode_stat(t, file, &st) && st.st_ino == want.st_ino,
	   "stat by name");
	is_int(cached(t), 0, "opens nothing");
	renameat(scratch_fd, "st-a", scratch_fd, "st-b");
	if (inode_table_by_handle(t))
		ok(file && !inode_stat(t, file, &st) &&
		   st.st_ino == want.st_ino,
		   "renamed behind the mount: by handle instead");
	else
		ok(file && inode_stat(t, file, &st) == -ESTALE,
		   "renamed behind the mount, by name only: stale");
	unlinkat(scratch_fd, "st-b", 0);
	drain(t);
	ok(file && inode_stat(t, file, &st) == -ESTALE, "deleted: stale");
	if (file)
		inode_forget(t, file, 1);
	inode_table_free(t);
}

/* Under a low descriptor limit, lookups make room instead of failing. */
static void test_limit(void)
{
	struct rlimit old, low;
	struct inode_table *t = new_table(100000, false);
	struct octofs_inode *inodes[N_FILES];
	char name[32];
	size_t i, found = 0;

	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = open_fds() + 10;
	setrlimit(RLIMIT_NOFILE, &low);
	for (i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		inodes[i] = look(t, root_of(t), name);
		found += inodes[i] && fd_is(t, inodes[i], name);
	}
	is_int(found, N_FILES, "a limit below the cache's bound: every "
	       "file is found and opened again");
	setrlimit(RLIMIT_NOFILE, &old);
	for (i = 0; i < N_FILES; i++)
		if (inodes[i])
			inode_forget(t, inodes[i], 1);
	inode_table_free(t);
}

static void test_default_bound(void)
{
	is_int(fd_cache_default_bound(4096), 1024, "default: a quarter");
	is_int(fd_cache_default_bound(100), 64, "at least 64");
	is_int(fd_cache_default_bound(1UL << 30), 16384, "at most 16384");
}

static void remove_scratch(void)
{
	char name[32];
	int i;

	for (i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		unlinkat(scratch_fd, name, 0);
	}
	close(scratch_fd);
	rmdir(scratch);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char name[32];
	int i;

	log_init(LOG_LEVEL_ERROR, 0);
	snprintf(scratch, sizeof(scratch), "%s/test_inode.XXXXXX",
		 tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 2;
	}
	scratch_fd = open(scratch, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		make_file(name);
	}
	test_default_bound();
	test_bound(false);
	test_bound(true);
	test_pins();
	test_renames_by_name();
	test_renames_by_handle();
	test_forget();
	test_gone();
	test_stat();
	test_limit();
	remove_scratch();
	return tap_done();
}
