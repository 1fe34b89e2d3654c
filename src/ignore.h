/*
 * ignore: names that are stored but never uploaded.
 *
 * A set is a ':'-separated list of fnmatch(3) globs matched against a
 * file's basename.  Names starting with ".octofs" are always ignored.
 */
#ifndef OCTOFS_IGNORE_H
#define OCTOFS_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The default list, as documented in DESIGN.md and the man page: editor,
 * downloader and rsync temporaries, then what file-sharing clients leave
 * beside real files (macOS AppleDouble "._NAME" and ".DS_Store", Windows
 * "Thumbs.db" and "desktop.ini", Office "~$NAME" owner files).
 */
#define IGNORE_DEFAULT_SPEC \
	"*~:.*.swp:.*.swx:*.part:*.crdownload:*.tmp:.~lock.*#:" \
	".goutputstream-*:.?*.??????:" \
	"._*:.DS_Store:Thumbs.db:desktop.ini:~$*"

struct ignore_set;

/*
 * Build a set from @spec (NULL: IGNORE_DEFAULT_SPEC).  Returns 0, or
 * -EINVAL with a reason in @err (empty pattern, over-long pattern), or
 * -ENOMEM.
 */
int ignore_set_new(const char *spec, struct ignore_set **out,
		   char *err, size_t err_len);
void ignore_set_free(struct ignore_set *s);

bool ignore_match(const struct ignore_set *s, const char *basename);

#endif
