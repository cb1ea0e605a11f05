/* ImageNet-C's weather corruptions (see ic_ops.h, docs/perturbations.md).
 *   fog    x + c0 * plasma_fractal(next_pow2(max(H, W)), c1)[:H, :W], rescaled by
 *          max(x) / (max(x) + c0)                  (c0, c1) = (1.5, 2) (2, 2) (2.5, 1.7)
 *                                                             (2.5, 1.5) (3, 1.4)
 *   frost  c0 * v + c1 * crop of frost image randint(5) (one of frost1..5), resized by
 *          cv2.resize INTER_CUBIC to 1.1x (at least the image's size), at randint
 *          offsets; np.uint8(clip(y, 0, 255))    (c0, c1) = (1, .4) (.8, .6) (.7, .7)
 *                                                           (.65, .7) (.6, .75)
 *   snow   layer = N(c0, c1) on (H, W), clipped_zoom by c2, zeroed below c3, clipped to
 *          [0, 1], motion-blurred (radius c4, sigma c5, angle U(-135, -45)), rounded to
 *          1/255; x (float32) = c6 x + (1 - c6) max(x, 1.5 gray(x) + .5);
 *          y = x + layer + layer rotated by 180 degrees
 *          (c0..c6) = (.1, .3, 3, .5, 10, 4, .8) (.2, .3, 2, .5, 12, 4, .7)
 *          (.55, .3, 4, .9, 12, 8, .7) (.55, .3, 4.5, .85, 12, 8, .65) (.55, .3, 2.5, .85, 12, 12, .55)
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

/* ---- snow ------------------------------------------------------------------------- */

int vfr_ic_snow(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                vfr_error *err) {
  static const double c[5][7] = {{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
                                 {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
                                 {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
                                 {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
                                 {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_snow", &done, err);
  if (rc || done) return rc;
  const double *k = c[severity - 1];
  int w = in->width, h = in->height, zh = 0, zw = 0;
  size_t np = (size_t)w * h, row = (size_t)w * 3;
  double *layer = malloc(np * sizeof(double)), *zoomed = NULL, *blurred = NULL;
  float *x = malloc(np * 3 * sizeof(float)), *gray = malloc((size_t)w * sizeof(float));
  if (!layer || !x || !gray) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_snow: out of memory");
    goto done;
  }
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  for (size_t q = 0; q < np; q++) layer[q] = vfr_np_rng_normal(&rng, k[0], k[1]);
  if ((rc = vfr_icf_clipped_zoom_f64(layer, h, w, k[2], &zoomed, &zh, &zw, err))) goto done;
  size_t nz = (size_t)zh * zw;
  for (size_t q = 0; q < nz; q++) {
    double v = zoomed[q] < k[3] ? 0.0 : zoomed[q];
    zoomed[q] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
  }
  blurred = malloc(nz * sizeof(double));
  if (!blurred) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_snow: out of memory");
    goto done;
  }
  double angle = vfr_np_rng_uniform(&rng, -135, -45);
  if ((rc = vfr_icf_motion_blur_plane(zoomed, zh, zw, 1, (int)k[4], k[5], angle, blurred, err)))
    goto done;
  /* np.round(layer * 255).astype(np.uint8) / 255., cropped to (h, w) */
  for (int y = 0; y < h; y++)
    for (int xx = 0; xx < w; xx++)
      layer[(size_t)y * w + xx] = (double)(uint8_t)nearbyint(blurred[(size_t)y * zw + xx] * 255) / 255.;
  for (int y = 0; y < h; y++) {
    const uint8_t *p = in->data + (size_t)y * in->stride;
    for (size_t q = 0; q < row; q++) x[(size_t)y * row + q] = (float)p[q] / 255.0f;
  }
  if ((rc = perturb_alloc_like(in, out, err))) goto done;
  const float a = (float)k[6], b = (float)(1 - k[6]);
  for (int y = 0; y < h; y++) {
    float *xr = x + (size_t)y * row;
    vfr_icf_cv_gray_row_f32(xr, w, gray);
    uint8_t *d = out->data + (size_t)y * out->stride;
    const double *s0 = layer + (size_t)y * w, *s1 = layer + (size_t)(h - 1 - y) * w;
    for (int xx = 0; xx < w; xx++) {
      float lit = gray[xx] * 1.5f + 0.5f;
      double snow = s0[xx], flipped = s1[w - 1 - xx];
      for (int ch = 0; ch < 3; ch++) {
        float v = xr[3 * xx + ch];
        float m = v > lit ? v : lit;
        float mixed = a * v + b * m;
        d[3 * xx + ch] = vfr_ic_to_u8((double)mixed + snow + flipped);
      }
    }
  }
done:
  free(layer), free(zoomed), free(blurred), free(x), free(gray);
  return rc;
}
