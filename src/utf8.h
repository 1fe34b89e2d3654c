/*
 * utf8: which bytes of untrusted text are well-formed UTF-8.
 */
#ifndef OCTOFS_UTF8_H
#define OCTOFS_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence at @s, of which @left bytes
 * may be read; 0 when none starts there (a stray continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, cut short).
 */
size_t utf8_len(const unsigned char *s, size_t left);

#endif
