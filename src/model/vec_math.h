/* Elementwise row kernels of the forward pass: bias add, bias + quick_gelu, bias + gelu (erf)
 * and row softmax, each with an AVX-512, an AVX2 and a portable path; the caller picks the
 * path (vm_isa_best: the widest this CPU runs) and passes it in, so every path can be asked for.
 *
 * Exactness: the activation rows and the scalar vm_expf / vm_quick_gelu1 / vm_gelu_erf1 below
 * run the same float operations in the same order on every lane (no fused multiply-adds), so
 * every path gives bit-identical results, equal to the scalar functions: a scalar
 * recomputation of a forward value (the backward pass) matches the row kernels exactly.
 * Softmax rows differ between paths only in the order of their double-precision sum.
 * Rows are float arrays of n (n >= 0, no alignment needed); bias is (n) or NULL (none). */
#ifndef VFR_MODEL_VEC_MATH_H
#define VFR_MODEL_VEC_MATH_H

#include <math.h>
#include <stdint.h>

/* The loops over the scalar functions vectorise only when float compares may be
 * if-converted, which GCC's default -ftrapping-math forbids; no FP exceptions are ever
 * enabled in this library, so the functions that hold such loops drop it. */
#if defined(__GNUC__) && !defined(__clang__)
#define VFR_VECTOR_MATH __attribute__((optimize("no-trapping-math")))
#else
#define VFR_VECTOR_MATH
#endif

typedef enum vm_isa { VM_PORTABLE = 0, VM_AVX2 = 1, VM_AVX512 = 2 } vm_isa;

/* The widest path this CPU (and its OS) runs. */
vm_isa vm_isa_best(void);

/* r[c] += bias[c] (bias NULL: nothing) */
void vm_bias_row(vm_isa isa, float *r, const float *bias, int n);
/* r[c] = vm_quick_gelu1(r[c] + bias[c]) */
void vm_bias_quick_gelu_row(vm_isa isa, float *r, const float *bias, int n);
/* r[c] = vm_gelu_erf1(r[c] + bias[c]) */
void vm_bias_gelu_erf_row(vm_isa isa, float *r, const float *bias, int n);
/* r = softmax(r): vm_expf(r - max r), summed in double, times (float)(1 / sum). n >= 1. */
void vm_softmax_row(vm_isa isa, float *r, int n);
/* dst = bf16(softmax(r)), the values of vm_softmax_row rounded by vm_bf16; r is clobbered.
 * n >= 1. */
void vm_softmax_row_bf16(vm_isa isa, float *r, uint16_t *dst, int n);
/* r[c] *= s[c] */
void vm_mul_row(vm_isa isa, float *r, const float *s, int n);
/* y[c] += r[c] */
void vm_add_row(vm_isa isa, float *y, const float *r, int n);
/* dst[c] = vm_bf16(src[c]) for c < n */
void vm_bf16_row(vm_isa isa, uint16_t *dst, const float *src, int n);

/* x rounded to bf16 (the high 16 bits of an fp32), to nearest with ties to even; denormals
 * kept, a NaN stays a (quiet) NaN. */
static inline uint16_t vm_bf16(float x) {
  union { float f; uint32_t u; } v = {x};
  if ((v.u & 0x7f800000u) == 0x7f800000u && (v.u & 0x7fffffu))
    return (uint16_t)((v.u >> 16) | 0x40u);
  return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* exp(x) to about 1 ulp for |x| <= 87 (x clamped to [-87, 87]), without libm so that loops
 * over it vectorise: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial
 * (Cephes' expf coefficients), times 2^n built in the exponent bits. */
VFR_VECTOR_MATH static inline float vm_expf(float x) {
  x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
  float t = x * 1.44269504088896341f;
  int n = (int)(t + (t >= 0.0f ? 0.5f : -0.5f));
  float fn = (float)n;
  float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { uint32_t u; float f; } scale = {(uint32_t)(n + 127) << 23};
  return p * scale.f;
}

/* x * sigmoid(1.702 x) = x / (1 + exp(-1.702 x)) */
VFR_VECTOR_MATH static inline float vm_quick_gelu1(float x) {
  return x / (1.0f + vm_expf(-1.702f * x));
}

/* GELU with the exact erf, 0.5 x (1 + erf(z)) with z = x / sqrt 2, erf without libm:
 * for |z| < 0.84375, 1 + z P(z^2) with P a degree-5 fit of erf(z)/z (rel. error 6e-9);
 * else 1 + erf(z) = erfc(-z) from erfc(|z|) = t exp(-z^2 + Q(t)), t = 1 / (1 + |z|/2), Q the
 * degree-9 Chebyshev fit of Numerical Recipes' erfcc (fractional error < 1.2e-7), as 2 - erfc
 * for z >= 0. In float: within ~2 ulp of the exact GELU for x >= 0, ~5 ulp for x in
 * [-1.2, 0), and relative error ~1e-6 in the tail x < -1.2, where 1 + erff(z) would cancel.
 * Both branches are computed (as the vector rows do) and one is kept. */
VFR_VECTOR_MATH static inline float vm_gelu_erf1(float x) {
  float z = x * 0.70710678118654752f;
  float a = fabsf(z);
  float s = z * z;
  float p = -6.343072163872421e-4f;
  p = p * s + 5.055652465671301e-3f;
  p = p * s + -2.6805125176906586e-2f;
  p = p * s + 1.1282776296138763e-1f;
  p = p * s + -3.761257529258728e-1f;
  p = p * s + 1.1283791065216064f;
  float small = 1.0f + z * p;
  float t = 1.0f / (1.0f + 0.5f * a);
  float q = 0.17087277f;
  q = q * t + -0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t + -1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t + -0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t + -1.26551223f;
  float e = t * vm_expf(q - s);
  float large = x >= 0.0f ? 2.0f - e : e;
  return 0.5f * x * (a < 0.84375f ? small : large);
}

#endif
