/*
 * dirwin: a directory listed through a window of bounded size, and the
 * readdir offsets that find any entry of it again.
 *
 * The listing is cut into chunks of DIRWIN_CHUNK_ENTRIES entries of the
 * source (the store's directory); the window holds one chunk: its source
 * entries, then whatever the caller adds after them (NAME.url siblings).
 * Only the source's position at the start of each chunk is kept for the
 * whole directory (one long per chunk), so memory per open directory is
 * bounded whatever its size.
 *
 * An offset is (chunk << DIRWIN_POS_BITS) | index in the chunk; an entry's
 * offset, which the kernel hands back to resume after it, names the next
 * entry: the next index in its chunk, or index 0 of the next chunk after
 * its chunk's last entry, so that reading on never reads a chunk again.
 * The source's own positions (telldir cookies, hashes on ext4) are never
 * shown: no bit of theirs is needed.  Offsets stay below 2^31 up to 2^15
 * chunks (134 million entries), as 32-bit telldir() callers need.
 * Offset 0 starts a new listing from the source's current state.
 *
 * No I/O of its own: the source is reached through struct dirwin_ops.
 */
#ifndef OCTOFS_DIRWIN_H
#define OCTOFS_DIRWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Source entries per chunk; a window holds at most twice as many. */
#define DIRWIN_CHUNK_ENTRIES 4096
#define DIRWIN_POS_BITS 16

/* Names live in one block (pool); an added entry may share one. */
struct dirwin_entry {
	ino_t ino;
	uint32_t name;		/* offset in the pool */
	unsigned char type;	/* DT_* */
	bool sibling;		/* added: NAME.url of the entry named */
};

struct dirwin;

/* The source of the entries, e.g. a DIR stream; @src is the caller's. */
struct dirwin_ops {
	void (*rewind)(void *src);
	long (*tell)(void *src);
	void (*seek)(void *src, long pos);
	/* 1 and the next entry (@name valid until the next call); 0 at the
	 * end; or a negative errno. */
	int (*next)(void *src, const char **name, ino_t *ino,
		    unsigned char *type);
	/* The chunk's source entries are in @w: add what follows them
	 * (dirwin_add_sibling()).  0 or a negative errno.  May be NULL. */
	int (*complete)(void *src, struct dirwin *w);
};

struct dirwin {
	/* Chunk k starts at the source's position starts[k]. */
	long *starts;
	size_t chunks;		/* starts known */
	size_t starts_cap;
	bool ended;		/* the source ended in chunk chunks - 1 */
	bool at_known;		/* the source stands at the start of */
	size_t at;		/* chunk at: read on without a seek */
	/* The window: chunk @chunk, when @loaded. */
	bool loaded;
	size_t chunk;
	struct dirwin_entry *entries;
	size_t count;
	size_t cap;
	char *pool;
	size_t pool_len;
	size_t pool_cap;
};

/*
 * Load the chunk that holds the entry at offset @off, reading @src
 * through @ops as needed (offset 0: from the start, rewound), and set
 * @first to that entry's index in the window; @first is w->count when no
 * entry is left.  0 or a negative errno (the source's, or -ENOMEM); the
 * window is then empty, and a later call reads the chunk again.
 */
int dirwin_at(struct dirwin *w, const struct dirwin_ops *ops, void *src,
	      off_t off, size_t *first);

/* The offset of the entry after window entry @i: what to resume at. */
off_t dirwin_next_off(const struct dirwin *w, size_t i);

/* The name stored for window entry @i (a sibling's: its file's). */
const char *dirwin_name(const struct dirwin *w, size_t i);

/* From ops->complete: add the sibling of source entry @i, as @ino. */
int dirwin_add_sibling(struct dirwin *w, size_t i, ino_t ino);

/* Free everything: @w is empty, and usable again. */
void dirwin_clear(struct dirwin *w);

#endif
