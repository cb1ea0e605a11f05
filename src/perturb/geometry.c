/* Geometric ops: rotate (Image.rotate, expand=False), flip, centre crop by area,
 * rescale and pixelate. Resizing goes through vfr_resize (Pillow's resample). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

/* ---- rotate --------------------------------------------------------------------- */

/* Python's round(x, 15): the correctly rounded 15-decimal value, read back. */
static double round15_text(double x) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.15f", x);
  return strtod(buf, NULL);
}

/* The same without text for |x| <= 1 (cos and sin): x * 1e15 = p + e exactly (fma),
 * n = the nearest integer to p + e with ties to even, and n / 1e15 is the correctly
 * rounded quotient, which is what reading the 15-decimal text back gives. */
static double round15(double x) {
  if (!(fabs(x) <= 1.0)) return round15_text(x);
  const double scale = 1e15; /* exact; |p| <= 1e15 < 2^53 */
  double p = x * scale, e = fma(x, scale, -p);
  double n = nearbyint(p); /* ties to even in the default rounding mode */
  double d = p - n;        /* exact: |d| <= 0.5 */
  double s = d + e, t = s - d, rest = (d - (s - t)) + (e - t); /* d + e == s + rest */
  int odd = fmod(n, 2.0) != 0.0;
  if (s > 0.5 || (s == 0.5 && (rest > 0.0 || (rest == 0.0 && odd)))) n += 1.0;
  else if (s < -0.5 || (s == -0.5 && (rest < 0.0 || (rest == 0.0 && odd)))) n -= 1.0;
  double r = n / scale;
  return r == 0.0 ? copysign(0.0, x) : r; /* "-0.000..." reads back as -0.0 */
}

/* Python's float modulo x % m for m > 0: the result has the sign of m. */
static double py_fmod(double x, double m) {
  double r = fmod(x, m);
  if (r != 0.0) {
    if (r < 0.0) r += m;
  } else {
    r = 0.0;
  }
  return r;
}

static inline int floor_int(double v) { return v < 0.0 ? (int)floor(v) : (int)v; }
static inline int coord(double v) { return v < 0.0 ? -1 : (int)v; }
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The exact quarter and half turns Pillow does by transposition (square images only
 * for the quarter turns). quarter: 1 = 90 degrees counter-clockwise, 2 = 180, 3 = 270. */
static void rotate_transpose(const vfr_image *in, int quarter, vfr_image *res) {
  int w = in->width, h = in->height;
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    for (int x = 0; x < w; x++) {
      int ox, oy;
      if (quarter == 2) ox = w - 1 - x, oy = h - 1 - y;
      else if (quarter == 1) ox = y, oy = w - 1 - x;
      else ox = h - 1 - y, oy = x;
      memcpy(res->data + (size_t)oy * res->stride + 3 * (size_t)ox, src + 3 * (size_t)x, 3);
    }
  }
}

/* Floor division for q > 0. */
static inline long long floor_div(long long p, long long q) {
  return p >= 0 ? p / q : -((-p + q - 1) / q);
}

/* Narrows [*lo, *hi) to the x where base + x * step lies in [0, limit). */
static void span_inside(long long base, long long step, long long limit, int *lo, int *hi) {
  long long l = *lo, h = *hi;
  if (step == 0) {
    if (base < 0 || base >= limit) h = l;
  } else if (step > 0) {
    long long first = -floor_div(base, step); /* ceil(-base / step) */
    long long last = floor_div(limit - 1 - base, step);
    if (first > l) l = first;
    if (last + 1 < h) h = last + 1;
  } else {
    long long last = floor_div(base, -step);
    long long first = floor_div(base - limit, -step) + 1;
    if (first > l) l = first;
    if (last + 1 < h) h = last + 1;
  }
  if (h <= l) l = h = *lo; /* empty: a zero-length run at the old start */
  *lo = (int)l;
  *hi = (int)h;
}

/* One output row of the 16.16 fixed-point NEAREST path: pixels whose source lies
 * inside are copied, the rest are black. xx, yy: the source position of pixel 0. */
