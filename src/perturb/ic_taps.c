/* Row kernels of the ImageNet-C filters (see ic_taps.h): blocks of 64 outputs in eight
 * 8-double vectors (GCC/clang vector extensions), enough independent add chains to hide
 * the adder's latency; the taps of each output are added in the scalar loop's order. */
/* Separate roundings: no contraction to fused multiply-adds (GCC's default in ISO C
 * mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "perturb/ic_taps.h"
#include "perturb/ic_unit8.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* The 64-byte vectors pass by value only between inlined helpers (no ABI crosses them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* Built for AVX-512 and AVX2 too (chosen at load time); no FMA either way. The cloned
 * bodies are static: GCC exports a non-static target_clones function's dispatcher whatever
 * -fvisibility says, so the vfr_ict_ entry points below are plain wrappers
 * (tests/ref_exports.py). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VFR_ICT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VFR_ICT_CLONES
#endif

typedef double vd8 __attribute__((vector_size(64)));

/* Always inlined, also without optimisation: a vector passed by value between a clone and
 * a helper compiled for another target would cross an ABI that differs between them. */
#if defined(__GNUC__)
#define ICT_INLINE static inline __attribute__((always_inline))
#else
#define ICT_INLINE static inline
#endif

ICT_INLINE vd8 ld8(const double *p) {
  vd8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

ICT_INLINE void st8(double *p, vd8 v) { memcpy(p, &v, sizeof v); }

ICT_INLINE vd8 splat8(double x) { return (vd8){0, 0, 0, 0, 0, 0, 0, 0} + x; }

/* The eight accumulators of a block are named variables (an array would be kept in
 * memory across the taps). */
#define ICT_BLOCK 64
#define ICT_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

VFR_ICT_CLONES static void sum_row(double *o, size_t n, int nt, const double *const *src,
                                    size_t off, const double *kv) {
  size_t q = 0;
  for (; q + ICT_BLOCK <= n; q += ICT_BLOCK) {
#define ICT_ZERO(j) vd8 a##j = splat8(0.0);
    ICT_EACH(ICT_ZERO)
    for (int t = 0; t < nt; t++) {
      const double *s = src[t] + off + q;
      const vd8 k = splat8(kv[t]);
#define ICT_MAC(j) a##j += k * ld8(s + 8 * j);
      ICT_EACH(ICT_MAC)
    }
#define ICT_STORE(j) st8(o + q + 8 * j, a##j);
    ICT_EACH(ICT_STORE)
  }
  for (; q + 8 <= n; q += 8) {
    vd8 a = splat8(0.0);
    for (int t = 0; t < nt; t++) a += splat8(kv[t]) * ld8(src[t] + off + q);
    st8(o + q, a);
  }
  for (; q < n; q++) {
    double a = 0.0;
    for (int t = 0; t < nt; t++) a += kv[t] * src[t][off + q];
    o[q] = a;
  }
}

static inline double round_f32(double v) { return (double)(float)v; }

VFR_ICT_CLONES static void symm_row(double *o, size_t n, const double *c, int r,
                                     const double *const *lo, const double *const *hi,
                                     const double *k, int f32) {
  size_t q = 0;
  const vd8 k0 = splat8(k[0]);
  for (; q + ICT_BLOCK <= n; q += ICT_BLOCK) {
#define ICT_CENTRE(j) vd8 a##j = ld8(c + q + 8 * j) * k0;
    ICT_EACH(ICT_CENTRE)
    for (int d = r; d >= 1; d--) {
      const double *x = lo[d] + q, *y = hi[d] + q;
      const vd8 kd = splat8(k[d]);
#define ICT_PAIR(j) a##j += (ld8(x + 8 * j) + ld8(y + 8 * j)) * kd;
      ICT_EACH(ICT_PAIR)
    }
    ICT_EACH(ICT_STORE)
  }
  if (q + 32 <= n) { /* four vectors together: four add chains instead of one */
#define ICT_EACH4(X) X(0) X(1) X(2) X(3)
    ICT_EACH4(ICT_CENTRE)
    for (int d = r; d >= 1; d--) {
      const double *x = lo[d] + q, *y = hi[d] + q;
      const vd8 kd = splat8(k[d]);
      ICT_EACH4(ICT_PAIR)
    }
    ICT_EACH4(ICT_STORE)
#undef ICT_EACH4
    q += 32;
  }
  for (; q + 8 <= n; q += 8) {
    vd8 a = ld8(c + q) * k0;
    for (int d = r; d >= 1; d--) a += (ld8(lo[d] + q) + ld8(hi[d] + q)) * splat8(k[d]);
    st8(o + q, a);
  }
  for (; q < n; q++) {
    double a = c[q] * k[0];
    for (int d = r; d >= 1; d--) a += (lo[d][q] + hi[d][q]) * k[d];
    o[q] = a;
  }
  if (f32)
    for (q = 0; q < n; q++) o[q] = round_f32(o[q]);
}

/* d[q] = uint8(min(max(s[q], 0), hi) * scale) with NaN -> 0, as the scalar ternaries. */
static inline void clip_store_tail(uint8_t *d, const double *s, size_t q, size_t n, double hi,
                                   double scale) {
  for (; q < n; q++) {
    double t = s[q] > 0.0 ? s[q] : 0.0;
    t = t < hi ? t : hi;
    d[q] = (uint8_t)(int)(t * scale);
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* 16 values at a time: vmaxpd(v, 0) is v > 0 ? v : 0 and vminpd(t, hi) is t < hi ? t : hi
 * exactly (each returns its second operand unless the ordered compare holds, so a NaN or
 * a -0 gives +0), then the truncating conversion and one narrowing to bytes. */
__attribute__((target("avx512f"))) static void clip_store_avx512(uint8_t *d, const double *s,
                                                                 size_t n, double hi,
                                                                 double scale) {
  const __m512d top = _mm512_set1_pd(hi), k = _mm512_set1_pd(scale), zero = _mm512_setzero_pd();
  size_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512d a = _mm512_loadu_pd(s + q), b = _mm512_loadu_pd(s + q + 8);
    a = _mm512_min_pd(_mm512_max_pd(a, zero), top);
    b = _mm512_min_pd(_mm512_max_pd(b, zero), top);
    __m256i ia = _mm512_cvttpd_epi32(_mm512_mul_pd(a, k)), ib = _mm512_cvttpd_epi32(_mm512_mul_pd(b, k));
    __m512i i16 = _mm512_inserti64x4(_mm512_castsi256_si512(ia), ib, 1);
    _mm_storeu_si128((__m128i *)(d + q), _mm512_cvtepi32_epi8(i16));
  }
  clip_store_tail(d, s, q, n, hi, scale);
}
#define ICT_HAVE_AVX512_STORE 1
#endif

static void unit_row_scalar(double *d, const uint8_t *s, size_t q, size_t n, const double *unit) {
  for (; q < n; q++) d[q] = unit[s[q]];
}

#ifdef ICT_HAVE_AVX512_STORE
/* 16 values at a time: the bytes widened to 32 bits, two blocks of vfr_ic_unit8_avx512. */
__attribute__((target("avx512f"))) static void unit_row_avx512(double *d, const uint8_t *s, size_t n,
                                                               const double *unit) {
  size_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s + q)));
    _mm512_storeu_pd(d + q, vfr_ic_unit8_avx512(_mm512_castsi512_si256(v)));
    _mm512_storeu_pd(d + q + 8, vfr_ic_unit8_avx512(_mm512_extracti64x4_epi64(v, 1)));
  }
  unit_row_scalar(d, s, q, n, unit);
}
#endif

