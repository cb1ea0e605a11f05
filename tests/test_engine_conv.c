/* The engine's convolutions against double-precision loops: 3x3 stride 1 (Winograd where
 * the backend has it) and stride 2, 1x1, a planar input, channel counts that leave the last
 * channel block padded, the residual sum before the ReLU and without a ReLU, two batch sizes
 * on one convolution (the weights prepared for each), a second run with other data, and a
 * refused empty shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/engine.h"

static int passed, failed;

static void check(int ok, const char *what, double err) {
  if (ok) passed++;
  else failed++;
  printf("%-60s max err %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* Offset of (b, c, y, x) in the blocked layout (B, ceil(C/cb), H, W, cb). */
static size_t blk(int b, int c, int y, int x, int C, int H, int W, int cb) {
  int nb = (C + cb - 1) / cb;
  return ((((size_t)b * nb + c / cb) * H + y) * W + x) * cb + c % cb;
}

/* One case: B images, cin -> cout, k x k stride s pad k/2 on h x h. */
static void run_case(vfr_engine *e, int B2, int cin, int cout, int k, int s, int h, int planar,
                     int relu, int residual) {
  int cb = engine_conv_block(e), pad = k / 2, ho = (h + 2 * pad - k) / s + 1;
  int nbi = (cin + cb - 1) / cb, nbo = (cout + cb - 1) / cb;
  size_t K = (size_t)cin * k * k;
  float *w = malloc((size_t)cout * K * sizeof *w), *bias = malloc((size_t)cout * sizeof *bias);
  for (size_t i = 0; i < (size_t)cout * K; i++) w[i] = frand() / sqrtf((float)K);
  for (int o = 0; o < cout; o++) bias[o] = 0.5f * frand();
  engine_conv_shape sh = {cin, cout, k, s, pad, h, h, planar, relu, residual};
  engine_conv *c = NULL;
  vfr_error err = {0};
  if (engine_conv_create(e, &sh, w, bias, &c, &err) != VFR_OK) {
    check(0, err.message, 0);
    free(w), free(bias);
    return;
  }
  int sizes[3] = {B2, 1, B2}; /* the first batch size again, with other data */
  for (int run = 0; run < 3; run++) {
    int B = sizes[run];
    size_t nx = planar ? (size_t)B * cin * h * h : (size_t)B * nbi * h * h * cb;
    size_t ny = (size_t)B * nbo * ho * ho * cb;
    float *x = calloc(nx, sizeof *x), *y = calloc(ny, sizeof *y), *y0 = calloc(ny, sizeof *y0);
    double *ref = calloc((size_t)B * cout * ho * ho, sizeof *ref);
    /* the input (padding channels zero) and, for a residual, y's previous contents */
    for (int b = 0; b < B; b++)
      for (int ci = 0; ci < cin; ci++)
        for (int yy = 0; yy < h; yy++)
          for (int xx = 0; xx < h; xx++)
            x[planar ? (((size_t)b * cin + ci) * h + yy) * h + xx : blk(b, ci, yy, xx, cin, h, h, cb)] = frand();
    if (residual)
      for (int b = 0; b < B; b++)
        for (int o = 0; o < cout; o++)
          for (int yy = 0; yy < ho; yy++)
            for (int xx = 0; xx < ho; xx++) y[blk(b, o, yy, xx, cout, ho, ho, cb)] = frand();
    memcpy(y0, y, ny * sizeof *y);
    double scale = 0, e_max = 0;
    for (int b = 0; b < B; b++)
      for (int o = 0; o < cout; o++)
        for (int oy = 0; oy < ho; oy++)
          for (int ox = 0; ox < ho; ox++) {
            double acc = bias[o];
            for (int ci = 0; ci < cin; ci++)
              for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                  int iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
                  size_t xi = planar ? (((size_t)b * cin + ci) * h + iy) * h + ix
                                     : blk(b, ci, iy, ix, cin, h, h, cb);
                  acc += (double)w[(((size_t)o * cin + ci) * k + ky) * k + kx] * x[xi];
                }
            if (residual) acc += y0[blk(b, o, oy, ox, cout, ho, ho, cb)];
            if (relu && acc < 0) acc = 0;
            ref[(((size_t)b * cout + o) * ho + oy) * ho + ox] = acc;
            if (fabs(acc) > scale) scale = fabs(acc);
          }
    int rc = engine_conv_forward(e, c, B, x, y, &err);
    for (int b = 0; b < B && rc == VFR_OK; b++)
      for (int o = 0; o < cout; o++)
        for (int oy = 0; oy < ho; oy++)
          for (int ox = 0; ox < ho; ox++) {
            double d = fabs(y[blk(b, o, oy, ox, cout, ho, ho, cb)] -
                            ref[(((size_t)b * cout + o) * ho + oy) * ho + ox]);
            if (!(d <= e_max)) e_max = d;
          }
    char what[160];
    snprintf(what, sizeof what, "B%d %d->%d k%d s%d %dx%d%s%s%s", B, cin, cout, k, s, h, h,
             planar ? " planar" : "", residual ? " +residual" : "", relu ? " relu" : "");
    if (rc != VFR_OK) printf("  %s\n", err.message);
    check(rc == VFR_OK && e_max <= 1e-5 * (scale > 1 ? scale : 1), what, e_max);
    free(x), free(y), free(y0), free(ref);
  }
  engine_conv_free(c);
  free(w), free(bias);
}

int main(void) {
  vfr_engine *e = NULL;
  vfr_error err = {0};
  if (engine_create(2, VFR_PRECISION_FP32, &e, &err) != VFR_OK) {
    printf("engine: %s\n", err.message);
    return 1;
  }
  int cb = engine_conv_block(e);
  check(cb == 8 || cb == 16, "channel block is 8 or 16", 0);
  run_case(e, 3, 3, 20, 3, 2, 17, 1, 1, 0);  /* stem: planar input, odd size, padded output */
  run_case(e, 3, 20, 24, 3, 1, 9, 0, 1, 0);  /* 3x3 stride 1, both blocks padded */
  run_case(e, 2, 32, 48, 3, 1, 14, 0, 1, 0); /* 3x3 stride 1 (Winograd) */
  run_case(e, 2, 48, 32, 1, 1, 7, 0, 1, 1);  /* 1x1, residual then ReLU */
  run_case(e, 2, 24, 40, 1, 1, 5, 0, 0, 1);  /* 1x1, residual, no ReLU */
  run_case(e, 2, 16, 16, 1, 1, 6, 0, 0, 0);  /* 1x1, plain */
  engine_conv_shape bad = {4, 4, 5, 1, 0, 3, 3, 0, 0, 0};
  engine_conv *c = NULL;
  int rc = engine_conv_create(e, &bad, NULL, NULL, &c, &err);
  check(rc == VFR_EINVAL && !c && strstr(err.message, "empty"), "a 5x5 kernel on 3x3 unpadded is refused", 0);
  engine_free(e);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
