/*
 * fs_file: the FUSE calls on open regular files (fs_file.c).
 */
#ifndef OCTOFS_FS_FILE_H
#define OCTOFS_FS_FILE_H

#include <stdbool.h>
#include <sys/types.h>
#include <fuse_lowlevel.h>

void fs_file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_file_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, struct fuse_file_info *fi);
void fs_file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fs_file_write_buf(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_bufvec *in_buf, off_t off,
		       struct fuse_file_info *fi);
void fs_file_flush(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
void fs_file_release(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi);
void fs_file_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi);
void fs_file_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
		       off_t offset, off_t length, struct fuse_file_info *fi);
void fs_file_copy_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags);
void fs_file_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		   struct fuse_file_info *fi);

/* The descriptor of the regular file open as @fi; -1 when none (NULL). */
int fs_file_fd(struct fuse_file_info *fi);

/*
 * Can close() on @fd's filesystem report anything?  When not, an open
 * file there asks for no flush request (FOPEN_NOFLUSH).
 */
bool fs_file_close_is_quiet(int fd);

#endif
