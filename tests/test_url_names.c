/* Tests for src/url_names.c. */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "tap.h"
#include "url_names.h"

static void test_base(void)
{
	char buf[NAME_MAX + 1];

	ok(url_names_base("photo.png.url", buf, sizeof(buf)),
	   "photo.png.url has a base");
	is_str(buf, "photo.png", "base of photo.png.url");
	ok(url_names_base("a.url", buf, sizeof(buf)), "a.url has a base");
	is_str(buf, "a", "base of a.url");
	ok(url_names_base("x.url.url", buf, sizeof(buf)), "x.url.url");
	is_str(buf, "x.url", "base of x.url.url is x.url");
	ok(!url_names_base(".url", buf, sizeof(buf)), ".url has no base");
	ok(!url_names_base("url", buf, sizeof(buf)), "url has no base");
	ok(!url_names_base("..url", buf, sizeof(buf)), "'.' is no base");
	ok(!url_names_base("...url", buf, sizeof(buf)), "'..' is no base");
	ok(url_names_base(".a.url", buf, sizeof(buf)) && !strcmp(buf, ".a"),
	   "a dot name is a base");
	ok(!url_names_base("photo.png", buf, sizeof(buf)), "no suffix");
	ok(!url_names_base("photo.URL", buf, sizeof(buf)),
	   "suffix is case-sensitive");
	ok(!url_names_base("photo.png.url", buf, 5),
	   "base that does not fit the buffer is refused");
}

static void test_sibling(void)
{
	char buf[NAME_MAX + 1];
	char longname[NAME_MAX + 1];

	ok(url_names_sibling("photo.png", buf, sizeof(buf)), "sibling");
	is_str(buf, "photo.png.url", "sibling of photo.png");
	ok(!url_names_sibling("", buf, sizeof(buf)), "empty name");

	memset(longname, 'a', NAME_MAX - 4);
	longname[NAME_MAX - 4] = '\0';
	ok(url_names_sibling(longname, buf, sizeof(buf)),
	   "a 251-byte name has a 255-byte sibling");
	is_int(strlen(buf), NAME_MAX, "sibling is NAME_MAX long");
	memset(longname, 'a', NAME_MAX - 3);
	longname[NAME_MAX - 3] = '\0';
	ok(!url_names_sibling(longname, buf, sizeof(buf)),
	   "a 252-byte name has no sibling");
	ok(!url_names_sibling("photo.png", buf, 8),
	   "sibling that does not fit the buffer is refused");
}

int main(void)
{
	test_base();
	test_sibling();
	return tap_done();
}