void vfr_ict_unit_row(double *d, const uint8_t *s, size_t n, const double *unit) {
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) {
    unit_row_avx512(d, s, n, unit);
    return;
  }
#endif
  unit_row_scalar(d, s, 0, n, unit);
}

/* d[q] = uint8(clip(s[q], 0, 1) * 255) in float, clipped as v < 0 ? 0 : (v > 1 ? 1 : v)
 * (a NaN passes through to the conversion, whose low byte is 0, both ways). */
static inline void clip_store_f32_tail(uint8_t *d, const float *s, size_t q, size_t n) {
  for (; q < n; q++) {
    float v = s[q] < 0.0f ? 0.0f : (s[q] > 1.0f ? 1.0f : s[q]);
    d[q] = (uint8_t)(int)(v * 255.0f);
  }
}

#ifdef ICT_HAVE_AVX512_STORE
__attribute__((target("avx512f"))) static void clip_store_f32_avx512(uint8_t *d, const float *s,
                                                                     size_t n) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), k = _mm512_set1_ps(255.0f);
  size_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512 v = _mm512_loadu_ps(s + q);
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, zero);
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, one, _CMP_GT_OQ), v, one);
    _mm_storeu_si128((__m128i *)(d + q), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(_mm512_mul_ps(v, k))));
  }
  clip_store_f32_tail(d, s, q, n);
}
#endif

