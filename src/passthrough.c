/*
 * passthrough: FUSE passthrough under libfuse 3.14 (see passthrough.h),
 * and under libfuse 3.18, which knows it.
 *
 * The kernel's side of it, from include/uapi/linux/fuse.h (protocol 7.40,
 * Linux 6.9): INIT offers and takes FUSE_PASSTHROUGH in its second flag
 * word, whose reply also names how deep filesystems may stack on the
 * backing files; FUSE_DEV_IOC_BACKING_OPEN on the device registers a
 * file and answers its id; OPEN and CREATE replies carry that id with
 * FOPEN_PASSTHROUGH.  Debian 12's headers predate all of it, so the
 * pieces are spelled out here, laid out as the kernel reads them.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

#include "log.h"
#include "octofs.h"
#include "passthrough.h"

#define OP_INIT 26
#define INIT_KILLPRIV_V2 (1u << 28)		/* flags */
#define INIT_EXT (1u << 30)			/* flags: flags2 is read */
#define INIT2_PASSTHROUGH (1u << (37 - 32))	/* flags2 */
#define OPEN_PASSTHROUGH (1u << 7)		/* open_flags */
/* The only open flags the kernel allows beside OPEN_PASSTHROUGH. */
#define OPEN_PASSTHROUGH_ALLOWED ((1u << 0) | (1u << 6) | (1u << 5))
/*
 * Filesystems stacked below the backing files may be one deep (the store
 * on overlayfs); nothing stacks on the mount.
 */
#define STACK_DEPTH 2

struct in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;
	uint16_t padding;
};

struct init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2;
};

struct out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
	uint32_t unused[6];
};

struct open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

/* CREATE's reply: an entry (fuse_entry_out), then the open file. */
#define ENTRY_OUT_SIZE 128

struct backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define DEV_IOC_BACKING_OPEN _IOW(229, 1, struct backing_map)
#define DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

_Static_assert(sizeof(struct in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct init_out) == 64, "fuse_init_out");
_Static_assert(offsetof(struct init_out, max_stack_depth) == 36,
	       "fuse_init_out.max_stack_depth");
_Static_assert(sizeof(struct open_out) == 16, "fuse_open_out");

struct passthrough {
	int dev_fd;		/* the session's /dev/fuse */
	/*
	 * Set when INIT is read, before any other request: atomic all the
	 * same, as other threads read them and the order between them is
	 * the kernel's.  enabled is cleared for good when the kernel
	 * refuses to register a file for want of privilege.
	 */
	uint64_t init_unique;	/* 0 once INIT is answered */
	int enabled;		/* passthrough taken in INIT */
	int kills_privs;	/* FUSE_HANDLE_KILLPRIV_V2 taken in INIT */
};

static bool get_flag(const int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

static void set_flag(int *flag, bool on)
{
	__atomic_store_n(flag, on, __ATOMIC_RELAXED);
}

/*
 * The backing file the next OPEN or CREATE reply of this thread carries.
 * A reply is written by the thread that calls fuse_reply_*(), inside the
 * call, and libfuse gives its writer no way to know the request; the
 * value lives only for the length of passthrough_reply_*().
 */
#if FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION < 318
static __thread int reply_backing_id;
#endif

#if FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION >= 318
/*
 * libfuse 3.18 negotiates passthrough and KILLPRIV_V2 itself, and puts
 * an open file's backing_id in its reply; it refuses custom I/O unless
 * built for it, and its replies over FUSE over io_uring would bypass
 * custom I/O anyway.  The kernel's offer is read in the init callback.
 */
const struct fuse_custom_io *passthrough_io(void)
{
	return NULL;
}

struct passthrough *passthrough_attach(struct fuse_session *se)
{
	return passthrough_new(fuse_session_fd(se));
}

void passthrough_init(struct passthrough *pt, struct fuse_conn_info *conn)
{
	if (!pt)
		return;
	set_flag(&pt->kills_privs,
		 fuse_set_feature_flag(conn, FUSE_CAP_HANDLE_KILLPRIV_V2));
	set_flag(&pt->enabled,
		 fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH));
	/* libfuse counts the mount itself in, the kernel's way. */
	if (passthrough_enabled(pt))
		conn->max_backing_stack_depth = STACK_DEPTH - 1;
}

