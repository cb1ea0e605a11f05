/* ImageNet-C's digital corruptions (see ic_ops.h, docs/perturbations.md). With x = v/255.
 * (float64) for each channel value v:
 *   brightness       skimage HSV: V = clip(V + c, 0, 1)           c = .1 .2 .3 .4 .5
 *   saturate         skimage HSV: S = clip(S * c0 + c1, 0, 1)     (c0, c1) = (.3, 0) (.1, 0)
 *                                                                  (2, 0) (5, .1) (20, .2)
 *   contrast         (x - mean) * c + mean, mean per channel       c = .4 .3 .2 .1 .05
 *   jpeg_compression PIL save(JPEG, quality=q), decoded            q = 25 18 15 10 7
 *   pixelate         PIL resize (int(w*c), int(h*c)) BOX, back NEAREST  c = .6 .5 .4 .3 .25
 * then np.uint8(clip(y, 0, 1) * 255) (truncation). None of them draws random numbers. */
/* Separate roundings, as NumPy's ufuncs compute: no contraction to fused multiply-adds
 * (GCC's default in ISO C mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "perturb/ic_lut.h"
#include "perturb/ic_ops.h"
#include "perturb/ic_unit8.h"

static const double brightness_c[5] = {.1, .2, .3, .4, .5};
static const double saturate_c[5][2] = {{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {20, 0.2}};
static const double contrast_c[5] = {0.4, .3, .2, .1, .05};
static const int jpeg_c[5] = {25, 18, 15, 10, 7};
static const double pixelate_c[5] = {0.6, 0.5, 0.4, 0.3, 0.25};

static inline double clip01(double v) { return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v; }

/* skimage.color.rgb2hsv of one pixel (r, g, b in [0, 1]): where several channels hold the
 * maximum, blue's formula wins over green's over red's (the later assignment). The formula
 * is chosen by selection, not branches: offset + numerator / delta with offset 0 for red
 * (0 + y differs from y only in the sign of a zero, which the end of the function drops). */
static inline void rgb2hsv(double r, double g, double b, double *h, double *s, double *v) {
  double mx = r > g ? r : g, mn = r < g ? r : g;
  mx = b > mx ? b : mx;
  mn = b < mn ? b : mn;
  double delta = mx - mn;
  *v = mx;
  if (delta == 0.0) {
    *s = 0.0;
    *h = 0.0;
    return;
  }
  *s = delta / mx;
  int blue = b == mx, green = g == mx;
  double num = blue ? r - g : green ? b - r : g - b;
  double off = blue ? 4. : green ? 2. : 0.;
  double a = (off + num / delta) / 6.;
  /* (a % 1.) as NumPy's remainder (fmod, + 1 for a negative remainder); a lies in
   * [-1/6, 5/6], where fmod(a, 1) is a itself */
  *h = a < 0.0 ? a + 1.0 : a + 0.0;
}

/* skimage.color.hsv2rgb of one pixel: (V,t,p), (q,V,p), (p,V,t), (p,q,V), (t,p,V), (V,p,q)
 * for i = floor(6H) mod 6 = 0..5, picked from a table instead of a branch. */
static inline void hsv2rgb(double h, double s, double v, double *rgb) {
  static const unsigned char pick[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3},
                                           {1, 2, 0}, {3, 1, 0}, {0, 1, 2}}; /* v p q t */
  int six = (int)(h * 6); /* floor: h * 6 is in [0, 6] */
  double hi = (double)six;
  double f = h * 6 - hi;
  double vals[4];
  vals[0] = v;
  vals[1] = v * (1 - s);           /* p */
  vals[2] = v * (1 - f * s);       /* q */
  vals[3] = v * (1 - (1 - f) * s); /* t */
  const unsigned char *k = pick[six % 6];
  rgb[0] = vals[k[0]];
  rgb[1] = vals[k[1]];
  rgb[2] = vals[k[2]];
}

#ifdef __SSE2__
static inline __m128d select_pd(__m128d mask, __m128d yes, __m128d no) {
  return _mm_or_pd(_mm_and_pd(mask, yes), _mm_andnot_pd(mask, no));
}

