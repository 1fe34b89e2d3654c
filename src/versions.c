/*
 * versions: the upload bookkeeping of the files written through the
 * mount.  A regular file gets a job at its first modification (a new
 * version), is held while written, and is submitted to the upload queue
 * when its last writer is gone.  Renames carry a job to the new name or,
 * into an ignored name, drop it; the last name going cancels it.
 * Ignored names are stored but never get a job.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ignore.h"
#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "opts.h"
#include "queue_fuse.h"
#include "state.h"
#include "url_files.h"
#include "versions.h"
#include "write_fail.h"

static bool name_ignored(struct octofs *ctx, const char *name)
{
	return ignore_match(ctx->ignore, name);
}

/* Did the file show a sibling before this version (queued or later)? */
static bool showed_sibling(int fd)
{
	enum state_status st = state_read_status(fd);

	return st == STATE_QUEUED || st == STATE_UPLOADING || st == STATE_DONE;
}

/*
 * Start a new version: a held job and "queued" on disk.  A file @fresh
 * from an exclusive create has no earlier result to clear, and its
 * directory's listing changed anyway (the kernel saw the create).
 */
static void start_version(struct octofs *ctx, struct octofs_inode *inode,
			  const char *name, bool fresh)
{
	struct octofs_job *job;
	bool listing;
	int fd, err;

	job = queue_hold(ctx->queue, inode->dev, inode->ino, inode, name);
	if (!job) {
		log_error("cannot queue %s: out of memory", name);
		return;
	}
	fd = inode_fd(ctx->inodes, inode);
	queue_job_lock_state(job);
	listing = fd >= 0 && !fresh && ctx->opts->url_files &&
		  !showed_sibling(fd);
	if (fd < 0)
		err = fd;
	else
		err = fresh ? state_mark_new_queued(fd) :
			      state_mark_queued(fd);
	queue_job_unlock_state(job);
	if (fd >= 0)
		inode_fd_put(ctx->inodes, inode);
	if (err)
		log_warn("cannot record state of %s: %s", name,
			 strerror(-err));
	queue_job_put(ctx->queue, job);
	url_files_changed(ctx, inode->dev, inode->ino);
	if (listing)
		url_files_listings_changed(ctx);
}

void version_mark(struct octofs *ctx, struct octofs_inode *inode, bool fresh)
{
	char *name;
	bool was_dirty;

	if (inode->type != S_IFREG)
		return;
	inode_lock(ctx->inodes, inode);
	was_dirty = inode->dirty;
	inode->dirty = true;
	inode->write_err = 0;
	inode_unlock(ctx->inodes, inode);
	if (was_dirty)
		return;
	name = inode_name(ctx->inodes, inode);
	if (!name) {
		log_error("cannot queue a file: out of memory");
		return;
	}
	if (!name_ignored(ctx, name))
		start_version(ctx, inode, name, fresh);
	free(name);
}

void version_modified(struct octofs *ctx, struct octofs_inode *inode)
{
	version_mark(ctx, inode, false);
}

/*
 * Let the job go to the workers, unless a write started a newer version
 * since the caller took the dirty flag: that version's writer is still
 * at work and submits it at its own last close.  Checked and released
 * under the inode's lock, which version_mark() takes to start a version.
 */
static int release_job(struct octofs *ctx, struct octofs_inode *inode,
		       const char *name, long owner)
{
	int err = 0;

	inode_lock(ctx->inodes, inode);
	if (!inode->dirty)
		err = queue_submit(ctx->queue, inode->dev, inode->ino, name,
				   owner);
	inode_unlock(ctx->inodes, inode);
	return err;
}

/*
 * Hand the file to the workers, creating its job if it has none yet;
 * @owner created, truncated or renamed it (0: none known).  A version
 * whose writing failed (@write_err, write_fail.h) is held back instead.
 */
