/* The engine's products against double-precision loops: both transpositions, leading
 * dimensions wider than the matrices, every epilogue (bias, the three activations, layer
 * scale, accumulation), alpha, the strided batched form on a head's slice of a (B,T,C)
 * tensor (with alpha and accumulation, as attention's backward uses it), the cache (the same
 * shape twice with other data), a product prepared on one thread and run on another, what
 * the engine says it runs, and linear layers on prepared weights (fp32 and bf16, at the
 * rows they were prepared for and others, bf16 inputs and outputs, against loops on the
 * bf16-rounded values; 2048 inputs take the own AMX kernel where the CPU has AMX), and the
 * batched product on bf16 operands. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/engine.h"
#include "model/ops.h"

static int passed, failed;

static void check(int ok, const char *what, double err) {
  if (ok) passed++;
  else failed++;
  printf("%-50s max err %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}
static float *randv(size_t n) {
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = frand();
  return v;
}

static double act_ref(int act, double v) {
  switch (act) {
  case VFR_ACT_QUICK_GELU: return v / (1 + exp(-1.702 * v));
  case VFR_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
  case VFR_ACT_GELU_TANH: return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  default: return v;
  }
}

/* One engine_gemm against the loop, C (M,ldc) starting from c0. */
static double gemm_case(vfr_engine *e, int ta, int tb, int M, int N, int K, float alpha, int pad,
                        const engine_epilogue *ep) {
  int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  float *A = randv((size_t)(ta ? K : M) * lda), *B = randv((size_t)(tb ? N : K) * ldb);
  float *C = randv((size_t)M * ldc);
  double *ref = malloc((size_t)M * ldc * sizeof *ref);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++) {
      size_t o = (size_t)i * ldc + j;
      if (j >= N) { ref[o] = C[o]; continue; } /* beyond N: untouched */
      double s = 0;
      for (int q = 0; q < K; q++)
        s += (double)(ta ? A[(size_t)q * lda + i] : A[(size_t)i * lda + q]) *
             (tb ? B[(size_t)j * ldb + q] : B[(size_t)q * ldb + j]);
      s *= alpha;
      if (ep && ep->bias) s += ep->bias[j];
      if (ep) s = act_ref(ep->act, s);
      if (ep && ep->scale) s *= ep->scale[j];
      if (ep && ep->accumulate) s += C[o];
      ref[o] = s;
    }
  engine_gemm(e, ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc, ep);
  double err = 0;
  for (size_t o = 0; o < (size_t)M * ldc; o++) err = fmax(err, fabs(C[o] - ref[o]));
  free(A), free(B), free(C), free(ref);
  return err;
}

static void test_gemm(vfr_engine *e) {
  char what[96];
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      double err = gemm_case(e, ta, tb, 37, 53, 71, 1.0f, 0, NULL);
      err = fmax(err, gemm_case(e, ta, tb, 37, 53, 71, 1.0f, 5, NULL));
      snprintf(what, sizeof what, "gemm transA %d transB %d (ld = width, wider)", ta, tb);
      check(err < 1e-4, what, err);
    }
  /* the same shape again: the cached primitive with other data */
  double err = gemm_case(e, 0, 1, 37, 53, 71, 1.0f, 0, NULL);
  check(err < 1e-4, "gemm again from the cache", err);
  err = gemm_case(e, 0, 1, 19, 23, 64, 0.125f, 0, NULL);
  check(err < 1e-5, "gemm with alpha", err);
  int N = 300, K = 96;
  float *bias = randv(N), *scale = randv(N);
  const char *names[4] = {"none", "quick_gelu", "gelu (erf)", "gelu_tanh"};
  for (int act = 0; act <= 3; act++) {
    engine_epilogue ep = {bias, act, NULL, 0};
    err = gemm_case(e, 0, 1, 600, N, K, 1.0f, 0, &ep);
    snprintf(what, sizeof what, "linear + bias + %s", names[act]);
    check(err < 1e-4, what, err);
  }
  engine_epilogue res = {bias, 0, scale, 1};
  err = gemm_case(e, 0, 1, 600, N, K, 1.0f, 0, &res);
  check(err < 1e-4, "linear + bias, * layer scale, + residual", err);
  engine_epilogue acc = {NULL, 0, NULL, 1};
  err = gemm_case(e, 1, 0, 45, 70, 600, 1.0f, 3, &acc);
  check(err < 1e-3, "dW += dY^T X (accumulate, transA)", err);
  free(bias), free(scale);
}

/* scores (B,NH,T,T) = q_h @ k_h^T * s on q, k of (B,T,C) in place, then out_h = P @ v_h
 * written into a (B,T,C) tensor at the head's columns. */
