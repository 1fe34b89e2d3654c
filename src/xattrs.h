/*
 * xattrs: the FUSE extended attribute calls, octofs's own user.octofs.*
 * attributes among them (xattrs.c).
 */
#ifndef OCTOFS_XATTRS_H
#define OCTOFS_XATTRS_H

#include <stddef.h>
#include <fuse_lowlevel.h>

void xattrs_get(fuse_req_t req, fuse_ino_t ino, const char *name,
		size_t size);
void xattrs_list(fuse_req_t req, fuse_ino_t ino, size_t size);
void xattrs_set(fuse_req_t req, fuse_ino_t ino, const char *name,
		const char *value, size_t size, int flags);
void xattrs_remove(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
