/*
 * inode: the kernel's view of the store, one struct per inode.
 *
 * A real inode is found again by (st_dev, st_ino), so hard links share
 * it and the store's own inode numbers are reported.  It holds no
 * descriptor of the stored file: inode_fd() reopens it by file handle
 * (name_to_handle_at, open_by_handle_at: needs CAP_DAC_READ_SEARCH) or,
 * without one, by name from its parent directory, and keeps what it
 * opened in a bounded cache (fd_cache.c).  So the descriptors held
 * follow what is in use, not what the kernel has looked up.  A virtual
 * NAME.url file has an inode of its own that points at (and holds a
 * reference on) the file it belongs to, and on the directory it was
 * found in.  The FUSE node id is the struct's address; the root is
 * FUSE_ROOT_ID.
 */
#ifndef OCTOFS_INODE_H
#define OCTOFS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

/* File handles longer than this are not kept: found again by name. */
#define INODE_HANDLE_MAX 20

struct octofs_inode {
	/*
	 * Every inode has these, virtual ones too.  T: guarded by the
	 * table's lock; L: by inode_lock(); C: by the descriptor cache's
	 * lock (the lock order is in octofs.h).  Kept small: a large tree
	 * has hundreds of thousands.  The L fields belong to the modules
	 * named beside them; they live here to cost no second allocation.
	 */
	dev_t dev;		/* immutable */
	ino_t ino;		/* immutable */
	struct octofs_inode *url_of;	/* virtual NAME.url: its file */
	struct octofs_inode *parent;	/* T the directory of name, with */
					/* one of our references (a */
					/* virtual file's: fixed) */
	uint64_t nlookup;	/* T the kernel's references */
	struct octofs_inode *hash_next;			/* T */
	char *name;		/* T last name it was seen under; a */
				/* virtual file's: fixed, no lock */
	unsigned int refs;	/* T ours: virtual files, children, jobs, */
				/* open operations */
	mode_t type;		/* S_IFMT bits of the stored file */

	/* Real inodes only: a virtual one is allocated without these. */
	struct octofs_inode *listed_next;	/* T inode_dir_listed() */
	uint32_t sibling_ms;	/* T when sibling was learnt */
	int fd;			/* C cached O_PATH descriptor, or -1 */
	uint32_t fd_slot;	/* C its place in the cache + 1, or 0 */
	uint32_t fd_pins;	/* C users of fd */
	uint8_t fd_flags;	/* C see fd_cache.c */
	unsigned char sibling;	/* T 0 unknown, 1 none, 2 shown */
	bool listed;		/* T a directory whose listing the */
				/* kernel may keep (inode_dir_listed()) */
	bool dirty;		/* L versions.c: modified since its */
				/* upload was submitted */
	unsigned char write_err;	/* L why writing its version failed */
					/* (write_fail.h) */
	bool gone;		/* T its file was deleted: lookups pass it */
	unsigned char handle_len;	/* file handle; 0: none */
	unsigned char handle_type;
	unsigned char handle[INODE_HANDLE_MAX];
	int backing_id;		/* L backing.c: the backing file of */
				/* passed-through opens */
	unsigned int writers;	/* L versions.c: open handles with */
				/* write access */
	int opens;		/* L backing.c: open handles: > 0 passed */
				/* through by the kernel, < 0 bytes */
				/* moved by us */
};

#define INODE_VIRTUAL_SIZE offsetof(struct octofs_inode, listed_next)

_Static_assert(sizeof(struct octofs_inode) <= 128, "inode size");
_Static_assert(INODE_VIRTUAL_SIZE <= 64, "virtual inode size");

struct inode_table;

/*
 * The table takes ownership of @root_fd (an O_PATH descriptor of the
 * store's directory) and keeps up to @fd_cache other descriptors open.
 * NULL when out of memory.
 */
struct inode_table *inode_table_new(int root_fd, unsigned int fd_cache);
void inode_table_free(struct inode_table *t);

/* Are inodes found again by file handle (else by name)? */
bool inode_table_by_handle(struct inode_table *t);
/* Find inodes again by name only, as without CAP_DAC_READ_SEARCH. */
void inode_table_by_name(struct inode_table *t);

struct octofs_inode *inode_get(struct inode_table *t, fuse_ino_t ino);
fuse_ino_t inode_id(struct inode_table *t, struct octofs_inode *inode);

/*
 * Look @name up in the directory @dir: find or create the inode it names
 * and count one kernel lookup; @st receives its attributes.  The inode
 * remembers @dir and @name as where to find it again.  Returns 0 or a
 * negative errno.
 */
int inode_lookup(struct inode_table *t, struct octofs_inode *dir,
		 const char *name, struct stat *st, struct octofs_inode **out);

/*
 * An O_PATH descriptor of the real inode @inode, pinned until
 * inode_fd_put(): never closed while in use.  Negative errno on failure:
 * -ESTALE when the file is gone (or, found by name, no longer there).
 */
int inode_fd(struct inode_table *t, struct octofs_inode *inode);
void inode_fd_put(struct inode_table *t, struct octofs_inode *inode);

/*
 * @open_fd is a descriptor of @inode's file (just created, say): cache
 * an O_PATH descriptor of it unless one is cached already, so that the
 * file is not looked for again (it may have lost its name meanwhile).
 */
void inode_fd_seed(struct inode_table *t, struct octofs_inode *inode,
		   int open_fd);

/*
 * The attributes of the real inode @inode: through its cached
 * descriptor, else by its name in its parent when that still holds it
 * (one system call, and no descriptor opened), else as inode_fd() finds
 * it.  0 or a negative errno.
 */
int inode_stat(struct inode_table *t, struct octofs_inode *inode,
	       struct stat *st);

/*
 * The file @dev/@ino lost its last name: its cached descriptor goes now
 * (or when its users are done), so the store can free it, and its inode
 * leaves the table, so a new file the store gives the same number gets
 * an inode of its own.  The kernel may still use the old one.
 */
void inode_gone(struct inode_table *t, dev_t dev, ino_t ino);

/*
 * A call that makes a descriptor failed with @err: when it is EMFILE or
 * ENFILE and cached descriptors could be closed, true (retry the call).
 */
bool inode_fd_relieve(struct inode_table *t, int err);

/* Cached descriptors, and how many of them are in use. */
void inode_fd_counts(struct inode_table *t, size_t *cached,
		     size_t *pinned);

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

/*
 * The inode's lock (L above, and in the lock order in octofs.h).
 * Several inodes share one: never take a second under it.
 */
void inode_lock(struct inode_table *t, struct octofs_inode *inode);
void inode_unlock(struct inode_table *t, struct octofs_inode *inode);

/*
 * The path of the real inode @inode from the store's root, by the names
 * it was last seen under ("dir/file"; "" for the root); caller frees.
 * NULL when out of memory.
 */
char *inode_path(struct inode_table *t, struct octofs_inode *inode);

/* A copy of the last name (caller frees); NULL when out of memory. */
char *inode_name(struct inode_table *t, struct octofs_inode *inode);

#endif
