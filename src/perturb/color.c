/* Colour ops: hue shift and gamma (torchvision's PIL code paths), posterize (ImageOps). */
#include <math.h>

#include "perturb/perturb_internal.h"

static inline int clip8i(int v) { return v <= 0 ? 0 : v >= 255 ? 255 : v; }

/* Pillow's convert('HSV') of one RGB pixel (colorsys formulas, float32 state). */
static void rgb_to_hsv(const uint8_t *rgb, uint8_t *hsv) {
  uint8_t r = rgb[0], g = rgb[1], b = rgb[2];
  uint8_t maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
  uint8_t minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
  hsv[2] = maxc;
  if (minc == maxc) {
    hsv[0] = hsv[1] = 0;
    return;
  }
  float cr = (float)(maxc - minc);
  float s = cr / (float)maxc;
  float rc = (float)(maxc - r) / cr;
  float gc = (float)(maxc - g) / cr;
  float bc = (float)(maxc - b) / cr;
  float h;
  if (r == maxc) h = bc - gc;
  else if (g == maxc) h = (float)(2.0 + rc - bc);
  else h = (float)(4.0 + gc - rc);
  /* fmod(h / 6 + 1, 1): the argument lies in [5/6, 11/6], so one exact subtraction. */
  double wrapped = h / 6.0 + 1.0;
  h = (float)(wrapped >= 1.0 ? wrapped - 1.0 : wrapped);
  hsv[0] = (uint8_t)clip8i((int)(h * 255.0));
  hsv[1] = (uint8_t)clip8i((int)(s * 255.0));
}

/* round() for 0 <= x < 2^31, halves away from zero, without a libm call: x - trunc(x)
 * is exact. */
static inline int round_nonneg(double x) {
  int t = (int)x;
  return t + (x - t >= 0.5);
}

/* Pillow's convert('RGB') of one HSV pixel. */
static void hsv_to_rgb(const uint8_t *hsv, uint8_t *rgb) {
  uint8_t h = hsv[0], s = hsv[1], v = hsv[2];
  if (s == 0) {
    rgb[0] = rgb[1] = rgb[2] = v;
    return;
  }
  /* floor(h*6/255): the double quotient is within 1/255 of a non-integer, so the integer
   * quotient is the same. */
  int i = h * 6 / 255;
  float f = (float)((float)h * 6.0 / 255.0 - (float)i);
  float fs = (float)((float)s / 255.0);
  /* The products are >= 0 (fs, f in [0, 1]); clip8 keeps Pillow's guard. */
  uint8_t up = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs)));
  uint8_t uq = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs * f)));
  uint8_t ut = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs * (1.0 - f))));
  switch (i % 6) {
    case 0: rgb[0] = v, rgb[1] = ut, rgb[2] = up; break;
    case 1: rgb[0] = uq, rgb[1] = v, rgb[2] = up; break;
    case 2: rgb[0] = up, rgb[1] = v, rgb[2] = ut; break;
    case 3: rgb[0] = up, rgb[1] = uq, rgb[2] = v; break;
    case 4: rgb[0] = ut, rgb[1] = up, rgb[2] = v; break;
    default: rgb[0] = v, rgb[1] = up, rgb[2] = uq; break;
  }
}

int vfr_hue(const vfr_image *in, double shift, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "hue", err);
  if (rc) return rc;
  if (!(shift >= -0.5 && shift <= 0.5))
    return vfr_fail(err, VFR_EINVAL, "hue: shift %g is not in -0.5..0.5", shift);
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  /* np.uint8(int(shift * 255)): truncate toward zero, then wrap modulo 256. */
  uint8_t delta = (uint8_t)(((int)(shift * 255.0) % 256 + 256) % 256);
  int w = in->width, h = in->height;
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = res.data + (size_t)y * res.stride;
    for (int x = 0; x < w; x++) {
      uint8_t hsv[3];
      rgb_to_hsv(src + 3 * x, hsv);
      hsv[0] = (uint8_t)(hsv[0] + delta);
      hsv_to_rgb(hsv, dst + 3 * x);
    }
  }
  *out = res;
  return VFR_OK;
}

int vfr_gamma(const vfr_image *in, double gamma, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "gamma", err);
  if (rc) return rc;
  if (!(gamma > 0.0) || gamma > 100.0)
    return vfr_fail(err, VFR_EINVAL, "gamma: gamma %g is not in (0, 100]", gamma);
  uint8_t lut[256];
  const double gain = 1.0;
  for (int i = 0; i < 256; i++) {
    double v = (255.0 + 1.0 - 1e-3) * gain * pow(i / 255.0, gamma);
    lut[i] = (uint8_t)clip8i((int)v);
  }
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  perturb_apply_lut(in, lut, &res);
  *out = res;
  return VFR_OK;
}

int vfr_posterize(const vfr_image *in, int bits, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "posterize", err);
  if (rc) return rc;
  if (bits < 1 || bits > 8)
    return vfr_fail(err, VFR_EINVAL, "posterize: bits %d is not in 1..8", bits);
  uint8_t lut[256];
  uint8_t mask = (uint8_t)~((1u << (8 - bits)) - 1u);
  for (int i = 0; i < 256; i++) lut[i] = (uint8_t)(i & mask);
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  perturb_apply_lut(in, lut, &res);
  *out = res;
  return VFR_OK;
}
