/* v / 255. of eight integers 0..255 in AVX-512 registers, exact (not public API). */
#ifndef VFR_IC_UNIT8_H
#define VFR_IC_UNIT8_H

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define VFR_IC_HAVE_UNIT8_AVX512 1

/* v / 255. of eight values v (32-bit integers 0..255, exact in double) without a table:
 * the product with c = 1/255. (wrong in the last bit for 24 of the 256 values), refined
 * once with its exact remainder r = v - q0 255 (one fused multiply-add, exact) as
 * q0 + r c. This is the correctly rounded quotient, v / 255. bit for bit, for every v of
 * 0..255 (all 256 are checked by tests/test_ic_taps.c); the fused operations are explicit
 * here and change no result, unlike a compiler's contraction of the reference's
 * arithmetic. Callers run on CPUs with AVX-512 F only. */
__attribute__((target("avx512f"))) static inline __m512d vfr_ic_unit8_avx512(__m256i v32) {
  const __m512d c = _mm512_set1_pd(1.0 / 255.0), k255 = _mm512_set1_pd(255.0);
  __m512d v = _mm512_cvtepi32_pd(v32), q0 = _mm512_mul_pd(v, c);
  __m512d r = _mm512_fnmadd_pd(q0, k255, v); /* v - q0 * 255, rounded once: exact */
  return _mm512_fmadd_pd(r, c, q0);
}
#endif

#endif
