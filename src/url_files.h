/*
 * url_files: the virtual read-only NAME.url siblings, and answering
 * "what is this file's URL?" (reading NAME.url or the user.octofs.url
 * attribute), which waits up to url_wait for an upload in progress.
 *
 * Waiting never blocks a FUSE thread: the request is parked with the
 * queue and answered by whichever thread ends the wait.
 */
#ifndef OCTOFS_URL_FILES_H
#define OCTOFS_URL_FILES_H

#include <stdbool.h>
#include <fuse_lowlevel.h>

struct octofs;
struct octofs_inode;

/* The inode number a virtual file reports for the file numbered @ino. */
ino_t url_files_ino(ino_t ino);

/*
 * Does the regular file @name in @dir_fd (with inode number @ino on
 * @dev) show a NAME.url sibling?  It does while its upload is queued,
 * in progress or done.
 */
bool url_files_visible(struct octofs *ctx, int dir_fd, const char *name,
		       dev_t dev, ino_t ino);

/*
 * @name does not exist in the store: if it is the sibling of a file that
 * has one, fill @e with the virtual file and return 0; else -ENOENT.
 */
int url_files_lookup(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name, struct fuse_entry_param *e);

/*
 * Attributes of a virtual file: 0444, size of the URL line when known.
 * By name (@by_fd false): -ESTALE if the name no longer shows this file.
 */
int url_files_getattr(struct octofs *ctx, struct octofs_inode *inode,
		      bool by_fd, struct stat *st);

/* -ESTALE if @inode's name no longer shows it (see getattr), else
 * @otherwise. */
int url_files_check(struct octofs *ctx, struct octofs_inode *inode,
		    int otherwise);

/*
 * What the virtual files of the file @dev/@ino show may have changed (its
 * upload state, or one of its names): make the kernel ask again, and
 * listings learn again whether the file shows a sibling.  Call it after
 * the change is made and before it can be seen through the mount, e.g.
 * before replying to the request that made it.
 */
void url_files_changed(struct octofs *ctx, dev_t dev, ino_t ino);

/*
 * Whether a file shows a sibling at all may have changed without a change
 * to its directory the kernel saw (an upload failed for good, a file with
 * no upload state got one): the kernel drops the listings it keeps.
 * Same timing as url_files_changed().
 */
void url_files_listings_changed(struct octofs *ctx);

/* open, read and unlink of a virtual file; they reply to @req. */
void url_files_open(fuse_req_t req, struct octofs *ctx,
		    struct octofs_inode *inode, struct fuse_file_info *fi);
void url_files_read(fuse_req_t req, struct octofs *ctx,
		    struct octofs_inode *inode, size_t size, off_t off);
/* Forget the URL of @name's file: 0, or -ENOENT when it has no sibling. */
int url_files_unlink(struct octofs *ctx, struct octofs_inode *dir,
		     const char *name);

/* getxattr of user.octofs.url on a real file; replies to @req. */
void url_files_getxattr(fuse_req_t req, struct octofs *ctx,
			struct octofs_inode *inode, size_t size);

#endif