static void test_batched(vfr_engine *e) {
  int B = 3, T = 13, NH = 4, hd = 8, C = NH * hd;
  size_t n = (size_t)B * T * C;
  float *q = randv(n), *k = randv(n), *v = randv(n), *out = randv(n);
  float *s = malloc((size_t)B * NH * T * T * sizeof *s);
  float alpha = 1.0f / sqrtf((float)hd);
  engine_strides qs = {(int64_t)T * C, hd, C, 1}, kts = {(int64_t)T * C, hd, 1, C};
  engine_strides ss = {(int64_t)NH * T * T, (int64_t)T * T, T, 1};
  engine_gemm_batched(e, B, NH, T, T, hd, alpha, q, qs, k, kts, s, ss, 0);
  engine_gemm_batched(e, B, NH, T, hd, T, 1.0f, s, ss, v, qs, out, qs, 0);
  double es = 0, eo = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        for (int u = 0; u < T; u++) {
          double d = 0;
          for (int i = 0; i < hd; i++)
            d += (double)q[((size_t)b * T + t) * C + h * hd + i] * k[((size_t)b * T + u) * C + h * hd + i];
          es = fmax(es, fabs(s[(((size_t)b * NH + h) * T + t) * T + u] - d * alpha));
        }
        for (int i = 0; i < hd; i++) {
          double d = 0;
          for (int u = 0; u < T; u++)
            d += (double)s[(((size_t)b * NH + h) * T + t) * T + u] * v[((size_t)b * T + u) * C + h * hd + i];
          eo = fmax(eo, fabs(out[((size_t)b * T + t) * C + h * hd + i] - d));
        }
      }
  check(es < 1e-5, "batched q k^T on strided heads", es);
  check(eo < 1e-5, "batched P v into the heads' columns", eo);
  /* dq_h += alpha * s^T-as-stored @ k_h: transposed scores, alpha and accumulation */
  float *dq = randv(n);
  double *ref = malloc(n * sizeof *ref);
  for (size_t i = 0; i < n; i++) ref[i] = dq[i];
  engine_strides st = {(int64_t)NH * T * T, (int64_t)T * T, 1, T};
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++)
        for (int i = 0; i < hd; i++) {
          double d = 0;
          for (int u = 0; u < T; u++)
            d += (double)s[(((size_t)b * NH + h) * T + u) * T + t] * k[((size_t)b * T + u) * C + h * hd + i];
          ref[((size_t)b * T + t) * C + h * hd + i] += alpha * d;
        }
  engine_gemm_batched(e, B, NH, T, hd, T, alpha, s, st, k, qs, dq, qs, 1);
  double ea = 0;
  for (size_t i = 0; i < n; i++) ea = fmax(ea, fabs(dq[i] - ref[i]));
  check(ea < 1e-5, "batched alpha * P^T k += (transposed, accumulated)", ea);
  free(q), free(k), free(v), free(out), free(s), free(dq), free(ref);
}

