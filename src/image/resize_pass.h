/* The two convolution passes of resize (internal): integer weights in, uint8 out. */
#ifndef VFR_RESIZE_PASS_H
#define VFR_RESIZE_PASS_H

#include <stdint.h>

#include "vfrobust/image.h"

#define VFR_RESIZE_PRECISION_BITS (32 - 8 - 2)

/* Integer weights of one pass: output sample i reads `count[i]` inputs from `first[i]`
 * with weights k[i*ksize .. i*ksize+count[i]) (22-bit fixed point, |k| <= 2^22). */
typedef struct pass_coeffs {
  int out_size, ksize;
  int *first, *count; /* (out_size) each */
  int32_t *k;         /* (out_size, ksize) */
} pass_coeffs;

/* Horizontal pass: rows [y0, y0 + out->height) of in, resampled along x with c
 * (c->out_size == out->width), into out. in and out have the same channel count. */
int vfr_resize_horizontal(const vfr_image *in, int y0, const pass_coeffs *c, vfr_image *out,
                          vfr_error *err);

/* Vertical pass: output row yy of out sums rows first[yy] - y0 .. of in (in's row 0 is
 * source row y0) with c (c->out_size == out->height); in and out have the same width. */
int vfr_resize_vertical(const vfr_image *in, int y0, const pass_coeffs *c, vfr_image *out,
                        vfr_error *err);

#endif
