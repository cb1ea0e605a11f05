/* Row kernels of vec_math.h: the portable loops over the scalar functions, and AVX2 and
 * AVX-512 versions that run, lane by lane, the same float operations in the same order
 * (multiplies and adds kept apart: the library is built as ISO C, so without FP contraction).
 * The AVX-512 rows treat their tail with masked loads and stores; the AVX2 rows finish it
 * with the scalar functions. */
#include "model/vec_math.h"

#include <stddef.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define VM_X86 1
#include <immintrin.h>
#else
#define VM_X86 0
#endif

/* ---- portable ------------------------------------------------------------------------ */

VFR_VECTOR_MATH static void bias_row_portable(float *r, const float *bias, int n) {
  for (int c = 0; c < n; c++) r[c] += bias[c];
}

VFR_VECTOR_MATH static void bias_quick_gelu_row_portable(float *r, const float *bias, int n) {
  if (bias) {
#pragma omp simd
    for (int c = 0; c < n; c++) r[c] = vm_quick_gelu1(r[c] + bias[c]);
  } else {
#pragma omp simd
    for (int c = 0; c < n; c++) r[c] = vm_quick_gelu1(r[c]);
  }
}

VFR_VECTOR_MATH static void bias_gelu_erf_row_portable(float *r, const float *bias, int n) {
  if (bias) {
#pragma omp simd
    for (int c = 0; c < n; c++) r[c] = vm_gelu_erf1(r[c] + bias[c]);
  } else {
#pragma omp simd
    for (int c = 0; c < n; c++) r[c] = vm_gelu_erf1(r[c]);
  }
}

VFR_VECTOR_MATH static void softmax_row_portable(float *r, int n) {
  float mx = r[0];
  for (int c = 1; c < n; c++) mx = r[c] > mx ? r[c] : mx;
#pragma omp simd
  for (int c = 0; c < n; c++) r[c] = vm_expf(r[c] - mx);
  double sum = 0.0;
  for (int c = 0; c < n; c++) sum += r[c];
  float inv = (float)(1.0 / sum);
  for (int c = 0; c < n; c++) r[c] *= inv;
}

static void mul_row_portable(float *r, const float *s, int n) {
  for (int c = 0; c < n; c++) r[c] *= s[c];
}

static void add_row_portable(float *y, const float *r, int n) {
  for (int c = 0; c < n; c++) y[c] += r[c];
}

VFR_VECTOR_MATH static void bf16_row_portable(uint16_t *dst, const float *src, int n) {
#pragma omp simd
  for (int c = 0; c < n; c++) dst[c] = vm_bf16(src[c]);
}

#if VM_X86

/* ---- AVX2 (8 lanes) ------------------------------------------------------------------- */

#define VM_AVX2_FN __attribute__((target("avx2")))

/* vm_expf on 8 lanes */
VM_AVX2_FN static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(87.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
  __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
  __m256 ge = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_GE_OQ);
  __m256 half = _mm256_blendv_ps(_mm256_set1_ps(-0.5f), _mm256_set1_ps(0.5f), ge);
  __m256i n = _mm256_cvttps_epi32(_mm256_add_ps(t, half));
  __m256 fn = _mm256_cvtepi32_ps(n);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(fn, _mm256_set1_ps(0.693359375f)));
  r = _mm256_add_ps(r, _mm256_mul_ps(fn, _mm256_set1_ps(2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r),
                    _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

VM_AVX2_FN static void bias_row_avx2(float *r, const float *bias, int n) {
  int c = 0;
  for (; c + 8 <= n; c += 8)
    _mm256_storeu_ps(r + c, _mm256_add_ps(_mm256_loadu_ps(r + c), _mm256_loadu_ps(bias + c)));
  for (; c < n; c++) r[c] += bias[c];
}

VM_AVX2_FN static void bias_quick_gelu_row_avx2(float *r, const float *bias, int n) {
  const __m256 k = _mm256_set1_ps(-1.702f), one = _mm256_set1_ps(1.0f);
  int c = 0;
  for (; c + 8 <= n; c += 8) {
    __m256 x = _mm256_loadu_ps(r + c);
    if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + c));
    __m256 e = exp8(_mm256_mul_ps(x, k));
    _mm256_storeu_ps(r + c, _mm256_div_ps(x, _mm256_add_ps(one, e)));
  }
  for (; c < n; c++) r[c] = vm_quick_gelu1(bias ? r[c] + bias[c] : r[c]);
}

