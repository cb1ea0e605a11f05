/* Backward kernels against central finite differences of double-precision forward loops.
 *
 * For each kernel, J(theta) = sum(dout * f(theta)) with f written here as a plain double loop
 * (independent of the fp32 kernels); dJ/dtheta_i by central differences in double (h = 1e-5,
 * truncation error ~1e-10) at sampled scalars of every input and parameter; compared with the
 * fp32 backward: |ours - fd| / max|ours| <= 1e-4 (expected ~1e-6). A whole pre-norm transformer
 * block (layernorm, q/k/v, attention, out projection, layer scale, MLP) is checked the same
 * way with the kernels chained as a training step chains them. Also: the adjoint identity of
 * the position-embedding resampling, <dout, A x> = <A^T dout, x>, with the forward of
 * model/pos_embed.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/loss.h"
#include "finetune/ops_backward.h"
#include "finetune/pos_embed_backward.h"
#include "model/ops.h"
#include "model/pos_embed.h"

static int passed, failed;
static vfr_engine *eng; /* the products' engine, 2 threads */
static const double FD_BAR = 1e-4;

static void check(int ok, const char *what, double err) {
  if (ok)
    passed++;
  else
    failed++;
  printf("%-58s err %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static unsigned long long next_u64(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}
static float frand(void) { /* uniform in [-1, 1) */
  return (float)((next_u64() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* theta: float-representable values kept in double (the fp32 kernels see exactly them). */
static double *rand_theta(size_t n, float scale) {
  double *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
  return v;
}
static float *to_float(const double *v, size_t n) {
  float *f = malloc(n * sizeof *f);
  for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
  return f;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* ---- double-precision forward loops ------------------------------------------------------ */

static void d_layernorm(double *out, const double *x, const double *w, const double *b, int N,
                        int C, double eps) {
  for (int n = 0; n < N; n++) {
    const double *r = x + (size_t)n * C;
    double mu = 0, var = 0;
    for (int c = 0; c < C; c++) mu += r[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (r[c] - mu) * (r[c] - mu);
    var /= C;
    for (int c = 0; c < C; c++)
      out[(size_t)n * C + c] = (r[c] - mu) / sqrt(var + eps) * w[c] + b[c];
  }
}

/* out (N,OC) = x (N,C) @ w (OC,C)^T + b (OC or NULL) */
static void d_linear(double *out, const double *x, const double *w, const double *b, int N, int C,
                     int OC) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = b ? b[o] : 0.0;
      for (int c = 0; c < C; c++) s += x[(size_t)n * C + c] * w[(size_t)o * C + c];
      out[(size_t)n * OC + o] = s;
    }
}

static double d_act(vfr_activation act, double x) {
  switch (act) {
  case VFR_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
  case VFR_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  default: return x / (1 + exp(-1.702 * x));
  }
}

/* out (B,T,C) = per head softmax(q k^T / sqrt(hd)) v */
static void d_attention(double *out, const double *q, const double *k, const double *v, int B,
                        int T, int C, int NH) {
  int hd = C / NH;
  double *p = malloc((size_t)T * sizeof *p);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const double *qr = q + ((size_t)b * T + t) * C + h * hd;
        double mx = -INFINITY, sum = 0;
        for (int s = 0; s < T; s++) {
          const double *kr = k + ((size_t)b * T + s) * C + h * hd;
          double d = 0;
          for (int i = 0; i < hd; i++) d += qr[i] * kr[i];
          p[s] = d / sqrt((double)hd);
          mx = fmax(mx, p[s]);
        }
        for (int s = 0; s < T; s++) sum += (p[s] = exp(p[s] - mx));
        double *o = out + ((size_t)b * T + t) * C + h * hd;
        for (int i = 0; i < hd; i++) {
          double acc = 0;
          for (int s = 0; s < T; s++) acc += p[s] / sum * v[((size_t)b * T + s) * C + h * hd + i];
          o[i] = acc;
        }
      }
  free(p);
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* ---- the finite-difference harness -------------------------------------------------------- */

typedef double (*objective_fn)(const double *theta, const void *ctx);

/* Compares grad (n, ours) with central differences of J at the scalars forced[0..nforced),
 * the first and last scalar of theta and `samples` random ones.
 * Returns max |ours - fd| / max|ours|. */
static double fd_compare_at(objective_fn J, const void *ctx, double *theta, const float *grad,
                            size_t n, int samples, const size_t *forced, int nforced) {
  const double h = 1e-5;
  double gmax = 0, worst = 0;
  for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
  for (int s = 0; s < nforced + samples + 2; s++) {
    size_t i = s < nforced        ? forced[s]
               : s == nforced     ? 0
               : s == nforced + 1 ? n - 1
                                  : (size_t)(next_u64() % n);
    double keep = theta[i];
    theta[i] = keep + h;
    double jp = J(theta, ctx);
    theta[i] = keep - h;
    double jm = J(theta, ctx);
    theta[i] = keep;
    double fd = (jp - jm) / (2 * h);
    worst = fmax(worst, fabs(grad[i] - fd) / (gmax > 0 ? gmax : 1));
  }
  return worst;
}

static double fd_compare(objective_fn J, const void *ctx, double *theta, const float *grad,
                         size_t n, int samples) {
  return fd_compare_at(J, ctx, theta, grad, n, samples, NULL, 0);
}

/* ---- layernorm ---------------------------------------------------------------------------- */

typedef struct {
  int N, C;
  double eps;
  const double *dout;
} ln_ctx;

static double ln_objective(const double *th, const void *vc) {
  const ln_ctx *c = vc;
  size_t nc = (size_t)c->N * c->C;
  double *out = malloc(nc * sizeof *out);
  d_layernorm(out, th, th + nc, th + nc + c->C, c->N, c->C, c->eps);
  double j = dot(out, c->dout, nc);
  free(out);
  return j;
}

static void test_layernorm(void) {
  int N = 7, C = 33;
  size_t nc = (size_t)N * C, n = nc + 2 * C;
  double *th = rand_theta(n, 1.5f), *dout = rand_theta(nc, 1.0f);
  for (int c = 0; c < C; c++) th[c] += 3.0; /* a row with an offset mean */
  float *f = to_float(th, n), *df = to_float(dout, nc), *g = zeros(n);
  float *out = zeros(nc), *mean = zeros(N), *rstd = zeros(N);
  layernorm_forward_train(out, mean, rstd, f, f + nc, f + nc + C, N, C, 1e-5f, 2);
  layernorm_backward(g, g + nc, g + nc + C, df, f, f + nc, mean, rstd, N, C, 2);
  ln_ctx ctx = {N, C, 1e-5, dout};
  double e = fd_compare(ln_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, "layernorm dinp/dweight/dbias vs finite differences", e);
  free(th), free(dout), free(f), free(df), free(g), free(out), free(mean), free(rstd);
}

/* ---- linear ------------------------------------------------------------------------------- */

typedef struct {
  int N, C, OC;
  const double *dout;
} lin_ctx;

static double lin_objective(const double *th, const void *vc) {
  const lin_ctx *c = vc;
  size_t nx = (size_t)c->N * c->C, nw = (size_t)c->OC * c->C, no = (size_t)c->N * c->OC;
  double *out = malloc(no * sizeof *out);
  d_linear(out, th, th + nx, th + nx + nw, c->N, c->C, c->OC);
  double j = dot(out, c->dout, no);
  free(out);
  return j;
}

static void test_linear(void) {
  int N = 9, C = 20, OC = 13;
  size_t nx = (size_t)N * C, nw = (size_t)OC * C, n = nx + nw + OC, no = (size_t)N * OC;
  double *th = rand_theta(n, 1.0f), *dout = rand_theta(no, 1.0f);
  float *f = to_float(th, n), *df = to_float(dout, no), *g = zeros(n);
  matmul_backward(g, g + nx, g + nx + nw, df, f, f + nx, N, C, OC, eng);
  lin_ctx ctx = {N, C, OC, dout};
  double e = fd_compare(lin_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, "linear dinp/dweight/dbias vs finite differences", e);
  free(th), free(dout), free(f), free(df), free(g);
}

/* ---- bias + activation, SwiGLU -------------------------------------------------------------- */

typedef struct {
  int N, C;
  vfr_activation act;
  const double *dout;
} act_ctx;

static double act_objective(const double *th, const void *vc) {
  const act_ctx *c = vc;
  size_t nc = (size_t)c->N * c->C;
  double j = 0;
  for (size_t i = 0; i < nc; i++) j += c->dout[i] * d_act(c->act, th[i] + th[nc + i % c->C]);
  return j;
}

static void test_activation(vfr_activation act, const char *what) {
  int N = 6, C = 25;
  size_t nc = (size_t)N * C, n = nc + C;
  double *th = rand_theta(n, 3.0f), *dout = rand_theta(nc, 1.0f);
  float *f = to_float(th, n), *df = to_float(dout, nc), *g = zeros(n);
  bias_activation_backward(g, g + nc, df, f, f + nc, N, C, act, 2);
  act_ctx ctx = {N, C, act, dout};
  double e = fd_compare(act_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, what, e);
  free(th), free(dout), free(f), free(df), free(g);
}

typedef struct {
  int N, H;
  const double *dout;
} swiglu_ctx;

static double swiglu_objective(const double *th, const void *vc) {
  const swiglu_ctx *c = vc;
  const double *b = th + (size_t)c->N * 2 * c->H;
  double j = 0;
  for (int n = 0; n < c->N; n++)
    for (int i = 0; i < c->H; i++) {
      double a = th[(size_t)n * 2 * c->H + i] + b[i];
      double gate = th[(size_t)n * 2 * c->H + c->H + i] + b[c->H + i];
      j += c->dout[(size_t)n * c->H + i] * a / (1 + exp(-a)) * gate;
    }
  return j;
}

static void test_swiglu(void) {
  int N = 5, H = 12;
  size_t ni = (size_t)N * 2 * H, n = ni + 2 * H, no = (size_t)N * H;
  double *th = rand_theta(n, 2.5f), *dout = rand_theta(no, 1.0f);
  float *f = to_float(th, n), *df = to_float(dout, no), *g = zeros(n);
  swiglu_backward(g, g + ni, df, f, f + ni, N, H, 2);
  swiglu_ctx ctx = {N, H, dout};
  double e = fd_compare(swiglu_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, "swiglu dinp/dbias vs finite differences", e);
  free(th), free(dout), free(f), free(df), free(g);
}

/* ---- residual with layer scale ----------------------------------------------------------------
 */

typedef struct {
  int N, C;
  const double *dout;
} res_ctx;

static double res_objective(const double *th, const void *vc) {
  const res_ctx *c = vc;
  size_t nc = (size_t)c->N * c->C;
  const double *x = th, *y = th + nc, *b = th + 2 * nc, *s = b + c->C;
  double j = 0;
  for (size_t i = 0; i < nc; i++) {
    int col = (int)(i % c->C);
    j += c->dout[i] * (x[i] + (y[i] + b[col]) * s[col]);
  }
  return j;
}

static void test_residual(void) {
  int N = 6, C = 17;
  size_t nc = (size_t)N * C, n = 2 * nc + 2 * C;
  double *th = rand_theta(n, 1.0f), *dout = rand_theta(nc, 1.0f);
  float *f = to_float(th, n), *df = to_float(dout, nc), *g = zeros(n);
  residual_backward(g, g + nc, g + 2 * nc, g + 2 * nc + C, df, f + nc, f + 2 * nc, f + 2 * nc + C,
                    N, C, 2);
  res_ctx ctx = {N, C, dout};
  double e = fd_compare(res_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, "residual + layer scale dx/dy/dbias/dscale vs fd", e);
  free(th), free(dout), free(f), free(df), free(g);
}

/* ---- attention ------------------------------------------------------------------------------ */

typedef struct {
  int B, T, C, NH;
  const double *dout;
} att_ctx;

static double att_objective(const double *th, const void *vc) {
  const att_ctx *c = vc;
  size_t m = (size_t)c->B * c->T * c->C;
  double *out = malloc(m * sizeof *out);
  d_attention(out, th, th + m, th + 2 * m, c->B, c->T, c->C, c->NH);
  double j = dot(out, c->dout, m);
  free(out);
  return j;
}

static void test_attention(void) {
  int B = 2, T = 7, C = 12, NH = 3;
  size_t m = (size_t)B * T * C, n = 3 * m;
  double *th = rand_theta(n, 1.5f), *dout = rand_theta(m, 1.0f);
  float *f = to_float(th, n), *df = to_float(dout, m), *g = zeros(n);
  float *scratch = zeros((size_t)attention_backward_scratch_floats(B, T, NH));
  attention_backward(g, g + m, g + 2 * m, scratch, df, f, f + m, f + 2 * m, B, T, C, NH, eng);
  att_ctx ctx = {B, T, C, NH, dout};
  double e = fd_compare(att_objective, &ctx, th, g, n, 80);
  check(e <= FD_BAR, "attention dq/dk/dv vs finite differences", e);
  free(th), free(dout), free(f), free(df), free(g), free(scratch);
}

/* ---- the fine-tuning loss -------------------------------------------------------------------- */

typedef struct {
  int B, E;
  double lambda;
  const double *frozen;
} loss_ctx;

static double d_cos(const double *a, const double *b, int E) {
  return dot(a, b, E) / (sqrt(dot(a, a, E)) * sqrt(dot(b, b, E)));
}

static double loss_objective(const double *th, const void *vc) {
  const loss_ctx *c = vc;
  const double *tc = th, *tp = th + (size_t)c->B * c->E;
  double l1 = 0, l2 = 0;
  for (int b = 0; b < c->B; b++) {
    size_t r = (size_t)b * c->E;
    l1 -= d_cos(tc + r, tp + r, c->E) / c->B;
    l2 -= d_cos(c->frozen + r, tc + r, c->E) / c->B;
  }
  return l1 + c->lambda * l2;
}

static void test_loss(void) {
  int B = 4, E = 24;
  size_t be = (size_t)B * E, n = 2 * be;
  double *th = rand_theta(n, 1.0f), *frozen = rand_theta(be, 1.0f);
  float *f = to_float(th, n), *ff = to_float(frozen, be), *g = zeros(n);
  double l1, l2;
  double L = robust_loss(f, f + be, ff, B, E, 0.7, g, g + be, &l1, &l2);
  loss_ctx ctx = {B, E, 0.7, frozen};
  double ref = loss_objective(th, &ctx);
  check(fabs(L - ref) <= 1e-12 && fabs(L - (l1 + 0.7 * l2)) <= 1e-15, "loss value vs double loop",
        fabs(L - ref));
  double e = fd_compare(loss_objective, &ctx, th, g, n, 60);
  check(e <= FD_BAR, "loss dL/df'(x), dL/df'(Px) vs finite differences", e);
  free(th), free(frozen), free(f), free(ff), free(g);
}

/* ---- a whole pre-norm block, kernels chained --------------------------------------------------
 * x1 = x + ls1 * (attn(ln1(x)) @ Wo^T + bo);  out = x1 + ls2 * (act(ln2(x1) @ W1^T + b1) @ W2^T +
 * b2) with attn over q, k, v = ln1(x) @ Wq^T + bq, ... Parameters packed in theta after x. */

enum { BLK_B = 2, BLK_T = 5, BLK_D = 12, BLK_NH = 2, BLK_M = 20 };
/* The tensors of theta, in order; blk_layout holds where each starts. */
enum {
  X,
  LN1W,
  LN1B,
  QW,
  QB,
  KW,
  KB,
  VW,
  VB,
  OW,
  OB,
  LS1,
  LN2W,
  LN2B,
  F1W,
  F1B,
  F2W,
  F2B,
  LS2,
  BLK_TENSORS
};
typedef struct {
  size_t at[BLK_TENSORS + 1];
} blk_layout; /* at[BLK_TENSORS] = total */

static blk_layout blk_offsets(void) {
  size_t D = BLK_D, M = BLK_M, N = (size_t)BLK_B * BLK_T;
  size_t count[BLK_TENSORS] = {N * D, D, D, D * D, D,     D * D, D,     D * D, D, D * D,
                               D,     D, D, D,     M * D, M,     D * M, D,     D};
  blk_layout l;
  l.at[0] = 0;
  for (int i = 0; i < BLK_TENSORS; i++) l.at[i + 1] = l.at[i] + count[i];
  return l;
}

typedef struct {
  const double *dout;
  vfr_activation act;
} blk_ctx;

static double blk_objective(const double *th, const void *vc) {
  const blk_ctx *c = vc;
  blk_layout L = blk_offsets();
  int N = BLK_B * BLK_T, D = BLK_D, M = BLK_M;
  size_t nd = (size_t)N * D;
  double *ln = malloc(nd * sizeof *ln), *q = malloc(nd * sizeof *q), *k = malloc(nd * sizeof *k);
  double *v = malloc(nd * sizeof *v), *a = malloc(nd * sizeof *a), *o = malloc(nd * sizeof *o);
  double *x1 = malloc(nd * sizeof *x1), *h = malloc((size_t)N * M * sizeof *h);
  d_layernorm(ln, th + L.at[X], th + L.at[LN1W], th + L.at[LN1B], N, D, 1e-6);
  d_linear(q, ln, th + L.at[QW], th + L.at[QB], N, D, D);
  d_linear(k, ln, th + L.at[KW], th + L.at[KB], N, D, D);
  d_linear(v, ln, th + L.at[VW], th + L.at[VB], N, D, D);
  d_attention(a, q, k, v, BLK_B, BLK_T, D, BLK_NH);
  d_linear(o, a, th + L.at[OW], th + L.at[OB], N, D, D);
  for (size_t i = 0; i < nd; i++) x1[i] = th[L.at[X] + i] + th[L.at[LS1] + i % D] * o[i];
  d_layernorm(ln, x1, th + L.at[LN2W], th + L.at[LN2B], N, D, 1e-6);
  d_linear(h, ln, th + L.at[F1W], th + L.at[F1B], N, D, M);
  for (size_t i = 0; i < (size_t)N * M; i++) h[i] = d_act(c->act, h[i]);
  d_linear(o, h, th + L.at[F2W], th + L.at[F2B], N, M, D);
  double j = 0;
  for (size_t i = 0; i < nd; i++) j += c->dout[i] * (x1[i] + th[L.at[LS2] + i % D] * o[i]);
  free(ln), free(q), free(k), free(v), free(a), free(o), free(x1), free(h);
  return j;
}

static void test_block(vfr_activation act, const char *what) {
  blk_layout L = blk_offsets();
  int B = BLK_B, T = BLK_T, N = B * T, D = BLK_D, NH = BLK_NH, M = BLK_M, th_ = 2;
  size_t nd = (size_t)N * D, nm = (size_t)N * M, n = L.at[BLK_TENSORS];
  double *th = rand_theta(n, 0.5f), *dout = rand_theta(nd, 1.0f);
  for (size_t i = 0; i < nd; i++) th[L.at[X] + i] = frand() * 2.0f;
  for (int i = 0; i < D; i++) { /* layernorm weights near 1, layer scales near 0.5 */
    th[L.at[LN1W] + i] += 1.0, th[L.at[LN2W] + i] += 1.0; /* still float-representable */
    th[L.at[LS1] + i] += 0.5, th[L.at[LS2] + i] += 0.5;
  }
#define P_(t) (p + L.at[t])
#define G_(t) (g + L.at[t])
  float *p = to_float(th, n), *g = zeros(n), *df = to_float(dout, nd);
  /* forward, keeping what the backward needs */
  float *ln1 = zeros(nd), *m1 = zeros(N), *r1 = zeros(N), *q = zeros(nd), *k = zeros(nd);
  float *v = zeros(nd), *a = zeros(nd), *o = zeros(nd), *x1 = zeros(nd), *ln2 = zeros(nd);
  float *m2 = zeros(N), *r2 = zeros(N), *pre = zeros(nm), *h = zeros(nm), *f2 = zeros(nd);
  float *att = zeros(attention_scratch_floats(B, T, NH));
  layernorm_forward_train(ln1, m1, r1, P_(X), P_(LN1W), P_(LN1B), N, D, 1e-6f, th_);
  matmul_forward(q, ln1, P_(QW), P_(QB), N, D, D, eng);
  matmul_forward(k, ln1, P_(KW), P_(KB), N, D, D, eng);
  matmul_forward(v, ln1, P_(VW), P_(VB), N, D, D, eng);
  attention_forward(a, att, q, k, v, B, T, D, NH, eng);
  matmul_nobias_forward(o, a, P_(OW), N, D, D, eng);
  memcpy(x1, P_(X), nd * sizeof *x1);
  residual_forward(x1, o, P_(OB), P_(LS1), N, D, th_);
  layernorm_forward_train(ln2, m2, r2, x1, P_(LN2W), P_(LN2B), N, D, 1e-6f, th_);
  matmul_nobias_forward(pre, ln2, P_(F1W), N, D, M, eng);
  bias_activation_forward_train(h, pre, P_(F1B), N, M, act, th_);
  matmul_nobias_forward(f2, h, P_(F2W), N, M, D, eng);
  /* backward: dres is the residual stream's gradient, in place */
  float *dres = to_float(dout, nd), *dtmp = zeros(nd), *dh = zeros(nm), *dpre = zeros(nm);
  float *dln = zeros(nd), *da = zeros(nd), *dq = zeros(nd), *dk = zeros(nd), *dv = zeros(nd);
  float *scratch = zeros((size_t)attention_backward_scratch_floats(B, T, NH));
  residual_backward(dres, dtmp, G_(F2B), G_(LS2), dres, f2, P_(F2B), P_(LS2), N, D, th_);
  matmul_backward(dh, G_(F2W), NULL, dtmp, h, P_(F2W), N, M, D, eng);
  bias_activation_backward(dpre, G_(F1B), dh, pre, P_(F1B), N, M, act, th_);
  matmul_backward(dln, G_(F1W), NULL, dpre, ln2, P_(F1W), N, D, M, eng);
  layernorm_backward(dres, G_(LN2W), G_(LN2B), dln, x1, P_(LN2W), m2, r2, N, D, th_);
  memset(dtmp, 0, nd * sizeof *dtmp);
  residual_backward(dres, dtmp, G_(OB), G_(LS1), dres, o, P_(OB), P_(LS1), N, D, th_);
  matmul_backward(da, G_(OW), NULL, dtmp, a, P_(OW), N, D, D, eng);
  attention_backward(dq, dk, dv, scratch, da, q, k, v, B, T, D, NH, eng);
  memset(dln, 0, nd * sizeof *dln);
  matmul_backward(dln, G_(QW), G_(QB), dq, ln1, P_(QW), N, D, D, eng);
  matmul_backward(dln, G_(KW), G_(KB), dk, ln1, P_(KW), N, D, D, eng);
  matmul_backward(dln, G_(VW), G_(VB), dv, ln1, P_(VW), N, D, D, eng);
  layernorm_backward(dres, G_(LN1W), G_(LN1B), dln, P_(X), P_(LN1W), m1, r1, N, D, th_);
  memcpy(G_(X), dres, nd * sizeof *dres);
#undef P_
#undef G_
  blk_ctx ctx = {dout, act};
  /* the first and last scalar of each of the 19 tensors, then random ones */
  size_t forced[2 * BLK_TENSORS];
  for (int i = 0; i < BLK_TENSORS; i++) {
    forced[2 * i] = L.at[i];
    forced[2 * i + 1] = L.at[i + 1] - 1;
  }
  double e = fd_compare_at(blk_objective, &ctx, th, g, n, 120, forced, 2 * BLK_TENSORS);
  check(e <= FD_BAR, what, e);
  free(th), free(dout), free(p), free(g), free(df), free(ln1), free(m1), free(r1), free(q);
  free(k), free(v), free(a), free(o), free(x1), free(ln2), free(m2), free(r2), free(pre), free(h);
  free(f2), free(att), free(dres), free(dtmp), free(dh), free(dpre), free(dln), free(da), free(dq);
  free(dk), free(dv), free(scratch);
}

/* ---- position-embedding resampling: the backward is the transpose of the forward ------------ */

static void test_interpolation_adjoint(int IH, int IW, int OH, int OW, int aa) {
  int C = 3;
  size_t ni = (size_t)IH * IW * C, no = (size_t)OH * OW * C;
  double *xd = rand_theta(ni, 1.0f), *gd = rand_theta(no, 1.0f);
  float *x = to_float(xd, ni), *gout = to_float(gd, no), *y = zeros(no), *dx = zeros(ni);
  float *tmp = zeros((size_t)IH * OW * C);
  int rc = interpolate_bicubic(y, x, tmp, IH, IW, OH, OW, C, aa);
  rc |= interpolate_bicubic_backward(dx, gout, tmp, IH, IW, OH, OW, C, aa);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < no; i++) lhs += gd[i] * y[i];
  for (size_t i = 0; i < ni; i++) rhs += (double)dx[i] * xd[i];
  double e = fabs(lhs - rhs) / fmax(fabs(lhs), 1.0);
  char what[96];
  snprintf(what, sizeof what, "bicubic%s %dx%d->%dx%d: <g, A x> = <A^T g, x>", aa ? " aa" : "", IH,
           IW, OH, OW);
  check(rc == 0 && e <= 1e-5, what, e);
  free(xd), free(gd), free(x), free(gout), free(y), free(dx), free(tmp);
}

static void test_bad_sizes(void) {
  float one = 0;
  int rc = interpolate_bicubic_backward(&one, &one, &one, 0, 3, 3, 3, 1, 0);
  check(rc == -1, "interpolate_bicubic_backward rejects a zero size", 0);
  rc = dinov2_pos_embed_backward(&one, &one, &one, 11, 1, 28, 28, 14, 0); /* 10 is no square */
  check(rc == -1, "dinov2_pos_embed_backward rejects a non-square table", 0);
}

int main(void) {
  vfr_error err;
  if (engine_create(2, VFR_PRECISION_FP32, &eng, &err) != VFR_OK) {
    printf("engine: %s\n", err.message);
    return 1;
  }
  test_layernorm();
  test_linear();
  test_activation(VFR_ACT_QUICK_GELU, "bias + quick_gelu dinp/dbias vs finite differences");
  test_activation(VFR_ACT_GELU, "bias + gelu (erf) dinp/dbias vs finite differences");
  test_activation(VFR_ACT_GELU_TANH, "bias + gelu (tanh) dinp/dbias vs finite differences");
  test_swiglu();
  test_residual();
  test_attention();
  test_loss();
  test_block(VFR_ACT_QUICK_GELU, "pre-norm block (quick_gelu), all 19 tensors vs fd");
  test_block(VFR_ACT_GELU, "pre-norm block (gelu), all 19 tensors vs fd");
  test_interpolation_adjoint(5, 5, 8, 8, 0);
  test_interpolation_adjoint(37, 37, 16, 12, 0);
  test_interpolation_adjoint(5, 5, 8, 8, 1);
  test_interpolation_adjoint(37, 37, 16, 12, 1);
  test_bad_sizes();
  engine_free(eng);
  printf("test_backward: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
