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
 *   spatter liquid = gaussian(N(c0, c1) on (H, W), c2), zeroed below c3; severities 1..3
 *          ("water"): a mask from Canny -> distance -> blur -> equalizeHist -> emboss ->
 *          blur of the liquid, times c4, tints x pale turquoise; 4..5 ("mud"): gaussian
 *          (c4) of liquid > c3, zeroed below 0.8, mixes x with mud brown
 *          (c0..c5) = (.65, .3, 4, .69, .6, 0) (.65, .3, 3, .68, .6, 0) (.65, .3, 2, .68, .5, 0)
 *          (.65, .3, 1, .65, 1.5, 1) (.67, .4, 1, .65, 1.5, 1)
 * then np.uint8(clip(y, 0, 1) * 255) unless said otherwise. */
/* Separate roundings, as NumPy's ufuncs compute: no contraction to fused multiply-adds
 * (GCC's default in ISO C mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_frost_data.h"
#include "perturb/ic_lut.h"
#include "perturb/ic_ops.h"
#include "perturb/ic_taps.h"
#include "perturb/np_random.h"

/* WEATHER_VEC marks the loops that run across independent values only: -O3's vectorising
 * (cloned for AVX-512 and AVX2) keeps every result bit for bit, contraction being off. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define WEATHER_VEC __attribute__((optimize("O3"), target_clones("avx512f", "avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__)
#define WEATHER_VEC __attribute__((optimize("O3")))
#else
#define WEATHER_VEC
#endif

/* ---- fog -------------------------------------------------------------------------- */

/* One row of (x + fog) * max / (max + c0) before the uint8 store, from row = x (the row's
 * v / 255., 3w values): row[3j + c] = (row[3j + c] + (double)(c0 * m[j])) * max / denom. */
static void fog_row_scalar(double *row, const float *m, int x0, int w, float c0, double maxv,
                           double denom) {
  for (int x = x0; x < w; x++) {
    double f = (double)(c0 * m[x]);
    for (int c = 0; c < 3; c++) row[3 * x + c] = (row[3 * x + c] + f) * maxv / denom;
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define FOG_HAVE_AVX512 1
/* Eight pixels (24 values) at a time: each pixel's fog spread over its three values by a
 * permutation, the sum, product and IEEE division eight wide in the scalar order. Returns
 * the pixels done. */
__attribute__((target("avx512f"))) static int fog_row_avx512(double *row, const float *m, int w,
                                                            float c0, double maxv, double denom) {
  const __m512d mx = _mm512_set1_pd(maxv), dn = _mm512_set1_pd(denom);
  const __m256 c = _mm256_set1_ps(c0);
  const __m512i spread0 = _mm512_set_epi64(2, 2, 1, 1, 1, 0, 0, 0);
  const __m512i spread1 = _mm512_set_epi64(5, 4, 4, 4, 3, 3, 3, 2);
  const __m512i spread2 = _mm512_set_epi64(7, 7, 7, 6, 6, 6, 5, 5);
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    __m512d f = _mm512_cvtps_pd(_mm256_mul_ps(c, _mm256_loadu_ps(m + x)));
    double *r = row + 3 * (size_t)x;
    _mm512_storeu_pd(r, _mm512_div_pd(_mm512_mul_pd(_mm512_add_pd(_mm512_loadu_pd(r), _mm512_permutexvar_pd(spread0, f)), mx), dn));
    _mm512_storeu_pd(r + 8, _mm512_div_pd(_mm512_mul_pd(_mm512_add_pd(_mm512_loadu_pd(r + 8), _mm512_permutexvar_pd(spread1, f)), mx), dn));
    _mm512_storeu_pd(r + 16, _mm512_div_pd(_mm512_mul_pd(_mm512_add_pd(_mm512_loadu_pd(r + 16), _mm512_permutexvar_pd(spread2, f)), mx), dn));
  }
  _mm256_zeroupper();
  return x;
}
#endif

static void fog_row(double *row, const float *m, int w, float c0, double maxv, double denom) {
  int x = 0;
#ifdef FOG_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) x = fog_row_avx512(row, m, w, c0, maxv, denom);
#endif
  fog_row_scalar(row, m, x, w, c0, maxv, denom);
}

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
  double *row = rc ? NULL : malloc((size_t)w * 3 * sizeof(double));
  if (!rc && !row) rc = vfr_fail(err, VFR_ENOMEM, "ic_fog: out of memory");
  if (!rc) {
    double unit[256]; /* v / 255. */
    vfr_ic_unit_table(unit);
    int top = 0; /* x.max(): the largest byte's v / 255. */
    for (int y = 0; y < h && top < 255; y++)
      top = vfr_icl_max_u8(in->data + (size_t)y * in->stride, (size_t)w * 3, top);
    const double maxv = unit[top];
    const float c0 = (float)strength[s];
    const double denom = maxv + strength[s];
    for (int y = 0; y < h; y++) {
      vfr_ict_unit_row(row, in->data + (size_t)y * in->stride, (size_t)w * 3, unit);
      fog_row(row, map + (size_t)y * n, w, c0, maxv, denom);
      vfr_ict_store_unit_row(out->data + (size_t)y * out->stride, row, (size_t)w * 3);
    }
  }
  free(map), free(row);
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
  int fw = 0, fh = 0;
  const uint8_t *src = vfr_ic_frost_pixels(idx, &fw, &fh, NULL);
  if (!src) return vfr_fail(err, VFR_EINTERNAL, "ic_frost: frost image %d is missing", idx + 1);
  double sc = frost_scale(fh, fw, h, w);
  int rw = (int)ceil(fw * sc), rh = (int)ceil(fh * sc);
  uint8_t *big = malloc((size_t)w * h * 3); /* the crop of the resized overlay */
  if (!big) return vfr_fail(err, VFR_ENOMEM, "ic_frost: out of memory for a %dx%d overlay", w, h);
  /* the offsets depend on the resized size only: draw them, then resize just the crop */
  int y0 = (int)vfr_np_rng_randint(&rng, 0, rh - h);
  int x0 = (int)vfr_np_rng_randint(&rng, 0, rw - w);
  if ((rc = vfr_icf_cv_resize_cubic_u8(src, fw, fh, 3, rw, rh, x0, y0, w, h, big, err)))
    goto done;
  if ((rc = perturb_alloc_like(in, out, err))) goto done;
  for (int y = 0; y < h; y++) /* np.clip(c0 * x + c1 * frost, 0, 255), to uint8 */
    vfr_ict_blend_255_row(out->data + (size_t)y * out->stride, in->data + (size_t)y * in->stride,
                          big + (size_t)y * w * 3, (size_t)w * 3, image_w[s], frost_w[s]);
done:
  free(big);
  return rc;
}

