/* The convolution passes of resize, exact to Pillow's integer arithmetic.
 *
 * Pillow computes each output sample as clip8(2^21 + sum s[i] * k[i]) in int, s uint8 and
 * k 22-bit fixed point, clip8(v) = v >> 22 clipped to [0, 255]. Any order of summation
 * gives the same int, and so does any split of the sum computed modulo 2^32, which the
 * SSE2 kernels use: with k = kh * 2^15 + kl (kh = floor(k / 2^15) in [-128, 128], kl in
 * [0, 2^15)), both halves are int16 and pmaddwd multiplies uint8-widened samples by two
 * taps' halves at once; the sum is (sum s*kh) * 2^15 + sum s*kl, wrapping like the
 * reference's own int (whose true value always fits: |sum| <= 255 * sum|k| < 2^31).
 * Without SSE2 the same sums are computed with plain int32 loops. */
#include "image/resize_pass.h"

#include <stdlib.h>
#include <string.h>

#include "vfrobust/error.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define RESIZE_SSE2 1
#endif

#define PB VFR_RESIZE_PRECISION_BITS
#define HALF (1 << (PB - 1))

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PB << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PB);
}

#ifdef RESIZE_SSE2
/* Two taps' weights as int16 pairs: lo = kl(a) | kl(b) << 16, hi likewise with kh. */
static inline void split_pair(int32_t ka, int32_t kb, int32_t *hi, int32_t *lo) {
  uint32_t la = (uint32_t)ka & 0x7fff, lb = (uint32_t)kb & 0x7fff;
  /* kh = (k - kl) / 2^15 exactly: a floor, like an arithmetic shift */
  uint32_t ha = (uint32_t)((ka - (int32_t)la) / 32768) & 0xffff;
  uint32_t hb = (uint32_t)((kb - (int32_t)lb) / 32768) & 0xffff;
  *lo = (int32_t)(la | lb << 16);
  *hi = (int32_t)(ha | hb << 16);
}

/* clip8 of the four int32 lanes of (hi << 15) + lo + 2^21, packed into the low 4 bytes. */
static inline __m128i finish4(__m128i hi, __m128i lo) {
  __m128i v = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(hi, 15), lo), _mm_set1_epi32(HALF));
  v = _mm_srai_epi32(v, PB); /* in [-512, 511]: the saturating packs below clip exactly */
  v = _mm_packs_epi32(v, v);
  return _mm_packus_epi16(v, v);
}

/* Every lane of the result holds the sum of v's four int32 lanes. */
static inline __m128i hsum4(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* 8 bytes at p as int16 lanes. */
static inline __m128i load8(const uint8_t *p) {
  return _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)p), _mm_setzero_si128());
}

/* Pixels p and p + ch (4 bytes each, readable) as int16 lanes c0(p), c0(p+ch), c1(p), ... */
static inline __m128i load_pixel_pair(const uint8_t *p, int ch) {
  int32_t a, b;
  memcpy(&a, p, 4);
  memcpy(&b, p + ch, 4);
  __m128i v = _mm_unpacklo_epi8(_mm_cvtsi32_si128(a), _mm_cvtsi32_si128(b));
  return _mm_unpacklo_epi8(v, _mm_setzero_si128());
}
#endif