/* One output of vfr_ict_sum_255_row exactly: the double sum in vfr_ict_sum_row's order,
 * stored by clip_store_tail as vfr_ict_store_255_row stores it; with unit (the table of
 * v / 255.), the sum of the values unit[v] (the float holds the integer v) stored as
 * vfr_ict_store_unit_row stores it (vfr_ict_sum_unit_row). */
static inline void sum_255_exact(uint8_t *d, int nt, const float *const *src, size_t i,
                                 const double *kv, const double *unit) {
  double a = 0.0;
  if (unit) {
    for (int t = 0; t < nt; t++) a += kv[t] * unit[(int)src[t][i]];
    clip_store_tail(d, &a, 0, 1, 1.0, 255.0);
  } else {
    for (int t = 0; t < nt; t++) a += kv[t] * (double)src[t][i];
    clip_store_tail(d, &a, 0, 1, 255.0, 1.0);
  }
}

#ifdef ICT_HAVE_AVX512_STORE
/* 16 float sums f at d: clipped and truncated; the lanes within m of an integer, where the
 * truncation of the exact sum could differ, recomputed exactly (round to nearest by the
 * 1.5 * 2^23 trick, exact for |f| < 2^22). */
__attribute__((target("avx512f"), always_inline)) static inline void sum_255_finish(
    uint8_t *d, __m512 f, __mmask16 live, __m512 m, int nt, const float *const *src, size_t i,
    const double *kv, const double *unit) {
  const __m512 magic = _mm512_set1_ps(12582912.0f), top = _mm512_set1_ps(255.0f);
  __m512 r = _mm512_sub_ps(_mm512_add_ps(f, magic), magic);
  __mmask16 near = _mm512_mask_cmp_ps_mask(live, _mm512_abs_ps(_mm512_sub_ps(f, r)), m, _CMP_LE_OQ);
  __m512 c = _mm512_min_ps(_mm512_max_ps(f, _mm512_setzero_ps()), top);
  if (live == 0xffff)
    _mm_storeu_si128((__m128i *)d, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(c)));
  else
    _mm512_mask_cvtepi32_storeu_epi8(d, live, _mm512_cvttps_epi32(c));
  for (unsigned bits = near; bits; bits &= bits - 1) {
    int j = __builtin_ctz(bits);
    sum_255_exact(d + j, nt, src, i + (size_t)j, kv, unit);
  }
}

/* The float sums of vfr_ict_sum_255_row / vfr_ict_sum_unit_row: per output
 * sum_r p_r, the rows' sums added in order, each row's p_r = its taps' fused multiply-adds
 * from 0 (with row_end NULL every tap is its own row: p = k v rounded once, the product);
 * blocks of 128 outputs in eight vectors. */
#define S255_ROWS(BODY_ZERO, BODY_TAP, BODY_ADD)                                        \
  for (int r_ = 0, t_ = 0; r_ < nr; r_++) {                                             \
    int te_ = row_end ? row_end[r_] : r_ + 1;                                           \
    BODY_ZERO                                                                           \
    for (; t_ < te_; t_++) {                                                            \
      const float *s = src[t_] + off;                                                   \
      const __m512 k = _mm512_set1_ps(kf[t_]);                                          \
      BODY_TAP                                                                          \
    }                                                                                   \
    BODY_ADD                                                                            \
  }