/* Nearest bf16 (ties to even) of a finite normal x, as a float. */
static double bf16r(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint16_t bf16_bits(float x) {
  float r = (float)bf16r(x);
  uint32_t u;
  memcpy(&u, &r, sizeof u);
  return (uint16_t)(u >> 16);
}

static float bf16_value(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* The batched product on bf16 operands, as attention runs it: scores (fp32) of bf16 q, k^T on
 * strided heads, then out (bf16) = P (bf16) @ v_h into the heads' columns. */
static void test_batched_bf16(vfr_engine *e) {
  int B = 2, T = 11, NH = 3, hd = 16, C = NH * hd;
  size_t n = (size_t)B * T * C, ns = (size_t)B * NH * T * T;
  uint16_t *q = malloc(n * 2), *k = malloc(n * 2), *v = malloc(n * 2), *out = malloc(n * 2);
  uint16_t *p = malloc(ns * 2);
  float *s = malloc(ns * sizeof *s);
  for (size_t i = 0; i < n; i++)
    q[i] = bf16_bits(frand()), k[i] = bf16_bits(frand()), v[i] = bf16_bits(frand());
  for (size_t i = 0; i < ns; i++) p[i] = bf16_bits(0.5f * (frand() + 1.0f));
  float alpha = 0.25f;
  engine_strides qs = {(int64_t)T * C, hd, C, 1}, kts = {(int64_t)T * C, hd, 1, C};
  engine_strides ss = {(int64_t)NH * T * T, (int64_t)T * T, T, 1};
  engine_gemm_batched_bf16(e, B, NH, T, T, hd, alpha, q, qs, k, kts, s, ss, 0);
  engine_gemm_batched_bf16(e, B, NH, T, hd, T, 1.0f, p, ss, v, qs, out, qs, 1);
  double es = 0, eo = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        for (int u = 0; u < T; u++) {
          double d = 0;
          for (int i = 0; i < hd; i++)
            d += (double)bf16_value(q[((size_t)b * T + t) * C + h * hd + i]) *
                 bf16_value(k[((size_t)b * T + u) * C + h * hd + i]);
          es = fmax(es, fabs(s[(((size_t)b * NH + h) * T + t) * T + u] - d * alpha));
        }
        for (int i = 0; i < hd; i++) {
          double d = 0;
          for (int u = 0; u < T; u++)
            d += (double)bf16_value(p[(((size_t)b * NH + h) * T + t) * T + u]) *
                 bf16_value(v[((size_t)b * T + u) * C + h * hd + i]);
          float got = bf16_value(out[((size_t)b * T + t) * C + h * hd + i]);
          eo = fmax(eo, fabs(got - d) / fmax(fabs(d), 1e-2)); /* bf16: half an ulp, 2^-9 */
        }
      }
  check(es < 1e-5, "batched bf16 q k^T on strided heads (fp32 out)", es);
  check(eo <= 1.0 / 256, "batched bf16 P v into the heads' columns (bf16 out)", eo);
  free(q), free(k), free(v), free(out), free(p), free(s);
}

/* The engine's first use of a shape on one thread, its next on another. */
typedef struct thread_case {
  vfr_engine *e;
  double err;
} thread_case;

static void *other_thread(void *arg) {
  thread_case *c = arg;
  c->err = gemm_case(c->e, 0, 1, 64, 96, 80, 1.0f, 0, NULL);
  return NULL;
}

static void test_threads(vfr_engine *e) {
  double first = gemm_case(e, 0, 1, 64, 96, 80, 1.0f, 0, NULL);
  thread_case c = {e, INFINITY};
  pthread_t th;
  int ok = pthread_create(&th, NULL, other_thread, &c) == 0 && pthread_join(th, NULL) == 0;
  check(ok && first < 1e-4 && c.err < 1e-4, "a product made on one thread, run on another",
        fmax(first, c.err));
}

/* y (N,OC) = inp (N,C) @ W^T on weights prepared for `rows` rows, against the loop (on
 * bf16-rounded inputs and weights when bf16); returns the max error; *plain_err: the same
 * output against the loop on unrounded values. */
static double prepared_case(vfr_engine *e, int bf16, int rows, int N, int C, int OC,
                            const engine_epilogue *ep, double *plain_err) {
  float *W = randv((size_t)OC * C), *x = randv((size_t)N * C), *y = randv((size_t)N * OC);
  double *ref = malloc((size_t)N * OC * sizeof *ref), *ref0 = malloc((size_t)N * OC * sizeof *ref0);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < OC; j++) {
      double s = 0, s0 = 0;
      for (int q = 0; q < C; q++) {
        float a = x[(size_t)i * C + q], w = W[(size_t)j * C + q];
        s += (bf16 ? bf16r(a) * bf16r(w) : (double)a * w);
        s0 += (double)a * w;
      }
      double r[2] = {s, s0};
      for (int t = 0; t < 2; t++) {
        if (ep->bias) r[t] += ep->bias[j];
        r[t] = act_ref(ep->act, r[t]);
        if (ep->scale) r[t] *= ep->scale[j];
        if (ep->accumulate) r[t] += y[(size_t)i * OC + j];
      }
      ref[(size_t)i * OC + j] = r[0], ref0[(size_t)i * OC + j] = r[1];
    }
  engine_weight *w = NULL;
  vfr_error err;
  double e1 = INFINITY, e0 = INFINITY;
  if (engine_weight_prepare(e, W, OC, C, bf16, rows, &w, &err) == VFR_OK) {
    engine_linear_prepared(e, y, 0, x, 0, w, N, ep);
    e1 = e0 = 0;
    for (size_t o = 0; o < (size_t)N * OC; o++) {
      e1 = fmax(e1, fabs(y[o] - ref[o]));
      e0 = fmax(e0, fabs(y[o] - ref0[o]));
    }
    engine_weight_free(w);
  } else {
    printf("engine_weight_prepare: %s\n", err.message);
  }
  free(W), free(x), free(y), free(ref), free(ref0);
  if (plain_err) *plain_err = e0;
  return e1;
}