int vfr_resize_horizontal(const vfr_image *in, int y0, const pass_coeffs *c, vfr_image *out,
                          vfr_error *err) {
  const int ch = in->channels, wout = c->out_size;
#ifdef RESIZE_SSE2
  /* Per output sample, its taps in pairs (a zero weight past the window), as split_pair
   * makes them; padded to a multiple of 4 pairs for the 1-channel kernel's 8-tap loads.
   * Source rows are copied into a zero-padded scratch row so loads may run 16 bytes on. */
  const int npairs = ((c->ksize + 1) / 2 + 3) / 4 * 4;
  const size_t row_bytes = (size_t)in->width * ch;
  int32_t *kh = calloc((size_t)wout * npairs, sizeof *kh);
  int32_t *kl = calloc((size_t)wout * npairs, sizeof *kl);
  uint8_t *row = calloc(2 * (row_bytes + 16), 1), *row2 = row + row_bytes + 16;
  if (!kh || !kl || !row) {
    free(kh);
    free(kl);
    free(row);
    return vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
  }
  for (int xx = 0; xx < wout; xx++) {
    const int32_t *k = c->k + (size_t)xx * c->ksize;
    const int n = c->count[xx];
    for (int p = 0; 2 * p < n; p++)
      split_pair(k[2 * p], 2 * p + 1 < n ? k[2 * p + 1] : 0, &kh[(size_t)xx * npairs + p],
                 &kl[(size_t)xx * npairs + p]);
  }
  for (int y = 0; y < out->height; y++) {
    memcpy(row, in->data + (size_t)(y0 + y) * in->stride, row_bytes); /* row is (W_in, ch) */
    uint8_t *dst = out->data + (size_t)y * out->stride;               /* dst is (W_out, ch) */
    if (y + 1 < out->height) { /* two rows share each pixel's weights */
      memcpy(row2, in->data + (size_t)(y0 + y + 1) * in->stride, row_bytes);
      uint8_t *dst2 = dst + out->stride;
      for (int xx = 0; xx < wout; xx++) {
        const size_t o = (size_t)c->first[xx] * ch;
        const uint8_t *s = row + o, *s2 = row2 + o;
        const int32_t *h = kh + (size_t)xx * npairs, *l = kl + (size_t)xx * npairs;
        __m128i ah = _mm_setzero_si128(), al = ah, bh = ah, bl = ah;
        if (ch == 1) {
          for (int p = 0; 2 * p < c->count[xx]; p += 4, s += 8, s2 += 8) {
            const __m128i wh = _mm_loadu_si128((const __m128i *)(h + p));
            const __m128i wl = _mm_loadu_si128((const __m128i *)(l + p));
            __m128i v = load8(s), v2 = load8(s2);
            ah = _mm_add_epi32(ah, _mm_madd_epi16(v, wh));
            al = _mm_add_epi32(al, _mm_madd_epi16(v, wl));
            bh = _mm_add_epi32(bh, _mm_madd_epi16(v2, wh));
            bl = _mm_add_epi32(bl, _mm_madd_epi16(v2, wl));
          }
          dst[xx] = (uint8_t)_mm_cvtsi128_si32(finish4(hsum4(ah), hsum4(al)));
          dst2[xx] = (uint8_t)_mm_cvtsi128_si32(finish4(hsum4(bh), hsum4(bl)));
          continue;
        }
        for (int p = 0; 2 * p < c->count[xx]; p++, s += 2 * ch, s2 += 2 * ch) {
          const __m128i wh = _mm_set1_epi32(h[p]), wl = _mm_set1_epi32(l[p]);
          __m128i v = load_pixel_pair(s, ch), v2 = load_pixel_pair(s2, ch);
          ah = _mm_add_epi32(ah, _mm_madd_epi16(v, wh));
          al = _mm_add_epi32(al, _mm_madd_epi16(v, wl));
          bh = _mm_add_epi32(bh, _mm_madd_epi16(v2, wh));
          bl = _mm_add_epi32(bl, _mm_madd_epi16(v2, wl));
        }
        int32_t px = _mm_cvtsi128_si32(finish4(ah, al)), px2 = _mm_cvtsi128_si32(finish4(bh, bl));
        /* a 4-byte store for 3 channels spills into the next pixel, written after it */
        const size_t nb = (ch == 4 || xx + 1 < wout) ? 4 : 3;
        memcpy(dst + (size_t)xx * ch, &px, nb);
        memcpy(dst2 + (size_t)xx * ch, &px2, nb);
      }
      y++;
      continue;
    }
    for (int xx = 0; xx < wout; xx++) {
      const uint8_t *s = row + (size_t)c->first[xx] * ch;
      const int32_t *h = kh + (size_t)xx * npairs, *l = kl + (size_t)xx * npairs;
      __m128i ah = _mm_setzero_si128(), al = _mm_setzero_si128();
      if (ch == 1) {
        for (int p = 0; 2 * p < c->count[xx]; p += 4, s += 8) {
          __m128i v = load8(s);
          ah = _mm_add_epi32(ah, _mm_madd_epi16(v, _mm_loadu_si128((const __m128i *)(h + p))));
          al = _mm_add_epi32(al, _mm_madd_epi16(v, _mm_loadu_si128((const __m128i *)(l + p))));
        }
        dst[xx] = (uint8_t)_mm_cvtsi128_si32(finish4(hsum4(ah), hsum4(al)));
        continue;
      }
      for (int p = 0; 2 * p < c->count[xx]; p++, s += 2 * ch) {
        __m128i v = load_pixel_pair(s, ch);
        ah = _mm_add_epi32(ah, _mm_madd_epi16(v, _mm_set1_epi32(h[p])));
        al = _mm_add_epi32(al, _mm_madd_epi16(v, _mm_set1_epi32(l[p])));
      }
      int32_t px = _mm_cvtsi128_si32(finish4(ah, al));
      memcpy(dst + (size_t)xx * ch, &px, (ch == 4 || xx + 1 < wout) ? 4 : 3);
    }
  }
  free(kh);
  free(kl);
  free(row);
#else
  (void)err;
  for (int y = 0; y < out->height; y++) {
    const uint8_t *src = in->data + (size_t)(y0 + y) * in->stride; /* src is (W_in, ch) */
    uint8_t *dst = out->data + (size_t)y * out->stride;             /* dst is (W_out, ch) */
    for (int xx = 0; xx < wout; xx++) {
      const int32_t *k = c->k + (size_t)xx * c->ksize;
      const uint8_t *s = src + (size_t)c->first[xx] * ch;
      const int n = c->count[xx];
      uint8_t *d = dst + (size_t)xx * ch;
      if (ch == 1) {
        int32_t s0 = HALF;
        for (int i = 0; i < n; i++) s0 += s[i] * k[i];
        d[0] = clip8(s0);
      } else if (ch == 3) {
        int32_t s0 = HALF, s1 = HALF, s2 = HALF;
        for (int i = 0; i < n; i++, s += 3) {
          s0 += s[0] * k[i];
          s1 += s[1] * k[i];
          s2 += s[2] * k[i];
        }
        d[0] = clip8(s0);
        d[1] = clip8(s1);
        d[2] = clip8(s2);
      } else {
        int32_t s0 = HALF, s1 = HALF, s2 = HALF, s3 = HALF;
        for (int i = 0; i < n; i++, s += 4) {
          s0 += s[0] * k[i];
          s1 += s[1] * k[i];
          s2 += s[2] * k[i];
          s3 += s[3] * k[i];
        }
        d[0] = clip8(s0);
        d[1] = clip8(s1);
        d[2] = clip8(s2);
        d[3] = clip8(s3);
      }
    }
  }
#endif
  return VFR_OK;
}

