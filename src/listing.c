/*
 * listing: a directory's entries as the mount shows them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "inode.h"
#include "listing.h"
#include "octofs.h"
#include "opts.h"
#include "url_files.h"
#include "url_names.h"

/* The store's directory, the source of a listing's window. */
struct store_dir {
	struct octofs *ctx;
	struct octofs_inode *dir;
	DIR *dp;
};

static void store_rewind(void *src)
{
	rewinddir(((struct store_dir *)src)->dp);
}

static long store_tell(void *src)
{
	return telldir(((struct store_dir *)src)->dp);
}

static void store_seek(void *src, long pos)
{
	seekdir(((struct store_dir *)src)->dp, pos);
}

static int store_next(void *src, const char **name, ino_t *ino,
		      unsigned char *type)
{
	struct dirent *de;

	errno = 0;
	de = readdir(((struct store_dir *)src)->dp);
	if (!de)
		return errno ? -errno : 0;
	*name = de->d_name;
	*ino = de->d_ino;
	*type = de->d_type;
	return 1;
}

/*
 * Does the entry @name (of type @type) of @dir, open as @dir_fd, show a
 * sibling?
 */
static bool shows_sibling(struct octofs *ctx, struct octofs_inode *dir,
			  int dir_fd, const char *name, ino_t ino,
			  unsigned char type)
{
	struct stat st;

	if (type == DT_UNKNOWN &&
	    (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	     !S_ISREG(st.st_mode)))
		return false;
	return url_files_visible(ctx, dir_fd, name, dir->dev, ino);
}

/*
 * Is @sibling the name of a real entry?  The window holds one chunk of
 * names, not the directory's, so the store is asked, and only for a file
 * that shows a sibling.  The store's readdir lists a name once if it
 * exists and not if it does not, so while the directory holds still,
 * NAME.url shows exactly once in a full listing: real, or made here when
 * the store has no such name, wherever the chunks fall.  It is also the
 * rule a lookup follows (a virtual file only where the store has no
 * entry), so the listing and lookups agree.  A NAME.url created or
 * removed in the store while the listing is read may show twice or not
 * at all, as any name added or removed during a listing.
 */
static bool name_taken(int dir_fd, const char *sibling)
{
	struct stat st;

	return !fstatat(dir_fd, sibling, &st, AT_SYMLINK_NOFOLLOW) ||
	       errno != ENOENT;
}

/* NAME.url for every file of the chunk that shows one, after its files. */
static int store_complete(void *src, struct dirwin *w)
{
	struct store_dir *s = src;
	char sibling[NAME_MAX + 1];
	size_t real = w->count, i;
	int dir_fd = dirfd(s->dp);
	const char *name;
	int err;

	if (!s->ctx->opts->url_files)
		return 0;
	for (i = 0; i < real; i++) {
		ino_t ino = w->entries[i].ino;
		unsigned char type = w->entries[i].type;

		name = dirwin_name(w, i);
		if ((type != DT_REG && type != DT_UNKNOWN) ||
		    !url_names_sibling(name, sibling, sizeof(sibling)) ||
		    !shows_sibling(s->ctx, s->dir, dir_fd, name, ino, type) ||
		    name_taken(dir_fd, sibling))
			continue;
		err = dirwin_add_sibling(w, i, url_files_ino(ino));
		if (err)
			return err;
	}
	return 0;
}

static const struct dirwin_ops store_ops = {
	.rewind = store_rewind,
	.tell = store_tell,
	.seek = store_seek,
	.next = store_next,
	.complete = store_complete,
};

int listing_at(struct listing *l, struct octofs *ctx,
	       struct octofs_inode *dir, DIR *dp, off_t off, size_t *first)
{
	struct store_dir s = { .ctx = ctx, .dir = dir, .dp = dp };

	return dirwin_at(&l->win, &store_ops, &s, off, first);
}

size_t listing_count(const struct listing *l)
{
	return l->win.count;
}

const char *listing_name(const struct listing *l, size_t i,
			 char buf[NAME_MAX + 1])
{
	const char *name = dirwin_name(&l->win, i);

	if (!l->win.entries[i].sibling)
		return name;
	/* Checked when it was listed: it fits. */
	url_names_sibling(name, buf, NAME_MAX + 1);
	return buf;
}

void listing_stat(const struct listing *l, size_t i, struct stat *st)
{
	st->st_ino = l->win.entries[i].ino;
	st->st_mode = (mode_t)l->win.entries[i].type << 12;
}

off_t listing_next_off(const struct listing *l, size_t i)
{
	return dirwin_next_off(&l->win, i);
}

void listing_clear(struct listing *l)
{
	dirwin_clear(&l->win);
}
