/*
 * Tests for src/passthrough.c: what it reads of the kernel's INIT and
 * what it changes in INIT's reply, over a pipe standing in for
 * /dev/fuse.  (The OPEN and CREATE replies need libfuse requests; the
 * integration tests in tests/test_kernel_io.py cover them.)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "octofs.h"
#include "passthrough.h"
#include "tap.h"

#define OP_INIT 26
#define OP_LOOKUP 1
#define KILLPRIV_V2 (1u << 28)
#define INIT_EXT (1u << 30)
#define PASSTHROUGH2 (1u << 5)

/* The kernel's layouts (include/uapi/linux/fuse.h, protocol 7.40). */
struct in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct init_in {
	uint32_t major, minor, max_readahead, flags, flags2, unused[11];
};

struct out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth, unused[6];
};

struct fixture {
	int fds[2];		/* the "device": written, then read back */
	struct octofs ctx;
	const struct fuse_custom_io *io;
};

static int setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	if (pipe(f->fds))
		return -errno;
	f->ctx.passthrough = passthrough_new(f->fds[1]);
	f->io = passthrough_io();
	return f->ctx.passthrough && f->io ? 0 : -ENOMEM;
}

static void teardown(struct fixture *f)
{
	passthrough_free(f->ctx.passthrough);
	close(f->fds[0]);
	close(f->fds[1]);
}