static void test_prepared(vfr_engine *e) {
  char what[96], impl[128];
  int has_bf16 = engine_bf16_probe(impl, sizeof impl);
  printf("bf16 products: %s (%s)\n", has_bf16 ? "yes" : "no", impl);
  int OC = 100, C = 70;
  float *bias = randv(OC), *scale = randv(OC);
  engine_epilogue plain = {NULL, 0, NULL, 0}, gelu = {bias, VFR_ACT_GELU, NULL, 0};
  engine_epilogue quick = {bias, VFR_ACT_QUICK_GELU, NULL, 0};
  engine_epilogue res = {bias, 0, scale, 1};
  for (int bf16 = 0; bf16 <= has_bf16; bf16++) {
    /* bf16: fp32 accumulation of exact products of rounded values, plus the post-ops */
    double tol = bf16 ? 2e-5 : 1e-4, e0;
    const engine_epilogue *eps[4] = {&plain, &gelu, &quick, &res};
    const char *names[4] = {"", " + bias + gelu", " + bias + quick_gelu", " residual * scale"};
    for (int i = 0; i < 4; i++) {
      double err = prepared_case(e, bf16, 600, 600, C, OC, eps[i], &e0);
      err = fmax(err, prepared_case(e, bf16, 600, 13, C, OC, eps[i], NULL)); /* other rows */
      snprintf(what, sizeof what, "prepared %s linear%s", bf16 ? "bf16" : "fp32", names[i]);
      check(err < tol && (!bf16 || e0 > 1e-3), what, err);
    }
  }
  if (has_bf16) {
    /* bf16 rows in and out: the conversion is nearest-even, and a product on the rows
     * engine_to_bf16 made equals the one that converts itself */
    int N = 77;
    float *W = randv((size_t)OC * C), *x = randv((size_t)N * C);
    uint16_t *xb = malloc((size_t)N * C * sizeof *xb), *yb = malloc((size_t)N * OC * sizeof *yb);
    float *y1 = malloc((size_t)N * OC * sizeof *y1), *y2 = malloc((size_t)N * OC * sizeof *y2);
    engine_to_bf16(e, xb, x, (int64_t)N * C);
    int conv_ok = 1;
    for (size_t i = 0; i < (size_t)N * C; i++) {
      uint32_t u = (uint32_t)xb[i] << 16;
      float f;
      memcpy(&f, &u, sizeof f);
      conv_ok &= f == (float)bf16r(x[i]);
    }
    check(conv_ok, "engine_to_bf16 is round to nearest even", 0);
    engine_weight *w = NULL;
    vfr_error err;
    int ok = engine_weight_prepare(e, W, OC, C, 1, 64, &w, &err) == VFR_OK;
    double d = INFINITY, db = INFINITY;
    if (ok) {
      engine_linear_prepared(e, y1, 0, x, 0, w, N, &gelu);
      engine_linear_prepared(e, y2, 0, xb, 1, w, N, &gelu);
      engine_linear_prepared(e, yb, 1, xb, 1, w, N, &gelu);
      d = db = 0;
      for (size_t o = 0; o < (size_t)N * OC; o++) {
        d = fmax(d, fabs(y1[o] - y2[o]));
        uint32_t u = (uint32_t)yb[o] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        db = fmax(db, fabs(f - y1[o]) / fmax(fabs(y1[o]), 1e-3));
      }
      engine_weight_free(w);
    }
    check(ok && d == 0, "prepared bf16: own rows = converted by the engine", d);
    check(ok && db <= 1.0 / 256, "prepared bf16: bf16 output within half a bf16 ulp", db);
    free(W), free(x), free(xb), free(yb), free(y1), free(y2);
    /* 2048 inputs: the own AMX kernel where the CPU has AMX (a ragged last row block) */
    const engine_epilogue *eps[3] = {&plain, &quick, &res};
    for (int i = 0; i < 3; i++) {
      double e0, err = prepared_case(e, 1, 64, 45, 2048, 64, eps[i], &e0);
      snprintf(what, sizeof what, "prepared bf16 2048 -> 64%s%s", i == 1 ? " + quick_gelu" : "",
               i == 2 ? " residual * scale" : "");
      check(err < 1e-4 && e0 > 1e-3, what, err);
    }
  }
  free(bias), free(scale);
}

int main(void) {
  vfr_engine *e = NULL;
  vfr_error err;
  if (engine_create(2, VFR_PRECISION_FP32, &e, &err) != VFR_OK) {
    printf("engine_create: %s\n", err.message);
    return 1;
  }
  printf("engine %s, isa %s, %d threads\n", engine_backend(e), engine_isa(e), engine_threads(e));
  check(!strcmp(engine_backend(e), "onednn") && strcmp(engine_isa(e), "any") != 0 &&
            engine_threads(e) == 2, "engine names its backend, ISA and team", 0);
  test_gemm(e);
  test_batched(e);
  test_batched_bf16(e);
  test_threads(e);
  test_prepared(e);
  engine_free(e);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
