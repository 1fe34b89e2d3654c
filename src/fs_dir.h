/*
 * fs_dir: the FUSE calls on open directories (fs_dir.c).
 */
#ifndef OCTOFS_FS_DIR_H
#define OCTOFS_FS_DIR_H

#include <sys/types.h>
#include <fuse_lowlevel.h>

void fs_dir_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fs_dir_release(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi);
void fs_dir_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi);

#endif