__attribute__((target("avx512f"))) static void sum_255_avx512(uint8_t *d, size_t n, int nt, int nr,
                                                              const int *row_end,
                                                              const float *const *src,
                                                              size_t off, const float *kf,
                                                              const double *kv, float margin,
                                                              const double *unit) {
  const __m512 m = _mm512_set1_ps(margin), zero = _mm512_setzero_ps();
  size_t q = 0;
#define S255_ZERO(j) __m512 a##j = zero;
#define S255_PZERO(j) __m512 p##j = zero;
#define S255_FMA(j) p##j = _mm512_fmadd_ps(k, _mm512_loadu_ps(s + q + 16 * j), p##j);
#define S255_ADD(j) a##j = _mm512_add_ps(a##j, p##j);
#define S255_FINISH(j) sum_255_finish(d + q + 16 * j, a##j, 0xffff, m, nt, src, off + q + 16 * j, kv, unit);
  for (; q + 128 <= n; q += 128) { /* eight add chains, named (an array stays in memory) */
    ICT_EACH(S255_ZERO)
    S255_ROWS(ICT_EACH(S255_PZERO), ICT_EACH(S255_FMA), ICT_EACH(S255_ADD))
    ICT_EACH(S255_FINISH)
  }
  if (q < n && n >= 128) { /* the rest as one more block, ending at n: the values it
                            * shares with the previous block come out the same again */
    q = n - 128;
    ICT_EACH(S255_ZERO)
    S255_ROWS(ICT_EACH(S255_PZERO), ICT_EACH(S255_FMA), ICT_EACH(S255_ADD))
    ICT_EACH(S255_FINISH)
    q = n;
  }
#define S255_EACH4(X) X(0) X(1) X(2) X(3)
  if (q < n && n >= 16) { /* a short row: four vectors at a time, the last ones moved back
                           * to end at n (overlapping ones repeat the same values) */
    for (; q < n; q += 64) {
#define S255_AT(j) (q + 16 * (size_t)j + 16 <= n ? q + 16 * (size_t)j : n - 16)
      const size_t q0 = S255_AT(0), q1 = S255_AT(1), q2 = S255_AT(2), q3 = S255_AT(3);
#define S255_FMA_AT(j) p##j = _mm512_fmadd_ps(k, _mm512_loadu_ps(s + q##j), p##j);
      S255_EACH4(S255_ZERO)
      S255_ROWS(S255_EACH4(S255_PZERO), S255_EACH4(S255_FMA_AT), S255_EACH4(S255_ADD))
      sum_255_finish(d + q0, a0, 0xffff, m, nt, src, off + q0, kv, unit);
      if (q1 != q0) sum_255_finish(d + q1, a1, 0xffff, m, nt, src, off + q1, kv, unit);
      if (q2 != q1) sum_255_finish(d + q2, a2, 0xffff, m, nt, src, off + q2, kv, unit);
      if (q3 != q2) sum_255_finish(d + q3, a3, 0xffff, m, nt, src, off + q3, kv, unit);
#undef S255_FMA_AT
#undef S255_AT
    }
  }
  for (; q < n; q += 64) { /* under 16 values: masked */
#define S255_LIVE(j) (n - q <= 16 * (size_t)j ? 0 : (n - q >= 16 * (size_t)j + 16 ? 0xffff : \
                      (__mmask16)((1u << (n - q - 16 * (size_t)j)) - 1)))
    const __mmask16 l0 = S255_LIVE(0), l1 = S255_LIVE(1), l2 = S255_LIVE(2), l3 = S255_LIVE(3);
#define S255_FMA_LIVE(j) p##j = _mm512_fmadd_ps(k, _mm512_maskz_loadu_ps(l##j, s + q + 16 * j), p##j);
    S255_EACH4(S255_ZERO)
    S255_ROWS(S255_EACH4(S255_PZERO), S255_EACH4(S255_FMA_LIVE), S255_EACH4(S255_ADD))
#define S255_FINISH_LIVE(j) \
  if (l##j) sum_255_finish(d + q + 16 * j, a##j, l##j, m, nt, src, off + q + 16 * j, kv, unit);
    S255_FINISH_LIVE(0) S255_FINISH_LIVE(1) S255_FINISH_LIVE(2) S255_FINISH_LIVE(3)
#undef S255_FMA_LIVE
#undef S255_FINISH_LIVE
#undef S255_LIVE
  }
#undef S255_EACH4
#undef S255_ZERO
#undef S255_PZERO
#undef S255_FMA
#undef S255_ADD
#undef S255_FINISH
  _mm256_zeroupper();
}
#undef S255_ROWS
#endif

