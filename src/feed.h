/*
 * feed: the live feed of upload outcomes.
 *
 * The daemon publishes one record per outcome (a file uploaded, failed,
 * or starting to retry), and any number of followers read them as JSON
 * lines from a Unix socket in the abstract namespace, whose name the
 * mount's root gives as user.octofs.feed.  A follower gets the records
 * published from the moment it connects; the feed keeps the latest ones
 * in a ring bounded in count and bytes, so a follower too slow to keep
 * up costs no memory: it skips what the ring lost and is told how many
 * ("missed" records).  The ring keeps only what some follower has still
 * to take.  Each record reaches only the followers that may
 * read its file, as the feed's may_read callback judges.  When the feed
 * ends (unmount) every follower sees end of file.
 */
#ifndef OCTOFS_FEED_H
#define OCTOFS_FEED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define FEED_GROUPS_MAX 64	/* a peer's groups beyond these are unseen */

enum feed_event {
	FEED_DONE,		/* uploaded: url, key, size */
	FEED_FAILED,		/* failed for good: error */
	FEED_RETRYING,		/* will be tried again: error, attempt, */
				/* next_try */
};

/* One outcome; the strings are copied by feed_publish(). */
struct feed_record {
	enum feed_event event;
	const char *path;	/* relative to the mount's root */
	const char *url;	/* FEED_DONE */
	const char *key;	/* FEED_DONE: the object key */
	int64_t size;		/* FEED_DONE: bytes uploaded */
	const char *error;	/* FEED_FAILED, FEED_RETRYING */
	unsigned int attempt;	/* FEED_RETRYING: how many failed so far */
	time_t next_try;	/* FEED_RETRYING: when, wall-clock time */
};

/* Who follows, from the socket's peer credentials. */
struct feed_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int n_groups;
	gid_t groups[FEED_GROUPS_MAX];
};

/*
 * May @peer read the file at @path (relative to the mount's root)?
 * Called on the feed's thread with no lock held.
 */
typedef bool (*feed_may_read_fn)(void *arg, const struct feed_peer *peer,
				 const char *path);

struct feed;

/*
 * A feed listening on a new abstract socket, with its thread running:
 * keeping up to @ring_records records of up to @ring_bytes bytes in all.
 * NULL with errno set on failure.
 */
struct feed *feed_start(unsigned int ring_records, size_t ring_bytes,
			feed_may_read_fn may_read, void *arg);
/*
 * Stop the thread and hang up on every follower, once each has taken
 * what is left or a second has passed; NULL does nothing.
 */
void feed_stop(struct feed *f);

/* The socket's name as "@NAME" (the abstract namespace), for display. */
const char *feed_address(const struct feed *f);

/*
 * How many records the ring holds now, their bytes, and how many follow
 * (connections accepted included): for tests.
 */
void feed_held(struct feed *f, unsigned int *records, size_t *bytes,
	       unsigned int *following);

/*
 * Publish @r to every follower.  Never blocks on a follower; -ENOMEM
 * (the record is dropped and counted as missed by everyone) or 0.
 */
int feed_publish(struct feed *f, const struct feed_record *r);

#endif
