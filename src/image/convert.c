/* Colour conversions with Pillow's integer formulas (Convert.c of Pillow 9.4). */
#include <string.h>

#include "image/image_internal.h"

int vfr_image_to_gray(const vfr_image *in, vfr_image *out, vfr_error *err) {
  int rc = vfr_image_check(in, "convert to gray", err);
  if (rc) return rc;
  if (in->channels == 1) return vfr_image_copy(in, out, err);
  vfr_image res;
  rc = vfr_image_alloc(&res, in->width, in->height, 1, err);
  if (rc) return rc;
  int c = in->channels;
  for (int y = 0; y < in->height; y++) {
    const uint8_t *s = in->data + (size_t)y * in->stride; /* s is (W,c) */
    uint8_t *d = res.data + (size_t)y * res.stride;        /* d is (W) */
    for (int x = 0; x < in->width; x++, s += c)
      d[x] = (uint8_t)((19595u * s[0] + 38470u * s[1] + 7471u * s[2] + 0x8000u) >> 16);
  }
  *out = res;
  return VFR_OK;
}

int vfr_image_gray_to_rgb(const vfr_image *in, vfr_image *out, vfr_error *err) {
  int rc = vfr_image_check(in, "gray to RGB", err);
  if (rc) return rc;
  if (in->channels != 1)
    return vfr_fail(err, VFR_EINVAL, "gray to RGB: input has %d channels, want 1", in->channels);
  vfr_image res;
  rc = vfr_image_alloc(&res, in->width, in->height, 3, err);
  if (rc) return rc;
  for (int y = 0; y < in->height; y++) {
    const uint8_t *s = in->data + (size_t)y * in->stride;
    uint8_t *d = res.data + (size_t)y * res.stride;
    for (int x = 0; x < in->width; x++, d += 3) d[0] = d[1] = d[2] = s[x];
  }
  *out = res;
  return VFR_OK;
}