/* The float sums' margin: twice their error bound, in units of 255 x sum |kv| x 2^-24 (the
 * largest rounding error of a value up to that size): each weight's rounding to float
 * (one), each fused multiply-add of a row (m_r of them, on values up to 255 x K_r, K_r the
 * row's sum |kv|) and each addition of a row's sum (nr). A weight below FLT_MIN (a float
 * subnormal, whose products take a slow microcode path on some CPUs) is made 0 in kf, and
 * its 255 |kv| joins the bound. The double sum's own error, below 2^-53 of the same per
 * term, is far inside the doubling. -1: no fast path. */
static float fsum_prepare(int nt, int nr, const int *row_end, const double *kv, float *kf) {
#ifdef ICT_HAVE_AVX512_STORE
  if (nt < 1 || nt > VFR_ICT_SUM_255_MAX_TAPS || nr < 1 || !__builtin_cpu_supports("avx512f"))
    return -1.0f;
  double ksum = 0.0, rows = 0.0, dropped = 0.0;
  int t = 0;
  for (int r = 0; r < nr; r++) {
    int te = row_end ? row_end[r] : r + 1, m = te - t;
    if (m < 1 || te > nt) return -1.0f;
    double kr = 0.0;
    for (; t < te; t++) {
      if (fabs(kv[t]) < FLT_MIN)
        kf[t] = 0.0f, dropped += fabs(kv[t]);
      else
        kf[t] = (float)kv[t];
      kr += fabs(kv[t]);
    }
    rows += (double)m * kr;
    ksum += kr;
  }
  if (t != nt) return -1.0f;
  double margin = ((ksum + rows + (double)nr * ksum) * 0x1p-23 + 2.0 * dropped) * 255.0;
  return margin < 0.25 ? (float)margin : -1.0f;
#else
  (void)nt, (void)nr, (void)row_end, (void)kv, (void)kf;
  return -1.0f;
#endif
}

float vfr_ict_sum_255_prepare(int nt, const double *kv, float *kf) {
  return fsum_prepare(nt, nt, NULL, kv, kf);
}

void vfr_ict_sum_255_row(uint8_t *d, size_t n, int nt, const float *const *src, size_t off,
                         const double *kv, const float *kf, float margin) {
#ifdef ICT_HAVE_AVX512_STORE
  sum_255_avx512(d, n, nt, nt, NULL, src, off, kf, kv, margin, NULL);
#else
  (void)d, (void)n, (void)nt, (void)src, (void)off, (void)kv, (void)kf, (void)margin;
#endif
}

float vfr_ict_sum_unit_prepare(int nt, int nr, const int *row_end, const double *kv, float *kf) {
  return fsum_prepare(nt, nr, row_end, kv, kf);
}

void vfr_ict_sum_unit_row(uint8_t *d, size_t n, int nt, int nr, const int *row_end,
                          const float *const *src, size_t off, const double *kv, const float *kf,
                          float margin, const double *unit) {
#ifdef ICT_HAVE_AVX512_STORE
  sum_255_avx512(d, n, nt, nr, row_end, src, off, kf, kv, margin, unit);
#else
  (void)d, (void)n, (void)nt, (void)nr, (void)row_end, (void)src, (void)off, (void)kv, (void)kf,
      (void)margin, (void)unit;
#endif
}

void vfr_ict_store_unit_row_f32(uint8_t *d, const float *s, size_t n) {
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) {
    clip_store_f32_avx512(d, s, n);
    return;
  }
#endif
  clip_store_f32_tail(d, s, 0, n);
}

static void clip_store_row(uint8_t *d, const double *s, size_t n, double hi, double scale) {
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) {
    clip_store_avx512(d, s, n, hi, scale);
    return;
  }
#endif
  clip_store_tail(d, s, 0, n, hi, scale);
}

void vfr_ict_store_unit_row(uint8_t *d, const double *s, size_t n) {
  clip_store_row(d, s, n, 1.0, 255.0);
}

void vfr_ict_store_255_row(uint8_t *d, const double *s, size_t n) {
  clip_store_row(d, s, n, 255.0, 1.0);
}

#ifdef ICT_HAVE_AVX512_STORE
__attribute__((target("avx512f"))) static void u8_to_f32_avx512(float *d, const uint8_t *s,
                                                                size_t n) {
  size_t q = 0;
  for (; q + 16 <= n; q += 16)
    _mm512_storeu_ps(d + q, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s + q)))));
  for (; q < n; q++) d[q] = (float)s[q];
  _mm256_zeroupper();
}

