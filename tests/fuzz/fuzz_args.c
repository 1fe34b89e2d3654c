/*
 * libFuzzer target: the command line.  The input is split on NUL bytes
 * into argv[1..] (argv[0] is "octofs"), parsed by opts_parse_args() with
 * the fuse_opt tables main() uses, then checked by opts_validate() as
 * main() does before it mounts.
 *
 * Accepted arguments name a mount point (unless -h or -V) and an
 * endpoint; refused ones leave one terminated message.  What the parser
 * leaves in the fuse_args is freed like main() frees it.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_log.h>

#include "opts.h"

#define ARGS_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet_log(enum fuse_log_level level, const char *fmt,
		      va_list ap)
{
}

/* fuse_opt reports bad arguments through fuse_log: keep the log short. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuse_set_log_func(quiet_log);
	return 0;
}

/* Split @text (NUL-terminated after @size bytes) in place into @argv. */
static int split_args(char *text, size_t size, char **argv)
{
	size_t pos = 0;
	int argc = 0;

	argv[argc++] = "octofs";
	while (pos < size && argc < ARGS_MAX) {
		argv[argc++] = text + pos;
		pos += strlen(text + pos) + 1;
	}
	argv[argc] = NULL;
	return argc;
}

static void check_parsed(const struct octofs_opts *o)
{
	if (!o->endpoint)
		abort();
	if (!o->mountpoint && !o->show_help && !o->show_version)
		abort();
	if (o->store && !o->mountpoint)
		abort();
	if (o->api_key)
		abort();	/* never from the command line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[ARGS_MAX + 1], *text, err[512];
	struct octofs_opts o;
	struct fuse_args args;
	int argc;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	argc = split_args(text, size, argv);
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	memset(&o, 0, sizeof(o));
	err[0] = '\0';
	if (opts_parse_args(&args, &o, err, sizeof(err))) {
		if (strnlen(err, sizeof(err)) == sizeof(err) || !err[0])
			abort();
	} else {
		check_parsed(&o);
		opts_validate(&o, err, sizeof(err));
	}
	fuse_opt_free_args(&args);
	opts_free(&o);
	free(text);
	return 0;
}
