/* The six ImageNet-C frost overlays (data/imagenet-c/frost/, Apache-2.0), embedded in the
 * library at build time already decoded (not public API). */
#ifndef VFR_IC_FROST_DATA_H
#define VFR_IC_FROST_DATA_H

#include <stdint.h>

#define VFR_IC_FROST_COUNT 6

/* Frost image i (0-based: i = 0 is frost1.png) as the library's decoder reads its file:
 * (height, width, 3) RGB bytes, rows packed; its file name. NULL for i out of range (or an
 * embedded blob whose size does not match its header). The bytes are read-only and live
 * as long as the library. */
const uint8_t *vfr_ic_frost_pixels(int i, int *width, int *height, const char **name);

#endif