static void nearest_fixed_row(const vfr_image *in, long long xx, long long yy, long long a0,
                              long long a3, uint8_t *dst, int w) {
  int lo = 0, hi = w;
  span_inside(xx, a0, (long long)in->width << 16, &lo, &hi);
  span_inside(yy, a3, (long long)in->height << 16, &lo, &hi);
  memset(dst, 0, 3 * (size_t)lo);
  memset(dst + 3 * (size_t)hi, 0, 3 * (size_t)(w - hi));
  if (hi <= lo) return;
  const uint8_t *src = in->data;
  size_t st = in->stride;
  /* Pixels move as 4-byte words while the byte after the source pixel is inside the
   * image buffer; the extra byte written is overwritten by the next pixel of the run,
   * so the run's last pixel moves as 3 bytes. */
  size_t bytes = (size_t)(in->height - 1) * st + 3 * (size_t)in->width;
  xx += a0 * lo;
  yy += a3 * lo;
  uint8_t *d = dst + 3 * (size_t)lo;
  long long last_row = (long long)(in->height - 1) << 16;
  if (yy < last_row && yy + a3 * (hi - 1 - lo) < last_row) { /* the run misses the last row */
    for (int x = lo; x < hi - 1; x++, xx += a0, yy += a3, d += 3)
      memcpy(d, src + (size_t)(yy >> 16) * st + 3 * (size_t)(xx >> 16), 4);
  } else {
    for (int x = lo; x < hi - 1; x++, xx += a0, yy += a3, d += 3) {
      size_t off = (size_t)(yy >> 16) * st + 3 * (size_t)(xx >> 16);
      if (off + 4 <= bytes) memcpy(d, src + off, 4);
      else memcpy(d, src + off, 3);
    }
  }
  memcpy(d, src + (size_t)(yy >> 16) * st + 3 * (size_t)(xx >> 16), 3);
}

/* NEAREST, as Pillow's affine engine: 16.16 fixed point when every corner maps inside
 * +-32768, pure scaling via a table, floating point otherwise. a is the inverse map
 * (output pixel -> input position), (6). Writes every byte of res. */
static void affine_nearest(const vfr_image *in, const double a[6], vfr_image *res) {
  int w = res->width, h = res->height, iw = in->width, ih = in->height;
  if (a[1] == 0 && a[3] == 0) { /* scaling only */
    double xo = a[2] + a[0] * 0.5, yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < h; y++, yo += a[4]) {
      uint8_t *dst = res->data + (size_t)y * res->stride;
      int yi = coord(yo);
      if (yi < 0 || yi >= ih) {
        memset(dst, 0, 3 * (size_t)w);
        continue;
      }
      double xx = xo;
      for (int x = 0; x < w; x++, xx += a[0]) {
        int xi = coord(xx);
        if (xi >= 0 && xi < iw)
          memcpy(dst + 3 * (size_t)x, in->data + (size_t)yi * in->stride + 3 * (size_t)xi, 3);
        else
          memset(dst + 3 * (size_t)x, 0, 3);
      }
    }
    return;
  }
  int corners[4][2] = {{0, 0}, {w, h}, {0, h}, {w, 0}};
  int fixed = 1;
  for (int i = 0; i < 4; i++) {
    double cx = corners[i][0], cy = corners[i][1];
    if (!(fabs(cx * a[0] + cy * a[1] + a[2]) < 32768.0 &&
          fabs(cx * a[3] + cy * a[4] + a[5]) < 32768.0))
      fixed = 0;
  }
  if (fixed) {
#define FIX(v) floor_int((v) * 65536.0 + 0.5)
    long long a0 = FIX(a[0]), a1 = FIX(a[1]), a3 = FIX(a[3]), a4 = FIX(a[4]);
    long long a2 = FIX(a[2] + a[0] * 0.5 + a[1] * 0.5);
    long long a5 = FIX(a[5] + a[3] * 0.5 + a[4] * 0.5);
#undef FIX
    /* Per row, the inside pixels form one run (the constraints are linear in x), found
     * exactly in integers; pixel positions advance by the same integer steps. */
    for (int y = 0; y < h; y++, a2 += a1, a5 += a4)
      nearest_fixed_row(in, a2, a5, a0, a3, res->data + (size_t)y * res->stride, w);
    return;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < h; y++, xo += a[1], yo += a[4]) {
    double xx = xo, yy = yo;
    uint8_t *dst = res->data + (size_t)y * res->stride;
    for (int x = 0; x < w; x++, xx += a[0], yy += a[3]) {
      int xi = coord(xx), yi = coord(yy);
      if (xi >= 0 && xi < iw && yi >= 0 && yi < ih)
        memcpy(dst + 3 * (size_t)x, in->data + (size_t)yi * in->stride + 3 * (size_t)xi, 3);
      else
        memset(dst + 3 * (size_t)x, 0, 3);
    }
  }
}