static void submit(struct octofs *ctx, struct octofs_inode *inode,
		   const char *name, long owner, int write_err)
{
	struct stat st;
	int fd;

	if (name_ignored(ctx, name))
		return;
	/* Unlinked while open: nothing left to publish. */
	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH) || !st.st_nlink) {
		if (fd >= 0)
			inode_fd_put(ctx->inodes, inode);
		queue_cancel(ctx->queue, inode->dev, inode->ino);
		return;
	}
	if (write_err)
		write_fail_version(ctx, inode->dev, inode->ino, fd, name,
				   write_err);
	inode_fd_put(ctx->inodes, inode);
	if (write_err)
		return;
	if (release_job(ctx, inode, name, owner) == -ENOENT) {
		start_version(ctx, inode, name, false);
		release_job(ctx, inode, name, owner);
	}
}

/*
 * If nobody writes to the file any more and it changed, upload it;
 * @owner as for submit().
 */
void version_submit_if_done(struct octofs *ctx,
			    struct octofs_inode *inode, long owner)
{
	bool done;
	char *name;
	int write_err = 0;

	inode_lock(ctx->inodes, inode);
	done = !inode->writers && inode->dirty;
	if (done) {
		inode->dirty = false;
		write_err = inode->write_err;
	}
	inode_unlock(ctx->inodes, inode);
	if (!done)
		return;
	name = inode_name(ctx->inodes, inode);
	if (!name) {
		log_error("cannot upload a file: out of memory");
		return;
	}
	submit(ctx, inode, name, owner, write_err);
	free(name);
}

void version_add_writer(struct octofs *ctx, struct octofs_inode *inode,
			int delta)
{
	inode_lock(ctx->inodes, inode);
	inode->writers += delta;
	inode_unlock(ctx->inodes, inode);
}

/*
 * The last name of a file is going away (unlink, or replaced by a
 * rename): its pending upload has nothing left to publish, and our
 * descriptor of it must not keep the store from freeing it.
 */
void version_last_name_gone(struct octofs *ctx, const struct stat *st)
{
	if (S_ISDIR(st->st_mode) || st->st_nlink > 1)
		return;
	if (S_ISREG(st->st_mode))
		queue_cancel(ctx->queue, st->st_dev, st->st_ino);
	inode_gone(ctx->inodes, st->st_dev, st->st_ino);
}

/*
 * Ignored names never carry upload state: an upload still to come is
 * cancelled (vim renames the file it saved a moment ago to NAME~) and a
 * finished one's URL is forgotten; the object stays on the server.
 */
static void renamed_to_ignored(struct octofs *ctx,
			       struct octofs_inode *inode)
{
	int fd, err;

	fd = inode_fd(ctx->inodes, inode);
	if (fd < 0)
		return;		/* gone already: nothing to clear */
	err = queue_cancel_with(ctx->queue, inode->dev, inode->ino,
				state_forget_fd, &fd);
	inode_fd_put(ctx->inodes, inode);
	if (err)
		log_warn("cannot clear the upload state of a file renamed to "
			 "an ignored name: %s", strerror(-err));
}

/*
 * After @inode, a regular file with @nlink names, was renamed from
 * @oldname to @newname: its job learns the new name, and a finished file
 * renamed from an ignored name into a real one is uploaded (how editors,
 * rsync and browsers save).
 */
void version_renamed(struct octofs *ctx, struct octofs_inode *inode,
		     const char *oldname, const char *newname,
		     nlink_t nlink, long owner)
{
	bool was_ignored = name_ignored(ctx, oldname);
	bool is_ignored = name_ignored(ctx, newname);

	if (is_ignored && !was_ignored && nlink == 1) {
		renamed_to_ignored(ctx, inode);
		return;
	}
	queue_rename(ctx->queue, inode->dev, inode->ino, newname);
	if (!was_ignored || is_ignored)
		return;
	/*
	 * The writer's release may still be on its way (close does not
	 * wait for it): queue now, so a reader of the URL waits instead of
	 * finding none.
	 */
	start_version(ctx, inode, newname, false);
	inode_lock(ctx->inodes, inode);
	inode->dirty = true;
	inode_unlock(ctx->inodes, inode);
	/* Done with it once it starts another file. */
	version_submit_if_done(ctx, inode, owner);
}
