/*
 * mime: content type from a file name's extension.
 *
 * A built-in table is consulted first for common types, then the
 * system's mime.types; unknown: application/octet-stream.  Matching is
 * case-insensitive on the text after the last '.'.
 */
#ifndef OCTOFS_MIME_H
#define OCTOFS_MIME_H

#define MIME_DEFAULT_TYPE "application/octet-stream"

struct mime_table;

/*
 * Load @path (in mime.types format) on top of the built-in table.  A
 * missing or unreadable file leaves just the built-in table.  NULL only
 * when out of memory.
 */
struct mime_table *mime_table_new(const char *path);
void mime_table_free(struct mime_table *t);

/* Never NULL; the string belongs to the table. */
const char *mime_type_for_name(const struct mime_table *t, const char *name);

#endif