/* vm_gelu_erf1 on 8 lanes */
VM_AVX2_FN static inline __m256 gelu_erf8(__m256 x) {
#define H8(acc, v, c) acc = _mm256_add_ps(_mm256_mul_ps(acc, v), _mm256_set1_ps(c))
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
  __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  __m256 s = _mm256_mul_ps(z, z);
  __m256 p = _mm256_set1_ps(-6.343072163872421e-4f);
  H8(p, s, 5.055652465671301e-3f);
  H8(p, s, -2.6805125176906586e-2f);
  H8(p, s, 1.1282776296138763e-1f);
  H8(p, s, -3.761257529258728e-1f);
  H8(p, s, 1.1283791065216064f);
  __m256 small = _mm256_add_ps(one, _mm256_mul_ps(z, p));
  __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.5f), a)));
  __m256 q = _mm256_set1_ps(0.17087277f);
  H8(q, t, -0.82215223f);
  H8(q, t, 1.48851587f);
  H8(q, t, -1.13520398f);
  H8(q, t, 0.27886807f);
  H8(q, t, -0.18628806f);
  H8(q, t, 0.09678418f);
  H8(q, t, 0.37409196f);
  H8(q, t, 1.00002368f);
  H8(q, t, -1.26551223f);
#undef H8
  __m256 e = _mm256_mul_ps(t, exp8(_mm256_sub_ps(q, s)));
  __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
  __m256 large = _mm256_blendv_ps(e, _mm256_sub_ps(_mm256_set1_ps(2.0f), e), pos);
  __m256 in_small = _mm256_cmp_ps(a, _mm256_set1_ps(0.84375f), _CMP_LT_OQ);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                       _mm256_blendv_ps(large, small, in_small));
}

VM_AVX2_FN static void bias_gelu_erf_row_avx2(float *r, const float *bias, int n) {
  int c = 0;
  for (; c + 8 <= n; c += 8) {
    __m256 x = _mm256_loadu_ps(r + c);
    if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + c));
    _mm256_storeu_ps(r + c, gelu_erf8(x));
  }
  for (; c < n; c++) r[c] = vm_gelu_erf1(bias ? r[c] + bias[c] : r[c]);
}

VM_AVX2_FN static void softmax_row_avx2(float *r, int n) {
  int n8 = n / 8 * 8;
  float mx = r[0];
  if (n8) {
    __m256 m = _mm256_loadu_ps(r);
    for (int c = 8; c < n8; c += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(r + c));
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    for (int i = 0; i < 8; i++) mx = lanes[i] > mx ? lanes[i] : mx;
  }
  for (int c = n8; c < n; c++) mx = r[c] > mx ? r[c] : mx;
  __m256 vmx = _mm256_set1_ps(mx);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (int c = 0; c < n8; c += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(r + c), vmx));
    _mm256_storeu_ps(r + c, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (int c = n8; c < n; c++) {
    r[c] = vm_expf(r[c] - mx);
    sum += r[c];
  }
  __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
  int c = 0;
  for (; c < n8; c += 8) _mm256_storeu_ps(r + c, _mm256_mul_ps(_mm256_loadu_ps(r + c), inv));
  for (; c < n; c++) r[c] *= (float)(1.0 / sum);
}

/* ---- AVX-512 (16 lanes) ------------------------------------------------------------- */

#define VM_AVX512_FN __attribute__((target("avx512f")))

/* vm_expf on 16 lanes */
VM_AVX512_FN static inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(87.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), x));
  __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  __mmask16 ge = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_GE_OQ);
  __m512 half = _mm512_mask_blend_ps(ge, _mm512_set1_ps(-0.5f), _mm512_set1_ps(0.5f));
  __m512i n = _mm512_cvttps_epi32(_mm512_add_ps(t, half));
  __m512 fn = _mm512_cvtepi32_ps(n);
  __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(fn, _mm512_set1_ps(0.693359375f)));
  r = _mm512_add_ps(r, _mm512_mul_ps(fn, _mm512_set1_ps(2.12194440e-4f)));
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r),
                    _mm512_set1_ps(1.0f));
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* lanes [0, k) of a 16-lane block, k in 0..16 */
VM_AVX512_FN static inline __mmask16 first_lanes(int k) {
  return (__mmask16)(k >= 16 ? 0xFFFFu : (1u << k) - 1u);
}