/* rgb2hsv, the V or S change and hsv2rgb of two pixels at once: the same operations as the
 * one-pixel functions lane by lane (max/min, the selections as masks), so the same values;
 * the divisions and square-free arithmetic run two wide. p0, p1 are RGB pixels, d0, d1
 * their outputs. */
static inline void hsv_pair(const double *unit, const uint8_t *p0, const uint8_t *p1, uint8_t *d0,
                            uint8_t *d1, int mode, double ca, double cb) {
  static const unsigned char pick[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3},
                                           {1, 2, 0}, {3, 1, 0}, {0, 1, 2}}; /* v p q t */
  const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0);
  __m128d r = _mm_set_pd(unit[p1[0]], unit[p0[0]]);
  __m128d g = _mm_set_pd(unit[p1[1]], unit[p0[1]]);
  __m128d b = _mm_set_pd(unit[p1[2]], unit[p0[2]]);
  __m128d mx = _mm_max_pd(_mm_max_pd(r, g), b), mn = _mm_min_pd(_mm_min_pd(r, g), b);
  __m128d delta = _mm_sub_pd(mx, mn);
  __m128d flat = _mm_cmpeq_pd(delta, zero);
  __m128d sat = _mm_andnot_pd(flat, _mm_div_pd(delta, mx));
  __m128d blue = _mm_cmpeq_pd(b, mx), green = _mm_cmpeq_pd(g, mx);
  __m128d num = select_pd(blue, _mm_sub_pd(r, g), select_pd(green, _mm_sub_pd(b, r), _mm_sub_pd(g, b)));
  __m128d off = select_pd(blue, _mm_set1_pd(4.), _mm_and_pd(green, _mm_set1_pd(2.)));
  __m128d a = _mm_div_pd(_mm_add_pd(off, _mm_div_pd(num, delta)), _mm_set1_pd(6.));
  __m128d hue = select_pd(_mm_cmplt_pd(a, zero), _mm_add_pd(a, one), _mm_add_pd(a, zero));
  hue = _mm_andnot_pd(flat, hue);
  __m128d val = mx;
  if (mode == 0)
    val = _mm_min_pd(_mm_max_pd(_mm_add_pd(val, _mm_set1_pd(ca)), zero), one);
  else
    sat = _mm_min_pd(_mm_max_pd(_mm_add_pd(_mm_mul_pd(sat, _mm_set1_pd(ca)), _mm_set1_pd(cb)), zero), one);
  __m128d h6 = _mm_mul_pd(hue, _mm_set1_pd(6.));
  __m128i six = _mm_cvttpd_epi32(h6); /* floor: h * 6 is in [0, 6] */
  __m128d f = _mm_sub_pd(h6, _mm_cvtepi32_pd(six));
  __m128d vp = _mm_mul_pd(val, _mm_sub_pd(one, sat));
  __m128d vq = _mm_mul_pd(val, _mm_sub_pd(one, _mm_mul_pd(f, sat)));
  __m128d vt = _mm_mul_pd(val, _mm_sub_pd(one, _mm_mul_pd(_mm_sub_pd(one, f), sat)));
  double vals[2][4];
  _mm_storel_pd(&vals[0][0], val);
  _mm_storeh_pd(&vals[1][0], val);
  _mm_storel_pd(&vals[0][1], vp);
  _mm_storeh_pd(&vals[1][1], vp);
  _mm_storel_pd(&vals[0][2], vq);
  _mm_storeh_pd(&vals[1][2], vq);
  _mm_storel_pd(&vals[0][3], vt);
  _mm_storeh_pd(&vals[1][3], vt);
  int i0 = _mm_cvtsi128_si32(six), i1 = _mm_cvtsi128_si32(_mm_shuffle_epi32(six, 1));
  const unsigned char *k0 = pick[i0 % 6], *k1 = pick[i1 % 6];
  for (int c = 0; c < 3; c++) {
    d0[c] = vfr_ic_to_u8(vals[0][k0[c]]);
    d1[c] = vfr_ic_to_u8(vals[1][k1[c]]);
  }
}
#endif

