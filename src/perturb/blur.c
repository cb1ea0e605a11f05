/* ImageFilter.GaussianBlur(radius=sigma) as Pillow computes it: the Gaussian is
 * approximated by three passes of a box blur with a fractional radius (extended box
 * filter), first three horizontal passes, then three vertical ones, with the result
 * rounded to uint8 after every pass. Pixels beyond the edges repeat the edge pixel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

#define BLUR_PASSES 3

/* The fractional box radius whose `passes`-fold box blur has variance sigma^2 (float32
 * arithmetic as in Pillow). */
static float box_radius(float sigma, int passes) {
  float sigma2 = sigma * sigma / passes;
  float big_l = (float)sqrt(12.0 * sigma2 + 1.0);
  float l = (float)floor((big_l - 1.0) / 2.0);
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

/* Box weights in 8.24 fixed point: ww for the 2r+1 inner taps, fw for the two outer
 * taps at distance r+1 (the fractional part of the radius). */
typedef struct box_weights {
  int r;
  uint32_t ww, fw;
} box_weights;

static box_weights box_weights_for(float radius) {
  box_weights b;
  b.r = (int)radius;
  b.ww = (uint32_t)((float)(1 << 24) / (radius * 2 + 1));
  b.fw = ((1u << 24) - (uint32_t)(b.r * 2 + 1) * b.ww) / 2;
  return b;
}

/* One box pass over a line of n RGB pixels (3 bytes each, in place). pad is scratch for
 * n + 2*(r+1) pixels: the line with its edge pixels repeated r+1 times on each side,
 * so that the running sum over x-r..x+r and the two outer taps need no bounds checks. */
static void box_line(uint8_t *line, int n, box_weights b, uint8_t *pad) {
  int r = b.r, margin = r + 1;
  for (int k = 0; k < margin; k++) {
    memcpy(pad + 3 * (size_t)k, line, 3);
    memcpy(pad + 3 * (size_t)(margin + n + k), line + 3 * (size_t)(n - 1), 3);
  }
  memcpy(pad + 3 * (size_t)margin, line, 3 * (size_t)n);
  const uint8_t *p = pad + 3 * (size_t)margin; /* p[3*i] is pixel i, for -r-1 <= i <= n+r */
  uint32_t acc0 = 0, acc1 = 0, acc2 = 0;
  for (int k = -r; k <= r; k++) {
    acc0 += p[3 * k];
    acc1 += p[3 * k + 1];
    acc2 += p[3 * k + 2];
  }
  const uint32_t ww = b.ww, fw = b.fw, half = 1u << 23;
  for (int x = 0; x < n; x++) {
    const uint8_t *lo = p + 3 * (x - r - 1), *hi = p + 3 * (x + r + 1);
    uint8_t *o = line + 3 * (size_t)x;
    o[0] = (uint8_t)((acc0 * ww + (uint32_t)(lo[0] + hi[0]) * fw + half) >> 24);
    o[1] = (uint8_t)((acc1 * ww + (uint32_t)(lo[1] + hi[1]) * fw + half) >> 24);
    o[2] = (uint8_t)((acc2 * ww + (uint32_t)(lo[2] + hi[2]) * fw + half) >> 24);
    acc0 += (uint32_t)hi[0] - lo[3];
    acc1 += (uint32_t)hi[1] - lo[4];
    acc2 += (uint32_t)hi[2] - lo[5];
  }
}

/* BLUR_PASSES box passes along every row of a (rows, cols, 3) buffer with row stride
 * `stride`. Returns 0, or -1 when scratch memory ran out. */
static int blur_rows(uint8_t *data, size_t stride, int rows, int cols, box_weights b) {
  int failed = 0;
#pragma omp parallel if ((long long)rows * cols >= PERTURB_PARALLEL_PIXELS)
  {
    uint8_t *tmp = malloc(((size_t)cols + 2 * (size_t)b.r + 2) * 3);
    if (!tmp) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(static)
    for (int y = 0; y < rows; y++) {
      uint8_t *row = data + (size_t)y * stride;
      for (int pass = 0; pass < BLUR_PASSES && tmp; pass++) box_line(row, cols, b, tmp);
    }
    free(tmp);
  }
  return failed ? -1 : 0;
}

/* dst (cols, rows, 3) = transpose of src (rows, cols, 3); strides in bytes. */
static void transpose_rgb(const uint8_t *src, size_t src_stride, int rows, int cols, uint8_t *dst,
                          size_t dst_stride) {
  enum { TILE = 32 };
#pragma omp parallel for schedule(static) if ((long long)rows * cols >= PERTURB_PARALLEL_PIXELS)
  for (int y0 = 0; y0 < rows; y0 += TILE)
    for (int x0 = 0; x0 < cols; x0 += TILE)
      for (int y = y0; y < y0 + TILE && y < rows; y++)
        for (int x = x0; x < x0 + TILE && x < cols; x++)
          memcpy(dst + (size_t)x * dst_stride + 3 * (size_t)y, src + (size_t)y * src_stride + 3 * (size_t)x, 3);
}

int vfr_gaussian_blur(const vfr_image *in, double sigma, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "gaussian_blur", err);
  if (rc) return rc;
  if (!(sigma >= 0.0) || sigma > 1000.0)
    return vfr_fail(err, VFR_EINVAL, "gaussian_blur: sigma %g is not in 0..1000", sigma);
  int w = in->width, h = in->height;
  vfr_image res, tr = {0};
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  rc = vfr_image_alloc(&tr, h, w, 3, err);
  if (rc) {
    vfr_image_free(&res);
    return rc;
  }
  for (int y = 0; y < h; y++)
    memcpy(res.data + (size_t)y * res.stride, in->data + (size_t)y * in->stride, (size_t)w * 3);
  box_weights b = box_weights_for(box_radius((float)sigma, BLUR_PASSES));
  /* Vertical passes run as horizontal passes over the transposed image. */
  int failed = blur_rows(res.data, res.stride, h, w, b);
  transpose_rgb(res.data, res.stride, h, w, tr.data, tr.stride);
  failed |= blur_rows(tr.data, tr.stride, w, h, b);
  transpose_rgb(tr.data, tr.stride, w, h, res.data, res.stride);
  vfr_image_free(&tr);
  if (failed) {
    vfr_image_free(&res);
    return vfr_fail(err, VFR_ENOMEM, "gaussian_blur: out of memory");
  }
  *out = res;
  return VFR_OK;
}