VM_AVX512_FN static void bias_row_avx512(float *r, const float *bias, int n) {
  int c = 0;
  for (; c + 16 <= n; c += 16)
    _mm512_storeu_ps(r + c, _mm512_add_ps(_mm512_loadu_ps(r + c), _mm512_loadu_ps(bias + c)));
  if (c < n) {
    __mmask16 m = first_lanes(n - c);
    __m512 x = _mm512_maskz_loadu_ps(m, r + c), b = _mm512_maskz_loadu_ps(m, bias + c);
    _mm512_mask_storeu_ps(r + c, m, _mm512_add_ps(x, b));
  }
}

VM_AVX512_FN static inline __m512 quick_gelu16(__m512 x) {
  __m512 e = exp16(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f)));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

VM_AVX512_FN static void bias_quick_gelu_row_avx512(float *r, const float *bias, int n) {
  int c = 0;
  if (bias) {
    for (; c + 16 <= n; c += 16)
      _mm512_storeu_ps(r + c, quick_gelu16(_mm512_add_ps(_mm512_loadu_ps(r + c),
                                                         _mm512_loadu_ps(bias + c))));
  } else {
    for (; c + 16 <= n; c += 16) _mm512_storeu_ps(r + c, quick_gelu16(_mm512_loadu_ps(r + c)));
  }
  if (c < n) {
    __mmask16 m = first_lanes(n - c);
    __m512 x = _mm512_maskz_loadu_ps(m, r + c);
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + c));
    _mm512_mask_storeu_ps(r + c, m, quick_gelu16(x));
  }
}

/* vm_gelu_erf1 on 16 lanes */
VM_AVX512_FN static inline __m512 gelu_erf16(__m512 x) {
#define H16(acc, v, c) acc = _mm512_add_ps(_mm512_mul_ps(acc, v), _mm512_set1_ps(c))
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
  __m512 a = _mm512_abs_ps(z);
  __m512 s = _mm512_mul_ps(z, z);
  __m512 p = _mm512_set1_ps(-6.343072163872421e-4f);
  H16(p, s, 5.055652465671301e-3f);
  H16(p, s, -2.6805125176906586e-2f);
  H16(p, s, 1.1282776296138763e-1f);
  H16(p, s, -3.761257529258728e-1f);
  H16(p, s, 1.1283791065216064f);
  __m512 small = _mm512_add_ps(one, _mm512_mul_ps(z, p));
  __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(0.5f), a)));
  __m512 q = _mm512_set1_ps(0.17087277f);
  H16(q, t, -0.82215223f);
  H16(q, t, 1.48851587f);
  H16(q, t, -1.13520398f);
  H16(q, t, 0.27886807f);
  H16(q, t, -0.18628806f);
  H16(q, t, 0.09678418f);
  H16(q, t, 0.37409196f);
  H16(q, t, 1.00002368f);
  H16(q, t, -1.26551223f);
#undef H16
  __m512 e = _mm512_mul_ps(t, exp16(_mm512_sub_ps(q, s)));
  __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  __m512 large = _mm512_mask_blend_ps(pos, e, _mm512_sub_ps(_mm512_set1_ps(2.0f), e));
  __mmask16 in_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.84375f), _CMP_LT_OQ);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                       _mm512_mask_blend_ps(in_small, large, small));
}

VM_AVX512_FN static void bias_gelu_erf_row_avx512(float *r, const float *bias, int n) {
  for (int c = 0; c < n; c += 16) {
    __mmask16 m = first_lanes(n - c);
    __m512 x = _mm512_maskz_loadu_ps(m, r + c);
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + c));
    _mm512_mask_storeu_ps(r + c, m, gelu_erf16(x));
  }
}

/* vm_bf16 on 16 lanes, as 32-bit words holding the bf16 in their low half */
VM_AVX512_FN static inline __m512i bf16_16(__m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_mov_epi32(
      r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

VM_AVX512_FN static void mul_row_avx512(float *r, const float *s, int n) {
  for (int c = 0; c < n; c += 16) {
    __mmask16 k = first_lanes(n - c);
    _mm512_mask_storeu_ps(r + c, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, r + c),
                                                  _mm512_maskz_loadu_ps(k, s + c)));
  }
}

VM_AVX512_FN static void add_row_avx512(float *y, const float *r, int n) {
  for (int c = 0; c < n; c += 16) {
    __mmask16 k = first_lanes(n - c);
    _mm512_mask_storeu_ps(y + c, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + c),
                                                  _mm512_maskz_loadu_ps(k, r + c)));
  }
}