/* Pillow's bilinear sample at (xin, yin) (pixel centres at +0.5); 0 when outside. */
static int sample_bilinear(const vfr_image *im, double xin, double yin, uint8_t *out) {
  if (xin < 0.0 || xin >= im->width || yin < 0.0 || yin >= im->height) return 0;
  xin -= 0.5;
  yin -= 0.5;
  int x = floor_int(xin), y = floor_int(yin);
  double dx = xin - x, dy = yin - y;
  int last_x = im->width - 1, last_y = im->height - 1;
  const uint8_t *r0 = im->data + (size_t)clampi(y, 0, last_y) * im->stride;
  const uint8_t *r1 = (y + 1 >= 0 && y + 1 <= last_y) ? im->data + (size_t)(y + 1) * im->stride : NULL;
  size_t x0 = 3 * (size_t)clampi(x, 0, last_x), x1 = 3 * (size_t)clampi(x + 1, 0, last_x);
  for (int b = 0; b < 3; b++) {
    double v1 = r0[x0 + b] + (r0[x1 + b] - r0[x0 + b]) * dx;
    double v2 = r1 ? r1[x0 + b] + (r1[x1 + b] - r1[x0 + b]) * dx : v1;
    v1 = v1 + (v2 - v1) * dy;
    out[b] = (uint8_t)v1;
  }
  return 1;
}

