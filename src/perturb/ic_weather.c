/* ImageNet-C's weather corruptions (see ic_ops.h, docs/perturbations.md).
 *   fog    x + c0 * plasma_fractal(next_pow2(max(H, W)), c1)[:H, :W], rescaled by
 *          max(x) / (max(x) + c0)                  (c0, c1) = (1.5, 2) (2, 2) (2.5, 1.7)
 *                                                             (2.5, 1.5) (3, 1.4)
 *   frost  c0 * v + c1 * crop of frost image randint(5) (one of frost1..5), resized by
 *          cv2.resize INTER_CUBIC to 1.1x (at least the image's size), at randint
 *          offsets; np.uint8(clip(y, 0, 255))    (c0, c1) = (1, .4) (.8, .6) (.7, .7)
 *                                                           (.65, .7) (.6, .75)
 * then np.uint8(clip(y, 0, 1) * 255) unless said otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_frost_data.h"
#include "perturb/ic_ops.h"
#include "perturb/np_random.h"

/* ---- fog -------------------------------------------------------------------------- */

int vfr_ic_fog(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
               vfr_error *err) {
  static const double strength[5] = {1.5, 2., 2.5, 2.5, 3.};
  static const double decay[5] = {2, 2, 1.7, 1.5, 1.4};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_fog", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  int side = w > h ? w : h, n = 1;
  if (side < 3) side = 3; /* max over the shape (H, W, 3) */
  while (n < side) n *= 2;
  float *map = malloc((size_t)n * n * sizeof(float));
  if (!map) return vfr_fail(err, VFR_ENOMEM, "ic_fog: out of memory for a %dx%d fractal", n, n);
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  rc = vfr_icf_plasma_fractal(&rng, n, decay[s], map, err);
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    double maxv = 0.0;
    for (int y = 0; y < h; y++) {
      const uint8_t *p = in->data + (size_t)y * in->stride;
      for (int q = 0; q < w * 3; q++) {
        double v = (double)p[q] / 255.0;
        if (v > maxv) maxv = v;
      }
    }
    const float c0 = (float)strength[s];
    const double denom = maxv + strength[s];
    for (int y = 0; y < h; y++) {
      const uint8_t *p = in->data + (size_t)y * in->stride;
      uint8_t *d = out->data + (size_t)y * out->stride;
      const float *m = map + (size_t)y * n;
      for (int x = 0; x < w; x++) {
        double f = (double)(c0 * m[x]);
        for (int c = 0; c < 3; c++) {
          double v = (double)p[3 * x + c] / 255.0 + f;
          d[3 * x + c] = vfr_ic_to_u8(v * maxv / denom);
        }
      }
    }
  }
  free(map);
  return rc;
}

/* ---- frost ------------------------------------------------------------------------ */

/* The reference's scale of a frost image (fh, fw) for an (h, w) image: 1 when it covers
 * the image, else the larger ratio needed, times 1.1. */
static double frost_scale(int fh, int fw, int h, int w) {
  double s;
  if (fh >= h && fw >= w)
    s = 1;
  else if (fh < h && fw >= w)
    s = (double)h / fh;
  else if (fh >= h && fw < w)
    s = (double)w / fw;
  else {
    double s0 = (double)h / fh, s1 = (double)w / fw;
    s = s0 > s1 ? s0 : s1;
  }
  return s * 1.1;
}

int vfr_ic_frost(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                 vfr_error *err) {
  static const double image_w[5] = {1, 0.8, 0.7, 0.65, 0.6};
  static const double frost_w[5] = {0.4, 0.6, 0.7, 0.7, 0.75};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_frost", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  int idx = (int)vfr_np_rng_randint(&rng, 0, 5);
  size_t size = 0;
  const char *name = NULL;
  const unsigned char *file = vfr_ic_frost_file(idx, &size, &name);
  vfr_image fr = {0};
  vfr_decode_params params = vfr_decode_default_params();
  if (!file) return vfr_fail(err, VFR_EINTERNAL, "ic_frost: frost image %d is missing", idx + 1);
  if ((rc = vfr_image_decode(file, size, name, &params, &fr, err))) return rc;
  if (fr.channels != 3) {
    vfr_image_free(&fr);
    return vfr_fail(err, VFR_EINTERNAL, "ic_frost: %s decoded to %d channels", name, fr.channels);
  }
  double sc = frost_scale(fr.height, fr.width, h, w);
  int rw = (int)ceil(fr.width * sc), rh = (int)ceil(fr.height * sc);
  uint8_t *src = malloc((size_t)fr.width * fr.height * 3);
  uint8_t *big = malloc((size_t)rw * rh * 3);
  if (!src || !big) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_frost: out of memory for a %dx%d overlay", rw, rh);
    goto done;
  }
  for (int y = 0; y < fr.height; y++)
    memcpy(src + (size_t)y * fr.width * 3, fr.data + (size_t)y * fr.stride, (size_t)fr.width * 3);
  if ((rc = vfr_icf_cv_resize_cubic_u8(src, fr.width, fr.height, 3, big, rw, rh, err))) goto done;
  int y0 = (int)vfr_np_rng_randint(&rng, 0, rh - h);
  int x0 = (int)vfr_np_rng_randint(&rng, 0, rw - w);
  if ((rc = perturb_alloc_like(in, out, err))) goto done;
  for (int y = 0; y < h; y++) {
    const uint8_t *p = in->data + (size_t)y * in->stride;
    const uint8_t *f = big + ((size_t)(y0 + y) * rw + x0) * 3;
    uint8_t *d = out->data + (size_t)y * out->stride;
    for (int q = 0; q < w * 3; q++) {
      double v = image_w[s] * p[q] + frost_w[s] * f[q];
      d[q] = (uint8_t)(v > 255.0 ? 255.0 : v);
    }
  }
done:
  free(src), free(big);
  vfr_image_free(&fr);
  return rc;
}
