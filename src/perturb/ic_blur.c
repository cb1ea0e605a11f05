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
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  rc = vfr_icf_skimage_gaussian_u8(in->data, in->stride, in->height, in->width,
                                   sigma[severity - 1], out->data, out->stride, err);
  if (rc) vfr_image_free(out);
  return rc;
}

/* ---- glass_blur ------------------------------------------------------------------- */

/* The draws of randint(-d, d) (legacy masked rejection on one 32-bit word, range 2d - 1)
 * as a queue of accepted values (0 .. 2d - 1, the offset plus d). When 2d - 1 is
 * 2^k - 1 no word is rejected and the words are the values; else words come from the
 * generator in blocks and are kept or dropped without a branch (the rejection is random,
 * so a branch would mispredict on a quarter of the words at d = 3). The queue's unread
 * values and the block's unread words at the end are never used: the generator is the
 * op's own. */
typedef struct glass_draws {
  vfr_np_rng *rng;
  uint32_t mask, range;
  uint32_t *vals; /* (cap): the accepted values not yet used, from vals[0] */
  size_t have, cap;
} glass_draws;

#define GLASS_BLOCK 512 /* generator words taken at a time when words can be rejected */

/* out[0 .. count - 1] = the values w[i] & mask that are <= range, in order; returns count.
 * out has room for n + 16 values (the vector form stores whole vectors). */
static size_t keep_accepted_scalar(const uint32_t *w, size_t n, uint32_t mask, uint32_t range,
                                   uint32_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = w[i] & mask;
    out[k] = v;
    k += v <= range;
  }
  return k;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* 16 words at a time: the accepted lanes compressed to the front of a vector, stored
 * whole, the count advanced by their number. */
__attribute__((target("avx512f"))) static size_t keep_accepted_avx512(const uint32_t *w, size_t n,
                                                                      uint32_t mask,
                                                                      uint32_t range,
                                                                      uint32_t *out) {
  const __m512i m = _mm512_set1_epi32((int)mask), top = _mm512_set1_epi32((int)range);
  size_t k = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v = _mm512_and_si512(_mm512_loadu_si512(w + i), m);
    __mmask16 keep = _mm512_cmple_epu32_mask(v, top);
    _mm512_storeu_si512(out + k, _mm512_maskz_compress_epi32(keep, v));
    k += (size_t)__builtin_popcount(keep);
  }
  return k + keep_accepted_scalar(w + i, n - i, mask, range, out + k);
}
#define GLASS_HAVE_AVX512 1
#endif

static size_t keep_accepted(const uint32_t *w, size_t n, uint32_t mask, uint32_t range,
                            uint32_t *out) {
#ifdef GLASS_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) return keep_accepted_avx512(w, n, mask, range, out);
#endif
  return keep_accepted_scalar(w, n, mask, range, out);
}

/* Makes at least `need` (<= cap - GLASS_BLOCK - 16) values available at q->vals[0..]. */
static void glass_draws_fill(glass_draws *q, size_t need) {
  if (q->mask == q->range) { /* every word accepted: the words, masked */
    vfr_np_rng_u32_fill_masked(q->rng, q->vals + q->have, need - q->have, q->mask);
    q->have = need;
    return;
  }
  uint32_t words[GLASS_BLOCK];
  while (q->have < need) {
    vfr_np_rng_u32_fill(q->rng, words, GLASS_BLOCK);
    q->have += keep_accepted(words, GLASS_BLOCK, q->mask, q->range, q->vals + q->have);
  }
}

/* Drops the first `used` values (the rest move to the front). */
static void glass_draws_take(glass_draws *q, size_t used) {
  memmove(q->vals, q->vals + used, (q->have - used) * sizeof(uint32_t));
  q->have -= used;
}

/* The original ImageNet-C loop: for each iteration, h from H-d down to d+1, w from W-d
 * down to d+1, (dx, dy) = randint(-d, d, size=2) and the NumPy statement
 * `x[h, w], x[h', w'] = x[h', w'], x[h, w]` with (h', w') = (h + dy, w + dx). Its
 * right-hand side holds views, so the statement copies pixel (h', w') onto (h, w) and
 * then writes that pixel back onto itself: the move is a copy, not a swap. The moves run
 * in that order (a pixel moved may be the source of a later move), each pixel one 32-bit
 * word of px (R, G, B and an unused byte, pack_pixels), so a move is one load and one
 * store. px is (h, w).
 * Returns VFR_OK or VFR_ENOMEM. */