/* Cubic convolution with a = -1 through v1..v4 at fraction d (Horner form, as Pillow). */
static inline double cubic(double v1, double v2, double v3, double v4, double d) {
  double p1 = v2;
  double p2 = -v1 + v3;
  double p3 = 2 * (v1 - v2) + v3 - v4;
  double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/* The same on four pixel values; the integer coefficients are exact either way. */
static inline double cubic_u8(const uint8_t *r, const size_t xs[4], double d) {
  int a0 = r[xs[0]], a1 = r[xs[1]], a2 = r[xs[2]], a3 = r[xs[3]];
  double p1 = a1, p2 = a2 - a0, p3 = 2 * (a0 - a1) + a2 - a3, p4 = -a0 + a1 - a2 + a3;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/* The integers -TAP_SUM..TAP_SUM as doubles, read at [TAP_SUM + v]: a table load is
 * cheaper than a conversion in the bicubic inner loop, and the value is the same. */
#define TAP_SUM 765 /* the largest |2(a0 - a1) + a2 - a3| of 8-bit taps */
static void fill_int_doubles(double *tab) {
  for (int v = -TAP_SUM; v <= TAP_SUM; v++) tab[TAP_SUM + v] = v;
}

/* cubic_u8 on four consecutive RGB pixels; tab from fill_int_doubles. */
static inline double cubic_taps(const uint8_t *r, double d, const double *tab) {
  int a0 = r[0], a1 = r[3], a2 = r[6], a3 = r[9];
  double p1 = tab[TAP_SUM + a1], p2 = tab[TAP_SUM + a2 - a0];
  double p3 = tab[TAP_SUM + 2 * (a0 - a1) + a2 - a3], p4 = tab[TAP_SUM - a0 + a1 - a2 + a3];
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/* Pillow's bicubic sample (a = -1): rows above the image repeat the first row, rows
 * below repeat the previous sample row. */
static int sample_bicubic(const vfr_image *im, double xin, double yin, const double *tab,
                          uint8_t *out) {
  if (xin < 0.0 || xin >= im->width || yin < 0.0 || yin >= im->height) return 0;
  xin -= 0.5;
  yin -= 0.5;
  int x = floor_int(xin), y = floor_int(yin);
  double dx = xin - x, dy = yin - y;
  x--;
  y--;
  int last_x = im->width - 1, last_y = im->height - 1;
  if (x >= 0 && x + 3 <= last_x && y >= 0 && y + 3 <= last_y) { /* interior: no edge rules */
    const uint8_t *r0 = im->data + (size_t)y * im->stride + 3 * (size_t)x;
    size_t st = im->stride;
    for (int b = 0; b < 3; b++) {
      const uint8_t *p = r0 + b;
      double v0 = cubic_taps(p, dx, tab), v1 = cubic_taps(p + st, dx, tab);
      double v2 = cubic_taps(p + 2 * st, dx, tab), v3 = cubic_taps(p + 3 * st, dx, tab);
      double s = cubic(v0, v1, v2, v3, dy);
      out[b] = s <= 0.0 ? 0 : s >= 255.0 ? 255 : (uint8_t)s;
    }
    return 1;
  }
  size_t xs[4];
  if (x >= 0 && x + 3 <= last_x) {
    for (int i = 0; i < 4; i++) xs[i] = 3 * (size_t)(x + i);
  } else {
    for (int i = 0; i < 4; i++) xs[i] = 3 * (size_t)clampi(x + i, 0, last_x);
  }
  const uint8_t *rows[4];
  int n_rows = 4; /* rows[n_rows..3] repeat the last sample */
  rows[0] = im->data + (size_t)clampi(y, 0, last_y) * im->stride;
  for (int i = 1; i < 4; i++) {
    if (y + i < 0 || y + i > last_y) {
      if (y + i > last_y) {
        n_rows = i;
        break;
      }
      rows[i] = NULL;
    } else {
      rows[i] = im->data + (size_t)(y + i) * im->stride;
    }
  }
  double v[3][4];
  for (int i = 0; i < n_rows; i++) {
    if (!rows[i]) { /* above the image (i >= 1): repeats the previous sample */
      for (int b = 0; b < 3; b++) v[b][i] = v[b][i - 1];
      continue;
    }
    for (int b = 0; b < 3; b++) v[b][i] = cubic_u8(rows[i] + b, xs, dx);
  }
  for (int i = n_rows; i < 4; i++)
    for (int b = 0; b < 3; b++) v[b][i] = v[b][i - 1];
  for (int b = 0; b < 3; b++) {
    double s = cubic(v[b][0], v[b][1], v[b][2], v[b][3], dy);
    out[b] = s <= 0.0 ? 0 : s >= 255.0 ? 255 : (uint8_t)s;
  }
  return 1;
}

int vfr_rotate(const vfr_image *in, double degrees, vfr_filter filter, vfr_image *out,
               vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "rotate", err);
  if (rc) return rc;
  if (!isfinite(degrees))
    return vfr_fail(err, VFR_EINVAL, "rotate: angle %g is not finite", degrees);
  if (filter != VFR_FILTER_NEAREST && filter != VFR_FILTER_BILINEAR && filter != VFR_FILTER_BICUBIC)
    return vfr_fail(err, VFR_EINVAL, "rotate: filter must be nearest, bilinear or bicubic");
  int w = in->width, h = in->height;
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err); /* not zeroed: every path writes every byte */
  if (rc) return rc;
  double angle = py_fmod(degrees, 360.0);
  if (angle == 0.0) {
    for (int y = 0; y < h; y++)
      memcpy(res.data + (size_t)y * res.stride, in->data + (size_t)y * in->stride, (size_t)w * 3);
    *out = res;
    return VFR_OK;
  }
  if (angle == 180.0 || ((angle == 90.0 || angle == 270.0) && w == h)) {
    rotate_transpose(in, (int)(angle / 90.0), &res);
    *out = res;
    return VFR_OK;
  }
  /* The inverse map about the centre, cos and sin rounded to 15 decimals. */
  double cx = w / 2.0, cy = h / 2.0;
  double rad = -(angle * (M_PI / 180.0));
  double c = round15(cos(rad)), sn = round15(sin(rad)), msn = round15(-sin(rad));
  double a[6] = {c, sn, 0.0, msn, c, 0.0};
  a[2] = a[0] * -cx + a[1] * -cy + 0.0;
  a[5] = a[3] * -cx + a[4] * -cy + 0.0;
  a[2] += cx;
  a[5] += cy;
  if (filter == VFR_FILTER_NEAREST) {
    affine_nearest(in, a, &res);
  } else {
    int bicubic = filter == VFR_FILTER_BICUBIC;
    double tab[2 * TAP_SUM + 1];
    fill_int_doubles(tab);
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS / 4)
    for (int y = 0; y < h; y++) {
      uint8_t *dst = res.data + (size_t)y * res.stride;
      double yin = y + 0.5;
      for (int x = 0; x < w; x++) {
        double xin = x + 0.5;
        double sx = a[0] * xin + a[1] * yin + a[2];
        double sy = a[3] * xin + a[4] * yin + a[5];
        uint8_t *d = dst + 3 * (size_t)x;
        int inside = bicubic ? sample_bicubic(in, sx, sy, tab, d) : sample_bilinear(in, sx, sy, d);
        if (!inside) d[0] = d[1] = d[2] = 0;
      }
    }
  }
  *out = res;
  return VFR_OK;
}

