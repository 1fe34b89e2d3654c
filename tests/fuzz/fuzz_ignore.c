/*
 * libFuzzer target: the ignore globs.  The first line of the input is the
 * ':'-separated list (what ignore= holds); every further line is a file
 * name, matched against that list and against the default one.
 *
 * Names are what the kernel can hand a FUSE callback: no '/', at most
 * NAME_MAX bytes, not empty.  Whatever the list, a name starting with
 * ".octofs" is ignored.
 */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void match_one(const struct ignore_set *s, const char *name)
{
	if (!ignore_match(s, name) && !strncmp(name, ".octofs", 7))
		abort();
}

/* Each line after the first, cut in place, that can be a file name. */
static void match_names(const struct ignore_set *set,
			const struct ignore_set *defaults, char *names)
{
	char *name, *next;

	for (name = names; name; name = next) {
		next = strchr(name, '\n');
		if (next)
			*next++ = '\0';
		if (!*name || strchr(name, '/') || strlen(name) > NAME_MAX)
			continue;
		if (set)
			match_one(set, name);
		match_one(defaults, name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ignore_set *set = NULL, *defaults = NULL;
	char *text, *names, err[256];

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	names = strchr(text, '\n');
	if (names)
		*names++ = '\0';
	err[0] = '\0';
	if (ignore_set_new(text, &set, err, sizeof(err)) &&
	    (set || strnlen(err, sizeof(err)) == sizeof(err)))
		abort();
	if (ignore_set_new(NULL, &defaults, err, sizeof(err)))
		goto out_free_set;
	if (names)
		match_names(set, defaults, names);
	ignore_set_free(defaults);
out_free_set:
	ignore_set_free(set);
	free(text);
	return 0;
}
