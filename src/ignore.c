/*
 * ignore: fnmatch(3) globs on basenames.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ignore.h"

#define IGNORE_PATTERN_MAX 255
#define IGNORE_ALWAYS_PREFIX ".octofs"

struct ignore_set {
	size_t count;
	char **patterns;
	char *storage;		/* the spec, split in place */
};

void ignore_set_free(struct ignore_set *s)
{
	if (!s)
		return;
	free(s->patterns);
	free(s->storage);
	free(s);
}

static int split(struct ignore_set *s, char *err, size_t err_len)
{
	char *p = s->storage, *next;
	size_t n = 1;

	for (next = p; *next; next++)
		n += *next == ':';
	s->patterns = calloc(n, sizeof(*s->patterns));
	if (!s->patterns)
		return -ENOMEM;
	for (; p; p = next) {
		next = strchr(p, ':');
		if (next)
			*next++ = '\0';
		if (!*p) {
			snprintf(err, err_len, "empty pattern");
			return -EINVAL;
		}
		if (strlen(p) > IGNORE_PATTERN_MAX) {
			snprintf(err, err_len, "pattern longer than %d bytes",
				 IGNORE_PATTERN_MAX);
			return -EINVAL;
		}
		s->patterns[s->count++] = p;
	}
	return 0;
}

int ignore_set_new(const char *spec, struct ignore_set **out,
		   char *err, size_t err_len)
{
	struct ignore_set *s = calloc(1, sizeof(*s));
	int res;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->storage = strdup(spec ? spec : IGNORE_DEFAULT_SPEC);
	if (!s->storage) {
		free(s);
		return -ENOMEM;
	}
	res = split(s, err, err_len);
	if (res) {
		ignore_set_free(s);
		return res;
	}
	*out = s;
	return 0;
}

bool ignore_match(const struct ignore_set *s, const char *basename)
{
	size_t i;

	if (!strncmp(basename, IGNORE_ALWAYS_PREFIX,
		     strlen(IGNORE_ALWAYS_PREFIX)))
		return true;
	for (i = 0; i < s->count; i++)
		if (!fnmatch(s->patterns[i], basename, 0))
			return true;
	return false;
}
