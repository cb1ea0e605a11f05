/* Row kernels of the ImageNet-C filters: many independent outputs, each a sum of taps in a
 * fixed order (not public API). Every output's terms are added in exactly the order the
 * comments give, with separate roundings (no fused multiply-adds); the kernels only keep
 * many outputs in vector registers at once, so results are bit for bit those of the
 * plain scalar loops. The exceptions, vfr_ict_sum_255_row and vfr_ict_sum_unit_row, sum
 * in float (with fused multiply-adds) where that provably gives the same truncated byte,
 * and in the exact order elsewhere. */
#ifndef VFR_IC_TAPS_H
#define VFR_IC_TAPS_H

#include <stddef.h>
#include <stdint.h>

/* o[q] = 0.0 + kv[0]*src[0][off + q] + ... + kv[nt-1]*src[nt-1][off + q], added from the
 * left, for q in 0..n-1 (o (n), src nt pointers to off + n doubles each). */
void vfr_ict_sum_row(double *o, size_t n, int nt, const double *const *src, size_t off,
                     const double *kv);

/* o[q] = c[q]*k[0], then o[q] += (lo[d][q] + hi[d][q]) * k[d] for d = r down to 1; f32:
 * the result rounded to float (o, c (n); lo, hi indexed 1..r, pointers to n doubles). */
void vfr_ict_symm_row(double *o, size_t n, const double *c, int r, const double *const *lo,
                      const double *const *hi, const double *k, int f32);

/* d[q] = np.uint8(np.clip(S[q], 0, 255)) for S the sums of vfr_ict_sum_row over taps
 * src[t][off + q] that are integers 0..255, here as floats: fast, the sums in float, and
 * where one lies within `margin` (the float sum's error bound, doubled) of an integer,
 * where the truncation of S could differ, S itself in vfr_ict_sum_row's order in double;
 * so d is bit for bit vfr_ict_sum_row + vfr_ict_store_255_row over the same values as
 * doubles. vfr_ict_sum_255_prepare fills kf (nt) with the weights kv as floats and returns
 * the margin, or -1 where there is no fast path (no AVX-512, nt outside
 * 1..VFR_ICT_SUM_255_MAX_TAPS, weights too large): the caller then sums in double. */
#define VFR_ICT_SUM_255_MAX_TAPS 512
float vfr_ict_sum_255_prepare(int nt, const double *kv, float *kf);
void vfr_ict_sum_255_row(uint8_t *d, size_t n, int nt, const float *const *src, size_t off,
                         const double *kv, const float *kf, float margin);

/* d[q] = np.uint8(np.clip(y, 0, 1) * 255) for y = 0.0 + kv[0]*(v0 / 255.) + ... +
 * kv[nt-1]*(v(nt-1) / 255.) in double, added from the left, where vt = src[t][off + q] are
 * integers 0..255 held as floats: bit for bit vfr_ict_sum_row over the values v / 255. and
 * vfr_ict_store_unit_row. Fast as vfr_ict_sum_255_row is (float sums, the exact sum where
 * the truncation could differ), with the taps in nr rows (row r: the taps before
 * row_end[r], row_end[nr - 1] = nt) each summed apart, which keeps the float error, and so
 * the share of exact sums, small for many taps. vfr_ict_sum_unit_prepare fills kf and
 * returns the margin, or -1 where there is no fast path; unit is (256), v / 255. */
float vfr_ict_sum_unit_prepare(int nt, int nr, const int *row_end, const double *kv, float *kf);
void vfr_ict_sum_unit_row(uint8_t *d, size_t n, int nt, int nr, const int *row_end,
                          const float *const *src, size_t off, const double *kv, const float *kf,
                          float margin, const double *unit);

/* d[q] = np.uint8(v if v <= 255 else 255) for v = a*p[q] + b*f[q] in double (a, b >= 0 take
 * the vector path; others the scalar one, which is the definition): frost's blend. */
void vfr_ict_blend_255_row(uint8_t *d, const uint8_t *p, const uint8_t *f, size_t n, double a,
                           double b);

/* d[q] = (float)s[q] (sixteen at a time with AVX-512) and d[q] = (double)s[q] for q < n. */
void vfr_ict_u8_to_f32(float *d, const uint8_t *s, size_t n);
void vfr_ict_u8_to_f64(double *d, const uint8_t *s, size_t n);

/* d[q] = (float)s[q] / 255.0f (np.float32(x) / 255.) and d[q] = (float)(s[q] * a), for
 * q < n, sixteen or eight at a time with AVX-512. */
void vfr_ict_unit_row_f32(float *d, const uint8_t *s, size_t n);
void vfr_ict_scale_to_f32(float *d, const double *s, size_t n, double a);

/* d[q] = unit[s[q]] for q < n, with unit[v] = v / 255. (the image's x = v / 255.): a table
 * lookup, or where AVX-512 is available the same quotients computed sixteen at a time
 * (exact for every v, see ic_taps.c). unit is (256), holding v / 255. */
void vfr_ict_unit_row(double *d, const uint8_t *s, size_t n, const double *unit);

/* d[q] = np.uint8(np.clip(s[q], 0, 1) * 255) and np.uint8(np.clip(s[q], 0, 255)): clip
 * (NaN to 0), then truncation. */
void vfr_ict_store_unit_row(uint8_t *d, const double *s, size_t n);
void vfr_ict_store_255_row(uint8_t *d, const double *s, size_t n);
/* The value of `m = s[0]; for q >= 1: if (s[q] < m) m = s[q]` (largest: `s[q] > m`), for
 * n >= 1: sixty-four at a time with AVX-512 (vminps keeps the running value where s[q] is
 * NaN, as the comparison does); a zero result, whose sign the order could decide, comes
 * from the loop itself. */
float vfr_ict_extreme_f32(const float *s, size_t n, int largest);
/* v[q] = (v[q] - a) / b in float32 (two roundings) for q < n, sixteen at a time with
 * AVX-512. */
void vfr_ict_sub_div_f32(float *v, size_t n, float a, float b);
/* d[q] = np.uint8(np.clip(s[q], 0, 1) * 255) of float32 values, in float32. */
void vfr_ict_store_unit_row_f32(uint8_t *d, const float *s, size_t n);

#endif
