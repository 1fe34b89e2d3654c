/*
 * worker: the fixed pool of threads that upload: presign, then PUT the
 * stored bytes, then record the outcome with the file and in the queue.
 */
#ifndef OCTOFS_WORKER_H
#define OCTOFS_WORKER_H

struct octofs;
struct worker_pool;

/* Start ctx->opts->jobs threads.  NULL (and a log line) on failure. */
struct worker_pool *worker_pool_start(struct octofs *ctx);

/*
 * Stop after the queue was shut down: uploads in flight get @grace_ms to
 * finish, then are cancelled (their files stay queued on disk).  Joins
 * and frees.  NULL does nothing.
 */
void worker_pool_stop(struct worker_pool *pool, unsigned long grace_ms);

#endif