#ifndef RESIZE_SSE2
/* acc[j] += s[j] * w over n values: the hot loop of the portable vertical pass. GCC's -O2
 * cost model declines to vectorise the uint8 -> int32 widening here; its dynamic model
 * does (clang vectorises it at -O2 unasked). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("vect-cost-model=dynamic")))
#endif
static void mac_row(int32_t *restrict acc, const uint8_t *restrict s, int32_t w, size_t n) {
  for (size_t j = 0; j < n; j++) acc[j] += s[j] * w;
}

/* Portable vertical pass: whole rows accumulated tap by tap in acc, (W*ch) int32. */
int vfr_resize_vertical(const vfr_image *in, int y0, const pass_coeffs *c, vfr_image *out,
                        vfr_error *err) {
  const size_t n = (size_t)in->width * in->channels; /* bytes per row */
  int32_t *acc = malloc(n * sizeof *acc);
  if (!acc) return vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
  for (int yy = 0; yy < c->out_size; yy++) {
    const int32_t *k = c->k + (size_t)yy * c->ksize;
    for (size_t j = 0; j < n; j++) acc[j] = HALF;
    for (int i = 0; i < c->count[yy]; i++)
      mac_row(acc, in->data + (size_t)(c->first[yy] - y0 + i) * in->stride, k[i], n);
    uint8_t *d = out->data + (size_t)yy * out->stride;
    for (size_t j = 0; j < n; j++) d[j] = clip8(acc[j]);
  }
  free(acc);
  return VFR_OK;
}
#else
/* SSE2 vertical pass: 16 bytes of an output row at a time, every tap summed in registers. */
int vfr_resize_vertical(const vfr_image *in, int y0, const pass_coeffs *c, vfr_image *out,
                        vfr_error *err) {
  const size_t n = (size_t)in->width * in->channels; /* bytes per row */
  int32_t *pw = malloc((size_t)(c->ksize + 1) * sizeof *pw); /* (taps/2, 2): hi, lo pairs */
  if (!pw) return vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
  for (int yy = 0; yy < c->out_size; yy++) {
    const int32_t *k = c->k + (size_t)yy * c->ksize;
    const int taps = c->count[yy];
    const uint8_t *base = in->data + (size_t)(c->first[yy] - y0) * in->stride;
    uint8_t *d = out->data + (size_t)yy * out->stride;
    size_t j = 0;
    /* 16 output bytes at a time, all taps summed in registers; taps in pairs of rows */
    for (int i = 0; i < taps; i += 2)
      split_pair(k[i], i + 1 < taps ? k[i + 1] : 0, &pw[i], &pw[i + 1]);
    for (; j + 16 <= n; j += 16) {
      __m128i h0 = _mm_setzero_si128(), h1 = h0, h2 = h0, h3 = h0;
      __m128i l0 = h0, l1 = h0, l2 = h0, l3 = h0;
      for (int i = 0; i < taps; i += 2) {
        const uint8_t *ra = base + (size_t)i * in->stride + j;
        const uint8_t *rb = i + 1 < taps ? ra + in->stride : ra;
        const __m128i wh = _mm_set1_epi32(pw[i]), wl = _mm_set1_epi32(pw[i + 1]);
        const __m128i z = _mm_setzero_si128();
        __m128i a = _mm_loadu_si128((const __m128i *)ra), b = _mm_loadu_si128((const __m128i *)rb);
        __m128i lo8 = _mm_unpacklo_epi8(a, b), hi8 = _mm_unpackhi_epi8(a, b);
        __m128i v0 = _mm_unpacklo_epi8(lo8, z), v1 = _mm_unpackhi_epi8(lo8, z);
        __m128i v2 = _mm_unpacklo_epi8(hi8, z), v3 = _mm_unpackhi_epi8(hi8, z);
        h0 = _mm_add_epi32(h0, _mm_madd_epi16(v0, wh));
        l0 = _mm_add_epi32(l0, _mm_madd_epi16(v0, wl));
        h1 = _mm_add_epi32(h1, _mm_madd_epi16(v1, wh));
        l1 = _mm_add_epi32(l1, _mm_madd_epi16(v1, wl));
        h2 = _mm_add_epi32(h2, _mm_madd_epi16(v2, wh));
        l2 = _mm_add_epi32(l2, _mm_madd_epi16(v2, wl));
        h3 = _mm_add_epi32(h3, _mm_madd_epi16(v3, wh));
        l3 = _mm_add_epi32(l3, _mm_madd_epi16(v3, wl));
      }
      const __m128i hv = _mm_set1_epi32(HALF);
      __m128i s0 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h0, 15), l0), hv);
      __m128i s1 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h1, 15), l1), hv);
      __m128i s2 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h2, 15), l2), hv);
      __m128i s3 = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h3, 15), l3), hv);
      __m128i p01 = _mm_packs_epi32(_mm_srai_epi32(s0, PB), _mm_srai_epi32(s1, PB));
      __m128i p23 = _mm_packs_epi32(_mm_srai_epi32(s2, PB), _mm_srai_epi32(s3, PB));
      _mm_storeu_si128((__m128i *)(d + j), _mm_packus_epi16(p01, p23));
    }
    for (; j < n; j++) { /* the tail */
      int32_t acc = HALF;
      for (int i = 0; i < taps; i++) acc += base[(size_t)i * in->stride + j] * k[i];
      d[j] = clip8(acc);
    }
  }
  free(pw);
  return VFR_OK;
}
#endif
