/*
 * resume: at mount, queue again every upload the store says is not
 * finished (status "queued" or "uploading"), so nothing saved before a
 * crash, kill -9 or reboot stays unpublished.
 *
 * The scan runs in its own thread, so the mount is usable at once.  It
 * is skipped when the store was left "settled" by a clean unmount with
 * nothing unfinished (state.h), which keeps the usual start-up cost
 * independent of the size of the store.
 */
#ifndef OCTOFS_RESUME_H
#define OCTOFS_RESUME_H

#include <stdbool.h>

struct octofs;
struct octofs_inode;
struct resume_scan;

/*
 * Start resuming the store behind @root_fd (its O_PATH descriptor, which
 * must outlive the scan).  0 and *@out (NULL when nothing needs a scan),
 * or a negative errno.
 */
int resume_start(struct octofs *ctx, int root_fd, struct resume_scan **out);

/*
 * Stop the scan and free it.  True when every unfinished upload it could
 * find was queued: the scan was skipped or ran to its end without errors.
 */
bool resume_stop(struct resume_scan *r);

/*
 * Queue the file of @inode, named @name, whose stored status says its
 * upload is unfinished.  0, -EEXIST when it already has a job, -EPERM
 * when its name is ignored, or another negative errno.
 */
int resume_file(struct octofs *ctx, struct octofs_inode *inode,
		const char *name);

#endif
