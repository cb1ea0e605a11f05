/* Row kernels of the ImageNet-C filters (see ic_taps.h): blocks of 64 outputs in eight
 * 8-double vectors (GCC/clang vector extensions), enough independent add chains to hide
 * the adder's latency; the taps of each output are added in the scalar loop's order. */
/* Separate roundings: no contraction to fused multiply-adds (GCC's default in ISO C
 * mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "perturb/ic_taps.h"

#include <string.h>

/* The 64-byte vectors pass by value only between inlined helpers (no ABI crosses them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* Built for AVX-512 and AVX2 too (chosen at load time); no FMA either way. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VFR_ICT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VFR_ICT_CLONES
#endif

typedef double vd8 __attribute__((vector_size(64)));

static inline vd8 ld8(const double *p) {
  vd8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void st8(double *p, vd8 v) { memcpy(p, &v, sizeof v); }

static inline vd8 splat8(double x) { return (vd8){0, 0, 0, 0, 0, 0, 0, 0} + x; }

/* The eight accumulators of a block are named variables (an array would be kept in
 * memory across the taps). */
#define ICT_BLOCK 64
#define ICT_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

VFR_ICT_CLONES void vfr_ict_sum_row(double *o, size_t n, int nt, const double *const *src,
                                    const double *kv) {
  size_t q = 0;
  for (; q + ICT_BLOCK <= n; q += ICT_BLOCK) {
#define ICT_ZERO(j) vd8 a##j = splat8(0.0);
    ICT_EACH(ICT_ZERO)
    for (int t = 0; t < nt; t++) {
      const double *s = src[t] + q;
      const vd8 k = splat8(kv[t]);
#define ICT_MAC(j) a##j += k * ld8(s + 8 * j);
      ICT_EACH(ICT_MAC)
    }
#define ICT_STORE(j) st8(o + q + 8 * j, a##j);
    ICT_EACH(ICT_STORE)
  }
  for (; q + 8 <= n; q += 8) {
    vd8 a = splat8(0.0);
    for (int t = 0; t < nt; t++) a += splat8(kv[t]) * ld8(src[t] + q);
    st8(o + q, a);
  }
  for (; q < n; q++) {
    double a = 0.0;
    for (int t = 0; t < nt; t++) a += kv[t] * src[t][q];
    o[q] = a;
  }
}

static inline double round_f32(double v) { return (double)(float)v; }

VFR_ICT_CLONES void vfr_ict_symm_row(double *o, size_t n, const double *c, int r,
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

typedef long long vl8 __attribute__((vector_size(64)));
typedef int vi8 __attribute__((vector_size(32)));
typedef int vi16 __attribute__((vector_size(64)));
typedef unsigned char vu16 __attribute__((vector_size(16)));

/* min(max(v, 0), hi) * scale lane by lane, NaN -> 0: the compare masks select exactly
 * what the scalar ternaries do. */
static inline vi8 clip_scale8(vd8 v, vd8 top, vd8 k) {
  vl8 pos = v > splat8(0.0); /* all ones where v > 0 */
  vl8 tb = (vl8)v & pos;     /* v where v > 0, else +0.0 */
  vd8 t;
  memcpy(&t, &tb, sizeof t);
  vl8 below = t < top;
  vl8 cb = ((vl8)t & below) | ((vl8)top & ~below);
  memcpy(&t, &cb, sizeof t);
  return __builtin_convertvector(t * k, vi8); /* truncation */
}

/* d[q] = uint8(min(max(s[q], 0), hi) * scale), 16 values at a time (one narrowing). */
static inline void clip_store_row(uint8_t *d, const double *s, size_t n, double hi, double scale) {
  size_t q = 0;
  const vd8 top = splat8(hi), k = splat8(scale);
  for (; q + 16 <= n; q += 16) {
    vi8 b[2] = {clip_scale8(ld8(s + q), top, k), clip_scale8(ld8(s + q + 8), top, k)};
    vi16 w;
    memcpy(&w, b, sizeof w);
    vu16 u = __builtin_convertvector(w, vu16);
    memcpy(d + q, &u, sizeof u);
  }
  for (; q < n; q++) {
    double t = s[q] > 0.0 ? s[q] : 0.0;
    t = t < hi ? t : hi;
    d[q] = (uint8_t)(int)(t * scale);
  }
}

VFR_ICT_CLONES void vfr_ict_store_unit_row(uint8_t *d, const double *s, size_t n) {
  clip_store_row(d, s, n, 1.0, 255.0);
}

VFR_ICT_CLONES void vfr_ict_store_255_row(uint8_t *d, const double *s, size_t n) {
  clip_store_row(d, s, n, 255.0, 1.0);
}
