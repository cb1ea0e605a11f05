/* Codec round trips: encode with Pillow-identical settings, decode back to RGB. */
#include <stdlib.h>

#include "perturb/perturb_internal.h"

int vfr_jpeg_roundtrip(const vfr_image *in, int quality, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "jpeg", err);
  if (rc) return rc;
  if (quality < 1 || quality > 100)
    return vfr_fail(err, VFR_EINVAL, "jpeg: quality %d is not in 1..100", quality);
  uint8_t *buf = NULL;
  size_t len = 0;
  rc = vfr_jpeg_encode(in, quality, &buf, &len, err);
  if (rc == VFR_OK) rc = vfr_image_decode(buf, len, "jpeg round trip", NULL, out, err);
  free(buf);
  return rc;
}

int vfr_webp_roundtrip(const vfr_image *in, double quality, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "webp", err);
  if (rc) return rc;
  if (!(quality >= 0.0 && quality <= 100.0))
    return vfr_fail(err, VFR_EINVAL, "webp: quality %g is not in 0..100", quality);
  uint8_t *buf = NULL;
  size_t len = 0;
  rc = vfr_webp_encode(in, (float)quality, &buf, &len, err);
  if (rc == VFR_OK) rc = vfr_image_decode(buf, len, "webp round trip", NULL, out, err);
  free(buf);
  return rc;
}
