/*
 * inode: the kernel's view of the store, one struct per inode.
 *
 * Each real inode holds an O_PATH descriptor of the stored file and is
 * found again by (st_dev, st_ino), so hard links share it and the store's
 * own inode numbers are reported.  A virtual NAME.url file has an inode of
 * its own that points at (and holds a reference on) the file it belongs
 * to, and on the directory it was found in.  The FUSE node id is the
 * struct's address; the root is FUSE_ROOT_ID.
 */
#ifndef OCTOFS_INODE_H
#define OCTOFS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

struct octofs_inode {
	/* Immutable after creation. */
	dev_t dev;
	ino_t ino;
	struct octofs_inode *url_of;	/* virtual NAME.url: its file, */
	struct octofs_inode *url_dir;	/* the directory and the name */
					/* (in name) it was found under */
	int fd;			/* O_PATH; -1 for a virtual file */
	mode_t type;		/* S_IFMT bits of the stored file */

	/*
	 * T: guarded by the table's lock; L: guarded by lock.  Laid out so
	 * that the struct stays 136 bytes: 20 000 of them in a large
	 * listing.
	 */
	uint64_t nlookup;	/* T the kernel's references */
	struct octofs_inode *hash_next;			/* T */
	unsigned int refs;	/* T ours: virtual files, open operations */
	uint32_t sibling_ms;	/* T when sibling was learnt */
	unsigned char sibling;	/* T 0 unknown, 1 none, 2 shown */
	bool listed;		/* T a directory the kernel may keep a */
	bool dirty;		/* L modified since its upload was submitted */
	int backing_id;		/* L the backing file of passed-through opens */
	struct octofs_inode *listed_next;	/* T listing of */
	unsigned int writers;	/* L open handles with write access */
	int opens;		/* L open handles: > 0 passed through by */
				/* the kernel, < 0 bytes moved by us */
	char *name;		/* L last name it was seen under; a */
				/* virtual file's: fixed, no lock */
	pthread_mutex_t lock;	/* may be held while taking the upload */
				/* queue's lock, never the other way */
};

_Static_assert(sizeof(struct octofs_inode) <= 136, "inode size");

struct inode_table;

/* The table takes ownership of @root_fd.  NULL when out of memory. */
struct inode_table *inode_table_new(int root_fd);
void inode_table_free(struct inode_table *t);

struct octofs_inode *inode_get(struct inode_table *t, fuse_ino_t ino);
fuse_ino_t inode_id(struct inode_table *t, struct octofs_inode *inode);

/*
 * Find or create the inode of @fd (an O_PATH descriptor with stat @st)
 * and count one kernel lookup.  The table owns @fd afterwards (it is
 * closed when an inode already exists).  Returns 0 or -ENOMEM.
 */
int inode_lookup_fd(struct inode_table *t, int fd, const struct stat *st,
		    const char *name, struct octofs_inode **out);

/*
 * The same for the virtual file of @target found as the sibling of @name
 * in @dir: one per name, so that each name can be checked on its own.
 */
int inode_lookup_url(struct inode_table *t, struct octofs_inode *target,
		     struct octofs_inode *dir, const char *name,
		     struct octofs_inode **out);

/*
 * Up to @max virtual files of the file @dev/@ino, each with one of our
 * references (inode_unref() them).  Returns how many.
 */
size_t inode_urls_of(struct inode_table *t, dev_t dev, ino_t ino,
		     struct octofs_inode **out, size_t max);

/* The kernel dropped @n lookups. */
void inode_forget(struct inode_table *t, struct octofs_inode *inode,
		  uint64_t n);

/* Our own references, e.g. while a virtual file waits. */
void inode_ref(struct inode_table *t, struct octofs_inode *inode);
void inode_unref(struct inode_table *t, struct octofs_inode *inode);

/*
 * Whether the regular file @dev/@ino shows a NAME.url sibling, as last
 * learnt and for at most @max_ms since: INODE_SIBLING_UNKNOWN when not
 * known (or the file has no inode here).  @gen receives the value to hand
 * to inode_sibling_set(), which keeps what was learnt only if no
 * inode_sibling_reset() of any file came in between: every change is
 * followed by a reset, so nothing learnt before a change survives it.
 */
enum inode_sibling {
	INODE_SIBLING_UNKNOWN,
	INODE_SIBLING_NONE,
	INODE_SIBLING_SHOWN,
};
enum inode_sibling inode_sibling_get(struct inode_table *t, dev_t dev,
				     ino_t ino, uint32_t max_ms,
				     uint32_t *gen);
void inode_sibling_set(struct inode_table *t, dev_t dev, ino_t ino,
		       uint32_t gen, enum inode_sibling sibling);
void inode_sibling_reset(struct inode_table *t, dev_t dev, ino_t ino);

/*
 * Directories the kernel may keep a listing of (opened with its readdir
 * cache on): inode_dir_listed() remembers @dir until it is freed, and
 * inode_listed_dirs() returns their ids (caller frees; NULL when there
 * are none, *n = 0, or out of memory, *n = SIZE_MAX).
 */
void inode_dir_listed(struct inode_table *t, struct octofs_inode *dir);
fuse_ino_t *inode_listed_dirs(struct inode_table *t, size_t *n);

/* Remember the name the inode was last seen under (best effort). */
void inode_set_name(struct octofs_inode *inode, const char *name);
/* A copy of the name (caller frees); NULL when out of memory. */
char *inode_name(struct octofs_inode *inode);

#endif
