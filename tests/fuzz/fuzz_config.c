/*
 * libFuzzer target: the config file ($XDG_CONFIG_HOME/octofs/config),
 * parsed by opts_parse_config_text() as opts_load_config() would once
 * it has read the file.  The input is not NUL-terminated, as the parser
 * must not need it to be.
 *
 * Accepted text leaves every number within the bounds opts.h states and
 * then goes through opts_validate(), which rewrites the endpoint; refused
 * text leaves one terminated message.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Zero: not set by the text (the struct starts zeroed). */
static void check_range(unsigned int v, unsigned int min, unsigned int max)
{
	if (v && (v < min || v > max))
		abort();
}

static void check_values(const struct octofs_opts *o)
{
	check_range(o->expires_in, OPTS_EXPIRES_MIN, OPTS_EXPIRES_MAX);
	check_range(o->jobs, 1, OPTS_JOBS_MAX);
	check_range(o->retry_min_ms, 1, OPTS_RETRY_MS_MAX);
	check_range(o->retry_max_ms, 1, OPTS_RETRY_MS_MAX);
	check_range(o->stop_grace_s, 0, OPTS_STOP_GRACE_MAX);
	check_range(o->timeout_s, 1, OPTS_TIMEOUT_MAX);
	check_range(o->settle_ms, 0, OPTS_SETTLE_MAX);
	if (o->url_files > 1 || o->config)
		abort();	/* config= is refused inside the file */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octofs_opts o;
	char err[512];

	memset(&o, 0, sizeof(o));
	err[0] = '\0';
	if (opts_parse_config_text(&o, (const char *)data, size, "config",
				   err, sizeof(err))) {
		if (strnlen(err, sizeof(err)) == sizeof(err) || !err[0])
			abort();
	} else {
		check_values(&o);
		if (o.endpoint)
			opts_validate(&o, err, sizeof(err));
	}
	opts_free(&o);
	return 0;
}