/* The open file's flags the kernel allows with passthrough, and its id. */
static struct fuse_file_info with_backing(const struct fuse_file_info *fi,
					  int id)
{
	struct fuse_file_info copy = *fi;

	if (id > 0) {
		copy.backing_id = id;
		copy.keep_cache = 0;
		copy.nonseekable = 0;
		copy.cache_readdir = 0;
	}
	return copy;
}

int passthrough_reply_open(fuse_req_t req, const struct fuse_file_info *fi,
			   int id)
{
	struct fuse_file_info copy = with_backing(fi, id);

	return fuse_reply_open(req, &copy);
}

int passthrough_reply_create(fuse_req_t req,
			     const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, int id)
{
	struct fuse_file_info copy = with_backing(fi, id);

	return fuse_reply_create(req, e, &copy);
}
#elif FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION >= 314
static struct passthrough *pt_of(void *userdata)
{
	return ((struct octofs *)userdata)->passthrough;
}

/* The kernel's INIT: does it offer passthrough? */
static void saw_request(struct passthrough *pt, const void *buf, size_t len)
{
	struct in_header in;
	struct init_in init;

	if (len < sizeof(in) + sizeof(init))
		return;
	memcpy(&in, buf, sizeof(in));
	if (in.opcode != OP_INIT)
		return;
	memcpy(&init, (const char *)buf + sizeof(in), sizeof(init));
	__atomic_store_n(&pt->init_unique, in.unique, __ATOMIC_RELAXED);
	set_flag(&pt->kills_privs, init.flags & INIT_KILLPRIV_V2);
	set_flag(&pt->enabled, (init.flags & INIT_EXT) &&
		 (init.flags2 & INIT2_PASSTHROUGH));
}

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t res = read(fd, buf, len);

	if (res > 0)
		saw_request(pt_of(userdata), buf, (size_t)res);
	return res;
}

