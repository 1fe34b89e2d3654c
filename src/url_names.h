/*
 * url_names: the mapping between a file name and its NAME.url sibling.
 * Pure string functions, no I/O.
 */
#ifndef OCTOFS_URL_NAMES_H
#define OCTOFS_URL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define URL_NAMES_SUFFIX ".url"

/*
 * If @name is "BASE.url" with a non-empty BASE, copy BASE into @base
 * (of @base_len bytes) and return true.
 */
bool url_names_base(const char *name, char *base, size_t base_len);

/*
 * Write "BASE.url" into @out (of @out_len bytes).  Returns false when the
 * result would not fit or would exceed NAME_MAX: such a file has no
 * sibling.
 */
bool url_names_sibling(const char *base, char *out, size_t out_len);

#endif
