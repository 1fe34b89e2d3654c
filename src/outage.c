/*
 * outage: since when uploads have been failing to get through (outage.h).
 */
#include "config.h"

#include <stdio.h>

#include "outage.h"

void outage_note(struct outage *o, const char *why, time_t now)
{
	if (!o->since)
		o->since = now ? now : 1;
	snprintf(o->why, sizeof(o->why), "%s", why ? why : "");
}

void outage_clear(struct outage *o)
{
	o->since = 0;
	o->why[0] = '\0';
}
