/* Model kernels against naive double-precision loops, bicubic grid resampling against
 * values PyTorch 1.13 computed, the DINOv2 position-embedding rule, the resize-size rule
 * and the .npy writer/reader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/ops.h"
#include "model/pos_embed.h"
#include "model/preprocess.h"
#include "vfrobust.h"

static int passed, failed;
static vfr_engine *eng; /* the products' engine, 2 threads */

static void check(int ok, const char *what, double err) {
  if (ok) passed++;
  else failed++;
  printf("%-46s max err %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}
static float *randv(size_t n, float scale) {
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
  return v;
}
static double maxdiff(const float *a, const double *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

static void test_layernorm(void) {
  int N = 37, C = 129;
  float *x = randv((size_t)N * C, 3), *w = randv(C, 1), *b = randv(C, 1);
  for (int i = 0; i < C; i++) x[i] += 100.0f; /* a row with a large mean */
  float *out = malloc((size_t)N * C * sizeof *out);
  double *ref = malloc((size_t)N * C * sizeof *ref);
  for (int n = 0; n < N; n++) {
    double mean = 0, var = 0;
    for (int c = 0; c < C; c++) mean += x[n * C + c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[n * C + c] - mean) * (x[n * C + c] - mean);
    var /= C;
    for (int c = 0; c < C; c++)
      ref[n * C + c] = (x[n * C + c] - mean) / sqrt(var + 1e-5) * w[c] + b[c];
  }
  layernorm_forward(out, x, w, b, N, C, 1e-5f, 2);
  double e = maxdiff(out, ref, (size_t)N * C);
  check(e < 1e-5, "layernorm vs double loop", e);
  layernorm_forward(x, x, w, b, N, C, 1e-5f, 2); /* in place */
  e = maxdiff(x, ref, (size_t)N * C);
  check(e < 1e-5, "layernorm in place", e);
  free(x), free(w), free(b), free(out), free(ref);
}

static void test_softmax(void) {
  int N = 19, C = 257;
  float *x = randv((size_t)N * C, 20);
  double *ref = malloc((size_t)N * C * sizeof *ref);
  for (int n = 0; n < N; n++) {
    double mx = -1e300, s = 0;
    for (int c = 0; c < C; c++) mx = fmax(mx, x[n * C + c]);
    for (int c = 0; c < C; c++) s += exp(x[n * C + c] - mx);
    for (int c = 0; c < C; c++) ref[n * C + c] = exp(x[n * C + c] - mx) / s;
  }
  softmax_forward(x, N, C, 2);
  double e = maxdiff(x, ref, (size_t)N * C);
  check(e < 1e-6, "softmax vs double loop", e);
  free(x), free(ref);
}

static void test_activations(void) {
  double e_q = 0, e_g = 0, e_t = 0, e_s = 0;
  for (int i = -2000; i <= 2000; i++) {
    double x = i / 200.0;
    float xf = (float)x;
    double q = x / (1 + exp(-1.702 * x));
    double g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
    double t = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    double s = x / (1 + exp(-x));
    e_q = fmax(e_q, fabs(quick_gelu(xf) - q));
    e_g = fmax(e_g, fabs(gelu_erf(xf) - g));
    e_t = fmax(e_t, fabs(gelu_tanh(xf) - t));
    e_s = fmax(e_s, fabs(silu(xf) - s));
  }
  check(e_q < 1e-5, "quick_gelu on [-10,10]", e_q);
  check(e_g < 1e-5, "gelu (erf) on [-10,10]", e_g);
  check(e_t < 1e-5, "gelu (tanh) on [-10,10]", e_t);
  check(e_s < 1e-5, "silu on [-10,10]", e_s);
  /* relative accuracy over the whole float range that matters, and no inf/nan at the ends */
  double rel_q = 0, rel_s = 0;
  int finite = 1;
  for (int i = -20000; i <= 20000; i++) {
    double x = i / 100.0;
    double q = x / (1 + exp(-1.702 * x)), s = x / (1 + exp(-x));
    float qf = quick_gelu((float)x), sf = silu((float)x);
    finite &= isfinite(qf) && isfinite(sf);
    if (fabs(q) > 1e-30) rel_q = fmax(rel_q, fabs(qf - q) / fabs(q));
    if (fabs(s) > 1e-30) rel_s = fmax(rel_s, fabs(sf - s) / fabs(s));
  }
  check(finite && rel_q < 1e-5, "quick_gelu relative error on [-200,200]", rel_q);
  check(finite && rel_s < 1e-5, "silu relative error on [-200,200]", rel_s);
  /* the fused epilogues */
  int N = 5, C = 33;
  float *x = randv((size_t)N * 2 * C, 4), *b = randv(2 * C, 1);
  float *y = malloc((size_t)N * C * sizeof *y);
  double *ref = malloc((size_t)N * 2 * C * sizeof *ref);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      double a = x[n * 2 * C + c] + (double)b[c], g = x[n * 2 * C + C + c] + (double)b[C + c];
      ref[n * C + c] = a / (1 + exp(-a)) * g;
    }
  swiglu_forward(y, x, b, N, C, 2);
  double e = maxdiff(y, ref, (size_t)N * C);
  check(e < 1e-5, "swiglu vs double loop", e);
  for (int n = 0; n < N * 2; n++)
    for (int c = 0; c < C; c++) {
      double a = x[n * C + c] + (double)b[c];
      ref[n * C + c] = 0.5 * a * (1 + erf(a / sqrt(2.0)));
    }
  bias_activation_forward(x, b, 2 * N, C, VFR_ACT_GELU, 2);
  e = maxdiff(x, ref, (size_t)N * 2 * C);
  check(e < 1e-5, "bias + gelu epilogue", e);
  free(x), free(b), free(y), free(ref);
}

static void test_matmul_residual(void) {
  int N = 23, C = 70, OC = 45;
  float *x = randv((size_t)N * C, 1), *w = randv((size_t)OC * C, 1), *b = randv(OC, 1);
  float *out = malloc((size_t)N * OC * sizeof *out);
  double *ref = malloc((size_t)N * OC * sizeof *ref);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = b[o];
      for (int c = 0; c < C; c++) s += (double)x[n * C + c] * w[o * C + c];
      ref[n * OC + o] = s;
    }
  matmul_forward(out, x, w, b, N, C, OC, eng);
  double e = maxdiff(out, ref, (size_t)N * OC);
  check(e < 1e-4, "matmul (sgemm) + bias vs double loop", e);
  float *res = randv((size_t)N * OC, 1), *scale = randv(OC, 1);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++)
      ref[n * OC + o] = res[n * OC + o] + (out[n * OC + o] + (double)b[o]) * scale[o];
  residual_forward(res, out, b, scale, N, OC, 2);
  e = maxdiff(res, ref, (size_t)N * OC);
  check(e < 1e-5, "residual with layer scale", e);
  free(x), free(w), free(b), free(out), free(ref), free(res), free(scale);
}

