/* The classification head's kernels (finetune/classify_head.h) against plain double loops.
 *
 * cross_entropy: the loss equals a double-precision log-sum-exp evaluation of
 *   mean_i -sum_c q_ic log softmax(l_i)_c,  q_ic = (1 - s) [c == y_i] + s / C,
 * and dlogits equals scale * d(loss)/d(logits) by central differences of that double loss
 * (h = 1e-5), for label smoothing 0 and 0.3 and two scales. Rows with huge logits (up to
 * +-FLT_MAX) give a finite loss and finite gradients of the expected value; the correct count
 * takes the first of tied largest logits.
 * head_forward / head_backward: logits = z W^T + b against a double loop; dz, dW, db against
 * central differences of J = sum(dlogits * (z W^T + b)) in double; dW and db accumulate (+=),
 * dz is overwritten. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/classify_head.h"

static int passed, failed;
static vfr_engine *eng; /* the products' engine, 2 threads */

static void check(int ok, const char *what, double err) {
  if (ok)
    passed++;
  else
    failed++;
  printf("%-62s err %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static double urand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

/* ---- double references ------------------------------------------------------------------ */

/* mean over B rows of -sum_c q_c log p_c, log p_c = l_c - logsumexp(l) (shifted by the max). */
static double ref_loss(const double *l, const int *y, int B, int C, double s) {
  double total = 0;
  for (int i = 0; i < B; i++) {
    const double *r = l + (size_t)i * C;
    double mx = -INFINITY;
    for (int c = 0; c < C; c++) mx = r[c] > mx ? r[c] : mx;
    double sum = 0;
    for (int c = 0; c < C; c++) sum += exp(r[c] - mx);
    double lse = mx + log(sum);
    for (int c = 0; c < C; c++) {
      double q = (c == y[i] ? 1.0 - s : 0.0) + s / C;
      total -= q * (r[c] - lse);
    }
  }
  return total / B;
}

/* J = sum_ic g_ic (b_c + sum_e z_ie W_ce) */
static double ref_head_j(const double *g, const double *z, const double *W, const double *b,
                         int B, int E, int C) {
  double j = 0;
  for (int i = 0; i < B; i++)
    for (int c = 0; c < C; c++) {
      double v = b[c];
      for (int e = 0; e < E; e++) v += z[(size_t)i * E + e] * W[(size_t)c * E + e];
      j += g[(size_t)i * C + c] * v;
    }
  return j;
}

static void to_f(float *f, const double *d, size_t n) {
  for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
}

/* ---- cross_entropy ---------------------------------------------------------------------- */

static void test_cross_entropy(double s, double scale) {
  enum { B = 5, C = 7 };
  double l[B * C];
  float lf[B * C], dl[B * C];
  int y[B] = {0, 6, 3, 3, 1};
  for (int i = 0; i < B * C; i++) l[i] = (double)(float)(3.0 * urand());
  for (int i = 0; i < B; i += 2) { /* rows 0, 2, 4 labelled with their largest logit */
    y[i] = 0;
    for (int c = 1; c < C; c++)
      if (l[i * C + c] > l[i * C + y[i]]) y[i] = c;
  }
  to_f(lf, l, B * C);
  int correct = -1;
  double got = cross_entropy(lf, y, B, C, s, scale, dl, &correct);
  double want = ref_loss(l, y, B, C, s);
  char what[128];
  double e = fabs(got - want) / fabs(want);
  snprintf(what, sizeof what, "cross_entropy loss, smoothing %.1f scale %.1f", s, scale);
  check(e <= 1e-12, what, e);
  /* gradient by central differences of the double loss */
  double worst = 0, mx = 0;
  const double h = 1e-5;
  for (int k = 0; k < B * C; k++) {
    double keep = l[k];
    l[k] = keep + h;
    double up = ref_loss(l, y, B, C, s);
    l[k] = keep - h;
    double dn = ref_loss(l, y, B, C, s);
    l[k] = keep;
    double fd = scale * (up - dn) / (2 * h);
    worst = fmax(worst, fabs(fd - dl[k]));
    mx = fmax(mx, fabs(fd));
  }
  snprintf(what, sizeof what, "cross_entropy dlogits vs fd, smoothing %.1f scale %.1f", s, scale);
  check(worst / mx <= 1e-6, what, worst / mx);
  /* correct count: argmax computed here */
  int right = 0;
  for (int i = 0; i < B; i++) {
    int best = 0;
    for (int c = 1; c < C; c++)
      if (l[i * C + c] > l[i * C + best]) best = c;
    right += best == y[i];
  }
  snprintf(what, sizeof what, "cross_entropy correct count %d (want %d)", correct, right);
  check(correct == right, what, fabs((double)(correct - right)));
}

/* Rows with huge logits: softmax saturates, nothing overflows. */
static void test_huge_logits(void) {
  enum { B = 4, C = 4 };
  const float M = FLT_MAX;
  float lf[B * C] = {1e30f, 0, 1, -2,   /* label 0: the huge one */
                     1e4f, 0, 1, -2,    /* label 1: far from the huge one */
                     M, -M, 0, 5,       /* extremes, label 0 */
                     -M, -M, -M, 3};    /* all but one at -FLT_MAX, label 3 */
  int y[B] = {0, 1, 0, 3};
  float dl[B * C];
  for (int k = 0; k < 2; k++) {
    double s = k ? 0.3 : 0.0;
    int correct = -1;
    double got = cross_entropy(lf, y, B, C, s, 1.0, dl, &correct);
    /* expected per row, written out: rows whose label holds the largest logit and whose
     * other logits are far below it have -log p_label = 0 (to double precision) */
    double big = (double)1e30f; /* lse of row 0 */
    double r0 = s / C * ((big - 0) + (big - 1) + (big + 2));
    double r1 = (1 - s) * 1e4 + s / C * (0 + (1e4 - 0) + (1e4 - 1) + (1e4 + 2));
    double r2 = s / C * (0 + 2.0 * (double)M + (double)M + ((double)M - 5));
    double r3 = s / C * 3.0 * ((double)M + 3);
    double want = (r0 + r1 + r2 + r3) / B;
    int finite = isfinite(got);
    double maxd = 0;
    for (int i = 0; i < B * C; i++) {
      finite = finite && isfinite(dl[i]);
      maxd = fmax(maxd, fabs(dl[i]));
    }
    char what[128];
    snprintf(what, sizeof what, "huge logits (smoothing %.1f): loss and dlogits finite", s);
    check(finite && maxd <= 1.0 / B + 1e-7, what, maxd);
    double e = fabs(got - want) / fabs(want);
    snprintf(what, sizeof what, "huge logits (smoothing %.1f): loss %.6g want %.6g", s, got, want);
    check(e <= 1e-9, what, e);
    /* dlogits = (p - q) / B with p one-hot on the huge logit */
    double worst = 0;
    for (int i = 0; i < B; i++) {
      int top = i == 1 ? 0 : i == 3 ? 3 : 0;
      for (int c = 0; c < C; c++) {
        double p = c == top ? 1.0 : 0.0, q = (c == y[i] ? 1 - s : 0) + s / C;
        worst = fmax(worst, fabs(dl[i * C + c] - (p - q) / B));
      }
    }
    snprintf(what, sizeof what, "huge logits (smoothing %.1f): dlogits = (p - q)/B", s);
    check(worst <= 1e-7, what, worst);
    snprintf(what, sizeof what, "huge logits: correct %d (want 3)", correct);
    check(correct == 3, what, fabs(correct - 3.0));
  }
}

/* Ties: the first of the tied largest logits is the prediction. */
static void test_ties(void) {
  enum { B = 6, C = 4 };
  float lf[B * C] = {2, 5, 5, 1,  /* label 1: correct (first of the tie) */
                     2, 5, 5, 1,  /* label 2: wrong */
                     0, 0, 0, 0,  /* label 0: correct */
                     0, 0, 0, 0,  /* label 3: wrong */
                     -1, -1, -3, -1, /* label 3: wrong */
                     -7, -2, -3, -2}; /* label 1: correct */
  int y[B] = {1, 2, 0, 3, 3, 1};
  float dl[B * C];
  int correct = -1;
  cross_entropy(lf, y, B, C, 0.1, 1.0, dl, &correct);
  char what[96];
  snprintf(what, sizeof what, "ties: correct %d (want 3)", correct);
  check(correct == 3, what, fabs(correct - 3.0));
}

/* ---- head_forward / head_backward -------------------------------------------------------- */

static void test_head(void) {
  enum { B = 3, E = 6, C = 5 };
  double z[B * E], W[C * E], b[C], g[B * C];
  float zf[B * E], Wf[C * E], bf[C], gf[B * C], logits[B * C];
  for (int i = 0; i < B * E; i++) z[i] = (double)(float)urand();
  for (int i = 0; i < C * E; i++) W[i] = (double)(float)(0.5 * urand());
  for (int i = 0; i < C; i++) b[i] = (double)(float)(0.2 * urand());
  for (int i = 0; i < B * C; i++) g[i] = (double)(float)urand();
  to_f(zf, z, B * E);
  to_f(Wf, W, C * E);
  to_f(bf, b, C);
  to_f(gf, g, B * C);
  head_forward(logits, zf, Wf, bf, B, E, C, eng);
  double worst = 0;
  for (int i = 0; i < B; i++)
    for (int c = 0; c < C; c++) {
      double v = b[c];
      for (int e = 0; e < E; e++) v += z[i * E + e] * W[c * E + e];
      worst = fmax(worst, fabs(v - logits[i * C + c]));
    }
  check(worst <= 1e-5, "head_forward vs double loop", worst);
  /* backward: dz overwritten, dW and db accumulated onto prior contents */
  float dz[B * E], dW[C * E], db[C];
  float dW0[C * E], db0[C];
  for (int i = 0; i < B * E; i++) dz[i] = 1e6f;
  for (int i = 0; i < C * E; i++) dW[i] = dW0[i] = (float)urand();
  for (int i = 0; i < C; i++) db[i] = db0[i] = (float)urand();
  head_backward(dz, dW, db, gf, zf, Wf, B, E, C, eng);
  const double h = 1e-5;
  double ez = 0, eW = 0, eb = 0;
  for (int k = 0; k < B * E; k++) {
    double keep = z[k];
    z[k] = keep + h;
    double up = ref_head_j(g, z, W, b, B, E, C);
    z[k] = keep - h;
    double dn = ref_head_j(g, z, W, b, B, E, C);
    z[k] = keep;
    ez = fmax(ez, fabs((up - dn) / (2 * h) - dz[k]));
  }
  for (int k = 0; k < C * E; k++) {
    double keep = W[k];
    W[k] = keep + h;
    double up = ref_head_j(g, z, W, b, B, E, C);
    W[k] = keep - h;
    double dn = ref_head_j(g, z, W, b, B, E, C);
    W[k] = keep;
    eW = fmax(eW, fabs((up - dn) / (2 * h) - ((double)dW[k] - dW0[k])));
  }
  for (int k = 0; k < C; k++) {
    double keep = b[k];
    b[k] = keep + h;
    double up = ref_head_j(g, z, W, b, B, E, C);
    b[k] = keep - h;
    double dn = ref_head_j(g, z, W, b, B, E, C);
    b[k] = keep;
    eb = fmax(eb, fabs((up - dn) / (2 * h) - ((double)db[k] - db0[k])));
  }
  check(ez <= 1e-5, "head_backward dz vs fd (overwritten)", ez);
  check(eW <= 1e-5, "head_backward dW vs fd (accumulated)", eW);
  check(eb <= 1e-5, "head_backward db vs fd (accumulated)", eb);
}

/* The chain cross_entropy -> head_backward: d(loss)/dW by central differences of the double
 * loss through the double head, smoothing 0.3. */
static void test_chain(void) {
  enum { B = 4, E = 5, C = 3 };
  double z[B * E], W[C * E], b[C], l[B * C];
  float zf[B * E], Wf[C * E], bf[C], lf[B * C], dl[B * C], dz[B * E], dW[C * E] = {0},
        db[C] = {0};
  int y[B] = {2, 0, 1, 2};
  for (int i = 0; i < B * E; i++) z[i] = (double)(float)urand();
  for (int i = 0; i < C * E; i++) W[i] = (double)(float)urand();
  for (int i = 0; i < C; i++) b[i] = (double)(float)(0.3 * urand());
  to_f(zf, z, B * E);
  to_f(Wf, W, C * E);
  to_f(bf, b, C);
  head_forward(lf, zf, Wf, bf, B, E, C, eng);
  cross_entropy(lf, y, B, C, 0.3, 1.0, dl, NULL);
  head_backward(dz, dW, db, dl, zf, Wf, B, E, C, eng);
  const double h = 1e-5;
  double worst = 0, mx = 0;
  for (int k = 0; k < C * E; k++) {
    double fd[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      double keep = W[k];
      W[k] = keep + (sgn ? -h : h);
      for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++) {
          double v = b[c];
          for (int e = 0; e < E; e++) v += z[i * E + e] * W[c * E + e];
          l[i * C + c] = v;
        }
      fd[sgn] = ref_loss(l, y, B, C, 0.3);
      W[k] = keep;
    }
    double d = (fd[0] - fd[1]) / (2 * h);
    worst = fmax(worst, fabs(d - dW[k]));
    mx = fmax(mx, fabs(d));
  }
  check(worst / mx <= 1e-5, "cross_entropy + head_backward: dloss/dW vs fd", worst / mx);
}

int main(void) {
  vfr_error err;
  if (engine_create(2, VFR_PRECISION_FP32, &eng, &err) != VFR_OK) {
    printf("engine: %s\n", err.message);
    return 1;
  }
  test_cross_entropy(0.0, 1.0);
  test_cross_entropy(0.3, 1.0);
  test_cross_entropy(0.3, 2.5);
  test_huge_logits();
  test_ties();
  test_head();
  test_chain();
  engine_free(eng);
  printf("test_classify: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
