/*
 * fs_ops: the FUSE low-level operations, a passthrough over the store
 * that also starts uploads.  Every call is made relative to the O_PATH
 * descriptor of an inode; none does network I/O.
 */
#ifndef OCTOFS_FS_OPS_H
#define OCTOFS_FS_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_ops;

#endif
