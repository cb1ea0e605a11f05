/* Helpers shared by the perturbation files (not public API). */
#ifndef VFR_PERTURB_INTERNAL_H
#define VFR_PERTURB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/perturb.h"

/* Images with at least this many pixels are processed with OpenMP across rows; every
 * row's result depends only on the input, never on the thread count. */
#define PERTURB_PARALLEL_PIXELS (1 << 16)

/* Fails with VFR_EINVAL (naming op) unless in is a non-empty RGB image and out != in. */
int perturb_check_rgb(const vfr_image *in, const vfr_image *out, const char *op, vfr_error *err);

/* Allocates an RGB image of in's size into *res, NOT zero-filled: the caller must write
 * every byte (or use vfr_image_alloc for a zeroed image). */
int perturb_alloc_like(const vfr_image *in, vfr_image *res, vfr_error *err);

/* Applies a 256-entry lookup table to every channel value: out = lut[in].
 * in and out are RGB images of the same size. */
void perturb_apply_lut(const vfr_image *in, const uint8_t lut[256], vfr_image *out);

/* Pillow's Image.blend(degenerate, in, factor) value table: table[d*256 + v] is the
 * blend of degenerate value d and image value v (alpha cast to float32). table is (65536). */
void perturb_blend_table(double factor, uint8_t *table);

/* Pillow's blend of one value pair (alpha as float32, truncation, clamping). */
static inline uint8_t perturb_blend_value(float alpha, int d, int v) {
  float t = (float)d + alpha * (float)(v - d);
  if (alpha >= 0.0f && alpha <= 1.0f) return (uint8_t)t;
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return (uint8_t)t;
}

/* Pillow's L of an RGB pixel: (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
static inline uint8_t perturb_luma(const uint8_t *rgb) {
  return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

#endif
