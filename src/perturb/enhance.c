/* ImageEnhance's four enhancers: Image.blend(degenerate, image, factor) where the
 * degenerate image is black (brightness), the mean grey (contrast), the grey image
 * (saturation) or the SMOOTH-filtered image (sharpness).
 *
 * The blend depends only on the pair (degenerate value, image value), so it is done
 * through a table built once per call with Pillow's float32 arithmetic: exact and fast. */
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

/* One-dimensional blend with a constant degenerate value d. */
static int blend_constant(const vfr_image *in, int d, double factor, vfr_image *out,
                          vfr_error *err) {
  uint8_t lut[256];
  float alpha = (float)factor;
  for (int v = 0; v < 256; v++) lut[v] = perturb_blend_value(alpha, d, v);
  vfr_image res;
  int rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  perturb_apply_lut(in, lut, &res);
  *out = res;
  return VFR_OK;
}

/* Blend with a per-value degenerate image. deg is (h, w*3) with row stride w*3. */
static void blend_image(const vfr_image *in, const uint8_t *deg, const uint8_t *table,
                        vfr_image *res) {
  int h = in->height;
  size_t n = (size_t)in->width * 3;
#pragma omp parallel for schedule(static) if ((long long)in->width * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    const uint8_t *dg = deg + (size_t)y * n;
    uint8_t *dst = res->data + (size_t)y * res->stride;
    for (size_t i = 0; i < n; i++) dst[i] = table[dg[i] * 256 + src[i]];
  }
}

int vfr_brightness(const vfr_image *in, double factor, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "brightness", err);
  if (rc) return rc;
  return blend_constant(in, 0, factor, out, err);
}

int vfr_contrast(const vfr_image *in, double factor, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "contrast", err);
  if (rc) return rc;
  /* ImageStat's mean of convert('L'): the histogram's first moment over its count. */
  unsigned long long hist[256] = {0};
  for (int y = 0; y < in->height; y++) {
    const uint8_t *p = in->data + (size_t)y * in->stride;
    for (int x = 0; x < in->width; x++, p += 3) hist[perturb_luma(p)]++;
  }
  double sum = 0.0;
  for (int i = 0; i < 256; i++) sum += (double)(hist[i] * (unsigned long long)i);
  double mean = sum / ((double)in->width * (double)in->height);
  return blend_constant(in, (int)(mean + 0.5), factor, out, err);
}

/* Builds the degenerate image (h, w*3) with fill(in, deg), then blends. */
static int blend_with(const vfr_image *in, double factor, const char *op,
                      void (*fill)(const vfr_image *, uint8_t *), vfr_image *out,
                      vfr_error *err) {
  size_t n = (size_t)in->width * 3;
  uint8_t *deg = malloc(n * (size_t)in->height);
  uint8_t *table = malloc(65536);
  vfr_image res = {0};
  int rc = VFR_OK;
  if (!deg || !table) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory for a %dx%d image", op, in->width,
                  in->height);
  } else {
    rc = perturb_alloc_like(in, &res, err);
  }
  if (rc == VFR_OK) {
    fill(in, deg);
    perturb_blend_table(factor, table);
    blend_image(in, deg, table, &res);
    *out = res;
  }
  free(deg);
  free(table);
  return rc;
}

static void fill_gray(const vfr_image *in, uint8_t *deg) {
  size_t n = (size_t)in->width * 3;
  for (int y = 0; y < in->height; y++) {
    const uint8_t *p = in->data + (size_t)y * in->stride;
    uint8_t *d = deg + (size_t)y * n;
    for (int x = 0; x < in->width; x++, p += 3, d += 3) d[0] = d[1] = d[2] = perturb_luma(p);
  }
}

/* ImageFilter.SMOOTH: 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32, summed row y+1,
 * row y, row y-1 (each row left to right), plus 0.5, truncated; the outermost rows and
 * columns are copied. Images narrower or shorter than 3 pixels are copied whole. */
static void fill_smooth(const vfr_image *in, uint8_t *deg) {
  int w = in->width, h = in->height;
  size_t n = (size_t)w * 3;
  for (int y = 0; y < h; y++) memcpy(deg + (size_t)y * n, in->data + (size_t)y * in->stride, n);
  if (w < 3 || h < 3) return;
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const float offset = 0.5f;
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS)
  for (int y = 1; y < h - 1; y++) {
    const uint8_t *up = in->data + (size_t)(y - 1) * in->stride;
    const uint8_t *mid = in->data + (size_t)y * in->stride;
    const uint8_t *down = in->data + (size_t)(y + 1) * in->stride;
    uint8_t *d = deg + (size_t)y * n;
    for (size_t i = 3; i < n - 3; i++) {
      float ss = offset;
      ss += (float)down[i - 3] * k1 + (float)down[i] * k1 + (float)down[i + 3] * k1;
      ss += (float)mid[i - 3] * k1 + (float)mid[i] * k5 + (float)mid[i + 3] * k1;
      ss += (float)up[i - 3] * k1 + (float)up[i] * k1 + (float)up[i + 3] * k1;
      d[i] = ss <= 0.0f ? 0 : ss >= 255.0f ? 255 : (uint8_t)ss;
    }
  }
}

int vfr_saturation(const vfr_image *in, double factor, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "saturation", err);
  if (rc) return rc;
  return blend_with(in, factor, "saturation", fill_gray, out, err);
}

int vfr_sharpness(const vfr_image *in, double factor, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "sharpness", err);
  if (rc) return rc;
  return blend_with(in, factor, "sharpness", fill_smooth, out, err);
}
