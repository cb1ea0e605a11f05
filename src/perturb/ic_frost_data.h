/* The six ImageNet-C frost overlays (data/imagenet-c/frost/, Apache-2.0), embedded in the
 * library at build time as their encoded files (not public API). */
#ifndef VFR_IC_FROST_DATA_H
#define VFR_IC_FROST_DATA_H

#include <stddef.h>

#define VFR_IC_FROST_COUNT 6

/* The encoded bytes of frost image i (0-based: i = 0 is frost1.png) and its file name;
 * NULL for i out of range. The bytes are read-only and live as long as the library. */
const unsigned char *vfr_ic_frost_file(int i, size_t *size, const char **name);

#endif
