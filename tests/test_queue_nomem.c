/*
 * Tests for src/queue.c when memory runs out: each allocation of the
 * queue's calls made to fail in turn (malloc, calloc, realloc and strdup
 * are wrapped, see inject.h).  A call that fails says so and leaves the
 * queue as it was; the job table that cannot grow keeps the old one.
 * The sanitizer build sees any leak.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INJECT_ALLOCATORS
#include "inject.h"
#include "queue_fuse.h"
#include "queue_worker.h"
#include "tap.h"

/* Jobs hold this file: how many references they have. */
static int file_refs;

static void file_get(void *arg, void *file)
{
	file_refs++;
}

static void file_put(void *arg, void *file)
{
	file_refs--;
}

static const struct queue_file_ops counted = {
	.get = file_get, .put = file_put,
};

static struct octofs_queue *new_queue(void)
{
	struct octofs_queue *q = queue_new(0);

	if (q)
		queue_on_file(q, &counted);
	return q;
}

static bool has_job(struct octofs_queue *q, ino_t ino)
{
	enum job_state st;

	return queue_state(q, 1, ino, &st) == 0;
}

/* The job's name is @want. */
static bool named(struct octofs_queue *q, struct octofs_job *job,
		  const char *want)
{
	char *name = queue_job_name(q, job);
	bool same = name && !strcmp(name, want);

	free(name);
	return same;
}

static void test_new(void)
{
	struct octofs_queue *q;
	int n, nulls = 0;

	for (n = 1; n < 100; n++) {
		inject_arm(n);
		q = queue_new(0);
		if (!inject_disarm())
			break;
		nulls += !q;
		queue_free(q);
	}
	ok(q != NULL, "a queue allocates %d times", n - 1);
	is_int(nulls, n - 1, "each failing: no queue");
	queue_free(q);
}

/* A new job: each allocation failing gives NULL and no job. */
static void test_hold_new(void)
{
	struct octofs_queue *q = new_queue();
	struct octofs_job *job;
	int n, bad = 0;

	for (n = 1; n < 100; n++) {
		inject_arm(n);
		job = queue_hold(q, 1, 10, NULL, "a.png");
		if (!inject_disarm())
			break;
		if (job || has_job(q, 10) || file_refs) {
			bad++;
			queue_job_put(q, job);
		}
	}
	ok(job != NULL, "a new job allocates %d times", n - 1);
	ok(n > 1 && !bad, "each failing: NULL, no job, the file not kept");
	ok(has_job(q, 10) && file_refs == 1, "then it is made");
	queue_job_put(q, job);
	queue_free(q);
	is_int(file_refs, 0, "freeing the queue lets the file go");
}

/* A new name for a job being uploaded: the upload goes on untouched. */
static void test_hold_renamed(void)
{
	struct octofs_queue *q = new_queue();
	struct octofs_job *job, *held;
	uint64_t gen;

	queue_job_put(q, queue_hold(q, 1, 10, NULL, "a.png"));
	queue_submit(q, 1, 10, NULL, 0);
	job = queue_pop(q, &gen);
	inject_arm(1);
	held = queue_hold(q, 1, 10, NULL, "b.png");
	ok(inject_disarm() && held == NULL,
	   "written under a new name that cannot be copied: NULL");
	ok(named(q, job, "a.png"), "the job keeps its name");
	ok(queue_job_current(q, job, gen), "the upload is still current");
	is_int(atomic_load(queue_job_cancel_flag(job)), 0, "not cancelled");
	held = queue_hold(q, 1, 10, NULL, "b.png");
	ok(held && named(q, job, "b.png"), "with memory: the new name");
	ok(!queue_job_current(q, job, gen), "and a new version");
	queue_job_put(q, held);
	queue_failed(q, job, gen);
	queue_free(q);
}

/* Job @i's file, to tell jobs apart. */
static void *file_of(int i)
{
	return (void *)(uintptr_t)(i + 1);
}