static ssize_t pt_splice_receive(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len,
				 unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t pt_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* Header and one body: the shape of every reply we change. */
static bool one_body(const struct iovec *iov, int count,
		     struct out_header *out)
{
	if (count != 2 || iov[0].iov_len != sizeof(*out))
		return false;
	memcpy(out, iov[0].iov_base, sizeof(*out));
	return out->error == 0 && out->len == sizeof(*out) + iov[1].iov_len;
}

static ssize_t write_body(int fd, const struct iovec *iov, const void *body)
{
	struct iovec copy[2] = {
		iov[0], { (void *)body, iov[1].iov_len },
	};

	return writev(fd, copy, 2);
}

/* Take passthrough in INIT's reply if the kernel offered it. */
static ssize_t write_init(struct passthrough *pt, int fd,
			  const struct iovec *iov)
{
	struct init_out init;

	__atomic_store_n(&pt->init_unique, 0, __ATOMIC_RELAXED);
	if (iov[1].iov_len != sizeof(init)) {
		set_flag(&pt->enabled, false);
		set_flag(&pt->kills_privs, false);
		return writev(fd, iov, 2);
	}
	memcpy(&init, iov[1].iov_base, sizeof(init));
	if (get_flag(&pt->kills_privs))
		init.flags |= INIT_KILLPRIV_V2;
	if (passthrough_enabled(pt)) {
		init.flags |= INIT_EXT;
		init.flags2 |= INIT2_PASSTHROUGH;
		init.max_stack_depth = STACK_DEPTH;
	}
	return write_body(fd, iov, &init);
}

/* Name the backing file in an OPEN (16 bytes) or CREATE reply. */
static ssize_t write_open(int fd, const struct iovec *iov, int id)
{
	size_t at = iov[1].iov_len == sizeof(struct open_out) ? 0 :
		    ENTRY_OUT_SIZE;
	char body[ENTRY_OUT_SIZE + sizeof(struct open_out)];
	struct open_out open;

	if (iov[1].iov_len != at + sizeof(open))
		return writev(fd, iov, 2);
	memcpy(body, iov[1].iov_base, iov[1].iov_len);
	memcpy(&open, body + at, sizeof(open));
	open.open_flags = (open.open_flags & OPEN_PASSTHROUGH_ALLOWED) |
			  OPEN_PASSTHROUGH;
	open.backing_id = id;
	memcpy(body + at, &open, sizeof(open));
	return write_body(fd, iov, body);
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count,
			 void *userdata)
{
	struct passthrough *pt = pt_of(userdata);
	struct out_header out;
	int id = reply_backing_id;

	reply_backing_id = 0;
	if (!one_body(iov, count, &out))
		return writev(fd, iov, count);
	if (out.unique &&
	    out.unique == __atomic_load_n(&pt->init_unique, __ATOMIC_RELAXED))
		return write_init(pt, fd, iov);
	if (id > 0)
		return write_open(fd, iov, id);
	return writev(fd, iov, count);
}

static const struct fuse_custom_io pt_io = {
	.read = pt_read,
	.writev = pt_writev,
	.splice_receive = pt_splice_receive,
	.splice_send = pt_splice_send,
};

const struct fuse_custom_io *passthrough_io(void)
{
	return &pt_io;
}

struct passthrough *passthrough_attach(struct fuse_session *se)
{
	struct passthrough *pt = passthrough_new(fuse_session_fd(se));

	if (!pt)
		return NULL;
	/* Same descriptor: libfuse still unmounts and closes it. */
	if (fuse_session_custom_io(se, &pt_io, pt->dev_fd)) {
		free(pt);
		return NULL;
	}
	return pt;
}
#else
const struct fuse_custom_io *passthrough_io(void)
{
	return NULL;
}

struct passthrough *passthrough_attach(struct fuse_session *se)
{
	(void)se;
	return NULL;
}
#endif

#if FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION < 318
/* The custom I/O read the kernel's offer in INIT already. */
void passthrough_init(struct passthrough *pt, struct fuse_conn_info *conn)
{
	(void)pt;
	(void)conn;
}

int passthrough_reply_open(fuse_req_t req, const struct fuse_file_info *fi,
			   int id)
{
	int res;

	reply_backing_id = id;
	res = fuse_reply_open(req, fi);
	reply_backing_id = 0;
	return res;
}

int passthrough_reply_create(fuse_req_t req,
			     const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, int id)
{
	int res;

	reply_backing_id = id;
	res = fuse_reply_create(req, e, fi);
	reply_backing_id = 0;
	return res;
}
#endif

struct passthrough *passthrough_new(int dev_fd)
{
	struct passthrough *pt = calloc(1, sizeof(*pt));

	if (pt)
		pt->dev_fd = dev_fd;
	return pt;
}

void passthrough_free(struct passthrough *pt)
{
	free(pt);
}

bool passthrough_kills_privs(const struct passthrough *pt)
{
	return pt && get_flag(&pt->kills_privs);
}

bool passthrough_enabled(const struct passthrough *pt)
{
	return pt && get_flag(&pt->enabled);
}

int passthrough_open(struct passthrough *pt, int fd)
{
	struct backing_map map = { .fd = fd };
	int id;

	if (!passthrough_enabled(pt))
		return -ENOTSUP;
	id = ioctl(pt->dev_fd, DEV_IOC_BACKING_OPEN, &map);
	if (id < 0 && errno == EPERM &&
	    __atomic_exchange_n(&pt->enabled, 0, __ATOMIC_RELAXED))
		log_info("passthrough needs CAP_SYS_ADMIN: octofs moves "
			 "every written byte itself");
	if (id < 0)
		return -errno;
	return id ? id : -EPROTO;
}

void passthrough_close(struct passthrough *pt, int id)
{
	uint32_t arg = (uint32_t)id;

	if (id > 0 && ioctl(pt->dev_fd, DEV_IOC_BACKING_CLOSE, &arg))
		log_warn("cannot drop backing file %d: %s", id,
			 strerror(errno));
}
