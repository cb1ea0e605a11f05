/* ImageNet-C's noise corruptions (see ic_ops.h, docs/perturbations.md). With x = v/255.
 * (float64) for each channel value v, in C order (row, column, channel):
 *   gaussian_noise  clip(x + normal(0, c), 0, 1)               c = .08 .12 .18 .26 .38
 *   shot_noise      clip(poisson(x * c) / c, 0, 1)             c = 60 25 12 5 3
 *   impulse_noise   x, or 1 / 0 where a Bernoulli(c) field hits c = .03 .06 .09 .17 .27
 *                   (salt where a second Bernoulli(0.5) field hits)
 *   speckle_noise   clip(x + x * normal(0, c), 0, 1)           c = .15 .2 .35 .45 .6
 * then np.uint8(y * 255) (truncation). Each normal/poisson/uniform is the legacy NumPy
 * stream seeded by np.random.seed(S); impulse noise uses default_rng(S) instead, as
 * skimage.util.random_noise(..., seed=S) does. The draws are one serial stream, so these
 * ops run on one thread; the arithmetic is float64 in NumPy's order of operations. */
/* The per-value loops run across independent values: vectorising them (which -O2 leaves
 * to a very cheap cost model) keeps every result bit for bit, contraction being off (ISO C
 * mode), as in ic_blur.c. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <math.h>
#include <stdlib.h>

#include "perturb/ic_lut.h"
#include "perturb/ic_ops.h"
#include "perturb/ic_taps.h"
#include "perturb/np_random.h"

static const double gaussian_c[5] = {.08, .12, 0.18, 0.26, 0.38};
static const double shot_c[5] = {60, 25, 12, 5, 3};
static const double impulse_c[5] = {.03, .06, .09, 0.17, 0.27};
static const double speckle_c[5] = {.15, .2, 0.35, 0.45, 0.6};


/* g[q] = x[q] + x[q] * g[q] when multiplicative, else x[q] + g[q]: separate roundings, as
 * NumPy's two ufuncs. */
static void add_noise_row(double *restrict g, const double *restrict x, size_t n, int mult) {
  if (mult)
    for (size_t q = 0; q < n; q++) g[q] = x[q] + x[q] * g[q];
  else
    for (size_t q = 0; q < n; q++) g[q] = x[q] + g[q];
}

/* y = x + x * n when multiplicative, else x + n, n = normal(0, c). */
static int additive_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                          vfr_error *err, const char *name, const double *table, int multiplicative) {
  int done;
  int rc = vfr_ic_begin(in, severity, out, name, &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height;
  size_t row = (size_t)w * 3;
  double *g = malloc(sizeof(double) * 2 * row), *x = g + row; /* noise (row), x (row) */
  if (!g) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", name);
  if ((rc = perturb_alloc_like(in, out, err))) {
    free(g);
    return rc;
  }
  double unit[256];
  vfr_ic_unit_table(unit);
  double c = table[severity - 1];
  vfr_np_rng r;
  vfr_np_rng_seed(&r, vfr_np_seed32(seed));
  for (int y = 0; y < h; y++) {
    vfr_np_rng_normal_fill(&r, 0.0, c, (int64_t)row, g); /* normal(scale=c): 0 + c*gauss */
    vfr_ict_unit_row(x, in->data + (size_t)y * in->stride, row, unit);
    add_noise_row(g, x, row, multiplicative);
    vfr_ict_store_unit_row(out->data + (size_t)y * out->stride, g, row);
  }
  free(g);
  return VFR_OK;
}

int vfr_ic_gaussian_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  return additive_noise(in, severity, seed, out, err, "ic_gaussian_noise", gaussian_c, 0);
}

int vfr_ic_speckle_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  return additive_noise(in, severity, seed, out, err, "ic_speckle_noise", speckle_c, 1);
}

int vfr_ic_shot_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_shot_noise", &done, err);
  if (rc || done) return rc;
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  double unit[256];
  vfr_np_poisson_lam lam[256]; /* the rate of each value, x * c, prepared once */
  vfr_ic_unit_table(unit);
  double c = shot_c[severity - 1];
  for (int v = 0; v < 256; v++) vfr_np_poisson_prepare(&lam[v], unit[v] * c);
  uint8_t of_count[256]; /* clip(k / c) * 255 truncated, for the counts k < 256 */
  for (int k = 0; k < 256; k++) of_count[k] = vfr_ic_to_u8((double)k / c);
  vfr_np_rng r;
  vfr_np_rng_seed(&r, vfr_np_seed32(seed));
  int w = in->width, h = in->height;
  size_t row = (size_t)w * 3;
  int64_t *counts = malloc(sizeof(int64_t) * row);
  if (!counts) {
    vfr_image_free(out);
    return vfr_fail(err, VFR_ENOMEM, "ic_shot_noise: out of memory");
  }
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    vfr_np_rng_poisson_index_fill(&r, lam, src, (int64_t)row, counts);
    for (size_t i = 0; i < row; i++) {
      int64_t k = counts[i];
      dst[i] = k >= 0 && k < 256 ? of_count[k] : vfr_ic_to_u8((double)k / c);
    }
  }
  free(counts);
  return VFR_OK;
}

/* d[q] = flipped[q] ? (salted[q] ? 255 : 0) : d[q] (the fields are 0 or 1: masks instead of
 * branches). */
static void impulse_row(uint8_t *restrict d, const uint8_t *restrict flipped,
                        const uint8_t *restrict salted, size_t n) {
  for (size_t q = 0; q < n; q++) {
    uint8_t hit = (uint8_t)-flipped[q], salt = (uint8_t)-salted[q];
    d[q] = (uint8_t)((d[q] & ~hit) | (salt & hit));
  }
}

int vfr_ic_impulse_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_impulse_noise", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height;
  size_t row = (size_t)w * 3, n = row * (size_t)h;
  uint8_t *fields = malloc(2 * n); /* flipped (n), then salted (n) */
  if (!fields) return vfr_fail(err, VFR_ENOMEM, "ic_impulse_noise: out of memory");
  if ((rc = perturb_alloc_like(in, out, err))) {
    free(fields);
    return rc;
  }
  double amount = impulse_c[severity - 1];
  vfr_np_pcg64 g;
  vfr_np_pcg64_seed(&g, vfr_np_seed32(seed));
  /* the whole `flipped` field is drawn before the whole `salted` field */
  vfr_np_pcg64_below_fill(&g, amount, (int64_t)n, fields);
  vfr_np_pcg64_below_fill(&g, 0.5, (int64_t)n, fields + n);
  uint8_t keep[3][256]; /* np.uint8(x * 255) of an untouched value, per channel alike */
  for (int v = 0; v < 256; v++) keep[0][v] = keep[1][v] = keep[2][v] = vfr_ic_to_u8((double)v / 255.0);
  for (int y = 0; y < h; y++) {
    uint8_t *dst = out->data + (size_t)y * out->stride;
    const uint8_t *fl = fields + (size_t)y * row;
    vfr_icl_rgb_lookup(dst, in->data + (size_t)y * in->stride, (size_t)w, keep);
    impulse_row(dst, fl, fl + n, row);
  }
  free(fields);
  return VFR_OK;
}
