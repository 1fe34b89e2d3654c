/*
 * fdpath: reach the file behind an O_PATH descriptor.
 *
 * O_PATH descriptors cannot be read or carry xattrs directly; the
 * /proc/self/fd/N magic link names the very same inode, even after it
 * was renamed, so it is used for reopening and for *xattr() calls.
 */
#ifndef OCTOFS_FDPATH_H
#define OCTOFS_FDPATH_H

#include <stdio.h>

#define FDPATH_MAX 32

static inline const char *fdpath(int fd, char buf[FDPATH_MAX])
{
	snprintf(buf, FDPATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

#endif
