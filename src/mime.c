/*
 * mime: extension -> content type.  The built-in table wins so common
 * types do not vary between machines; mime.types fills in the rest.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

#define MIME_EXT_MAX 32
#define MIME_TYPE_MAX 128

struct mime_entry {
	char *ext;
	char *type;
};

struct mime_table {
	struct mime_entry *entries;	/* from the file, sorted by ext */
	size_t count;
	size_t cap;
};

static const struct mime_entry builtin[] = {
	{ "7z", "application/x-7z-compressed" }, { "aac", "audio/aac" },
	{ "apk", "application/vnd.android.package-archive" },
	{ "avi", "video/x-msvideo" }, { "avif", "image/avif" },
	{ "bmp", "image/bmp" }, { "bz2", "application/x-bzip2" },
	{ "c", "text/x-c" }, { "css", "text/css" }, { "csv", "text/csv" },
	{ "db", "application/vnd.sqlite3" },
	{ "dmg", "application/x-apple-diskimage" },
	{ "doc", "application/msword" },
	{ "docx", "application/vnd.openxmlformats-officedocument."
		  "wordprocessingml.document" },
	{ "eot", "application/vnd.ms-fontobject" },
	{ "epub", "application/epub+zip" }, { "flac", "audio/flac" },
	{ "gif", "image/gif" }, { "gz", "application/gzip" },
	{ "h", "text/x-c" }, { "heic", "image/heic" },
	{ "htm", "text/html" }, { "html", "text/html" },
	{ "ico", "image/vnd.microsoft.icon" }, { "ini", "text/plain" },
	{ "iso", "application/x-iso9660-image" }, { "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" }, { "js", "text/javascript" },
	{ "json", "application/json" }, { "log", "text/plain" },
	{ "m4a", "audio/mp4" }, { "m4v", "video/mp4" },
	{ "md", "text/markdown" }, { "mjs", "text/javascript" },
	{ "mkv", "video/x-matroska" }, { "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" }, { "mp4", "video/mp4" },
	{ "odp", "application/vnd.oasis.opendocument.presentation" },
	{ "ods", "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "oga", "audio/ogg" }, { "ogg", "audio/ogg" },
	{ "opus", "audio/opus" }, { "otf", "font/otf" },
	{ "pdf", "application/pdf" }, { "png", "image/png" },
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "pptx", "application/vnd.openxmlformats-officedocument."
		  "presentationml.presentation" },
	{ "py", "text/x-python" }, { "rar", "application/vnd.rar" },
	{ "rtf", "application/rtf" }, { "sh", "application/x-sh" },
	{ "sqlite", "application/vnd.sqlite3" },
	{ "svg", "image/svg+xml" }, { "tar", "application/x-tar" },
	{ "tgz", "application/gzip" }, { "tif", "image/tiff" },
	{ "tiff", "image/tiff" }, { "toml", "application/toml" },
	{ "ttf", "font/ttf" }, { "txt", "text/plain" },
	{ "wasm", "application/wasm" }, { "wav", "audio/wav" },
	{ "webm", "video/webm" }, { "webp", "image/webp" },
	{ "woff", "font/woff" }, { "woff2", "font/woff2" },
	{ "xls", "application/vnd.ms-excel" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument."
		  "spreadsheetml.sheet" },
	{ "xml", "application/xml" }, { "xz", "application/x-xz" },
	{ "yaml", "application/yaml" }, { "yml", "application/yaml" },
	{ "zip", "application/zip" }, { "zst", "application/zstd" },
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mime_entry *)a)->ext,
		      ((const struct mime_entry *)b)->ext);
}

static int add(struct mime_table *t, const char *ext, const char *type)
{
	struct mime_entry *grown;

	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;

		grown = realloc(t->entries, cap * sizeof(*grown));
		if (!grown)
			return -1;
		t->entries = grown;
		t->cap = cap;
	}
	t->entries[t->count].ext = strdup(ext);
	t->entries[t->count].type = strdup(type);
	if (!t->entries[t->count].ext || !t->entries[t->count].type) {
		free(t->entries[t->count].ext);
		free(t->entries[t->count].type);
		return -1;
	}
	t->count++;
	return 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* One "type ext ext ..." line; over-long tokens are skipped. */
static int parse_line(struct mime_table *t, char *line)
{
	char *save = NULL, *type, *ext;

	type = strtok_r(line, " \t\r\n", &save);
	if (!type || *type == '#' || strlen(type) > MIME_TYPE_MAX ||
	    !strchr(type, '/'))
		return 0;
	while ((ext = strtok_r(NULL, " \t\r\n", &save))) {
		if (*ext == '#')
			break;
		if (strlen(ext) > MIME_EXT_MAX)
			continue;
		lower(ext);
		if (add(t, ext, type))
			return -1;
	}
	return 0;
}

static void load_file(struct mime_table *t, const char *path)
{
	char line[1024];
	FILE *f = path ? fopen(path, "re") : NULL;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (parse_line(t, line))
			break;
	fclose(f);
	qsort(t->entries, t->count, sizeof(*t->entries), cmp_entry);
}

struct mime_table *mime_table_new(const char *path)
{
	struct mime_table *t = calloc(1, sizeof(*t));

	if (t)
		load_file(t, path);
	return t;
}

void mime_table_free(struct mime_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->count; i++) {
		free(t->entries[i].ext);
		free(t->entries[i].type);
	}
	free(t->entries);
	free(t);
}

static const char *find(const struct mime_entry *e, size_t n,
			const char *ext)
{
	struct mime_entry key = { .ext = (char *)ext };
	const struct mime_entry *hit;

	/* An empty table has no array at all, and bsearch() wants one. */
	if (!n)
		return NULL;
	hit = bsearch(&key, e, n, sizeof(*e), cmp_entry);
	return hit ? hit->type : NULL;
}

const char *mime_type_for_name(const struct mime_table *t, const char *name)
{
	const char *dot = strrchr(name, '.');
	char ext[MIME_EXT_MAX + 1];
	const char *type;

	if (!dot || dot == name || !dot[1] || strlen(dot + 1) > MIME_EXT_MAX)
		return MIME_DEFAULT_TYPE;
	snprintf(ext, sizeof(ext), "%s", dot + 1);
	lower(ext);
	type = find(builtin, sizeof(builtin) / sizeof(builtin[0]), ext);
	if (!type && t)
		type = find(t->entries, t->count, ext);
	return type ? type : MIME_DEFAULT_TYPE;
}