#if defined(__GNUC__) && defined(__x86_64__)
/* hsv_pair's operations on eight pixels at once (src: 24 bytes, dst: 24 bytes), lane by
 * lane the same values: v / 255. computed exactly (vfr_ic_unit8_avx512: no table, no
 * gather), max/min and the masked selections in the same order, the three IEEE divisions
 * eight wide (the masked-off lanes, whose delta is 0, are not divided: their values are
 * replaced by 0 as hsv_pair's masks do), the hsv2rgb table as blends over
 * i = floor(6H) mod 6, and vfr_ic_to_u8's min/max, scaling and truncation. The bytes are
 * de-interleaved and re-interleaved with byte shuffles. */
__attribute__((target("avx512f"))) static void hsv_eight(const uint8_t *src, uint8_t *dst, int mode,
                                                         double ca, double cb) {
  /* 24 source bytes: lo = 0..15, hi = 16..23; channel c of pixel i is byte 3i + c */
  const __m128i lo = _mm_loadu_si128((const __m128i *)src), hi = _mm_loadl_epi64((const __m128i *)(src + 16));
  const __m128i rl = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i rh = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i gl = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i gh = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i bl = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i bh = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  __m128i rb = _mm_or_si128(_mm_shuffle_epi8(lo, rl), _mm_shuffle_epi8(hi, rh));
  __m128i gb = _mm_or_si128(_mm_shuffle_epi8(lo, gl), _mm_shuffle_epi8(hi, gh));
  __m128i bb = _mm_or_si128(_mm_shuffle_epi8(lo, bl), _mm_shuffle_epi8(hi, bh));
  __m512d r = vfr_ic_unit8_avx512(_mm256_cvtepu8_epi32(rb));
  __m512d g = vfr_ic_unit8_avx512(_mm256_cvtepu8_epi32(gb));
  __m512d b = vfr_ic_unit8_avx512(_mm256_cvtepu8_epi32(bb));
  const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
  /* rgb2hsv */
  __m512d mx = _mm512_max_pd(_mm512_max_pd(r, g), b), mn = _mm512_min_pd(_mm512_min_pd(r, g), b);
  __m512d delta = _mm512_sub_pd(mx, mn);
  __mmask8 live = _mm512_cmp_pd_mask(delta, zero, _CMP_NEQ_UQ); /* not flat */
  __m512d sat = _mm512_maskz_div_pd(live, delta, mx);
  __mmask8 blue = _mm512_cmp_pd_mask(b, mx, _CMP_EQ_OQ), green = _mm512_cmp_pd_mask(g, mx, _CMP_EQ_OQ);
  __m512d num = _mm512_mask_blend_pd(green, _mm512_sub_pd(g, b), _mm512_sub_pd(b, r));
  num = _mm512_mask_blend_pd(blue, num, _mm512_sub_pd(r, g));
  __m512d off = _mm512_mask_blend_pd(green, zero, _mm512_set1_pd(2.));
  off = _mm512_mask_blend_pd(blue, off, _mm512_set1_pd(4.));
  __m512d a = _mm512_maskz_div_pd(live, _mm512_add_pd(off, _mm512_maskz_div_pd(live, num, delta)),
                                  _mm512_set1_pd(6.));
  __m512d hue = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, zero, _CMP_LT_OQ), _mm512_add_pd(a, zero),
                                     _mm512_add_pd(a, one));
  hue = _mm512_maskz_mov_pd(live, hue);
  /* the change */
  __m512d val = mx;
  if (mode == 0)
    val = _mm512_min_pd(_mm512_max_pd(_mm512_add_pd(val, _mm512_set1_pd(ca)), zero), one);
  else
    sat = _mm512_min_pd(
        _mm512_max_pd(_mm512_add_pd(_mm512_mul_pd(sat, _mm512_set1_pd(ca)), _mm512_set1_pd(cb)), zero), one);
  /* hsv2rgb: (V,t,p), (q,V,p), (p,V,t), (p,q,V), (t,p,V), (V,p,q) for i = 0..5 */
  __m512d h6 = _mm512_mul_pd(hue, _mm512_set1_pd(6.));
  __m256i six = _mm512_cvttpd_epi32(h6); /* floor: h * 6 is in [0, 6] */
  __m512d hi6 = _mm512_cvtepi32_pd(six);
  __m512d f = _mm512_sub_pd(h6, hi6);
  __m512d vp = _mm512_mul_pd(val, _mm512_sub_pd(one, sat));
  __m512d vq = _mm512_mul_pd(val, _mm512_sub_pd(one, _mm512_mul_pd(f, sat)));
  __m512d vt = _mm512_mul_pd(val, _mm512_sub_pd(one, _mm512_mul_pd(_mm512_sub_pd(one, f), sat)));
  __mmask8 i1 = _mm512_cmp_pd_mask(hi6, _mm512_set1_pd(1.), _CMP_EQ_OQ);
  __mmask8 i2 = _mm512_cmp_pd_mask(hi6, _mm512_set1_pd(2.), _CMP_EQ_OQ);
  __mmask8 i3 = _mm512_cmp_pd_mask(hi6, _mm512_set1_pd(3.), _CMP_EQ_OQ);
  __mmask8 i4 = _mm512_cmp_pd_mask(hi6, _mm512_set1_pd(4.), _CMP_EQ_OQ);
  __mmask8 i5 = _mm512_cmp_pd_mask(hi6, _mm512_set1_pd(5.), _CMP_EQ_OQ);
  __mmask8 i0 = (__mmask8)~(i1 | i2 | i3 | i4 | i5); /* 0 and 6 */
  __m512d ro = _mm512_mask_blend_pd(i1, val, vq);
  ro = _mm512_mask_blend_pd(i2 | i3, ro, vp);
  ro = _mm512_mask_blend_pd(i4, ro, vt);
  __m512d go = _mm512_mask_blend_pd(i0, val, vt);
  go = _mm512_mask_blend_pd(i3, go, vq);
  go = _mm512_mask_blend_pd(i4 | i5, go, vp);
  __m512d bo = _mm512_mask_blend_pd(i0 | i1, val, vp);
  bo = _mm512_mask_blend_pd(i2, bo, vt);
  bo = _mm512_mask_blend_pd(i5, bo, vq);
  /* vfr_ic_to_u8: min(max(v, 0), 1) * 255, truncated */
  const __m512d k255 = _mm512_set1_pd(255.0);
