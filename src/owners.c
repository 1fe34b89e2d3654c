/*
 * owners: which file each program started writing last, in a fixed
 * table of slots.  See owners.h.
 */
#include "config.h"

#include "owners.h"

bool owners_moved_on(const struct owners *o, long owner, dev_t dev,
		     ino_t ino)
{
	const struct owner_slot *s;

	if (owner <= 0)
		return false;
	s = &o->slots[owner % OWNERS_SLOTS];
	return s->owner == owner && (s->dev != dev || s->ino != ino);
}

bool owners_started(struct owners *o, long owner, dev_t dev, ino_t ino,
		    dev_t *prev_dev, ino_t *prev_ino)
{
	struct owner_slot *s = &o->slots[owner % OWNERS_SLOTS];
	bool moved = owners_moved_on(o, owner, dev, ino);

	*prev_dev = s->dev;
	*prev_ino = s->ino;
	s->owner = owner;
	s->dev = dev;
	s->ino = ino;
	return moved;
}
