/* Byte kernels over interleaved RGB runs (see ic_lut.h). The vector forms read a run as
 * 64-byte vectors; since 64 = 3 * 21 + 1, vector k's first byte belongs to channel k % 3
 * (its phase), and a block of three vectors (192 bytes, 64 pixels) starts on a pixel. */
#include "perturb/ic_lut.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ICL_HAVE_AVX512 1
#define ICL_BW __attribute__((target("avx512f,avx512bw")))
#define ICL_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))

/* residue[r]: bit i set where i % 3 == r. In a vector whose first byte has channel p,
 * byte i belongs to channel (i + p) % 3, so channel c's lanes are residue[(c - p + 3) % 3]. */
static const uint64_t residue[3] = {0x9249249249249249ULL, 0x2492492492492492ULL,
                                    0x4924924924924924ULL};
#define PHASE_MASK(p, c) ((__mmask64)residue[((c) - (p) + 3) % 3])

static inline __mmask64 tail_mask(size_t left) {
  return left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
}

/* The bytes of all 192-byte blocks summed lane by lane, per phase (vector 0, 1 or 2 of a
 * block): a lane then always holds the same channel. Even and odd bytes go to 16-bit
 * lanes, which take 256 blocks before they could overflow; then the lanes are added
 * into sums by channel. */
static void sums_flush(uint64_t *sums, const uint16_t lanes[3][2][32]) {
  for (int p = 0; p < 3; p++)
    for (int odd = 0; odd < 2; odd++)
      for (int l = 0; l < 32; l++) sums[(2 * l + odd + p) % 3] += lanes[p][odd][l];
}

ICL_BW static void sums_bw(uint64_t *sums, const uint8_t *s, size_t nb) {
  const __m512i low = _mm512_set1_epi16(0x00ff);
  size_t i = 0;
  while (i + 192 <= nb) {
    __m512i e0 = _mm512_setzero_si512(), e1 = e0, e2 = e0, o0 = e0, o1 = e0, o2 = e0;
    for (int b = 0; b < 256 && i + 192 <= nb; b++, i += 192) {
      __m512i x0 = _mm512_loadu_si512((const void *)(s + i));
      __m512i x1 = _mm512_loadu_si512((const void *)(s + i + 64));
      __m512i x2 = _mm512_loadu_si512((const void *)(s + i + 128));
      e0 = _mm512_add_epi16(e0, _mm512_and_si512(x0, low));
      o0 = _mm512_add_epi16(o0, _mm512_srli_epi16(x0, 8));
      e1 = _mm512_add_epi16(e1, _mm512_and_si512(x1, low));
      o1 = _mm512_add_epi16(o1, _mm512_srli_epi16(x1, 8));
      e2 = _mm512_add_epi16(e2, _mm512_and_si512(x2, low));
      o2 = _mm512_add_epi16(o2, _mm512_srli_epi16(x2, 8));
    }
    uint16_t lanes[3][2][32];
    _mm512_storeu_si512((void *)lanes[0][0], e0);
    _mm512_storeu_si512((void *)lanes[0][1], o0);
    _mm512_storeu_si512((void *)lanes[1][0], e1);
    _mm512_storeu_si512((void *)lanes[1][1], o1);
    _mm512_storeu_si512((void *)lanes[2][0], e2);
    _mm512_storeu_si512((void *)lanes[2][1], o2);
    sums_flush(sums, (const uint16_t(*)[2][32])lanes);
  }
  _mm256_zeroupper();
  for (; i < nb; i++) sums[i % 3] += s[i]; /* under 192 bytes, one by one */
}

/* One channel's table as four 64-byte quarters: vpermi2b looks a byte up in 128 entries
 * by its low seven bits, so two lookups (entries 0..127 and 128..255) and bit 7 pick;
 * then the phase's channel masks pick each lane's channel. The last, partial vector is
 * read and written under a mask. */
