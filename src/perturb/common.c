/* Argument checks, allocation and lookup tables shared by the ops. */
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

int perturb_check_rgb(const vfr_image *in, const vfr_image *out, const char *op, vfr_error *err) {
  if (!in || !in->data || in->width <= 0 || in->height <= 0)
    return vfr_fail(err, VFR_EINVAL, "%s: empty input image", op);
  if (in->channels != 3)
    return vfr_fail(err, VFR_EINVAL, "%s: the image has %d channels; perturbations take RGB (3)",
                    op, in->channels);
  if (in->stride < (size_t)in->width * 3)
    return vfr_fail(err, VFR_EINVAL, "%s: stride %zu is shorter than a row", op, in->stride);
  if (!out || out == in)
    return vfr_fail(err, VFR_EINVAL, "%s: the output must be a distinct image", op);
  return VFR_OK;
}

int perturb_alloc_like(const vfr_image *in, vfr_image *res, vfr_error *err) {
  /* Not zero-filled: every op writes every byte of its output (vfr_image_alloc's calloc
   * would clear 3 bytes per pixel for nothing). Released by vfr_image_free like any image. */
  size_t stride = (size_t)in->width * 3;
  uint8_t *data = malloc(stride * (size_t)in->height);
  if (!data)
    return vfr_fail(err, VFR_ENOMEM, "perturbation: out of memory for a %dx%d image", in->width,
                    in->height);
  res->width = in->width;
  res->height = in->height;
  res->channels = 3;
  res->stride = stride;
  res->data = data;
  return VFR_OK;
}

void perturb_apply_lut(const vfr_image *in, const uint8_t lut[256], vfr_image *out) {
  int h = in->height;
  size_t n = (size_t)in->width * 3;
#pragma omp parallel for schedule(static) if ((long long)in->width * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    for (size_t i = 0; i < n; i++) dst[i] = lut[src[i]];
  }
}

void perturb_blend_table(double factor, uint8_t *table) {
  float alpha = (float)factor;
  for (int d = 0; d < 256; d++)
    for (int v = 0; v < 256; v++) table[d * 256 + v] = perturb_blend_value(alpha, d, v);
}