VM_AVX512_FN static void bf16_row_avx512(uint16_t *dst, const float *src, int n) {
  for (int c = 0; c < n; c += 16) {
    __mmask16 k = first_lanes(n - c);
    _mm512_mask_cvtepi32_storeu_epi16(dst + c, k, bf16_16(_mm512_maskz_loadu_ps(k, src + c)));
  }
}

/* softmax_row_avx512, the normalised row rounded into dst (bf16) or stored back into r */
VM_AVX512_FN static inline void softmax_row_avx512_to(float *r, uint16_t *dst, int n) {
  __m512 m = _mm512_set1_ps(r[0]);
  for (int c = 0; c < n; c += 16)
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, first_lanes(n - c), r + c));
  float mx = _mm512_reduce_max_ps(m);
  __m512 vmx = _mm512_set1_ps(mx);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int c = 0; c < n; c += 16) {
    __mmask16 k = first_lanes(n - c);
    __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, r + c), vmx));
    e = _mm512_maskz_mov_ps(k, e); /* lanes past the row add 0 */
    _mm512_mask_storeu_ps(r + c, k, e);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(
                               _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
  __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
  for (int c = 0; c < n; c += 16) {
    __mmask16 k = first_lanes(n - c);
    __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, r + c), inv);
    if (dst) _mm512_mask_cvtepi32_storeu_epi16(dst + c, k, bf16_16(p));
    else _mm512_mask_storeu_ps(r + c, k, p);
  }
}

VM_AVX512_FN static void softmax_row_avx512(float *r, int n) { softmax_row_avx512_to(r, NULL, n); }

#endif /* VM_X86 */

/* ---- dispatch --------------------------------------------------------------------------- */

vm_isa vm_isa_best(void) {
#if VM_X86
  __builtin_cpu_init(); /* idempotent; needed when called before libgcc's constructor ran */
  if (__builtin_cpu_supports("avx512f")) return VM_AVX512;
  if (__builtin_cpu_supports("avx2")) return VM_AVX2;
#endif
  return VM_PORTABLE;
}

void vm_bias_row(vm_isa isa, float *r, const float *bias, int n) {
  if (!bias) return;
#if VM_X86
  if (isa == VM_AVX512) {
    bias_row_avx512(r, bias, n);
    return;
  }
  if (isa == VM_AVX2) {
    bias_row_avx2(r, bias, n);
    return;
  }
#endif
  (void)isa;
  bias_row_portable(r, bias, n);
}

void vm_bias_quick_gelu_row(vm_isa isa, float *r, const float *bias, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    bias_quick_gelu_row_avx512(r, bias, n);
    return;
  }
  if (isa == VM_AVX2) {
    bias_quick_gelu_row_avx2(r, bias, n);
    return;
  }
#endif
  (void)isa;
  bias_quick_gelu_row_portable(r, bias, n);
}

void vm_bias_gelu_erf_row(vm_isa isa, float *r, const float *bias, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    bias_gelu_erf_row_avx512(r, bias, n);
    return;
  }
  if (isa == VM_AVX2) {
    bias_gelu_erf_row_avx2(r, bias, n);
    return;
  }
#endif
  (void)isa;
  bias_gelu_erf_row_portable(r, bias, n);
}

void vm_softmax_row(vm_isa isa, float *r, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    softmax_row_avx512(r, n);
    return;
  }
  if (isa == VM_AVX2) {
    softmax_row_avx2(r, n);
    return;
  }
#endif
  (void)isa;
  softmax_row_portable(r, n);
}

void vm_mul_row(vm_isa isa, float *r, const float *s, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    mul_row_avx512(r, s, n);
    return;
  }
#endif
  (void)isa;
  mul_row_portable(r, s, n);
}

void vm_add_row(vm_isa isa, float *y, const float *r, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    add_row_avx512(y, r, n);
    return;
  }
#endif
  (void)isa;
  add_row_portable(y, r, n);
}

void vm_bf16_row(vm_isa isa, uint16_t *dst, const float *src, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    bf16_row_avx512(dst, src, n);
    return;
  }
#endif
  (void)isa;
  bf16_row_portable(dst, src, n);
}

void vm_softmax_row_bf16(vm_isa isa, float *r, uint16_t *dst, int n) {
#if VM_X86
  if (isa == VM_AVX512) {
    softmax_row_avx512_to(r, dst, n);
    return;
  }
#endif
  vm_softmax_row(isa, r, n);
  vm_bf16_row(isa, dst, r, n);
}