/* The fused linear layers, big enough to be split into column chunks with a ragged tail. */
static void test_fused_linear(void) {
  int N = 600, C = 64, OC = 300; /* 3 row blocks (one ragged), ragged column chunks */
  float *x = randv((size_t)N * C, 1), *w[3], *b[3];
  for (int i = 0; i < 3; i++) w[i] = randv((size_t)OC * C, 0.2f), b[i] = randv(OC, 1);
  float *out[3], *scale = randv(OC, 1);
  for (int i = 0; i < 3; i++) out[i] = malloc((size_t)N * OC * sizeof(float));
  double *lin[3], *ref = malloc((size_t)N * OC * sizeof *ref);
  for (int i = 0; i < 3; i++) {
    lin[i] = malloc((size_t)N * OC * sizeof(double));
    for (int n = 0; n < N; n++)
      for (int o = 0; o < OC; o++) {
        double s = b[i][o];
        for (int c = 0; c < C; c++) s += (double)x[n * C + c] * w[i][o * C + c];
        lin[i][n * OC + o] = s;
      }
  }
  linear_qkv_forward(out[0], out[1], out[2], x, w[0], b[0], w[1], b[1], w[2], b[2], N, C, OC, eng);
  double e = 0;
  for (int i = 0; i < 3; i++) e = fmax(e, maxdiff(out[i], lin[i], (size_t)N * OC));
  check(e < 1e-4, "fused q,k,v linear vs double loop", e);
  const int acts[3] = {VFR_ACT_QUICK_GELU, VFR_ACT_GELU, VFR_ACT_GELU_TANH};
  const char *names[3] = {"fused linear + quick_gelu", "fused linear + gelu",
                          "fused linear + gelu_tanh"};
  for (int a = 0; a < 3; a++) {
    for (size_t i = 0; i < (size_t)N * OC; i++) {
      double v = lin[0][i];
      ref[i] = a == 0 ? v / (1 + exp(-1.702 * v))
               : a == 1 ? 0.5 * v * (1 + erf(v / sqrt(2.0)))
                        : 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    linear_forward(out[1], x, w[0], b[0], N, C, OC, acts[a], eng);
    e = maxdiff(out[1], ref, (size_t)N * OC);
    check(e < 1e-4, names[a], e);
  }
  /* x += (inp @ w^T + b) * scale: inp is (N,C), x is (N,OC) */
  float *res = randv((size_t)N * OC, 1);
  for (size_t i = 0; i < (size_t)N * OC; i++) ref[i] = res[i] + lin[2][i] * scale[i % OC];
  linear_residual_forward(res, x, w[2], b[2], scale, N, C, OC, eng);
  e = maxdiff(res, ref, (size_t)N * OC);
  check(e < 1e-4, "fused linear + layer scale + residual", e);
  for (int i = 0; i < 3; i++) free(w[i]), free(b[i]), free(out[i]), free(lin[i]);
  free(x), free(scale), free(ref), free(res);
}

static void test_attention(void) {
  int B = 2, T = 11, NH = 3, hd = 8, C = NH * hd;
  size_t n = (size_t)B * T * C;
  float *q = randv(n, 2), *k = randv(n, 2), *v = randv(n, 1);
  float *out = malloc(n * sizeof *out);
  float *att = malloc(attention_scratch_floats(B, T, NH) * sizeof *att);
  double *ref = calloc(n, sizeof *ref), p[16];
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        double mx = -1e300, s = 0;
        for (int u = 0; u < T; u++) {
          double d = 0;
          for (int i = 0; i < hd; i++)
            d += (double)q[(b * T + t) * C + h * hd + i] * k[(b * T + u) * C + h * hd + i];
          p[u] = d / sqrt((double)hd);
          mx = fmax(mx, p[u]);
        }
        for (int u = 0; u < T; u++) s += (p[u] = exp(p[u] - mx));
        for (int i = 0; i < hd; i++) {
          double acc = 0;
          for (int u = 0; u < T; u++) acc += p[u] / s * v[(b * T + u) * C + h * hd + i];
          ref[(b * T + t) * C + h * hd + i] = acc;
        }
      }
  attention_forward(out, att, q, k, v, B, T, C, NH, eng);
  double e = maxdiff(out, ref, n);
  check(e < 1e-5, "attention vs double loop", e);
  free(q), free(k), free(v), free(out), free(att), free(ref);
}