/* ---- snow ------------------------------------------------------------------------- */

/* One row of the snow blend before the uint8 store: per channel value v (float32),
 * a*v + b*max(v, 1.5 gray + 0.5) in float, then + snow + the flipped snow in double. s0 is
 * the snow row, s1 the row that flips onto it (read right to left). Pixels x0..w-1. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void snow_row_from(double *restrict mix, const float *restrict xr,
                          const float *restrict gray, const double *restrict s0,
                          const double *restrict s1, int x0, int w, float a, float b) {
  for (int xx = x0; xx < w; xx++) {
    float lit = gray[xx] * 1.5f + 0.5f;
    double snow = s0[xx], flipped = s1[w - 1 - xx];
    for (int ch = 0; ch < 3; ch++) {
      float v = xr[3 * xx + ch];
      float m = v > lit ? v : lit;
      float mixed = a * v + b * m;
      mix[3 * xx + ch] = (double)mixed + snow + flipped;
    }
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* snow_row_from's arithmetic sixteen pixels (48 values) at a time: the per-pixel terms
 * spread to their three channels by permutations (lane q of the block takes pixel q / 3;
 * the flipped row, loaded forwards, pixel 15 - q / 3), max(v, lit) as vmaxps (v > lit ? v
 * : lit). Returns the pixels done, a multiple of 16. */