/* ---- flip, crop, rescale, pixelate ------------------------------------------------ */

int vfr_flip(const vfr_image *in, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "flip", err);
  if (rc) return rc;
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  int w = in->width;
  for (int y = 0; y < in->height; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = res.data + (size_t)y * res.stride;
    memcpy(dst, src + 3 * (size_t)(w - 1), 3);
    /* Inner pixels move as 4-byte words: the extra byte read lies inside the row and the
     * extra byte written is overwritten by the next pixel. */
    for (int x = 1; x < w - 1; x++) memcpy(dst + 3 * (size_t)x, src + 3 * (size_t)(w - 1 - x), 4);
    if (w > 1) memcpy(dst + 3 * (size_t)(w - 1), src, 3);
  }
  *out = res;
  return VFR_OK;
}

/* Resizes in to (sw, sh) with `down`, then back to in's size with `up`. */
static int resize_round_trip(const vfr_image *in, int sw, int sh, vfr_filter down, vfr_filter up,
                             vfr_image *out, vfr_error *err) {
  if (sw == in->width && sh == in->height) return vfr_image_copy(in, out, err);
  vfr_image small = {0}, res = {0};
  int rc = vfr_resize(in, sw, sh, down, &small, err);
  if (rc == VFR_OK) rc = vfr_resize(&small, in->width, in->height, up, &res, err);
  vfr_image_free(&small);
  if (rc == VFR_OK) *out = res;
  return rc;
}

static int scaled_side(int side, double s) {
  double v = floor(side * s + 0.5);
  return v < 1.0 ? 1 : v > side * 64.0 ? side * 64 : (int)v;
}

int vfr_crop_area(const vfr_image *in, double area, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "crop", err);
  if (rc) return rc;
  if (!(area > 0.0 && area <= 1.0))
    return vfr_fail(err, VFR_EINVAL, "crop: area fraction %g is not in (0, 1]", area);
  double f = sqrt(area);
  int cw = scaled_side(in->width, f), ch = scaled_side(in->height, f);
  if (cw > in->width) cw = in->width;
  if (ch > in->height) ch = in->height;
  if (cw == in->width && ch == in->height) return vfr_image_copy(in, out, err);
  vfr_image box = {0}, res = {0};
  rc = vfr_center_crop(in, cw, ch, &box, err);
  if (rc == VFR_OK) rc = vfr_resize(&box, in->width, in->height, VFR_FILTER_BICUBIC, &res, err);
  vfr_image_free(&box);
  if (rc == VFR_OK) *out = res;
  return rc;
}

int vfr_rescale(const vfr_image *in, double scale, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "rescale", err);
  if (rc) return rc;
  if (!(scale > 0.0 && scale <= 16.0))
    return vfr_fail(err, VFR_EINVAL, "rescale: scale %g is not in (0, 16]", scale);
  return resize_round_trip(in, scaled_side(in->width, scale), scaled_side(in->height, scale),
                           VFR_FILTER_BICUBIC, VFR_FILTER_BICUBIC, out, err);
}

int vfr_pixelate(const vfr_image *in, double factor, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "pixelate", err);
  if (rc) return rc;
  if (!(factor > 0.0 && factor <= 1.0))
    return vfr_fail(err, VFR_EINVAL, "pixelate: factor %g is not in (0, 1]", factor);
  double fw = floor(factor * in->width), fh = floor(factor * in->height);
  int sw = fw < 1.0 ? 1 : (int)fw, sh = fh < 1.0 ? 1 : (int)fh;
  return resize_round_trip(in, sw, sh, VFR_FILTER_BOX, VFR_FILTER_NEAREST, out, err);
}