/* The table fills past its size while it cannot grow: all still work. */
static void test_table_cannot_grow(void)
{
	struct octofs_queue *q = new_queue();
	struct octofs_job *job;
	struct queue_counts c;
	int i, fired = 0, missing = 0, popped = 0, order = 0;
	uint64_t gen;

	for (i = 0; i < 300; i++) {
		/* The job, its name, then (past 64 jobs) the new table. */
		inject_arm(3);
		job = queue_hold(q, 1, 100 + i, file_of(i), "f");
		fired += inject_disarm();
		queue_job_put(q, job);
		queue_submit(q, 1, 100 + i, NULL, 0);
		if (!job)
			missing++;
	}
	is_int(missing, 0, "300 jobs made");
	is_int(fired, 300 - 64, "each past the 64th without a larger table");
	for (i = 0; i < 300; i++)
		missing += !has_job(q, 100 + i);
	is_int(missing, 0, "each found in the old table");
	queue_counts(q, &c);
	is_int(c.queued, 300, "all queued");
	for (i = 0; i < 300; i++) {
		job = queue_pop(q, &gen);
		if (!job)
			break;
		popped++;
		order += queue_job_file(job) == file_of(i);
		queue_done(q, job, gen, "https://cdn.example/f");
	}
	is_int(popped, 300, "each popped once");
	is_int(order, 300, "in order");
	queue_counts(q, &c);
	ok(c.queued == 0 && c.done == 300, "all done");
	for (i = 0; i < 1000; i++)
		queue_job_put(q, queue_hold(q, 1, 1000 + i, NULL, "g"));
	for (i = 0, missing = 0; i < 1000; i++)
		missing += !has_job(q, 1000 + i);
	is_int(missing, 0, "with memory again it grows: 1000 more found");
	queue_free(q);
	is_int(file_refs, 0, "every job let its file go");
}

static void test_resume(void)
{
	struct octofs_queue *q = new_queue();
	struct queue_counts c;
	int n, bad = 0, err = 0;

	for (n = 1; n < 100; n++) {
		inject_arm(n);
		err = queue_resume(q, 1, 20, NULL, "r.png");
		if (!inject_disarm())
			break;
		if (err != -ENOMEM || has_job(q, 20) || file_refs)
			bad++;
	}
	is_int(err, 0, "resuming allocates %d times", n - 1);
	ok(n > 1 && !bad, "each failing: -ENOMEM and no job");
	queue_counts(q, &c);
	is_int(c.queued, 1, "then it is queued");
	queue_free(q);
}

/* A name that cannot be copied does not keep the upload from going. */
static void test_submit_renamed(void)
{
	struct octofs_queue *q = new_queue();
	struct octofs_job *job;
	uint64_t gen;

	queue_job_put(q, queue_hold(q, 1, 30, NULL, "draft.txt"));
	inject_arm(1);
	is_int(queue_submit(q, 1, 30, "final.txt", 0), -ENOMEM,
	       "submitted under a new name: -ENOMEM");
	inject_disarm();
	job = queue_pop(q, &gen);
	ok(job != NULL, "the job goes all the same");
	ok(job && named(q, job, "draft.txt"), "under its old name");
	if (job)
		queue_done(q, job, gen, "https://cdn.example/draft.txt");
	queue_free(q);
}

static void test_rename_and_name(void)
{
	struct octofs_queue *q = new_queue();
	struct octofs_job *job = queue_hold(q, 1, 40, NULL, "old.txt");
	char *name;

	inject_arm(1);
	queue_rename(q, 1, 40, "new.txt");
	ok(inject_disarm(), "renaming allocates");
	ok(named(q, job, "old.txt"), "a failed rename keeps the old name");
	queue_rename(q, 1, 40, "new.txt");
	ok(named(q, job, "new.txt"), "a rename with memory takes");
	inject_arm(1);
	name = queue_job_name(q, job);
	ok(inject_disarm() && name == NULL, "a name that cannot be copied: "
	   "NULL");
	free(name);
	queue_job_put(q, job);
	queue_free(q);
}

int main(void)
{
	test_new();
	test_hold_new();
	test_hold_renamed();
	test_table_cannot_grow();
	test_resume();
	test_submit_renamed();
	test_rename_and_name();
	return tap_done();
}
