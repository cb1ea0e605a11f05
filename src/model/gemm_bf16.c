/* bf16 products with fp32 accumulation (see gemm_bf16.h for the layouts).
 *
 * The kernel computes a block of MR rows x NB*16 output columns in 24 zmm accumulators:
 * for each k pair, NB loads of the packed weight panel, MR broadcasts of an activation
 * pair, MR*NB vdpbf16ps. The driver walks k in blocks of KC pairs (the weight panel of
 * one block, NB*16 columns x 2*KC values, stays in L2 while every row block uses it),
 * then groups of MC rows (their KC pairs stay in L2 too), then column panels, then row
 * blocks of MR; k blocks after the first add to y. */
#include "model/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define VFR_BF16_X86 1
#include <cpuid.h>
#include <immintrin.h>
#define TARGET_BF16 __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
#endif

enum { MR = 6, NB = 4, KC = 256, MC = 192 };

uint16_t bf16_from_float(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) /* inf stays inf, NaN becomes a quiet NaN */
    return (uint16_t)((u >> 16) | ((u & 0x007fffffu) ? 0x0040u : 0u));
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u); /* zero, denormal */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

int bf16_weight_pack(bf16_weight *w, const float *weight, int OC, int C) {
  memset(w, 0, sizeof *w);
  int Kp = bf16_row_width(C), K2 = Kp / 2, n_ob = (OC + 15) / 16;
  size_t n = (size_t)n_ob * K2 * 32, bytes = (n * sizeof(uint16_t) + 63) / 64 * 64;
  uint16_t *d = aligned_alloc(64, bytes ? bytes : 64);
  if (!d) return -1;
  for (int ob = 0; ob < n_ob; ob++)
    for (int kp = 0; kp < K2; kp++) {
      uint16_t *dst = d + ((size_t)ob * K2 + kp) * 32;
      for (int j = 0; j < 16; j++) {
        int o = ob * 16 + j;
        for (int e = 0; e < 2; e++) {
          int k = 2 * kp + e;
          dst[2 * j + e] = o < OC && k < C ? bf16_from_float(weight[(size_t)o * C + k]) : 0;
        }
      }
    }
  w->data = d;
  w->OC = OC;
  w->C = C;
  w->Kp = Kp;
  return 0;
}

void bf16_weight_free(bf16_weight *w) {
  free(w->data);
  memset(w, 0, sizeof *w);
}

#ifdef VFR_BF16_X86

int bf16_cpu_supported(void) {
  const char *off = getenv("VFROBUST_NO_BF16");
  if (off && *off) return 0;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  /* XMM, YMM, opmask, ZMM0-15 upper halves, ZMM16-31 saved by the OS */
  if ((xlo & 0xe6u) != 0xe6u) return 0;
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  unsigned need = (1u << 16) | (1u << 30) | (1u << 31); /* AVX512F, BW, VL */
  if ((b & need) != need) return 0;
  __cpuid_count(7, 1, a, b, c, d);
  return (a >> 5) & 1u; /* AVX512_BF16 */
}

TARGET_BF16 void bf16_round_rows(uint16_t *a, const float *inp, int C, int r0, int r1) {
  int Kp = bf16_row_width(C);
  for (int r = r0; r < r1; r++) {
    const float *x = inp + (size_t)r * C;
    uint16_t *o = a + (size_t)r * Kp;
    for (int k = 0; k < Kp; k += 32) {
      int rem = C - k; /* values left in the row (may be < 32, or 0 for the padding) */
      __mmask16 lo = rem >= 16 ? 0xffff : (__mmask16)((1u << (rem > 0 ? rem : 0)) - 1);
      __mmask16 hi = rem >= 32 ? 0xffff : (__mmask16)((1u << (rem > 16 ? rem - 16 : 0)) - 1);
      __m512 vlo = _mm512_maskz_loadu_ps(lo, x + k);
      __m512 vhi = _mm512_maskz_loadu_ps(hi, x + k + 16);
      __m512i packed = (__m512i)_mm512_cvtne2ps_pbh(vhi, vlo);
      int nst = Kp - k < 32 ? Kp - k : 32;
      __mmask32 st = nst == 32 ? 0xffffffffu : (__mmask32)((1u << nst) - 1);
      _mm512_mask_storeu_epi16(o + k, st, packed);
    }
  }
}

/* y[0:mr, 0:nb*16] (+)= a[0:mr, pairs 0:nk] . panel; a rows lda2 32-bit pairs apart, the
 * nb column blocks of the panel bstride values apart, the last block's store masked. */
