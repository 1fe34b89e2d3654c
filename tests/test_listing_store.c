/*
 * Tests for src/listing.c: a store directory in /tmp listed as the mount
 * shows it, each file that shows a NAME.url followed by it, read at
 * offsets as the kernel reads, on a small directory of every kind of
 * entry and on one of several chunks.  Whether a file shows a sibling
 * is url_files.c's to say: a stub here says it for *.png.  readdir is
 * wrapped to hide entry types and to fail; the allocators to run out.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INJECT_ALLOCATORS
#include "inject.h"
#include "inode.h"
#include "listing.h"
#include "octofs.h"
#include "opts.h"
#include "tap.h"
#include "url_files.h"

#define SIBLING_BIT ((ino_t)1 << 40)
#define BIG_FILES (DIRWIN_CHUNK_ENTRIES + 904)	/* two chunks and more */

/* ---- Stubs of url_files.c --------------------------------------------- */

static unsigned int asked;		/* url_files_visible() calls */
static unsigned int asked_wrongly;	/* ... not about a regular file */

ino_t url_files_ino(ino_t ino)
{
	return ino | SIBLING_BIT;
}

/* *.png files show a sibling. */
bool url_files_visible(struct octofs *ctx, int dir_fd, const char *name,
		       dev_t dev, ino_t ino)
{
	size_t len = strlen(name);
	struct stat st;

	asked++;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISREG(st.st_mode) || st.st_ino != ino || st.st_dev != dev)
		asked_wrongly++;
	return len > 4 && !strcmp(name + len - 4, ".png");
}

/* ---- readdir, wrapped ------------------------------------------------- */

static bool hide_types;		/* report every type as DT_UNKNOWN */
static int readdir_fail_at;	/* > 0: that call from now fails */

struct dirent *__real_readdir(DIR *dp);
struct dirent *__wrap_readdir(DIR *dp);

struct dirent *__wrap_readdir(DIR *dp)
{
	struct dirent *de;

	if (readdir_fail_at > 0 && --readdir_fail_at == 0) {
		errno = EIO;
		return NULL;
	}
	de = __real_readdir(dp);
	if (de && hide_types)
		de->d_type = DT_UNKNOWN;
	return de;
}

/* ---- The store -------------------------------------------------------- */

struct store {
	char path[64];
	struct octofs_opts opts;
	struct octofs ctx;
	struct octofs_inode dir;
	DIR *dp;
};

static char long_name[NAME_MAX];	/* a *.png with no room for .url */

static int touch(struct store *s, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", s->path, name);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int store_open(struct store *s, const char *tag)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "/tmp/octofs-test-%s.XXXXXX",
		 tag);
	if (!mkdtemp(s->path))
		return -1;
	s->opts.url_files = 1;
	s->ctx.opts = &s->opts;
	if (stat(s->path, &st))
		return -1;
	s->dir.dev = st.st_dev;
	s->dir.ino = st.st_ino;
	return 0;
}

static int store_opendir(struct store *s)
{
	s->dp = opendir(s->path);
	return s->dp ? 0 : -1;
}

/* Every kind of entry the store can hold. */
static int store_small(struct store *s)
{
	char path[PATH_MAX];

	memset(long_name, 'n', sizeof(long_name) - 1);
	strcpy(long_name + sizeof(long_name) - 5, ".png");	/* 254 */
	if (store_open(s, "listing") || touch(s, "a.png") ||
	    touch(s, "b.txt") || touch(s, "c.png") ||
	    touch(s, "c.png.url") || touch(s, long_name))
		return -1;
	snprintf(path, sizeof(path), "%s/sub.png", s->path);
	if (mkdir(path, 0700))
		return -1;
	snprintf(path, sizeof(path), "%s/l.png", s->path);
	if (symlink("a.png", path))
		return -1;
	return store_opendir(s);
}

static int store_big(struct store *s)
{
	char name[32];
	int i;

	if (store_open(s, "listing-big"))
		return -1;
	for (i = 0; i < BIG_FILES; i++) {
		snprintf(name, sizeof(name), "f%05d.%s", i,
			 i % 2 ? "txt" : "png");
		if (touch(s, name))
			return -1;
	}
	return store_opendir(s);
}

