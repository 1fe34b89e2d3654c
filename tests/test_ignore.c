/* Tests for src/ignore.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "ignore.h"

int main(void)
{
	static const char *const yes[] = {
		"foo~", ".foo~", ".a.txt.swp", ".a.txt.swx", "x.part",
		"x.crdownload", "a.tmp", ".~lock.doc.odt#",
		".goutputstream-ABC123", ".photo.png.AbC123", ".octofs-x",
		/* what SMB and AFP clients leave beside real files */
		"._photo.png", "._x", "._.DS_Store", ".DS_Store", "Thumbs.db",
		"desktop.ini", "~$report.docx", "~$port.docx", "~$x",
	};
	static const char *const no[] = {
		"photo.png", "report.pdf", ".bashrc", "notes.txt", "a.txt.url",
		/* near misses of the clients' litter: real names */
		"~report.txt", "$report.txt", "report~$.docx", "_x", ".x",
		"_.photo.png", "x._photo.png", "DS_Store", ".DS_Store.png",
		"my.DS_Store", "Thumbs.db.png", "old Thumbs.db",
		"desktop.ini.txt", "mydesktop.ini",
	};
	struct ignore_set *s;
	char err[128];
	size_t i;

	is_int(ignore_set_new(NULL, &s, err, sizeof(err)), 0, "defaults");
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(ignore_match(s, yes[i]), "default ignores %s", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!ignore_match(s, no[i]), "default uploads %s", no[i]);
	ignore_set_free(s);

	is_int(ignore_set_new("*.bak:draft-*", &s, err, sizeof(err)), 0,
	       "custom spec");
	ok(ignore_match(s, "x.bak") && ignore_match(s, "draft-1"),
	   "custom patterns match");
	ok(!ignore_match(s, "x.tmp"), "custom spec replaces the defaults");
	ok(ignore_match(s, ".octofs-probe"), ".octofs* always ignored");
	ignore_set_free(s);

	is_int(ignore_set_new("a::b", &s, err, sizeof(err)), -EINVAL,
	       "empty pattern refused");
	ok(s == NULL && strstr(err, "empty"), "with a reason: %s", err);
	ignore_set_free(NULL);
	return tap_done();
}