__attribute__((target("avx512f"))) static int snow_row_avx512(double *mix, const float *xr,
                                                               const float *gray,
                                                               const double *s0,
                                                               const double *s1, int w,
                                                               float a, float b) {
  int32_t pf[48];
  int64_t pd[48], pr[48];
  for (int q = 0; q < 48; q++) pf[q] = q / 3, pd[q] = q / 3, pr[q] = 15 - q / 3;
  const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  const __m512 c15 = _mm512_set1_ps(1.5f), c05 = _mm512_set1_ps(0.5f);
  int xx = 0;
  for (; xx + 16 <= w; xx += 16) {
    __m512 lit = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(gray + xx), c15), c05);
    __m512d sl = _mm512_loadu_pd(s0 + xx), sh = _mm512_loadu_pd(s0 + xx + 8);
    const double *f = s1 + (w - 16 - xx); /* f[15 - p] = s1[w - 1 - (xx + p)] */
    __m512d fl = _mm512_loadu_pd(f), fh = _mm512_loadu_pd(f + 8);
    for (int j = 0; j < 3; j++) {
      __m512 v = _mm512_loadu_ps(xr + 3 * (size_t)xx + 16 * j);
      __m512 l = _mm512_permutexvar_ps(_mm512_loadu_si512(pf + 16 * j), lit);
      __m512 mixed = _mm512_add_ps(_mm512_mul_ps(va, v), _mm512_mul_ps(vb, _mm512_max_ps(v, l)));
      __m256 half[2] = {_mm512_castps512_ps256(mixed),
                        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(mixed), 1))};
      for (int e = 0; e < 2; e++) {
        int k = 2 * j + e; /* values 8k..8k+7 of the block */
        __m512d sn = _mm512_permutex2var_pd(sl, _mm512_loadu_si512(pd + 8 * k), sh);
        __m512d fp = _mm512_permutex2var_pd(fl, _mm512_loadu_si512(pr + 8 * k), fh);
        __m512d sum = _mm512_add_pd(_mm512_add_pd(_mm512_cvtps_pd(half[e]), sn), fp);
        _mm512_storeu_pd(mix + 3 * (size_t)xx + 8 * k, sum);
      }
    }
  }
  _mm256_zeroupper();
  return xx;
}
#endif

static void snow_row(double *mix, const float *xr, const float *gray, const double *s0,
                     const double *s1, int w, float a, float b) {
  int x0 = 0;
#if defined(__GNUC__) && defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) x0 = snow_row_avx512(mix, xr, gray, s0, s1, w, a, b);
#endif
  snow_row_from(mix, xr, gray, s0, s1, x0, w, a, b);
}

/* z[q] = clip(z[q] < t ? 0 : z[q], 0, 1): the layer zeroed below the threshold. */
WEATHER_VEC static void snow_threshold(double *z, size_t n, double t) {
  for (size_t q = 0; q < n; q++) {
    double v = z[q] < t ? 0.0 : z[q];
    v = v < 0.0 ? 0.0 : v;
    z[q] = v > 1.0 ? 1.0 : v;
  }
}

/* d[q] = np.round(s[q] * 255).astype(np.uint8) / 255. for s[q] in [0, 1] (a positive
 * kernel over [0, 1] values): t = s * 255 in [0, 255], (t + 2^52) - 2^52 rounds it half to
 * even as np.round (rint) does in the default rounding mode, and that whole number r has
 * r / 255. = uint8(r) / 255. */
WEATHER_VEC static void snow_quantize(double *restrict d, const double *restrict s, size_t n) {
  for (size_t q = 0; q < n; q++) d[q] = ((s[q] * 255 + 0x1p52) - 0x1p52) / 255.;
}

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
  double *mix = malloc(row * sizeof(double));
  if (!layer || !x || !gray || !mix) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_snow: out of memory");
    goto done;
  }
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  vfr_np_rng_normal_fill(&rng, k[0], k[1], (int64_t)np, layer);
  if ((rc = vfr_icf_clipped_zoom_f64(layer, h, w, k[2], &zoomed, &zh, &zw, err))) goto done;
  size_t nz = (size_t)zh * zw;
  snow_threshold(zoomed, nz, k[3]);
  blurred = malloc(nz * sizeof(double));
  if (!blurred) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_snow: out of memory");
    goto done;
  }
  double angle = vfr_np_rng_uniform(&rng, -135, -45);
  if ((rc = vfr_icf_motion_blur_plane(zoomed, zh, zw, 1, (int)k[4], k[5], angle, blurred, err)))
    goto done;
  /* np.round(layer * 255).astype(np.uint8) / 255., cropped to (h, w) */
  for (int y = 0; y < h; y++) snow_quantize(layer + (size_t)y * w, blurred + (size_t)y * zw, (size_t)w);
  for (int y = 0; y < h; y++)
    vfr_ict_unit_row_f32(x + (size_t)y * row, in->data + (size_t)y * in->stride, row);
  if ((rc = perturb_alloc_like(in, out, err))) goto done;
  const float a = (float)k[6], b = (float)(1 - k[6]);
  for (int y = 0; y < h; y++) {
    float *xr = x + (size_t)y * row;
    vfr_icf_cv_gray_row_f32(xr, w, gray);
    snow_row(mix, xr, gray, layer + (size_t)y * w, layer + (size_t)(h - 1 - y) * w, w, a, b);
    vfr_ict_store_unit_row(out->data + (size_t)y * out->stride, mix, row);
  }
