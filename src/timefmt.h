/*
 * timefmt: wall-clock times as octofs shows them to people and scripts,
 * ISO 8601 in UTC ("2026-12-06T10:42:05Z"), in the feed and attributes.
 */
#ifndef OCTOFS_TIMEFMT_H
#define OCTOFS_TIMEFMT_H

#include <stdio.h>
#include <time.h>

#define TIMEFMT_ISO_MAX 32

/* @t into @buf (TIMEFMT_ISO_MAX bytes will do); returns @buf. */
static inline const char *timefmt_iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

#endif
