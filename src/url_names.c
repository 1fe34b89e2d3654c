/*
 * url_names: NAME <-> NAME.url.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "url_names.h"

bool url_names_base(const char *name, char *base, size_t base_len)
{
	size_t len = strlen(name);
	size_t suffix_len = strlen(URL_NAMES_SUFFIX);
	size_t base_chars;

	if (len <= suffix_len)
		return false;
	if (strcmp(name + len - suffix_len, URL_NAMES_SUFFIX))
		return false;
	base_chars = len - suffix_len;
	if (base_chars + 1 > base_len)
		return false;
	/* "..url" and "...url" name no file: "." and ".." are not bases. */
	if (base_chars <= 2 && !strncmp(name, "..", base_chars))
		return false;
	memcpy(base, name, base_chars);
	base[base_chars] = '\0';
	return true;
}

bool url_names_sibling(const char *base, char *out, size_t out_len)
{
	size_t len = strlen(base);
	size_t suffix_len = strlen(URL_NAMES_SUFFIX);

	if (!len || len + suffix_len > NAME_MAX || len + suffix_len >= out_len)
		return false;
	memcpy(out, base, len);
	memcpy(out + len, URL_NAMES_SUFFIX, suffix_len + 1);
	return true;
}