static int glass_moves(uint32_t *px, int h, int w, int d, int iterations, vfr_np_rng *rng) {
  const uint32_t range = (uint32_t)(2 * d - 1);
  uint32_t mask = range;
  mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
  size_t per_row = w - 2 * d > 0 ? (size_t)(w - 2 * d) : 0; /* moves of a row */
  glass_draws q = {rng, mask, range, NULL, 0, 2 * per_row + GLASS_BLOCK + 16};
  if (!(q.vals = malloc(q.cap * sizeof(uint32_t)))) return VFR_ENOMEM;
  for (int it = 0; it < iterations; it++)
    for (int y = h - d; y > d; y--) {
      glass_draws_fill(&q, 2 * per_row);
      uint32_t *row = px + (size_t)y * w;
      const uint32_t *v = q.vals;
      for (int x = w - d; x > d; x--, v += 2) /* (dx, dy) = (v[0] - d, v[1] - d) */
        row[x] = row[x + ((ptrdiff_t)v[1] - d) * w + ((ptrdiff_t)v[0] - d)];
      glass_draws_take(&q, 2 * per_row);
    }
  free(q.vals);
  return VFR_OK;
}

/* Bytes (npx, 3) to pixel words (npx): each word a 4-byte copy of the pixel's R, G, B in
 * memory order and one unused byte (the next pixel's R, never read back as a value), from
 * pixel i0 on; b holds 3 npx + 1 bytes. */
static void pack_pixels_scalar(const uint8_t *b, size_t i0, size_t npx, uint32_t *px) {
  for (size_t i = i0; i < npx; i++) memcpy(&px[i], b + 3 * i, 4);
}

/* Pixel words (npx) back to bytes (npx, 3) from pixel i0 on, each a 4-byte store whose last
 * byte the next pixel's store overwrites; b holds 3 npx + 1 bytes. */
static void unpack_pixels_scalar(const uint32_t *px, size_t i0, size_t npx, uint8_t *b) {
  for (size_t i = i0; i < npx; i++) memcpy(b + 3 * i, &px[i], 4);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <tmmintrin.h>
/* Four pixels at a time with one byte shuffle: 12 bytes (of a 16-byte load) to four words
 * whose unused byte is 0, and back (a 16-byte store whose last 4 bytes the next store or
 * the scalar rest overwrites). */
__attribute__((target("ssse3"))) static void pack_pixels_ssse3(const uint8_t *b, size_t npx,
                                                              uint32_t *px) {
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  size_t i = 0;
  for (; i + 6 <= npx; i += 4) /* the load reads bytes 3i .. 3i + 15 <= 3 npx - 3 */
    _mm_storeu_si128((__m128i *)(px + i),
                     _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 3 * i)), spread));
  pack_pixels_scalar(b, i, npx, px);
}

__attribute__((target("ssse3"))) static void unpack_pixels_ssse3(const uint32_t *px, size_t npx,
                                                                uint8_t *b) {
  const __m128i gather = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  size_t i = 0;
  for (; i + 6 <= npx; i += 4) /* the store writes bytes 3i .. 3i + 15 <= 3 npx - 3 */
    _mm_storeu_si128((__m128i *)(b + 3 * i),
                     _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(px + i)), gather));
  unpack_pixels_scalar(px, i, npx, b);
}
#define GLASS_HAVE_SSSE3 1
#endif

static void pack_pixels(const uint8_t *b, size_t npx, uint32_t *px) {
#ifdef GLASS_HAVE_SSSE3
  if (__builtin_cpu_supports("ssse3")) {
    pack_pixels_ssse3(b, npx, px);
    return;
  }
#endif
  pack_pixels_scalar(b, 0, npx, px);
}

static void unpack_pixels(const uint32_t *px, size_t npx, uint8_t *b) {
#ifdef GLASS_HAVE_SSSE3
  if (__builtin_cpu_supports("ssse3")) {
    unpack_pixels_ssse3(px, npx, b);
    return;
  }
#endif
  unpack_pixels_scalar(px, 0, npx, b);
}