static void store_remove(struct store *s)
{
	char path[PATH_MAX];
	struct dirent *e;

	if (s->dp) {
		hide_types = false;
		readdir_fail_at = 0;
		rewinddir(s->dp);
		while ((e = readdir(s->dp))) {
			snprintf(path, sizeof(path), "%s/%s", s->path,
				 e->d_name);
			if (e->d_type == DT_DIR)
				rmdir(path);
			else
				unlink(path);
		}
		closedir(s->dp);
	}
	rmdir(s->path);
}

/* ---- Listing it as the kernel does ------------------------------------ */

struct seen_entry {
	char name[NAME_MAX + 1];
	ino_t ino;
	mode_t mode;
};

struct seen {
	struct seen_entry e[BIG_FILES * 2];
	size_t n;
};

static struct seen seen;

/*
 * From offset 0, up to @step entries a request, each request at the
 * offset after the last entry taken, until the end.
 */
static int list_all(struct store *s, struct listing *l, size_t step)
{
	char buf[NAME_MAX + 1];
	struct stat st;
	size_t i, end;
	off_t off = 0;
	int err;

	seen.n = 0;
	for (;;) {
		err = listing_at(l, &s->ctx, &s->dir, s->dp, off, &i);
		if (err)
			return err;
		if (i == listing_count(l))
			return 0;
		end = i + step < listing_count(l) ? i + step :
		      listing_count(l);
		for (; i < end && seen.n < BIG_FILES * 2; i++) {
			snprintf(seen.e[seen.n].name, sizeof(buf), "%s",
				 listing_name(l, i, buf));
			listing_stat(l, i, &st);
			seen.e[seen.n].ino = st.st_ino;
			seen.e[seen.n++].mode = st.st_mode;
			off = listing_next_off(l, i);
		}
	}
}

/* Where @name was seen (-1: not, -2: more than once). */
static long seen_at(const char *name)
{
	long at = -1;
	size_t i;

	for (i = 0; i < seen.n; i++) {
		if (strcmp(seen.e[i].name, name))
			continue;
		if (at >= 0)
			return -2;
		at = (long)i;
	}
	return at;
}

static ino_t ino_of(struct store *s, const char *name)
{
	struct stat st;

	if (fstatat(dirfd(s->dp), name, &st, AT_SYMLINK_NOFOLLOW))
		return 0;
	return st.st_ino;
}

/*
 * The small store, listed whole: @siblings says whether a.png has one,
 * @typed whether the store's readdir gave entry types.
 */
static void is_small(struct store *s, bool siblings, bool typed,
		     const char *what)
{
	static const char *const once[] = {
		".", "..", "a.png", "b.txt", "c.png", "c.png.url", "sub.png",
		"l.png",
	};
	long file = seen_at("a.png"), sib = seen_at("a.png.url");
	size_t i, bad = 0;
	char name[NAME_MAX + 8];

	for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		bad += seen_at(once[i]) < 0;
	bad += seen_at(long_name) < 0;
	is_int(bad, 0, "%s: each entry of the store, once", what);
	is_int(seen.n, 9 + siblings, "%s: %d entries", what, 9 + siblings);
	if (bad)
		return;
	snprintf(name, sizeof(name), "%s.url", long_name);
	ok(seen_at(name) == -1, "%s: no sibling over NAME_MAX", what);
	ok(seen_at("sub.png.url") == -1 && seen_at("l.png.url") == -1,
	   "%s: none for a directory or a symbolic link", what);
	ok(seen_at("b.txt.url") == -1 && seen_at("c.png.url.url") == -1,
	   "%s: none for a file that shows none", what);
	if (!siblings) {
		ok(sib == -1, "%s: no a.png.url", what);
		return;
	}
	ok(sib > file && file >= 0, "%s: a.png.url, after a.png", what);
	if (sib < 0)
		return;
	is_int(seen.e[sib].ino, url_files_ino(ino_of(s, "a.png")),
	       "%s: its inode number is the virtual one", what);
	is_int(seen.e[sib].mode, S_IFREG, "%s: a regular file", what);
	is_int(seen.e[file].ino, ino_of(s, "a.png"),
	       "%s: a.png has its own number", what);
	is_int(seen.e[seen_at("sub.png")].mode, typed ? S_IFDIR : 0,
	       "%s: sub.png's type as the store gave it", what);
	is_int(seen.e[seen_at("l.png")].mode, typed ? S_IFLNK : 0,
	       "%s: l.png's type as the store gave it", what);
}