/* The kernel sends a request: it goes through the read hook. */
static ssize_t receive(struct fixture *f, uint32_t opcode, uint64_t unique,
		       uint32_t flags, uint32_t flags2)
{
	char buf[sizeof(struct in_header) + sizeof(struct init_in)];
	struct in_header in = { .len = sizeof(buf), .opcode = opcode,
				.unique = unique };
	struct init_in init = { .major = 7, .minor = 40, .flags = flags,
				.flags2 = flags2 };

	memcpy(buf, &in, sizeof(in));
	memcpy(buf + sizeof(in), &init, sizeof(init));
	if (write(f->fds[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return -1;
	return f->io->read(f->fds[0], buf, sizeof(buf), &f->ctx);
}

/* libfuse answers INIT: what reaches the kernel, into @got. */
static int answer_init(struct fixture *f, uint64_t unique, int error,
		       size_t body_len, struct init_out *got)
{
	struct init_out init = { .major = 7, .minor = 38, .flags = 1,
				 .max_write = 1 << 20 };
	struct out_header out = { .len = sizeof(out) + body_len,
				  .error = error, .unique = unique };
	struct iovec iov[2] = {
		{ &out, sizeof(out) }, { &init, body_len },
	};
	char back[sizeof(out) + sizeof(init)];
	ssize_t n;

	if (f->io->writev(f->fds[1], iov, 2, &f->ctx) != (ssize_t)out.len)
		return -1;
	n = read(f->fds[0], back, sizeof(back));
	if (n != (ssize_t)out.len)
		return -1;
	memset(got, 0, sizeof(*got));
	memcpy(got, back + sizeof(out), body_len);
	return 0;
}

static void test_offer_taken(struct fixture *f)
{
	struct init_out got;

	ok(receive(f, OP_INIT, 2, INIT_EXT | KILLPRIV_V2, PASSTHROUGH2) > 0,
	   "INIT read through the hook");
	ok(passthrough_enabled(f->ctx.passthrough), "passthrough offered");
	ok(passthrough_kills_privs(f->ctx.passthrough), "KILLPRIV_V2 offered");
	is_int(answer_init(f, 2, 0, sizeof(got), &got), 0, "INIT answered");
	ok(got.flags & INIT_EXT, "reply reads the second flag word");
	ok(got.flags & KILLPRIV_V2, "reply takes KILLPRIV_V2");
	ok(got.flags & 1, "libfuse's own flags kept");
	ok(got.flags2 & PASSTHROUGH2, "reply takes passthrough");
	is_int(got.max_stack_depth, 2, "stacking depth named");
	is_int(got.max_write, 1 << 20, "the rest untouched");
	is_int(passthrough_open(f->ctx.passthrough, f->fds[0]), -ENOTTY,
	       "a pipe is no device: the ioctl's error comes back");
}

/*
 * passthrough_close(@pt, @id) with stderr caught: what it logged, in
 * @buf, and its length.  Logging is how a close reaching the device
 * shows: the device here is a pipe, which refuses the ioctl.
 */
static ssize_t close_says(struct passthrough *pt, int id, char *buf,
			  size_t size)
{
	int fds[2], saved;
	ssize_t n;

	buf[0] = '\0';
	if (pipe(fds))
		return -1;
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	passthrough_close(pt, id);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(fds[0], buf, size - 1);
	close(fds[0]);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void test_nothing_offered(struct fixture *f)
{
	struct init_out got;
	char said[256];

	ok(receive(f, OP_INIT, 2, 0, PASSTHROUGH2) > 0, "old-style INIT");
	ok(!passthrough_enabled(f->ctx.passthrough),
	   "flags2 is not read without INIT_EXT");
	ok(!passthrough_kills_privs(f->ctx.passthrough), "nor KILLPRIV_V2");
	is_int(answer_init(f, 2, 0, sizeof(got), &got), 0, "INIT answered");
	is_int(got.flags, 1, "reply unchanged");
	is_int(got.flags2, 0, "flags2 unchanged");
	is_int(got.max_stack_depth, 0, "no stacking depth");
	is_int(passthrough_open(f->ctx.passthrough, f->fds[0]), -ENOTSUP,
	       "no backing files without passthrough");
	is_int(close_says(f->ctx.passthrough, 0, said, sizeof(said)), 0,
	       "closing no backing file does nothing");
	ok(close_says(f->ctx.passthrough, 3, said, sizeof(said)) > 0 &&
	   strstr(said, "cannot drop backing file 3"),
	   "closing backing file 3 asks the device, which refuses");
}

static void test_odd_replies_untouched(struct fixture *f)
{
	struct init_out got;

	receive(f, OP_LOOKUP, 4, INIT_EXT | KILLPRIV_V2, PASSTHROUGH2);
	ok(!passthrough_enabled(f->ctx.passthrough),
	   "only INIT is read for offers");
	receive(f, OP_INIT, 6, INIT_EXT | KILLPRIV_V2, PASSTHROUGH2);
	is_int(answer_init(f, 5, 0, sizeof(got), &got), 0,
	       "another request's reply");
	is_int(got.flags, 1, "is not INIT's: unchanged");
	is_int(answer_init(f, 6, -EPROTO, sizeof(got), &got), 0,
	       "an INIT error");
	is_int(got.flags2, 0, "goes out unchanged");
	is_int(answer_init(f, 6, 0, 24, &got), 0, "an old, short INIT reply");
	is_int(got.flags, 1, "goes out unchanged");
	ok(!passthrough_enabled(f->ctx.passthrough) &&
	   !passthrough_kills_privs(f->ctx.passthrough),
	   "and nothing is taken");
}

static void test_null(void)
{
	ok(!passthrough_enabled(NULL), "NULL: no passthrough");
	ok(!passthrough_kills_privs(NULL), "NULL: no KILLPRIV_V2");
	lives_ok(passthrough_free(NULL),
		 "passthrough_free(NULL) does nothing");
}

/* Each test gets a device and a passthrough of its own. */
static void run(void (*test)(struct fixture *))
{
	struct fixture f;

	if (setup(&f)) {
		ok(0, "setup");
		return;
	}
	test(&f);
	teardown(&f);
}

int main(void)
{
	/*
	 * libfuse 3.18 negotiates passthrough itself: no custom I/O to
	 * test, and its init callback needs a live session.
	 */
	if (passthrough_io()) {
		run(test_offer_taken);
		run(test_nothing_offered);
		run(test_odd_replies_untouched);
	} else {
		printf("# libfuse %d.%d negotiates passthrough: no custom "
		       "I/O to test\n", FUSE_MAJOR_VERSION,
		       FUSE_MINOR_VERSION);
	}
	test_null();
	return tap_done();
}
