/* Tests for src/mime.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "mime.h"

int main(void)
{
	char path[] = "/tmp/octofs-mime-XXXXXX";
	struct mime_table *t = mime_table_new(NULL);
	FILE *f;
	int fd;

	is_str(mime_type_for_name(t, "a.png"), "image/png", "png");
	is_str(mime_type_for_name(t, "A.JPG"), "image/jpeg", "case");
	is_str(mime_type_for_name(t, "x.tar.gz"), "application/gzip",
	       "last extension");
	is_str(mime_type_for_name(t, "noext"), MIME_DEFAULT_TYPE, "no dot");
	is_str(mime_type_for_name(t, ".bashrc"), MIME_DEFAULT_TYPE,
	       "leading dot only");
	is_str(mime_type_for_name(t, "trailing."), MIME_DEFAULT_TYPE,
	       "trailing dot");
	is_str(mime_type_for_name(t, "x.zzqq"), MIME_DEFAULT_TYPE, "unknown");
	mime_table_free(t);

	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fputs("# comment\napplication/x-zzqq zzqq zzqr\nimage/fake png\n", f);
	fclose(f);
	t = mime_table_new(path);
	is_str(mime_type_for_name(t, "x.ZZQQ"), "application/x-zzqq",
	       "type from mime.types");
	is_str(mime_type_for_name(t, "x.zzqr"), "application/x-zzqq",
	       "second extension of a line");
	is_str(mime_type_for_name(t, "x.png"), "image/png",
	       "built-in table wins");
	mime_table_free(t);
	unlink(path);
	t = mime_table_new("/nonexistent/mime.types");
	ok(t != NULL, "a missing file leaves the built-in table");
	mime_table_free(t);
	mime_table_free(NULL);
	return tap_done();
}