#define HSV_U8(v) _mm512_cvttpd_epi32(_mm512_mul_pd(_mm512_min_pd(_mm512_max_pd((v), zero), one), k255))
  __m256i ri = HSV_U8(ro), gi = HSV_U8(go), bi = HSV_U8(bo);
#undef HSV_U8
  /* 32-bit lanes 0..255 to bytes: rg = r0..r7 g0..g7, bx = b0..b7 */
  __m128i rg16 = _mm_packs_epi32(_mm256_castsi256_si128(ri), _mm256_extracti128_si256(ri, 1));
  __m128i gg16 = _mm_packs_epi32(_mm256_castsi256_si128(gi), _mm256_extracti128_si256(gi, 1));
  __m128i bb16 = _mm_packs_epi32(_mm256_castsi256_si128(bi), _mm256_extracti128_si256(bi, 1));
  __m128i rg = _mm_packus_epi16(rg16, gg16), bx = _mm_packus_epi16(bb16, bb16);
  /* interleave: output byte 3i + c is channel c of pixel i */
  const __m128i o0 = _mm_setr_epi8(0, 8, -1, 1, 9, -1, 2, 10, -1, 3, 11, -1, 4, 12, -1, 5);
  const __m128i o0b = _mm_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1);
  const __m128i o1 = _mm_setr_epi8(13, -1, 6, 14, -1, 7, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i o1b = _mm_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  _mm_storeu_si128((__m128i *)dst, _mm_or_si128(_mm_shuffle_epi8(rg, o0), _mm_shuffle_epi8(bx, o0b)));
  _mm_storel_epi64((__m128i *)(dst + 16), _mm_or_si128(_mm_shuffle_epi8(rg, o1), _mm_shuffle_epi8(bx, o1b)));
}

