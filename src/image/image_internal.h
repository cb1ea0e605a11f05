/* Internal helpers shared by the image codecs (not public API). */
#ifndef VFR_IMAGE_INTERNAL_H
#define VFR_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/image.h"

/* Fails with VFR_ELIMIT (naming `name`) when width x height exceeds max_pixels, with
 * VFR_EFORMAT when a side is not positive; called before any pixel buffer exists. */
int vfr_image_check_size(long long width, long long height, long long max_pixels,
                         const char *name, vfr_error *err);

/* Per-format decoders; each produces an RGB8 image as Pillow's convert('RGB'). */
int vfr_jpeg_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                    vfr_image *out, vfr_error *err);
int vfr_png_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                   vfr_image *out, vfr_error *err);
int vfr_webp_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                    vfr_image *out, vfr_error *err);

/* Fails with VFR_EINVAL unless img is a non-empty image with 1, 3 or 4 channels. */
int vfr_image_check(const vfr_image *img, const char *what, vfr_error *err);

#endif
