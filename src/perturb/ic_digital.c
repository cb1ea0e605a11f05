/* ImageNet-C's digital corruptions (see ic_ops.h, docs/perturbations.md). With x = v/255.
 * (float64) for each channel value v:
 *   brightness       skimage HSV: V = clip(V + c, 0, 1)           c = .1 .2 .3 .4 .5
 *   saturate         skimage HSV: S = clip(S * c0 + c1, 0, 1)     (c0, c1) = (.3, 0) (.1, 0)
 *                                                                  (2, 0) (5, .1) (20, .2)
 *   contrast         (x - mean) * c + mean, mean per channel       c = .4 .3 .2 .1 .05
 *   jpeg_compression PIL save(JPEG, quality=q), decoded            q = 25 18 15 10 7
 *   pixelate         PIL resize (int(w*c), int(h*c)) BOX, back NEAREST  c = .6 .5 .4 .3 .25
 * then np.uint8(clip(y, 0, 1) * 255) (truncation). None of them draws random numbers. */
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "perturb/ic_ops.h"

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

/* The HSV round trip with V or S changed: mode 0 V = clip(V + a), mode 1 S = clip(S*a + b). */
static int hsv_op(const vfr_image *in, int severity, vfr_image *out, vfr_error *err, const char *name,
                  int mode) {
  int done;
  int rc = vfr_ic_begin(in, severity, out, name, &done, err);
  if (rc || done) return rc;
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  double unit[256];
  for (int v = 0; v < 256; v++) unit[v] = (double)v / 255.0;
  double a = mode == 0 ? brightness_c[severity - 1] : saturate_c[severity - 1][0];
  double b = mode == 0 ? 0.0 : saturate_c[severity - 1][1];
  int w = in->width, h = in->height;
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    int x = 0;
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

int vfr_ic_contrast(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err) {
  (void)seed;
  int done;
  int rc = vfr_ic_begin(in, severity, out, "ic_contrast", &done, err);
  if (rc || done) return rc;
  if ((rc = perturb_alloc_like(in, out, err))) return rc;
  double unit[256];
  for (int v = 0; v < 256; v++) unit[v] = (double)v / 255.0;
  int w = in->width, h = in->height;
  /* np.mean(x, axis=(0, 1)): per channel, a sequential float64 sum in pixel order (the
   * reduction runs over the strided axes, so NumPy's pairwise summation does not apply),
   * divided by the pixel count */
  double sum[3] = {0.0, 0.0, 0.0};
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    for (int x = 0; x < w; x++) {
      sum[0] += unit[src[3 * x]];
      sum[1] += unit[src[3 * x + 1]];
      sum[2] += unit[src[3 * x + 2]];
    }
  }
  double c = contrast_c[severity - 1];
  uint8_t lut[3][256];
  for (int ch = 0; ch < 3; ch++) {
    double mean = sum[ch] / ((double)w * (double)h);
    for (int v = 0; v < 256; v++) lut[ch][v] = vfr_ic_to_u8((unit[v] - mean) * c + mean);
  }
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < 3; ch++) dst[3 * x + ch] = lut[ch][src[3 * x + ch]];
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
