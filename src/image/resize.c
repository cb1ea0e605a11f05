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

#include "image/image_internal.h"

#define PRECISION_BITS (32 - 8 - 2)
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

/* Integer weights of one pass: output sample i reads `count[i]` inputs from `first[i]`
 * with weights k[i*ksize .. i*ksize+count[i]). */
typedef struct pass_coeffs {
  int out_size, ksize;
  int *first, *count; /* (out_size) each */
  int32_t *k;         /* (out_size, ksize) */
} pass_coeffs;

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

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PRECISION_BITS);
}

/* Horizontal pass over rows [y0, y0 + rows) of in into out (rows x c->out_size x ch). */
static void resample_horizontal(const vfr_image *in, int y0, int rows, const pass_coeffs *c,
                                vfr_image *out) {
  const int ch = in->channels;
  const int32_t half = 1 << (PRECISION_BITS - 1);
  for (int y = 0; y < rows; y++) {
    const uint8_t *src = in->data + (size_t)(y0 + y) * in->stride; /* src is (W_in, ch) */
    uint8_t *dst = out->data + (size_t)y * out->stride;             /* dst is (W_out, ch) */
    for (int xx = 0; xx < c->out_size; xx++) {
      const int32_t *k = c->k + (size_t)xx * c->ksize;
      const uint8_t *s = src + (size_t)c->first[xx] * ch;
      const int n = c->count[xx];
      if (ch == 1) {
        int32_t s0 = half;
        for (int i = 0; i < n; i++) s0 += s[i] * k[i];
        dst[xx] = clip8(s0);
      } else if (ch == 3) {
        int32_t s0 = half, s1 = half, s2 = half;
        for (int i = 0; i < n; i++, s += 3) {
          s0 += s[0] * k[i];
          s1 += s[1] * k[i];
          s2 += s[2] * k[i];
        }
        uint8_t *d = dst + (size_t)xx * 3;
        d[0] = clip8(s0);
        d[1] = clip8(s1);
        d[2] = clip8(s2);
      } else {
        int32_t s0 = half, s1 = half, s2 = half, s3 = half;
        for (int i = 0; i < n; i++, s += 4) {
          s0 += s[0] * k[i];
          s1 += s[1] * k[i];
          s2 += s[2] * k[i];
          s3 += s[3] * k[i];
        }
        uint8_t *d = dst + (size_t)xx * 4;
        d[0] = clip8(s0);
        d[1] = clip8(s1);
        d[2] = clip8(s2);
        d[3] = clip8(s3);
      }
    }
  }
}

/* acc[j] += s[j] * w over n values: the hot loop of the vertical pass. GCC's -O2 cost
 * model declines to vectorise the uint8 -> int32 widening here; its dynamic model does,
 * about 3x faster (clang vectorises it at -O2 unasked). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("vect-cost-model=dynamic")))
#endif
static void mac_row(int32_t *restrict acc, const uint8_t *restrict s, int32_t w, size_t n) {
  for (size_t j = 0; j < n; j++) acc[j] += s[j] * w;
}

/* Vertical pass: output row yy sums rows first[yy] - y0 .. of in. acc is (W*ch) scratch.
 * Integer sums are exact, so accumulating row by row equals the per-pixel order. */
static void resample_vertical(const vfr_image *in, int y0, const pass_coeffs *c, int32_t *acc,
                              vfr_image *out) {
  const size_t n = (size_t)in->width * in->channels;
  const int32_t half = 1 << (PRECISION_BITS - 1);
  for (int yy = 0; yy < c->out_size; yy++) {
    const int32_t *k = c->k + (size_t)yy * c->ksize;
    for (size_t j = 0; j < n; j++) acc[j] = half;
    for (int i = 0; i < c->count[yy]; i++)
      mac_row(acc, in->data + (size_t)(c->first[yy] - y0 + i) * in->stride, k[i], n);
    uint8_t *d = out->data + (size_t)yy * out->stride;
    for (size_t j = 0; j < n; j++) d[j] = clip8(acc[j]);
  }
}

/* Pillow's nearest-neighbour scaling (affine path). */
static int resize_nearest(const vfr_image *in, int width, int height, vfr_image *out,
                          vfr_error *err) {
  int *xin = malloc((size_t)width * sizeof *xin);
  if (!xin) return vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
  int rc = vfr_image_alloc(out, width, height, in->channels, err);
  if (rc) {
    free(xin);
    return rc;
  }
  const double ax = (double)(float)in->width / width, ay = (double)(float)in->height / height;
  double xo = ax * 0.5;
  for (int x = 0; x < width; x++, xo += ax) {
    int v = xo < 0.0 ? -1 : (int)xo;
    xin[x] = v < in->width ? v : -1; /* outside the source: left black, as the reference */
  }
  const int ch = in->channels;
  double yo = ay * 0.5;
  for (int y = 0; y < height; y++, yo += ay) {
    int yi = yo < 0.0 ? -1 : (int)yo;
    if (yi < 0 || yi >= in->height) continue; /* the reference leaves such rows black */
    const uint8_t *s = in->data + (size_t)yi * in->stride;
    uint8_t *d = out->data + (size_t)y * out->stride;
    for (int x = 0; x < width; x++, d += ch) {
      if (xin[x] < 0) continue;
      const uint8_t *p = s + (size_t)xin[x] * ch;
      d[0] = p[0];
      if (ch > 1) {
        d[1] = p[1];
        d[2] = p[2];
        if (ch == 4) d[3] = p[3];
      }
    }
  }
  free(xin);
  return VFR_OK;
}

/* Pillow's RGBA -> RGBa: c * a / 255 rounded with its shift trick. */
static void premultiply(vfr_image *img) {
  for (int y = 0; y < img->height; y++) {
    uint8_t *p = img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++, p += 4) {
      unsigned a = p[3];
      for (int i = 0; i < 3; i++) {
        unsigned t = p[i] * a + 128;
        p[i] = (uint8_t)(((t >> 8) + t) >> 8);
      }
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
  int32_t *acc = NULL;
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
    resample_horizontal(in, y0, rows, &ch, &tmp);
    src = &tmp;
  }
  if (need_v) {
    if ((rc = vfr_image_alloc(&res, width, height, in->channels, err))) goto done;
    acc = malloc((size_t)width * in->channels * sizeof *acc);
    if (!acc) {
      rc = vfr_fail(err, VFR_ENOMEM, "resize: out of memory");
      goto done;
    }
    resample_vertical(src, need_h ? y0 : 0, &cv, acc, &res);
    *out = res;
    res = (vfr_image){0};
  } else {
    *out = tmp;
    tmp = (vfr_image){0};
  }
done:
  free(acc);
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
  if ((rc = vfr_image_copy(in, &pre, err))) return rc;
  premultiply(&pre);
  rc = resize_convolve(&pre, width, height, &FILTERS[filter], out, err);
  vfr_image_free(&pre);
  if (rc) return rc;
  unpremultiply(out);
  return VFR_OK;
}
