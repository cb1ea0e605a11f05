/* Text for outputs that must be UTF-8 (JSON, HTML): file names are bytes, so a byte that is
 * not part of valid UTF-8 is written as the four characters \xNN (Python's
 * "backslashreplace"), never dropped. */
#ifndef VFR_CORE_TEXT_H
#define VFR_CORE_TEXT_H

/* s with every byte outside valid UTF-8 replaced by \xNN (malloc'ed; NULL when out of memory). */
char *vfr_text_utf8(const char *s);

#endif
