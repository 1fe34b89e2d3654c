/*
 * owners: the file each program (the thread the kernel names as the
 * caller) started writing last.  A program that starts another file has
 * finished saving the one before.
 *
 * One slot per owner's hash: a collision only forgets an owner.  No lock
 * of its own: the caller's (the queue's) guards it.
 */
#ifndef OCTOFS_OWNERS_H
#define OCTOFS_OWNERS_H

#include <stdbool.h>
#include <sys/types.h>

#define OWNERS_SLOTS 64

struct owner_slot {
	long owner;		/* 0: empty */
	dev_t dev;
	ino_t ino;
};

/* All zero: no owner known. */
struct owners {
	struct owner_slot slots[OWNERS_SLOTS];
};

/*
 * Has @owner (a thread id, > 0; 0 for none known) started (created or
 * truncated) a file other than @dev/@ino since it started that one?
 */
bool owners_moved_on(const struct owners *o, long owner, dev_t dev,
		     ino_t ino);

/*
 * @owner (> 0) started @dev/@ino.  True when it had started another file
 * last, which is then in @prev_dev/@prev_ino.
 */
bool owners_started(struct owners *o, long owner, dev_t dev, ino_t ino,
		    dev_t *prev_dev, ino_t *prev_ino);

#endif
