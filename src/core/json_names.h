/* Names of JSON value types for error messages ("expected an integer, found a string"). */
#ifndef VFR_CORE_JSON_NAMES_H
#define VFR_CORE_JSON_NAMES_H

#include <jansson.h>

/* "an object", "an array", "a string", "an integer", "a real number", "a boolean", "null". */
const char *vfr_json_type_name(const json_t *v);

#endif