static void test_im2patch(void) {
  int B = 2, CH = 3, H = 6, W = 9, P = 3; /* GH = 2, GW = 3 */
  float *in = randv((size_t)B * CH * H * W, 1);
  float *out = malloc((size_t)B * 6 * CH * P * P * sizeof *out);
  im2patch_forward(out, in, B, CH, H, W, P, 2);
  int bad = 0;
  for (int b = 0; b < B; b++)
    for (int gy = 0; gy < 2; gy++)
      for (int gx = 0; gx < 3; gx++)
        for (int c = 0; c < CH; c++)
          for (int ky = 0; ky < P; ky++)
            for (int kx = 0; kx < P; kx++)
              bad += out[((b * 2 + gy) * 3 + gx) * CH * P * P + (c * P + ky) * P + kx] !=
                     in[((b * CH + c) * H + gy * P + ky) * W + gx * P + kx];
  check(bad == 0, "patch extraction layout", bad);
  free(in), free(out);
}

/* The 4x4 grid x = i^1.5 / 3 (row-major i) with x[1][2] = -4, resized by PyTorch 1.13's
 * F.interpolate(x, size, mode='bicubic', align_corners=False, antialias=...). */
static const float grid4[16] = {0, 0.333333343f, 0.942809045f, 1.73205078f, 2.66666675f,
                                3.72677994f, -4, 6.17341995f, 7.54247236f, 9, 10.540925f,
                                12.1609573f, 13.8564062f, 15.6240549f, 17.4610672f, 19.3649158f};