TARGET_BF16 static inline __attribute__((always_inline)) void
micro(const int mr, const int nb, const uint16_t *a, size_t lda2, const uint16_t *b,
      size_t bstride, int nk, float *y, size_t ldy, int accumulate, __mmask16 last) {
  __m512 c[MR][NB];
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
    for (int j = 0; j < nb; j++) c[i][j] = _mm512_setzero_ps();
  for (int kp = 0; kp < nk; kp++) {
    __m512bh bv[NB];
#pragma GCC unroll 4
    for (int j = 0; j < nb; j++)
      bv[j] = (__m512bh)_mm512_load_si512((const void *)(b + j * bstride + (size_t)kp * 32));
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
      uint32_t pair;
      memcpy(&pair, a + 2 * (i * lda2 + (size_t)kp), sizeof pair);
      __m512bh av = (__m512bh)_mm512_set1_epi32((int)pair);
#pragma GCC unroll 4
      for (int j = 0; j < nb; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
    for (int j = 0; j < nb; j++) {
      __mmask16 m = j == nb - 1 ? last : (__mmask16)0xffff;
      float *p = y + i * ldy + (size_t)j * 16;
      __m512 v = c[i][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, p));
      _mm512_mask_storeu_ps(p, m, v);
    }
}

typedef void (*micro_fn)(const uint16_t *, size_t, const uint16_t *, size_t, int, float *, size_t,
                         int, __mmask16);

#define MICRO(m, n)                                                                            \
  TARGET_BF16 static void micro_##m##_##n(const uint16_t *a, size_t lda2, const uint16_t *b,   \
                                          size_t bs, int nk, float *y, size_t ldy, int acc,    \
                                          __mmask16 last) {                                    \
    micro(m, n, a, lda2, b, bs, nk, y, ldy, acc, last);                                        \
  }
#define MICRO_ROW(m) MICRO(m, 1) MICRO(m, 2) MICRO(m, 3) MICRO(m, 4)
MICRO_ROW(1) MICRO_ROW(2) MICRO_ROW(3) MICRO_ROW(4) MICRO_ROW(5) MICRO_ROW(6)
#define KROW(m) {micro_##m##_1, micro_##m##_2, micro_##m##_3, micro_##m##_4}
static const micro_fn kernels[MR][NB] = {KROW(1), KROW(2), KROW(3), KROW(4), KROW(5), KROW(6)};

void gemm_bf16(float *y, int ldy, const uint16_t *a, const bf16_weight *w, int r0, int r1, int o0,
               int o1) {
  size_t K2 = (size_t)w->Kp / 2, bstride = K2 * 32;
  if (K2 == 0) {
    for (int r = r0; r < r1; r++) memset(y + (size_t)r * ldy + o0, 0, (size_t)(o1 - o0) * 4);
    return;
  }
  for (size_t kc0 = 0; kc0 < K2; kc0 += KC) {
    int nk = (int)(K2 - kc0 < KC ? K2 - kc0 : KC);
    for (int rg = r0; rg < r1; rg += MC) {
      int rg1 = r1 - rg < MC ? r1 : rg + MC;
      for (int o = o0; o < o1; o += 16 * NB) {
        int ncols = o1 - o < 16 * NB ? o1 - o : 16 * NB;
        int nb = (ncols + 15) / 16, tail = ncols - 16 * (nb - 1);
        __mmask16 last = tail == 16 ? (__mmask16)0xffff : (__mmask16)((1u << tail) - 1);
        const uint16_t *b = w->data + (size_t)(o / 16) * bstride + kc0 * 32;
        for (int r = rg; r < rg1; r += MR) {
          int mr = rg1 - r < MR ? rg1 - r : MR;
          kernels[mr - 1][nb - 1](a + 2 * ((size_t)r * K2 + kc0), K2, b, bstride, nk,
                                  y + (size_t)r * ldy + o, (size_t)ldy, kc0 > 0, last);
        }
      }
    }
  }
}

#else /* not x86: no kernel; bf16_cpu_supported() is 0, so the loader never gets here */

int bf16_cpu_supported(void) { return 0; }

void bf16_round_rows(uint16_t *a, const float *inp, int C, int r0, int r1) {
  int Kp = bf16_row_width(C);
  for (int r = r0; r < r1; r++)
    for (int k = 0; k < Kp; k++)
      a[(size_t)r * Kp + k] = k < C ? bf16_from_float(inp[(size_t)r * C + k]) : 0;
}

void gemm_bf16(float *y, int ldy, const uint16_t *a, const bf16_weight *w, int r0, int r1, int o0,
               int o1) {
  for (int r = r0; r < r1; r++)
    for (int o = o0; o < o1; o++) {
      float s = 0.0f;
      for (int k = 0; k < w->Kp; k++) {
        const uint16_t *p = w->data + ((size_t)(o / 16) * (w->Kp / 2) + k / 2) * 32;
        s += bf16_to_float(a[(size_t)r * w->Kp + k]) * bf16_to_float(p[2 * (o % 16) + k % 2]);
      }
      y[(size_t)r * ldy + o] = s;
    }
}

#endif