#define ICL_LOOK1(x, hi, c) \
  _mm512_mask_blend_epi8(hi, _mm512_permutex2var_epi8(t##c##0, x, t##c##1), \
                         _mm512_permutex2var_epi8(t##c##2, x, t##c##3))
#define ICL_LOOK3(r, x, p)                                                                \
  do {                                                                                    \
    __mmask64 hi_ = _mm512_movepi8_mask(x);                                               \
    r = _mm512_mask_blend_epi8(PHASE_MASK(p, 1), ICL_LOOK1(x, hi_, 0), ICL_LOOK1(x, hi_, 1)); \
    r = _mm512_mask_blend_epi8(PHASE_MASK(p, 2), r, ICL_LOOK1(x, hi_, 2));                \
  } while (0)

ICL_VBMI static void lookup_vbmi(uint8_t *d, const uint8_t *s, size_t nb, const uint8_t lut[3][256]) {
#define ICL_TABLE(c, q) __m512i t##c##q = _mm512_loadu_si512((const void *)(lut[c] + 64 * q));
  ICL_TABLE(0, 0) ICL_TABLE(0, 1) ICL_TABLE(0, 2) ICL_TABLE(0, 3)
  ICL_TABLE(1, 0) ICL_TABLE(1, 1) ICL_TABLE(1, 2) ICL_TABLE(1, 3)
  ICL_TABLE(2, 0) ICL_TABLE(2, 1) ICL_TABLE(2, 2) ICL_TABLE(2, 3)
#undef ICL_TABLE
  size_t i = 0;
  for (; i + 192 <= nb; i += 192) {
    __m512i x0 = _mm512_loadu_si512((const void *)(s + i));
    __m512i x1 = _mm512_loadu_si512((const void *)(s + i + 64));
    __m512i x2 = _mm512_loadu_si512((const void *)(s + i + 128));
    __m512i r0, r1, r2;
    ICL_LOOK3(r0, x0, 0);
    ICL_LOOK3(r1, x1, 1);
    ICL_LOOK3(r2, x2, 2);
    _mm512_storeu_si512((void *)(d + i), r0);
    _mm512_storeu_si512((void *)(d + i + 64), r1);
    _mm512_storeu_si512((void *)(d + i + 128), r2);
  }
  for (int p = 0; i < nb; i += 64, p++) {
    __mmask64 k = tail_mask(nb - i);
    __m512i x = _mm512_maskz_loadu_epi8(k, s + i);
    __m512i r;
    if (p == 0) ICL_LOOK3(r, x, 0);
    else if (p == 1) ICL_LOOK3(r, x, 1);
    else ICL_LOOK3(r, x, 2);
    _mm512_mask_storeu_epi8(d + i, k, r);
  }
  _mm256_zeroupper();
}
ICL_BW static int max_bw(const uint8_t *s, size_t n, int top) {
  __m512i m = _mm512_set1_epi8((char)top);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) m = _mm512_max_epu8(m, _mm512_loadu_si512((const void *)(s + i)));
  m = _mm512_max_epu8(m, _mm512_maskz_loadu_epi8(tail_mask(n - i), s + i));
  uint8_t b[64];
  _mm512_storeu_si512((void *)b, m);
  _mm256_zeroupper();
  for (int q = 0; q < 64; q++) top = b[q] > top ? b[q] : top;
  return top;
}
#endif

int vfr_icl_max_u8(const uint8_t *s, size_t n, int top) {
#ifdef ICL_HAVE_AVX512
  if (__builtin_cpu_supports("avx512bw")) return max_bw(s, n, top);
#endif
  for (size_t i = 0; i < n; i++) top = s[i] > top ? s[i] : top;
  return top;
}

void vfr_icl_rgb_sums(uint64_t *sums, const uint8_t *s, size_t n) {
#ifdef ICL_HAVE_AVX512
  if (__builtin_cpu_supports("avx512bw")) {
    sums_bw(sums, s, 3 * n);
    return;
  }
#endif
  uint64_t a0 = 0, a1 = 0, a2 = 0;
  for (size_t i = 0; i < n; i++) {
    a0 += s[3 * i];
    a1 += s[3 * i + 1];
    a2 += s[3 * i + 2];
  }
  sums[0] += a0;
  sums[1] += a1;
  sums[2] += a2;
}

void vfr_icl_rgb_lookup(uint8_t *d, const uint8_t *s, size_t n, const uint8_t lut[3][256]) {
#ifdef ICL_HAVE_AVX512
  if (__builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw")) {
    lookup_vbmi(d, s, 3 * n, lut);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) d[3 * i + c] = lut[c][s[3 * i + c]];
}