static const float torch_plain_3x5[15] = {
    0.271898955f, 0.691078246f, 0.181098029f, 0.535916865f, 2.4043057f, 4.68379354f, 6.12863064f,
    3.59829164f, 3.61131406f, 9.31825447f, 12.9297924f, 14.0666676f, 15.7440825f, 17.4143105f,
    18.5391331f};
static const float torch_aa_2x3[6] = {1.97665012f, 0.630618811f, 2.90990281f,
                                      10.4943085f, 11.9864264f, 14.4764614f};
static const float torch_aa_3x6[18] = {
    0.347851783f, 0.727317095f, 0.618598878f, -1.07470012f, 0.677559853f, 2.7238481f,
    4.89239979f, 5.77528143f, 5.8425355f, 2.91670156f, 5.94445133f, 9.47896099f,
    12.4621744f, 13.2464447f, 14.6484079f, 16.2485886f, 17.4293633f, 18.0155163f};

static void test_interpolation(void) {
  /* two channels: the grid and its negation, channel-last */
  float in[32], out[36], tmp[64];
  for (int i = 0; i < 16; i++) in[2 * i] = grid4[i], in[2 * i + 1] = -grid4[i];
  struct { int oh, ow, aa; const float *want; const char *name; } cases[] = {
      {3, 5, 0, torch_plain_3x5, "bicubic 4x4->3x5 vs PyTorch"},
      {2, 3, 1, torch_aa_2x3, "bicubic aa 4x4->2x3 vs PyTorch"},
      {3, 6, 1, torch_aa_3x6, "bicubic aa 4x4->3x6 vs PyTorch"}};
  for (int k = 0; k < 3; k++) {
    int n = cases[k].oh * cases[k].ow;
    int rc = interpolate_bicubic(out, in, tmp, 4, 4, cases[k].oh, cases[k].ow, 2, cases[k].aa);
    double e = rc ? 1e9 : 0;
    for (int i = 0; i < n; i++) {
      e = fmax(e, fabs(out[2 * i] - cases[k].want[i]));
      e = fmax(e, fabs(out[2 * i + 1] + cases[k].want[i]));
    }
    check(e < 2e-5, cases[k].name, e); /* values up to 19: a few float ulps */
  }
  /* same size without antialias: the identity (weights 0,1,0,0 at t = 0) */
  interpolate_bicubic(out, in, tmp, 4, 4, 4, 4, 2, 0);
  double e = 0;
  for (int i = 0; i < 32; i++) e = fmax(e, fabs(out[i] - in[i]));
  check(e == 0, "bicubic same size is the identity", e);
  check(interpolate_bicubic(out, in, tmp, 4, 4, 0, 3, 2, 0) == -1, "bicubic rejects an empty size",
        0);

  /* DINOv2 rule: CLS kept, grid resampled; matching square grid copied as is. */
  float pos[2 * 17], pe[2 * 10];
  pos[0] = 42, pos[1] = -42;
  memcpy(pos + 2, in, sizeof in);
  int rc = dinov2_pos_embed(pe, pos, tmp, 17, 2, 42, 42, 14, 1); /* 3x3 grid, aa */
  float want[18];
  interpolate_bicubic(want, in, tmp, 4, 4, 3, 3, 2, 1);
  e = rc ? 1e9 : fabs(pe[0] - 42) + fabs(pe[1] + 42);
  for (int i = 0; i < 18; i++) e = fmax(e, fabs(pe[2 + i] - want[i]));
  check(e == 0, "dinov2 pos embed: CLS kept, grid resampled", e);
  float same[34];
  rc = dinov2_pos_embed(same, pos, tmp, 17, 2, 56, 56, 14, 0);
  check(rc == 0 && !memcmp(same, pos, sizeof same), "dinov2 pos embed: native grid unchanged", 0);
  check(dinov2_pos_embed(same, pos, tmp, 16, 2, 56, 56, 14, 0) == -1,
        "dinov2 pos embed: non-square table rejected", 0);
}

