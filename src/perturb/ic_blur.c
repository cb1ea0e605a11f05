/* ImageNet-C's blur corruptions (see ic_ops.h, docs/perturbations.md), with x = v/255.:
 *   defocus_blur   cv2.filter2D(x, disk(r, a)) per channel        (r, a) = (3, .1) (4, .5)
 *                                                                  (6, .5) (8, .5) (10, .5)
 *   glass_blur     uint8(gaussian(x, s)*255), local pixel moves,   (s, d, it) = (.7, 1, 2)
 *                  gaussian(., s) again                            (.9, 2, 1) (1, 2, 3)
 *                                                                  (1.1, 3, 2) (1.5, 4, 2)
 *   motion_blur    Gaussian taps along angle U(-45, 45) on v       (r, s) = (10, 3) (15, 5)
 *                                                                  (15, 8) (15, 12) (20, 15)
 *   zoom_blur      mean of x and its centre zooms, float32         z = arange(1, 1.11, .01)
 *                                                                  ... arange(1, 1.31, .03)
 *   gaussian_blur  gaussian(x, s), skimage (mode nearest)          s = 1 2 3 4 6
 * then np.uint8(clip(y, 0, 1) * 255) (motion blur: np.uint8(clip(y, 0, 255))). */
/* Separate roundings, as NumPy's ufuncs compute: no contraction to fused multiply-adds
 * (GCC's default in ISO C mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
/* The per-pixel loops run across independent values: vectorising them (which -O2 leaves
 * to a very cheap cost model) keeps every result bit for bit. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_ops.h"
#include "perturb/ic_taps.h"
#include "perturb/np_random.h"

static int nomem(vfr_error *err, const char *op) {
  return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", op);
}

/* ---- gaussian_blur ---------------------------------------------------------------- */

int vfr_ic_gaussian_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                         vfr_error *err) {
  static const double sigma[5] = {1, 2, 3, 4, 6};
  (void)seed;
  int done, rc = vfr_ic_begin(in, severity, out, "ic_gaussian_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height;
  double *x = malloc((size_t)w * h * 3 * sizeof(double));
  if (!x) return nomem(err, "ic_gaussian_blur");
  vfr_icf_to_unit(in, x);
  rc = vfr_icf_skimage_gaussian_rgb(x, h, w, sigma[severity - 1], err);
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) vfr_icf_store_unit(x, out);
  free(x);
  return rc;
}

/* ---- glass_blur ------------------------------------------------------------------- */

/* The original ImageNet-C loop: for each iteration, h from H-d down to d+1, w from W-d
 * down to d+1, (dx, dy) = randint(-d, d, size=2) and the NumPy statement
 * `x[h, w], x[h', w'] = x[h', w'], x[h, w]` with (h', w') = (h + dy, w + dx). Its
 * right-hand side holds views, so the statement copies pixel (h', w') onto (h, w) and
 * then writes that pixel back onto itself: the move is a copy, not a swap. */
static void glass_moves(uint8_t *px, int h, int w, int d, int iterations, vfr_np_rng *rng) {
  /* randint(-d, d): legacy masked rejection on one 32-bit word, range 2d - 1; the words
   * come a row's moves at once when none can be rejected, else in blocks of 624 (the
   * generator's state; the block's unread rest at the end is never used: the generator is
   * this op's own) */
  const uint32_t range = (uint32_t)(2 * d - 1);
  uint32_t mask = range;
  mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
  uint32_t words[624];
  int k = 624;
#define GLASS_DRAW(v)                                \
  do {                                               \
    if (k == 624) {                                  \
      vfr_np_rng_u32_fill(rng, words, 624);          \
      k = 0;                                         \
    }                                                \
    (v) = words[k++] & mask;                         \
  } while ((v) > range)
#define GLASS_MOVE(u, v)                                                    \
  do {                                                                      \
    int dx = (int)(u) - d, dy = (int)(v) - d;                               \
    uint8_t *dst = px + ((size_t)y * w + x) * 3;                            \
    const uint8_t *src = px + ((size_t)(y + dy) * w + (x + dx)) * 3;        \
    dst[0] = src[0];                                                        \
    dst[1] = src[1];                                                        \
    dst[2] = src[2];                                                        \
  } while (0)
  size_t per_row = w - 2 * d > 0 ? (size_t)(w - 2 * d) : 0;
  uint32_t *row_words = mask == range ? malloc(2 * per_row * sizeof(uint32_t) + 1) : NULL;
  if (row_words) { /* 2d - 1 = 2^k - 1: no word is rejected, two words a move, a row's at once */
    for (int it = 0; it < iterations; it++)
      for (int y = h - d; y > d; y--) {
        vfr_np_rng_u32_fill(rng, row_words, 2 * per_row);
        const uint32_t *wd = row_words;
        for (int x = w - d; x > d; x--, wd += 2) GLASS_MOVE(wd[0] & mask, wd[1] & mask);
      }
    free(row_words);
  } else {
    for (int it = 0; it < iterations; it++)
      for (int y = h - d; y > d; y--)
        for (int x = w - d; x > d; x--) {
          uint32_t u, v;
          GLASS_DRAW(u);
          GLASS_DRAW(v);
          GLASS_MOVE(u, v);
        }
  }
#undef GLASS_MOVE
#undef GLASS_DRAW
}