/* Pixels 0 .. (w rounded down to 8) - 1 of a row through hsv_eight; returns their count. */
__attribute__((target("avx512f"))) static int hsv_row_avx512(const uint8_t *src, uint8_t *dst, int w,
                                                             int mode, double ca, double cb) {
  int x = 0;
  for (; x + 8 <= w; x += 8) hsv_eight(src + 3 * x, dst + 3 * x, mode, ca, cb);
  return x;
}
#define HSV_HAVE_AVX512 1
#endif

/* The HSV round trip with V or S changed: mode 0 V = clip(V + a), mode 1 S = clip(S*a + b). */
static int hsv_op(const vfr_image *in, int severity, vfr_image *out, vfr_error *err, const char *name,
                  int mode) {
  int done;
  int rc = vfr_ic_begin(in, severity, out, name, &done, err);
  if (rc || done) return rc;
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  double unit[256];
  vfr_ic_unit_table(unit);
  double a = mode == 0 ? brightness_c[severity - 1] : saturate_c[severity - 1][0];
  double b = mode == 0 ? 0.0 : saturate_c[severity - 1][1];
  int w = in->width, h = in->height;
  int wide = 0;
#ifdef HSV_HAVE_AVX512
  wide = __builtin_cpu_supports("avx512f");
#endif
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    int x = 0;
#ifdef HSV_HAVE_AVX512
    if (wide) x = hsv_row_avx512(src, dst, w, mode, a, b);
#endif
#ifdef __SSE2__
    for (; x + 2 <= w; x += 2) hsv_pair(unit, src + 3 * x, src + 3 * x + 3, dst + 3 * x, dst + 3 * x + 3, mode, a, b);
#endif
    for (; x < w; x++) {
      const uint8_t *p = src + 3 * x;
      double hh, ss, vv, rgb[3];
      rgb2hsv(unit[p[0]], unit[p[1]], unit[p[2]], &hh, &ss, &vv);
      if (mode == 0) vv = clip01(vv + a);
      else ss = clip01(ss * a + b);
      hsv2rgb(hh, ss, vv, rgb);
      for (int c = 0; c < 3; c++) dst[3 * x + c] = vfr_ic_to_u8(rgb[c]);
    }
  }
  return VFR_OK;
}

int vfr_ic_brightness(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  (void)seed;
  return hsv_op(in, severity, out, err, "ic_brightness", 0);
}

int vfr_ic_saturate(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  (void)seed;
  return hsv_op(in, severity, out, err, "ic_saturate", 1);
}

/* One channel's contrast table from its mean m: lut[v] = np.uint8(np.clip((unit[v] - m) * c
 * + m, 0, 1) * 255). With margin >= 0, gives up (returns 0) where some value, scaled to
 * 0..255, lies within margin of an integer: there a slightly different m could truncate
 * to another byte. */
static int contrast_table(uint8_t *lut, const double *unit, double m, double c, double margin) {
  for (int v = 0; v < 256; v++) {
    double t = (unit[v] - m) * c + m;
    if (margin >= 0.0) {
      /* vfr_ic_to_u8's steps, with the fraction they drop */
      double y = (t > 0.0 ? (t < 1.0 ? t : 1.0) : 0.0) * 255.0;
      int b = (int)y;
      double f = y - (double)b;
      if (f <= margin || f >= 1.0 - margin) return 0;
      lut[v] = (uint8_t)b;
    } else {
      lut[v] = vfr_ic_to_u8(t);
    }
  }
  return 1;
}

/* np.mean(x, axis=(0, 1)): per channel, a sequential float64 sum of the quotients v / 255.
 * in pixel order (the reduction runs over the strided axes, so NumPy's pairwise summation
 * does not apply), divided by the pixel count: 50,176 dependent adds at 224x224. */