/* ---- Tests ------------------------------------------------------------ */

static void test_small(void)
{
	struct listing l = { 0 };
	struct store s;

	if (store_small(&s)) {
		ok(0, "small store: %s", strerror(errno));
		store_remove(&s);
		return;
	}
	is_int(list_all(&s, &l, 100), 0, "listed in one request");
	is_small(&s, true, true, "one request");
	is_int(asked_wrongly, 0, "only regular files are asked about");
	is_int(list_all(&s, &l, 1), 0, "listed an entry a request");
	is_small(&s, true, true, "an entry a request");
	listing_clear(&l);
	is_int(listing_count(&l), 0, "cleared: empty");

	hide_types = true;
	asked = asked_wrongly = 0;
	is_int(list_all(&s, &l, 3), 0, "listed without entry types");
	is_small(&s, true, false, "without types");
	is_int(asked_wrongly, 0, "only regular files are asked about");
	is_int(asked, 4, "the four regular files with room for a .url");
	hide_types = false;

	s.opts.url_files = 0;
	is_int(list_all(&s, &l, 100), 0, "listed with url_files off");
	is_small(&s, false, true, "url_files off");
	s.opts.url_files = 1;
	listing_clear(&l);
	store_remove(&s);
}

/* Entries at every point of a long listing, read in pieces. */
static void test_big(void)
{
	struct listing l = { 0 };
	struct store s;
	char name[40];
	size_t bad = 0, order = 0;
	long file, sib;
	int i;

	if (store_big(&s)) {
		ok(0, "big store: %s", strerror(errno));
		store_remove(&s);
		return;
	}
	is_int(list_all(&s, &l, 1000), 0, "%d files listed", BIG_FILES);
	is_int(seen.n, 2 + BIG_FILES + BIG_FILES / 2, "with a sibling for "
	       "each of the %d *.png", BIG_FILES / 2);
	for (i = 0; i < BIG_FILES; i++) {
		snprintf(name, sizeof(name), "f%05d.%s", i,
			 i % 2 ? "txt" : "png");
		file = seen_at(name);
		bad += file < 0;
		if (i % 2)
			continue;
		strcat(name, ".url");
		sib = seen_at(name);
		bad += sib < 0;
		order += sib > file;
	}
	is_int(bad, 0, "each name once");
	is_int(order, BIG_FILES / 2, "each sibling after its file");
	ok(listing_count(&l) <= 2 * DIRWIN_CHUNK_ENTRIES,
	   "a window holds at most a chunk and its siblings");
	listing_clear(&l);
	store_remove(&s);
}

static void test_read_error(void)
{
	struct listing l = { 0 };
	struct store s;
	size_t first;

	if (store_small(&s)) {
		ok(0, "small store: %s", strerror(errno));
		store_remove(&s);
		return;
	}
	readdir_fail_at = 3;
	is_int(listing_at(&l, &s.ctx, &s.dir, s.dp, 0, &first), -EIO,
	       "the store's readdir fails: EIO");
	readdir_fail_at = 0;
	is_int(list_all(&s, &l, 100), 0, "read again");
	is_small(&s, true, true, "after the error");
	listing_clear(&l);
	store_remove(&s);
}

/* Each allocation failing: -ENOMEM, then the listing reads again. */
static void test_nomem(void)
{
	struct listing l = { 0 };
	struct store s;
	size_t first;
	int n, err = 0, bad = 0;

	if (store_small(&s)) {
		ok(0, "small store: %s", strerror(errno));
		store_remove(&s);
		return;
	}
	for (n = 1; n < 100; n++) {
		listing_clear(&l);
		inject_arm(n);
		err = listing_at(&l, &s.ctx, &s.dir, s.dp, 0, &first);
		if (!inject_disarm())
			break;
		if (err != -ENOMEM || listing_count(&l)) {
			bad++;
			printf("# allocation %d: %d\n", n, err);
		}
		if (list_all(&s, &l, 100) || seen.n != 10)
			bad++;
	}
	is_int(err, 0, "a listing allocates %d times", n - 1);
	ok(n > 1 && !bad, "each failing: -ENOMEM, then it reads whole");
	listing_clear(&l);
	store_remove(&s);
}

int main(void)
{
	test_small();
	test_big();
	test_read_error();
	test_nomem();
	return tap_done();
}
