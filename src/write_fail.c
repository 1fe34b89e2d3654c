/*
 * write_fail: versions whose writing failed, and telling a full store
 * for the writes the daemon does not see.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "inode.h"
#include "log.h"
#include "octofs.h"
#include "queue_fuse.h"
#include "state.h"
#include "write_fail.h"

/*
 * Telling a full store.  A write the kernel passes through fails for
 * lack of room when the store has no block left that the writer may use.
 * Passed-through writes are made with the daemon's credentials, root's,
 * which may also take the blocks a filesystem keeps back for root.
 * Measured at such an ENOSPC: tmpfs and ext4 both report f_bavail 0,
 * while ext4 still counts in f_bfree the blocks it keeps back (1750 of
 * 56037 on a 64 MiB one), so f_bavail is the count to watch.  A margin
 * covers filesystems that refuse a write a few blocks before the end
 * (for their own metadata): the store is full below FULL_BYTES free, or
 * below 1/FULL_FRACTION of its size where that is less, so that a small
 * store does not look full while nearly empty.
 *
 * A passed-through writer that closes while the store is full may have
 * lost bytes: its version is held back.  One that just filled the store
 * to the brim is held back too; that loses nothing (writing "queued" to
 * user.octofs.status, or writing the file again, uploads it), where the
 * other mistake would publish a truncated file.  Writers opened while
 * the store is low (under LOW_FACTOR times the margin) are served by the
 * daemon instead, which sees every write's result: a small file saved
 * into an almost full store is judged by its own writes.
 *
 * What this cannot see: room freed by another program between a
 * passed-through write failing and its writer's close reaching the
 * daemon, and filesystems whose free count is an estimate (btrfs can
 * refuse a write with room reported).  passthrough=0 serves every write.
 */
#define FULL_BYTES (1024ULL * 1024)
#define FULL_FRACTION 64
#define LOW_FACTOR 8

/* The reason recorded, for the log and user.octofs.error. */
#define REASON_MAX 128

bool write_fail_lost(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO;
}

void write_fail_note(struct inode_table *t, struct octofs_inode *inode,
		     int code)
{
	if (code <= 0 || code > 255)
		code = EIO;
	inode_lock(t, inode);
	if (!inode->write_err)
		inode->write_err = (unsigned char)code;
	inode_unlock(t, inode);
}

void write_fail_clear(struct inode_table *t, struct octofs_inode *inode)
{
	inode_lock(t, inode);
	inode->write_err = 0;
	inode_unlock(t, inode);
}

/*
 * Bytes free to an unprivileged user, and the margin under which the
 * store is full; -1 when the store does not tell its size.
 */
static int room_of(int fd, unsigned long long *free_bytes,
		   unsigned long long *margin)
{
	unsigned long long unit;
	struct statvfs sv;

	if (fstatvfs(fd, &sv) || !sv.f_blocks)
		return -1;
	unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	*free_bytes = (unsigned long long)sv.f_bavail * unit;
	*margin = (unsigned long long)sv.f_blocks * unit / FULL_FRACTION;
	if (*margin > FULL_BYTES)
		*margin = FULL_BYTES;
	if (*margin < unit)
		*margin = unit;
	return 0;
}

/* Room unknown: the daemon serves the writer and sees for itself. */
bool write_fail_store_low(int fd)
{
	unsigned long long free_bytes, margin;

	if (room_of(fd, &free_bytes, &margin))
		return true;
	return free_bytes < margin * LOW_FACTOR;
}

bool write_fail_store_full(int fd)
{
	unsigned long long free_bytes, margin;

	return !room_of(fd, &free_bytes, &margin) && free_bytes < margin;
}

static void reason_of(int code, char *buf, size_t size)
{
	if (code == WRITE_FAIL_FULL)
		snprintf(buf, size, "the store ran out of space while it was "
			 "written: it may be incomplete");
	else if (code == WRITE_FAIL_SHORT)
		snprintf(buf, size, "writing it failed: the store took only "
			 "part of a write");
	else
		snprintf(buf, size, "writing it failed: %s", strerror(code));
}

struct unpublished {
	int fd;
	const char *reason;
};

static int mark_unpublished(void *arg)
{
	const struct unpublished *u = arg;

	return state_mark_unpublished(u->fd, u->reason);
}

void write_fail_version(struct octofs *ctx, dev_t dev, ino_t ino, int fd,
			const char *name, int code)
{
	char reason[REASON_MAX];
	struct unpublished u = { .fd = fd, .reason = reason };
	int err;

	reason_of(code, reason, sizeof(reason));
	log_warn("%s not uploaded: %s", name, reason);
	err = queue_fail_with(ctx->queue, dev, ino, mark_unpublished, &u);
	if (err)
		log_warn("cannot record state of %s: %s", name,
			 strerror(-err));
}