static void contrast_exact_means(const vfr_image *in, const double *unit, double *mean) {
  double sum[3] = {0.0, 0.0, 0.0};
  for (int y = 0; y < in->height; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    for (int x = 0; x < in->width; x++) {
      sum[0] += unit[src[3 * x]];
      sum[1] += unit[src[3 * x + 1]];
      sum[2] += unit[src[3 * x + 2]];
    }
  }
  for (int ch = 0; ch < 3; ch++) mean[ch] = sum[ch] / ((double)in->width * (double)in->height);
}

/* The tables without the dependent adds: the byte sums V (exact integers) give
 * m' = V / (255 n) for n pixels, and the reference's mean m lies within
 * dm = u (n + 5) of it (u = 2^-53): the sum's n quotients each err by at most u, its n - 1
 * roundings by u |partial sum| <= 2 u k at step k (u n (n + 2) in all, over n), the
 * division by u |m| and m' by u. Each table value t = (unit[v] - m) * c + m, three
 * roundings of values under 2, then moves by at most (1 - c) dm + 16 u between m and m',
 * and y = clip(t) * 255 by 255 (dm + 16 u) + 512 u =: M. A y' farther than M from every
 * integer truncates as y does; the margin is 2M. Where some value falls within it (a flat
 * image does: its y is an integer), the means are summed as the reference sums them. */
int vfr_ic_contrast_tables(const vfr_image *in, int severity, int exact, uint8_t lut[3][256]) {
  double unit[256];
  vfr_ic_unit_table(unit);
  double c = contrast_c[severity - 1];
  double n = (double)in->width * (double)in->height;
  if (!exact && n < 0x1p40) {
    uint64_t v[3] = {0, 0, 0};
    if (in->stride == (size_t)in->width * 3) {
      vfr_icl_rgb_sums(v, in->data, (size_t)in->width * (size_t)in->height);
    } else {
      for (int y = 0; y < in->height; y++)
        vfr_icl_rgb_sums(v, in->data + (size_t)y * in->stride, (size_t)in->width);
    }
    const double u = 0x1p-53;
    double margin = 2.0 * (255.0 * (u * (n + 5.0) + 16.0 * u) + 512.0 * u);
    int ok = 1;
    for (int ch = 0; ch < 3 && ok; ch++)
      ok = contrast_table(lut[ch], unit, (double)v[ch] / (255.0 * n), c, margin);
    if (ok) return 1;
  }
  double mean[3];
  contrast_exact_means(in, unit, mean);
  for (int ch = 0; ch < 3; ch++) contrast_table(lut[ch], unit, mean[ch], c, -1.0);
  return 0;
}

int vfr_ic_contrast(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  (void)seed;
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_contrast", &done, err);
  if (rc || done) return rc;
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  uint8_t lut[3][256];
  vfr_ic_contrast_tables(in, severity, 0, lut);
  size_t w = (size_t)in->width;
  if (in->stride == 3 * w && out->stride == 3 * w) {
    vfr_icl_rgb_lookup(out->data, in->data, w * (size_t)in->height, (const uint8_t(*)[256])lut);
  } else {
    for (int y = 0; y < in->height; y++)
      vfr_icl_rgb_lookup(out->data + (size_t)y * out->stride, in->data + (size_t)y * in->stride, w,
                         (const uint8_t(*)[256])lut);
  }
  return VFR_OK;
}

int vfr_ic_jpeg_compression(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                            vfr_error *err) {
  (void)seed;
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_jpeg_compression", &done, err);
  if (rc || done) return rc;
  return vfr_jpeg_roundtrip(in, jpeg_c[severity - 1], out, err);
}

int vfr_ic_pixelate(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  (void)seed;
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_pixelate", &done, err);
  if (rc || done) return rc;
  /* int(w * c) as the reference sizes it: vfr_pixelate's floor(c * w) */
  return vfr_pixelate(in, pixelate_c[severity - 1], out, err);
}