int vfr_ic_glass_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                      vfr_error *err) {
  static const double sigma[5] = {0.7, 0.9, 1, 1.1, 1.5};
  static const int delta[5] = {1, 2, 2, 3, 4}, iterations[5] = {2, 1, 3, 2, 2};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_glass_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  size_t n = (size_t)w * h * 3;
  double *x = malloc(n * sizeof(double));
  uint8_t *px = malloc(n);
  if (!x || !px) {
    free(x), free(px);
    return nomem(err, "ic_glass_blur");
  }
  vfr_icf_to_unit(in, x);
  rc = vfr_icf_skimage_gaussian_rgb(x, h, w, sigma[s], err);
  if (!rc) {
    /* np.uint8(x * 255); x lies in [0, 1 + a few ulp] (a normalised positive kernel over
     * [0, 1]), where the clipping store gives the same bytes */
    for (int r = 0; r < h; r++)
      vfr_ict_store_unit_row(px + (size_t)r * w * 3, x + (size_t)r * w * 3, (size_t)w * 3);
    vfr_np_rng rng;
    vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
    glass_moves(px, h, w, delta[s], iterations[s], &rng);
    double unit[256]; /* v / 255. */
    for (int v = 0; v < 256; v++) unit[v] = (double)v / 255.0;
    for (size_t q = 0; q < n; q++) x[q] = unit[px[q]];
    rc = vfr_icf_skimage_gaussian_rgb(x, h, w, sigma[s], err);
  }
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) vfr_icf_store_unit(x, out);
  free(x), free(px);
  return rc;
}

/* ---- defocus_blur ----------------------------------------------------------------- */

int vfr_ic_defocus_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                        vfr_error *err) {
  static const int radius[5] = {3, 4, 6, 8, 10};
  static const double alias[5] = {0.1, 0.5, 0.5, 0.5, 0.5};
  (void)seed;
  int done, rc = vfr_ic_begin(in, severity, out, "ic_defocus_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  size_t n = (size_t)w * h * 3;
  float kernel[21 * 21];
  int big = vfr_icf_disk_kernel(radius[s], alias[s], kernel);
  double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  if (!x || !y) {
    free(x), free(y);
    return nomem(err, "ic_defocus_blur");
  }
  vfr_icf_to_unit(in, x);
  rc = vfr_icf_filter2d_reflect101(x, h, w, 3, kernel, 2 * big + 1, y, err);
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) vfr_icf_store_unit(y, out);
  free(x), free(y);
  return rc;
}

/* ---- motion_blur ------------------------------------------------------------------ */

int vfr_ic_motion_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                       vfr_error *err) {
  static const int radius[5] = {10, 15, 15, 15, 20};
  static const double sigma[5] = {3, 5, 8, 12, 15};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_motion_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  size_t n = (size_t)w * h * 3;
  double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  if (!x || !y) {
    free(x), free(y);
    return nomem(err, "ic_motion_blur");
  }
  for (int r = 0; r < h; r++) {
    const uint8_t *src = in->data + (size_t)r * in->stride;
    for (size_t q = 0; q < (size_t)w * 3; q++) x[(size_t)r * w * 3 + q] = (double)src[q];
  }
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  double angle = vfr_np_rng_uniform(&rng, -45, 45);
  rc = vfr_icf_motion_blur_plane(x, h, w, 3, radius[s], sigma[s], angle, y, err);
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) vfr_icf_store_255(y, out);
  free(x), free(y);
  return rc;
}

/* ---- zoom_blur -------------------------------------------------------------------- */

/* np.arange(1, stop, step): n = ceil((stop - 1)/step) values 1 + i*delta with
 * delta = (1 + step) - 1, as NumPy fills a float range. */
static int zoom_factors(int s, double *z) {
  static const double stop[5] = {1.11, 1.16, 1.21, 1.26, 1.31};
  static const double step[5] = {0.01, 0.01, 0.02, 0.02, 0.03};
  int n = (int)ceil((stop[s] - 1.0) / step[s]);
  double delta = (1.0 + step[s]) - 1.0;
  for (int i = 0; i < n; i++) z[i] = i == 0 ? 1.0 : (i == 1 ? 1.0 + step[s] : 1.0 + i * delta);
  return n;
}

int vfr_ic_zoom_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                     vfr_error *err) {
  (void)seed;
  int done, rc = vfr_ic_begin(in, severity, out, "ic_zoom_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height;
  size_t n = (size_t)w * h * 3;
  float *x = malloc(n * sizeof(float)), *acc = calloc(n, sizeof(float));
  if (!x || !acc) {
    free(x), free(acc);
    return nomem(err, "ic_zoom_blur");
  }
  for (int r = 0; r < h; r++) {
    const uint8_t *src = in->data + (size_t)r * in->stride;
    for (size_t q = 0; q < (size_t)w * 3; q++)
      x[(size_t)r * w * 3 + q] = (float)((double)src[q] / 255.0);
  }
  double z[32];
  int nz = zoom_factors(severity - 1, z);
  for (int i = 0; i < nz && !rc; i++) {
    rc = vfr_icf_clipped_zoom_add_f32(x, h, w, 3, z[i], acc, h, w, err);
  }
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    float div = (float)(nz + 1);
    for (size_t p = 0; p < n; p++) acc[p] = (x[p] + acc[p]) / div; /* (x + sum) / (nz + 1) */
    for (int r = 0; r < h; r++)
      vfr_ict_store_unit_row_f32(out->data + (size_t)r * out->stride, acc + (size_t)r * w * 3,
                                 (size_t)w * 3);
  }
  free(x), free(acc);
  return rc;
}
