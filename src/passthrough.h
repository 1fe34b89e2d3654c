/*
 * passthrough: the kernel's FUSE passthrough (Linux 6.9 and later) for
 * regular files, on a libfuse that cannot negotiate it (3.14) and on one
 * that can (3.18: then only the bookkeeping below is ours).
 *
 * With passthrough the kernel reads and writes an open file's bytes
 * straight from and to a descriptor of ours on the store: no request
 * per write, no copy through the daemon.  libfuse 3.14 knows nothing of
 * it, so this module sits between libfuse and /dev/fuse (libfuse's
 * custom I/O): it sees the kernel's offer in INIT, accepts it in INIT's
 * reply, and adds the backing file to the replies of OPEN and CREATE
 * that fs_ops asks it to (and takes FUSE_HANDLE_KILLPRIV_V2, see
 * passthrough_kills_privs()).  Registering a backing file needs
 * CAP_SYS_ADMIN; without it, or on an older kernel, every open is served
 * as before.
 */
#ifndef OCTOFS_PASSTHROUGH_H
#define OCTOFS_PASSTHROUGH_H

#include <stdbool.h>
#include <fuse_lowlevel.h>

struct passthrough;

/*
 * Put passthrough between @se, mounted already and not yet served, and
 * its device.  NULL when out of memory or when this libfuse has no
 * custom I/O (then nothing changed).
 */
struct passthrough *passthrough_attach(struct fuse_session *se);
void passthrough_free(struct passthrough *pt);

/*
 * The parts passthrough_attach() joins, for tests: a passthrough whose
 * device is @dev_fd (not closed by passthrough_free()), and the I/O
 * functions libfuse calls, which find it as the passthrough member of
 * the struct octofs given as their userdata (NULL without custom I/O).
 */
struct passthrough *passthrough_new(int dev_fd);
const struct fuse_custom_io *passthrough_io(void);

/*
 * From the init callback, first: take passthrough and KILLPRIV_V2 where
 * the kernel offers them, on a libfuse that negotiates them itself (3.18;
 * with 3.14 the custom I/O did it already).  @pt may be NULL.
 */
void passthrough_init(struct passthrough *pt, struct fuse_conn_info *conn);

/* Did the kernel take passthrough in INIT?  (false for NULL) */
bool passthrough_enabled(const struct passthrough *pt);

/*
 * Did the kernel take FUSE_HANDLE_KILLPRIV_V2 in INIT?  Then it no
 * longer asks for security.capability before every write (a passed
 * through write would still ask the daemon each time otherwise), and
 * clearing set-user-ID and set-group-ID bits on write and truncate is
 * the daemon's job.
 */
bool passthrough_kills_privs(const struct passthrough *pt);

/* Register @fd as a backing file: its id (> 0) or -errno. */
int passthrough_open(struct passthrough *pt, int fd);
/* Drop a registered backing file once no open file needs it. */
void passthrough_close(struct passthrough *pt, int id);

/*
 * fuse_reply_open() and fuse_reply_create() whose open file reads and
 * writes @id's file in the kernel (@id <= 0: a plain reply).
 */
int passthrough_reply_open(fuse_req_t req, const struct fuse_file_info *fi,
			   int id);
int passthrough_reply_create(fuse_req_t req,
			     const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, int id);

#endif
