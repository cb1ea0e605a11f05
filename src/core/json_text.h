/* JSON strings of file names and other byte strings (see core/text.h). */
#ifndef VFR_CORE_JSON_TEXT_H
#define VFR_CORE_JSON_TEXT_H

#include <jansson.h>

/* A JSON string of vfr_text_utf8(s) ("" for NULL); NULL only when out of memory. */
json_t *vfr_json_text(const char *s);

#endif