done:
  free(layer), free(zoomed), free(blurred), free(x), free(gray), free(mix);
  return rc;
}

/* ---- spatter ---------------------------------------------------------------------- */

/* The elementwise steps of spatter, each NumPy's or OpenCV's own (see water_mask and
 * vfr_ic_spatter for which is which). */
WEATHER_VEC static void zero_below(double *v, size_t n, double t) { /* v[v < t] = 0 */
  for (size_t q = 0; q < n; q++) v[q] = v[q] < t ? 0.0 : v[q];
}
WEATHER_VEC static void above_f64(double *restrict d, const double *restrict s, size_t n, double t) {
  for (size_t q = 0; q < n; q++) d[q] = s[q] > t ? 1.0 : 0.0; /* (s > t).astype(float64) */
}
WEATHER_VEC static void liquid_u8(uint8_t *restrict d, const double *restrict s, size_t n) {
  for (size_t q = 0; q < n; q++) d[q] = (uint8_t)(int)(s[q] * 255); /* (s * 255).astype(uint8) */
}
WEATHER_VEC static void invert_u8(uint8_t *a, size_t n) { /* 255 - a */
  for (size_t q = 0; q < n; q++) a[q] = (uint8_t)(255 - a[q]);
}
WEATHER_VEC static void trunc_f32(float *f, size_t n, float t) { /* THRESH_TRUNC */
  for (size_t q = 0; q < n; q++) f[q] = f[q] > t ? t : f[q];
}
WEATHER_VEC static void f32_to_u8_cast(uint8_t *restrict d, const float *restrict s, size_t n) {
  for (size_t q = 0; q < n; q++) d[q] = (uint8_t)s[q]; /* astype(uint8) of values in [0, 20] */
}
/* m[q] = float32(a[q]) * float32(b[q]) (exact: below 2^16); returns the largest. */
WEATHER_VEC static int products_u8(float *restrict m, const uint8_t *restrict a,
                                   const uint8_t *restrict b, size_t n) {
  int mx = 0;
  for (size_t q = 0; q < n; q++) {
    int p = a[q] * b[q];
    m[q] = (float)p;
    mx = p > mx ? p : mx;
  }
  return mx;
}
WEATHER_VEC static void scale_mask(float *m, size_t n, float mx, float c) {
  for (size_t q = 0; q < n; q++) m[q] = (m[q] / mx) * c; /* 0/0 gives NaN, as in NumPy */
}
WEATHER_VEC static void mud_mask(float *restrict m, const double *restrict mud, size_t n) {
  for (size_t q = 0; q < n; q++) m[q] = mud[q] < 0.8 ? 0.0f : (float)mud[q];
}

/* np.uint8 of a float32 value clipped to [0, 1] times 255; NaN (a mask without any liquid)
 * converts as x86 does, to 0. */
static inline uint8_t f32_to_u8(float v) {
  v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  return v != v ? 0 : (uint8_t)(int)(v * 255.0f);
}

/* A row of water: x + m * tint per channel in float32, x = v / 255.0f. */
WEATHER_VEC static void water_row(uint8_t *restrict d, const uint8_t *restrict p,
                                  const float *restrict m, int w, const float *restrict tint) {
  const float t0 = tint[0], t1 = tint[1], t2 = tint[2];
  for (int x = 0; x < w; x++) {
    float mv = m[x];
    d[3 * x] = f32_to_u8((float)p[3 * x] / 255.0f + mv * t0);
    d[3 * x + 1] = f32_to_u8((float)p[3 * x + 1] / 255.0f + mv * t1);
    d[3 * x + 2] = f32_to_u8((float)p[3 * x + 2] / 255.0f + mv * t2);
  }
}

/* A row of mud: float32(x * (1 - m)) + brown * m in double, x = v / 255.0f. */
WEATHER_VEC static void mud_row(uint8_t *restrict d, const uint8_t *restrict p,
                                const float *restrict m, int w, const double *restrict brown) {
  const double b0 = brown[0], b1 = brown[1], b2 = brown[2];
  for (int x = 0; x < w; x++) {
    float mv = m[x], keep = 1.0f - mv;
    double md = (double)mv;
    d[3 * x] = vfr_ic_to_u8((double)((float)p[3 * x] / 255.0f * keep) + b0 * md);
    d[3 * x + 1] = vfr_ic_to_u8((double)((float)p[3 * x + 1] / 255.0f * keep) + b1 * md);
    d[3 * x + 2] = vfr_ic_to_u8((double)((float)p[3 * x + 2] / 255.0f * keep) + b2 * md);
  }
}

