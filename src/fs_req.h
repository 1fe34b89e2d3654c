/*
 * fs_req: what every file of FUSE handlers (fs_ops.c, fs_file.c,
 * fs_dir.c, xattrs.c) uses to find a request's context and inodes and
 * to answer it.
 */
#ifndef OCTOFS_FS_REQ_H
#define OCTOFS_FS_REQ_H

#include <errno.h>
#include <fuse_lowlevel.h>

#include "inode.h"
#include "log.h"
#include "octofs.h"

static inline struct octofs *fs_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct octofs_inode *fs_inode(fuse_req_t req, fuse_ino_t ino)
{
	return inode_get(fs_ctx(req)->inodes, ino);
}

/*
 * Answer @req with @err: 0 for success of a call that has no data, or a
 * negative errno.  A positive one is a sign mistake in the caller: it
 * is logged and answered as EIO rather than passed on as if it were
 * right.
 */
static inline void fs_reply_status(fuse_req_t req, int err)
{
	if (err > 0) {
		log_error("internal error: errno %d has the wrong sign", err);
		err = -EIO;
	}
	fuse_reply_err(req, -err);
}

/*
 * @inode's O_PATH descriptor for the length of one request (inode_fd());
 * when there is none, the request is answered with why and -1 returned.
 */
static inline int fs_pin(fuse_req_t req, struct octofs_inode *inode)
{
	int fd = inode_fd(fs_ctx(req)->inodes, inode);

	if (fd < 0) {
		fs_reply_status(req, fd);
		return -1;
	}
	return fd;
}

static inline void fs_unpin(fuse_req_t req, struct octofs_inode *inode)
{
	inode_fd_put(fs_ctx(req)->inodes, inode);
}

/*
 * The directory @parent, pinned as by fs_pin() for making or removing a
 * name in it: its descriptor, with *@dir set; or -1 when the request was
 * answered (a virtual NAME.url is no directory, or it is gone).
 */
static inline int fs_pin_dir(fuse_req_t req, fuse_ino_t parent,
			     struct octofs_inode **dir)
{
	*dir = fs_inode(req, parent);
	if ((*dir)->url_of) {
		fuse_reply_err(req, ENOTDIR);
		return -1;
	}
	return fs_pin(req, *dir);
}

/*
 * Look @name up in @dir for the kernel (fs_ops.c): one lookup counted on
 * the inode, which the kernel forgets in time, or which the caller
 * forgets (inode_forget()) when the entry does not reach the kernel.
 */
int fs_lookup(struct octofs *ctx, struct octofs_inode *dir,
	      const char *name, struct fuse_entry_param *e);

#endif