static void test_resize_size(void) {
  struct { int w, h, s, ew, eh; } c[] = {
      {640, 480, 224, 298, 224}, /* 224*640/480 = 298.67 -> 298 (truncated) */
      {480, 640, 224, 224, 298}, {500, 375, 256, 341, 256}, {224, 224, 224, 224, 224},
      {1000, 3, 224, 74666, 224}, {301, 299, 256, 257, 256}};
  int bad = 0;
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    int w, h;
    preprocess_resize_size(c[i].w, c[i].h, c[i].s, &w, &h);
    if (w != c[i].ew || h != c[i].eh) {
      printf("  resize %dx%d to %d: got %dx%d, want %dx%d\n", c[i].w, c[i].h, c[i].s, w, h,
             c[i].ew, c[i].eh);
      bad++;
    }
  }
  check(bad == 0, "resize size (long side truncated)", bad);
}

static void test_npy(void) {
  char path[] = "/tmp/vfr_test_npy_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  float data[6] = {1.5f, -2, 3.25f, 0, 1e-30f, 7};
  vfr_error err;
  int rc = vfr_npy_write_f32(path, data, 2, 3, &err);
  float *back = NULL;
  int64_t r = 0, c = 0;
  if (!rc) rc = vfr_npy_read_f32(path, &back, &r, &c, &err);
  check(!rc && r == 2 && c == 3 && !memcmp(back, data, sizeof data), "npy write/read round trip",
        0);
  free(back);
  FILE *f = fopen(path, "rb");
  unsigned char hdr[128] = {0};
  size_t got = f ? fread(hdr, 1, sizeof hdr, f) : 0;
  if (f) fclose(f);
  int hlen = hdr[8] | hdr[9] << 8;
  check(got == 128 && !memcmp(hdr, "\x93NUMPY\x01\x00", 8) && (10 + hlen) % 64 == 0 &&
            strstr((char *)hdr + 10, "'shape': (2, 3)") && hdr[9 + hlen] == '\n',
        "npy v1.0 header, 64-byte aligned", 0);
  /* truncated data is an error naming the file */
  if (truncate(path, 10 + hlen + 8) == 0) {
    rc = vfr_npy_read_f32(path, &back, &r, &c, &err);
    check(rc == VFR_EFORMAT && strstr(err.message, path) && !back, "npy truncated data rejected",
          0);
  }
  remove(path);
}

int main(void) {
  vfr_error err;
  if (engine_create(2, VFR_PRECISION_FP32, &eng, &err) != VFR_OK) {
    printf("engine: %s\n", err.message);
    return 1;
  }
  test_layernorm();
  test_softmax();
  test_activations();
  test_matmul_residual();
  test_fused_linear();
  test_attention();
  test_im2patch();
  test_interpolation();
  test_resize_size();
  test_npy();
  engine_free(eng);
  printf("test_model_ops: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