int vfr_ic_glass_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                      vfr_error *err) {
  static const double sigma[5] = {0.7, 0.9, 1, 1.1, 1.5};
  static const int delta[5] = {1, 2, 2, 3, 4}, iterations[5] = {2, 1, 3, 2, 2};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_glass_blur", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  size_t npx = (size_t)w * h, n = npx * 3;
  uint8_t *bytes = malloc(n + 1); /* + 1: pack_pixels' and unpack_pixels' 4-byte accesses */
  uint32_t *px = malloc(npx * sizeof(uint32_t));
  if (!bytes || !px) {
    free(bytes), free(px);
    return nomem(err, "ic_glass_blur");
  }
  bytes[n] = 0; /* the last pixel word's unused byte */
  /* np.uint8(gaussian(x) * 255); the blur lies in [0, 1 + a few ulp] (a normalised
   * positive kernel over [0, 1]), where the clipping store gives the same bytes */
  rc = vfr_icf_skimage_gaussian_u8(in->data, in->stride, h, w, sigma[s], bytes, (size_t)w * 3, err);
  if (!rc) {
    pack_pixels(bytes, npx, px);
    vfr_np_rng rng;
    vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
    if (glass_moves(px, h, w, delta[s], iterations[s], &rng)) rc = nomem(err, "ic_glass_blur");
  }
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    unpack_pixels(px, npx, bytes); /* then / 255. and the second blur */
    rc = vfr_icf_skimage_gaussian_u8(bytes, (size_t)w * 3, h, w, sigma[s], out->data, out->stride, err);
    if (rc) vfr_image_free(out);
  }
  free(bytes), free(px);
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
  int s = severity - 1;
  float kernel[21 * 21];
  int big = vfr_icf_disk_kernel(radius[s], alias[s], kernel);
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  rc = vfr_icf_filter2d_unit_u8(in, kernel, 2 * big + 1, out, err);
  if (rc) vfr_image_free(out);
  return rc;
}

/* ---- motion_blur ------------------------------------------------------------------ */

int vfr_ic_motion_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                       vfr_error *err) {
  static const int radius[5] = {10, 15, 15, 15, 20};
  static const double sigma[5] = {3, 5, 8, 12, 15};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_motion_blur", &done, err);
  if (rc || done) return rc;
  int s = severity - 1;
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  double angle = vfr_np_rng_uniform(&rng, -45, 45);
  rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    rc = vfr_icf_motion_blur_u8(in->data, in->stride, in->height, in->width, radius[s], sigma[s],
                                angle, out->data, out->stride, err);
    if (rc) vfr_image_free(out);
  }
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

/* acc[p] = (x[p] + acc[p]) / div for p < n, float32 IEEE divisions (the mean of the image
 * and its zooms); cloned so that the divisions run sixteen wide where AVX-512 is. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void zoom_mean(float *restrict acc, const float *restrict x, size_t n, float div) {
  for (size_t p = 0; p < n; p++) acc[p] = (x[p] + acc[p]) / div;
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
  float unit[256]; /* float32(v / 255.), looked up instead of divided */
  for (int v = 0; v < 256; v++) unit[v] = (float)((double)v / 255.0);
  for (int r = 0; r < h; r++) {
    const uint8_t *src = in->data + (size_t)r * in->stride;
    for (size_t q = 0; q < (size_t)w * 3; q++) x[(size_t)r * w * 3 + q] = unit[src[q]];
  }
  double z[32];
  int nz = zoom_factors(severity - 1, z);
  for (int i = 0; i < nz && !rc; i++) {
    rc = vfr_icf_clipped_zoom_add_f32(x, h, w, 3, z[i], acc, h, w, err);
  }
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    zoom_mean(acc, x, n, (float)(nz + 1));
    for (int r = 0; r < h; r++)
      vfr_ict_store_unit_row_f32(out->data + (size_t)r * out->stride, acc + (size_t)r * w * 3,
                                 (size_t)w * 3);
  }
  free(x), free(acc);
  return rc;
}