/* The water mask: m = liquid_u8 * emboss(...) / its maximum * c4 (float32, (h, w)). */
static int water_mask(const double *liquid, int w, int h, double c4, float *m, vfr_error *err) {
  static const int emboss[9] = {-2, -1, 0, -1, 1, 1, 0, 1, 2};
  size_t n = (size_t)w * h;
  uint8_t *lu = malloc(n), *a = malloc(n), *b = malloc(n);
  float *f = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
  int rc = VFR_OK;
  if (!lu || !a || !b || !f || !g) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_spatter: out of memory");
    goto done;
  }
  liquid_u8(lu, liquid, n);
  if ((rc = vfr_icf_cv_canny_u8(lu, w, h, 50, 150, a, err))) goto done;
  invert_u8(a, n);
  if ((rc = vfr_icf_cv_distance_l2_5(a, w, h, f, err))) goto done;
  trunc_f32(f, n, 20.0f); /* THRESH_TRUNC 20 */
  vfr_icf_cv_blur3_f32(f, w, h, g);
  f32_to_u8_cast(a, g, n);
  vfr_icf_cv_equalize_hist(a, n, b);
  vfr_icf_cv_filter3_u8(b, w, h, emboss, a);
  vfr_icf_cv_blur3_u8(a, w, h, b);
  scale_mask(m, n, (float)products_u8(m, lu, b, n), (float)c4);
done:
  free(lu), free(a), free(b), free(f), free(g);
  return rc;
}

int vfr_ic_spatter(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                   vfr_error *err) {
  static const double c[5][6] = {{0.65, 0.3, 4, 0.69, 0.6, 0},
                                 {0.65, 0.3, 3, 0.68, 0.6, 0},
                                 {0.65, 0.3, 2, 0.68, 0.5, 0},
                                 {0.65, 0.3, 1, 0.65, 1.5, 1},
                                 {0.67, 0.4, 1, 0.65, 1.5, 1}};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_spatter", &done, err);
  if (rc || done) return rc;
  const double *k = c[severity - 1];
  int w = in->width, h = in->height;
  size_t n = (size_t)w * h;
  double *liquid = malloc(n * sizeof(double)), *mud = NULL;
  float *m = malloc(n * sizeof(float));
  if (!liquid || !m) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_spatter: out of memory");
    goto done;
  }
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  vfr_np_rng_normal_fill(&rng, k[0], k[1], (int64_t)n, liquid);
  if ((rc = vfr_icf_gaussian_filter(liquid, h, w, 1, k[2], k[2], 4.0, IC_MODE_NEAREST, 0, err)))
    goto done;
  zero_below(liquid, n, k[3]);
  if (k[5] == 0) {
    if ((rc = water_mask(liquid, w, h, k[4], m, err))) goto done;
    if ((rc = perturb_alloc_like(in, out, err))) goto done;
    const float tint[3] = {(float)(175 / 255.), (float)(238 / 255.), (float)(238 / 255.)};
    for (int y = 0; y < h; y++)
      water_row(out->data + (size_t)y * out->stride, in->data + (size_t)y * in->stride,
                m + (size_t)y * w, w, tint);
  } else {
    mud = malloc(n * sizeof(double));
    if (!mud) {
      rc = vfr_fail(err, VFR_ENOMEM, "ic_spatter: out of memory");
      goto done;
    }
    above_f64(mud, liquid, n, k[3]);
    if ((rc = vfr_icf_gaussian_filter(mud, h, w, 1, k[4], k[4], 4.0, IC_MODE_NEAREST, 1, err)))
      goto done;
    mud_mask(m, mud, n);
    if ((rc = perturb_alloc_like(in, out, err))) goto done;
    const double brown[3] = {63 / 255., 42 / 255., 20 / 255.};
    for (int y = 0; y < h; y++)
      mud_row(out->data + (size_t)y * out->stride, in->data + (size_t)y * in->stride,
              m + (size_t)y * w, w, brown);
  }
done:
  free(liquid), free(mud), free(m);
  return rc;
}