/* (float)s[q] / 255.0f and (float)(s[q] * a): IEEE division, products and conversions
 * round each lane as the scalar expression does. */
__attribute__((target("avx512f"))) static size_t unit_row_f32_avx512(float *d, const uint8_t *s,
                                                                    size_t n) {
  const __m512 d255 = _mm512_set1_ps(255.0f);
  size_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s + q))));
    _mm512_storeu_ps(d + q, _mm512_div_ps(v, d255));
  }
  _mm256_zeroupper();
  return q;
}

__attribute__((target("avx512f"))) static size_t scale_to_f32_avx512(float *d, const double *s,
                                                                    size_t n, double a) {
  const __m512d av = _mm512_set1_pd(a);
  size_t q = 0;
  for (; q + 8 <= n; q += 8) _mm256_storeu_ps(d + q, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_loadu_pd(s + q), av)));
  _mm256_zeroupper();
  return q;
}
#endif

#ifdef ICT_HAVE_AVX512_STORE
/* v[q] = (v[q] - a) / b, the two IEEE operations of the two loops, sixteen at a time. */
__attribute__((target("avx512f"))) static size_t sub_div_f32_avx512(float *v, size_t n, float a,
                                                                   float b) {
  const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
  size_t q = 0;
  for (; q + 16 <= n; q += 16)
    _mm512_storeu_ps(v + q, _mm512_div_ps(_mm512_sub_ps(_mm512_loadu_ps(v + q), av), bv));
  _mm256_zeroupper();
  return q;
}
#endif

void vfr_ict_sub_div_f32(float *v, size_t n, float a, float b) {
  size_t q = 0;
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) q = sub_div_f32_avx512(v, n, a, b);
#endif
  for (; q < n; q++) v[q] = (v[q] - a) / b;
}

void vfr_ict_unit_row_f32(float *d, const uint8_t *s, size_t n) {
  size_t q = 0;
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) q = unit_row_f32_avx512(d, s, n);
#endif
  for (; q < n; q++) d[q] = (float)s[q] / 255.0f;
}

void vfr_ict_scale_to_f32(float *d, const double *s, size_t n, double a) {
  size_t q = 0;
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) q = scale_to_f32_avx512(d, s, n, a);
#endif
  for (; q < n; q++) d[q] = (float)(s[q] * a);
}

static void u8_to_f32(float *restrict d, const uint8_t *restrict s, size_t n) {
#ifdef ICT_HAVE_AVX512_STORE
  if (__builtin_cpu_supports("avx512f")) {
    u8_to_f32_avx512(d, s, n);
    return;
  }
#endif
  for (size_t q = 0; q < n; q++) d[q] = (float)s[q];
}

/* Without a vector form: motion blur, its one caller, converts to doubles only where its
 * float path (AVX-512) is missing. */
static void u8_to_f64(double *restrict d, const uint8_t *restrict s, size_t n) {
  for (size_t q = 0; q < n; q++) d[q] = (double)s[q];
}

static inline uint8_t blend_255_one(uint8_t p, uint8_t f, double a, double b) {
  double v = a * p + b * f;
  return (uint8_t)(v > 255.0 ? 255.0 : v);
}

#ifdef ICT_HAVE_AVX512_STORE
/* Sixteen at a time in double: vminpd(v, 255) is v > 255 ? 255 : v for the non-negative,
 * never-NaN sums of non-negative weights, then the truncating conversion. */
__attribute__((target("avx512f"))) static void blend_255_avx512(uint8_t *d, const uint8_t *p,
                                                                const uint8_t *f, size_t n,
                                                                double a, double b) {
  const __m512d va = _mm512_set1_pd(a), vb = _mm512_set1_pd(b), top = _mm512_set1_pd(255.0);
  size_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512i ip = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + q)));
    __m512i jf = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(f + q)));
    __m512d v0 = _mm512_add_pd(_mm512_mul_pd(va, _mm512_cvtepi32_pd(_mm512_castsi512_si256(ip))),
                               _mm512_mul_pd(vb, _mm512_cvtepi32_pd(_mm512_castsi512_si256(jf))));
    __m512d v1 = _mm512_add_pd(_mm512_mul_pd(va, _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(ip, 1))),
                               _mm512_mul_pd(vb, _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(jf, 1))));
    __m256i i0 = _mm512_cvttpd_epi32(_mm512_min_pd(v0, top));
    __m256i i1 = _mm512_cvttpd_epi32(_mm512_min_pd(v1, top));
    _mm_storeu_si128((__m128i *)(d + q),
                     _mm512_cvtepi32_epi8(_mm512_inserti64x4(_mm512_castsi256_si512(i0), i1, 1)));
  }
  for (; q < n; q++) d[q] = blend_255_one(p[q], f[q], a, b);
  _mm256_zeroupper();
}
#endif

