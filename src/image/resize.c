/* img.resize((w, h), filter) with Pillow 9.4's arithmetic, bit for bit.
 *
 * Convolution filters (BOX .. LANCZOS) follow Pillow's Resample.c: for each output
 * coordinate a window of input samples with double weights, normalised to sum 1, then
 * rounded to 22-bit fixed point; the horizontal pass runs first (only over the rows the
 * vertical pass reads) and stores uint8; a pass is skipped when its side keeps its size.
 * NEAREST follows Pillow's affine scaling path instead: the source coordinate of output
 * pixel x is floor(s/2 + x*s) accumulated in double, s = in/out.
 * RGBA is premultiplied by alpha around the convolution, as Image.resize does it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "image/image_internal.h"
#include "image/resize_pass.h"

#define PRECISION_BITS VFR_RESIZE_PRECISION_BITS
#define PI 3.14159265358979323846 /* M_PI, which strict C11 lacks */

static double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * PI;
  /* The window's constants are single-precision literals in the reference. */
  return sin(x) / x * (0.54f + 0.46f * cos(x));
}

static double bicubic_filter(double x) {
  const double a = -0.5; /* Keys' cubic, as Pillow's resize uses */
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * PI;
  return sin(x) / x;
}

static double lanczos_filter(double x) {
  return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

typedef struct resample_filter {
  double (*fn)(double);
  double support;
} resample_filter;

static const resample_filter FILTERS[] = {
    [VFR_FILTER_BOX] = {box_filter, 0.5},         [VFR_FILTER_BILINEAR] = {bilinear_filter, 1.0},
    [VFR_FILTER_HAMMING] = {hamming_filter, 1.0}, [VFR_FILTER_BICUBIC] = {bicubic_filter, 2.0},
    [VFR_FILTER_LANCZOS] = {lanczos_filter, 3.0},
};

static void coeffs_free(pass_coeffs *c) {
  free(c->first);
  free(c->count);
  free(c->k);
  memset(c, 0, sizeof *c);
}

/* Weights for resampling in_size samples to out_size (the box is the whole side). */
static int coeffs_make(int in_size, int out_size, const resample_filter *f, pass_coeffs *c,
                       vfr_error *err) {
  memset(c, 0, sizeof *c);
  float in0 = 0.0f, in1 = (float)in_size; /* the reference keeps the box in float */
  double scale = (double)(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = f->support * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  if ((size_t)out_size > SIZE_MAX / sizeof(double) / (size_t)ksize)
    return vfr_fail(err, VFR_ELIMIT, "resize: %d -> %d needs too many coefficients", in_size,
                    out_size);
  double *w = malloc((size_t)ksize * sizeof *w);
  c->first = malloc((size_t)out_size * sizeof *c->first);
  c->count = malloc((size_t)out_size * sizeof *c->count);
  c->k = calloc((size_t)out_size * (size_t)ksize, sizeof *c->k);
  if (!w || !c->first || !c->count || !c->k) {
    free(w);
    coeffs_free(c);
    return vfr_fail(err, VFR_ENOMEM, "resize: out of memory for coefficients");
  }
  double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; xx++) {
    double center = in0 + (xx + 0.5) * scale;
    int xmin = (int)(center - support + 0.5); /* truncation, as the reference rounds */
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      w[x] = f->fn((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t *k = c->k + (size_t)xx * ksize;
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                   : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
    }
    c->first[xx] = xmin;
    c->count[xx] = xmax < 0 ? 0 : xmax;
  }
  free(w);
  c->out_size = out_size;
  c->ksize = ksize;
  return VFR_OK;
}

/* One output row of nearest-neighbour scaling: pixel x of d is pixel xoff[x] / ch of s,
 * for x in [0, width); s is (W_in, ch), d is (width, ch), every xoff[x] inside the row.
 * The first `wide` 3-channel pixels move as 4-byte words: their source has a readable byte
 * after it, and the extra byte stored is overwritten by the next pixel's. */
static void nearest_row(const uint8_t *restrict s, const uint32_t *restrict xoff, int width,
                        int wide, int ch, uint8_t *restrict d) {
  if (ch == 1) { /* gathered four at a time into one store */
    int x = 0;
    for (; x + 4 <= width; x += 4) {
      const uint8_t b[4] = {s[xoff[x]], s[xoff[x + 1]], s[xoff[x + 2]], s[xoff[x + 3]]};
      memcpy(d + x, b, 4);
    }
    for (; x < width; x++) d[x] = s[xoff[x]];
  } else if (ch == 4) {
    for (int x = 0; x < width; x++) memcpy(d + (size_t)x * 4, s + xoff[x], 4);
  } else {
    int x = 0;
    for (; x < wide; x++) memcpy(d + (size_t)x * 3, s + xoff[x], 4);
    for (; x < width; x++) memcpy(d + (size_t)x * 3, s + xoff[x], 3);
  }
}

/* Pillow's nearest-neighbour scaling (affine path). Output rows that read the same source
 * row as the row before are copies of it. */
static int resize_nearest(const vfr_image *in, int width, int height, vfr_image *out,
                          vfr_error *err) {
  uint32_t *xoff = malloc((size_t)width * sizeof *xoff);
  if (!xoff) return vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
  int rc = vfr_image_alloc(out, width, height, in->channels, err);
  if (rc) {
    free(xoff);
    return rc;
  }
  const int ch = in->channels;
  const double ax = (double)(float)in->width / width, ay = (double)(float)in->height / height;
  double xo = ax * 0.5;
  int x0 = width, x1 = 0; /* output columns [x0, x1) read the source */
  for (int x = 0; x < width; x++, xo += ax) {
    int v = xo < 0.0 ? -1 : (int)xo;
    if (v < 0 || v >= in->width) { /* outside the source: left black, as the reference */
      xoff[x] = 0;
      continue;
    }
    xoff[x] = (uint32_t)v * (uint32_t)ch; /* < stride <= IMAGE_MAX_BYTES */
    if (x < x0) x0 = x;
    x1 = x + 1;
  }
  /* The source index only grows with x, so the columns inside form one run, and those
   * whose source pixel is not the row's last form a prefix of it. */
  int wide = x0;
  while (wide + 1 < x1 && xoff[wide] + 3 < (uint32_t)in->width * 3) wide++;
  const uint8_t *prev = NULL;
  int prev_yi = -1;
  double yo = ay * 0.5;
  for (int y = 0; y < height && x0 < x1; y++, yo += ay) {
    int yi = yo < 0.0 ? -1 : (int)yo;
    if (yi < 0 || yi >= in->height) continue; /* the reference leaves such rows black */
    uint8_t *d = out->data + (size_t)y * out->stride;
    if (yi == prev_yi) {
      memcpy(d, prev, (size_t)width * ch);
    } else {
      nearest_row(in->data + (size_t)yi * in->stride, xoff + x0, x1 - x0, wide - x0, ch,
                  d + (size_t)x0 * ch);
      prev_yi = yi;
    }
    prev = d;
  }
  free(xoff);
  return VFR_OK;
}

/* Pillow's RGBA -> RGBa, from in into pre (same size, 4 channels): c * a / 255 rounded
 * with its shift trick, t = c * a + 128, ((t >> 8) + t) >> 8; every step fits in 16 bits,
 * so SSE2 does four pixels at a time in 16-bit lanes. */
static void premultiply(const vfr_image *in, vfr_image *pre) {
  for (int y = 0; y < in->height; y++) {
    const uint8_t *p = in->data + (size_t)y * in->stride; /* p is (W, 4) */
    uint8_t *q = pre->data + (size_t)y * pre->stride;     /* q is (W, 4) */
    int x = 0;
#ifdef __SSE2__
    const __m128i z = _mm_setzero_si128(), r128 = _mm_set1_epi16(128);
    const __m128i alpha_lanes = _mm_set_epi16(-1, 0, 0, 0, -1, 0, 0, 0);
    for (; x + 4 <= in->width; x += 4) {
      __m128i v = _mm_loadu_si128((const __m128i *)(p + (size_t)x * 4)), r[2];
      for (int h = 0; h < 2; h++) {
        __m128i c = h ? _mm_unpackhi_epi8(v, z) : _mm_unpacklo_epi8(v, z);
        __m128i a = _mm_shufflehi_epi16(_mm_shufflelo_epi16(c, _MM_SHUFFLE(3, 3, 3, 3)),
                                        _MM_SHUFFLE(3, 3, 3, 3));
        __m128i t = _mm_add_epi16(_mm_mullo_epi16(c, a), r128);
        t = _mm_srli_epi16(_mm_add_epi16(_mm_srli_epi16(t, 8), t), 8);
        r[h] = _mm_or_si128(_mm_and_si128(alpha_lanes, c), _mm_andnot_si128(alpha_lanes, t));
      }
      _mm_storeu_si128((__m128i *)(q + (size_t)x * 4), _mm_packus_epi16(r[0], r[1]));
    }
#endif
    for (; x < in->width; x++) {
      const uint8_t *s = p + (size_t)x * 4;
      uint8_t *d = q + (size_t)x * 4;
      unsigned a = s[3];
      for (int i = 0; i < 3; i++) {
        unsigned t = s[i] * a + 128;
        d[i] = (uint8_t)(((t >> 8) + t) >> 8);
      }
      d[3] = (uint8_t)a;
    }
  }
}

/* Pillow's RGBa -> RGBA: c * 255 / a (integer division, clipped) unless a is 0 or 255. */
static void unpremultiply(vfr_image *img) {
  for (int y = 0; y < img->height; y++) {
    uint8_t *p = img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++, p += 4) {
      unsigned a = p[3];
      if (a == 0 || a == 255) continue;
      for (int i = 0; i < 3; i++) {
        unsigned v = (255u * p[i]) / a;
        p[i] = (uint8_t)(v > 255 ? 255 : v);
      }
    }
  }
}

static int resize_convolve(const vfr_image *in, int width, int height, const resample_filter *f,
                           vfr_image *out, vfr_error *err) {
  const int need_h = width != in->width, need_v = height != in->height;
  pass_coeffs ch = {0}, cv = {0};
  vfr_image tmp = {0}, res = {0};
  int rc = VFR_OK;
  if (need_h && (rc = coeffs_make(in->width, width, f, &ch, err))) goto done;
  if (need_v && (rc = coeffs_make(in->height, height, f, &cv, err))) goto done;

  const vfr_image *src = in;
  int y0 = 0; /* the first source row the vertical pass reads */
  if (need_h) {
    int rows = in->height;
    if (need_v) {
      y0 = cv.first[0];
      rows = cv.first[height - 1] + cv.count[height - 1] - y0;
    }
    if ((rc = vfr_image_alloc(&tmp, width, rows, in->channels, err))) goto done;
    if ((rc = vfr_resize_horizontal(in, y0, &ch, &tmp, err))) goto done;
    src = &tmp;
  }
  if (need_v) {
    if ((rc = vfr_image_alloc(&res, width, height, in->channels, err))) goto done;
    if ((rc = vfr_resize_vertical(src, need_h ? y0 : 0, &cv, &res, err))) goto done;
    *out = res;
    res = (vfr_image){0};
  } else {
    *out = tmp;
    tmp = (vfr_image){0};
  }
done:
  vfr_image_free(&tmp);
  vfr_image_free(&res);
  coeffs_free(&ch);
  coeffs_free(&cv);
  return rc;
}

int vfr_resize(const vfr_image *in, int width, int height, vfr_filter filter, vfr_image *out,
               vfr_error *err) {
  int rc = vfr_image_check(in, "resize", err);
  if (rc) return rc;
  if (width <= 0 || height <= 0)
    return vfr_fail(err, VFR_EINVAL, "resize: target size %dx%d is not positive", width, height);
  if ((int)filter < VFR_FILTER_NEAREST || (int)filter > VFR_FILTER_LANCZOS)
    return vfr_fail(err, VFR_EINVAL, "resize: unknown filter %d", (int)filter);
  if (width == in->width && height == in->height) return vfr_image_copy(in, out, err);
  if (filter == VFR_FILTER_NEAREST) return resize_nearest(in, width, height, out, err);
  if (in->channels != 4) return resize_convolve(in, width, height, &FILTERS[filter], out, err);

  vfr_image pre;
  if ((rc = vfr_image_alloc(&pre, in->width, in->height, 4, err))) return rc;
  premultiply(in, &pre);
  rc = resize_convolve(&pre, width, height, &FILTERS[filter], out, err);
  vfr_image_free(&pre);
  if (rc) return rc;
  unpremultiply(out);
  return VFR_OK;
}