void vfr_ict_blend_255_row(uint8_t *d, const uint8_t *p, const uint8_t *f, size_t n, double a,
                           double b) {
#ifdef ICT_HAVE_AVX512_STORE
  if (a >= 0.0 && b >= 0.0 && __builtin_cpu_supports("avx512f")) {
    blend_255_avx512(d, p, f, n, a, b);
    return;
  }
#endif
  for (size_t q = 0; q < n; q++) d[q] = blend_255_one(p[q], f[q], a, b);
}

/* The loop's running value m carried over s[0..n). */
static float extreme_from(float m, const float *s, size_t n, int largest) {
  if (largest)
    for (size_t q = 0; q < n; q++) m = s[q] > m ? s[q] : m;
  else
    for (size_t q = 0; q < n; q++) m = s[q] < m ? s[q] : m;
  return m;
}

#if defined(__GNUC__) && defined(__x86_64__)
/* Four running values per lane; vminps(x, m) = x < m ? x : m, as the loop's test. Returns
 * the values done (a multiple of 64, from 1) and the extreme of s[0] and those in *out. */
__attribute__((target("avx512f"))) static size_t extreme_avx512(const float *s, size_t n,
                                                                 int largest, float *out) {
  __m512 m0 = _mm512_set1_ps(s[0]), m1 = m0, m2 = m0, m3 = m0;
  size_t q = 1;
  for (; q + 64 <= n; q += 64) {
    __m512 x0 = _mm512_loadu_ps(s + q), x1 = _mm512_loadu_ps(s + q + 16);
    __m512 x2 = _mm512_loadu_ps(s + q + 32), x3 = _mm512_loadu_ps(s + q + 48);
    if (largest) {
      m0 = _mm512_max_ps(x0, m0), m1 = _mm512_max_ps(x1, m1);
      m2 = _mm512_max_ps(x2, m2), m3 = _mm512_max_ps(x3, m3);
    } else {
      m0 = _mm512_min_ps(x0, m0), m1 = _mm512_min_ps(x1, m1);
      m2 = _mm512_min_ps(x2, m2), m3 = _mm512_min_ps(x3, m3);
    }
  }
  float lanes[64];
  _mm512_storeu_ps(lanes, m0), _mm512_storeu_ps(lanes + 16, m1);
  _mm512_storeu_ps(lanes + 32, m2), _mm512_storeu_ps(lanes + 48, m3);
  _mm256_zeroupper();
  *out = extreme_from(lanes[0], lanes + 1, 63, largest);
  return q;
}
#endif

float vfr_ict_extreme_f32(const float *s, size_t n, int largest) {
#if defined(__GNUC__) && defined(__x86_64__)
  if (n > 64 && __builtin_cpu_supports("avx512f")) {
    float m;
    size_t q = extreme_avx512(s, n, largest, &m);
    m = extreme_from(m, s + q, n - q, largest);
    if (m != 0.0f) return m;
  }
#endif
  return extreme_from(s[0], s + 1, n - 1, largest);
}

void vfr_ict_u8_to_f32(float *d, const uint8_t *s, size_t n) { u8_to_f32(d, s, n); }

void vfr_ict_u8_to_f64(double *d, const uint8_t *s, size_t n) { u8_to_f64(d, s, n); }

void vfr_ict_sum_row(double *o, size_t n, int nt, const double *const *src, size_t off,
                     const double *kv) {
  sum_row(o, n, nt, src, off, kv);
}

void vfr_ict_symm_row(double *o, size_t n, const double *c, int r, const double *const *lo,
                      const double *const *hi, const double *k, int f32) {
  symm_row(o, n, c, r, lo, hi, k, f32);
}
