/* The vec_math row kernels on every path this CPU runs (portable, AVX2, AVX-512): the
 * activation rows bit-identical to the scalar functions over ragged row lengths (vector
 * tails), the scalar functions against double-precision formulas, softmax rows against a
 * double softmax. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/vec_math.h"

static int passed, failed;

static void check(int ok, const char *what, double err) {
  if (ok) passed++;
  else failed++;
  printf("%-56s %.3g  %s\n", what, err, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static const char *isa_name[3] = {"portable", "avx2", "avx512"};

/* rows of every length 0..70 at offsets 0..3, each element against the scalar function;
 * elements past the row must stay untouched. Returns the number of mismatching floats. */
static long ragged(vm_isa isa, int act, const float *src, const float *bias) {
  float buf[80];
  long bad = 0;
  for (int off = 0; off < 4; off++)
    for (int n = 0; n <= 70; n++)
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        memcpy(buf, src, sizeof buf);
        const float *b = with_bias ? bias : NULL;
        if (act == 0) vm_bias_row(isa, buf + off, b, n);
        else if (act == 1) vm_bias_quick_gelu_row(isa, buf + off, b, n);
        else vm_bias_gelu_erf_row(isa, buf + off, b, n);
        for (int i = 0; i < 80; i++) {
          float want = src[i];
          int c = i - off;
          if (c >= 0 && c < n) {
            float x = b ? src[i] + b[c] : src[i];
            want = act == 0 ? x : act == 1 ? quick_gelu(x) : gelu_erf(x);
          }
          bad += memcmp(&want, &buf[i], sizeof want) != 0;
        }
      }
  return bad;
}

/* one long row over a sweep of [-lim, lim] and special values, against the scalar function */
static long sweep(vm_isa isa, int act, float lim) {
  int n = 200003;
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  for (int i = 0; i < n; i++) x[i] = -lim + 2 * lim * i / (n - 1);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 200.0f, -200.0f,
                           0.84375f * 1.41421356f, -0.84375f * 1.41421356f, 3e38f, -3e38f};
  memcpy(x, special, sizeof special);
  memcpy(y, x, n * sizeof *x);
  if (act == 1) vm_bias_quick_gelu_row(isa, y, NULL, n);
  else vm_bias_gelu_erf_row(isa, y, NULL, n);
  long bad = 0;
  for (int i = 0; i < n; i++) {
    float want = act == 1 ? quick_gelu(x[i]) : gelu_erf(x[i]);
    bad += memcmp(&want, &y[i], sizeof want) != 0;
  }
  free(x), free(y);
  return bad;
}

/* worst of |softmax - ref| / (ref * (1 + |x - max x|)): the float argument x - max x
 * carries a rounding error that grows with its size */
static double softmax_err(vm_isa isa) {
  double worst = 0;
  float r[600];
  double ref[600], arg[600];
  for (int n = 1; n <= 600; n += 13) {
    float scale = n % 2 ? 30.0f : 3.0f;
    for (int c = 0; c < n; c++) r[c] = frand() * scale;
    double mx = -1e300, s = 0;
    for (int c = 0; c < n; c++) mx = fmax(mx, r[c]);
    for (int c = 0; c < n; c++) s += ref[c] = exp(r[c] - mx), arg[c] = fabs(r[c] - mx);
    vm_softmax_row(isa, r, n);
    for (int c = 0; c < n; c++) {
      ref[c] /= s;
      if (ref[c] > 1e-30) worst = fmax(worst, fabs(r[c] - ref[c]) / (ref[c] * (1 + arg[c])));
    }
  }
  return worst;
}

static void test_scalar_accuracy(void) {
  double rel_hi = 0, rel_tail = 0, abs_all = 0;
  for (int i = -1200000; i <= 1200000; i++) {
    float x = i * 1e-5f;
    double g = 0.5 * x * erfc(-(double)x / sqrt(2.0));
    double e = fabs(gelu_erf(x) - g);
    abs_all = fmax(abs_all, e);
    if (g == 0) continue;
    if (x >= -1.2f) rel_hi = fmax(rel_hi, e / fabs(g));
    else rel_tail = fmax(rel_tail, e / fabs(g));
  }
  check(rel_hi < 1e-6, "gelu_erf relative error on [-1.2, 12]", rel_hi);
  check(rel_tail < 5e-5, "gelu_erf relative error on [-12, -1.2)", rel_tail);
  check(abs_all < 1e-6, "gelu_erf absolute error on [-12, 12]", abs_all);
  check(gelu_erf(1e30f) == 1e30f && gelu_erf(-1e30f) == 0.0f && gelu_erf(0.0f) == 0.0f,
        "gelu_erf at +-1e30 and 0", 0);
}

int main(void) {
  vm_isa top = vm_isa_best();
  printf("widest path: %s\n", isa_name[top]);
  float src[80], bias[80];
  for (int i = 0; i < 80; i++) src[i] = frand() * 6, bias[i] = frand();
  test_scalar_accuracy();
  char what[96];
  for (int isa = VM_PORTABLE; isa <= (int)top; isa++) {
    const char *acts[3] = {"bias", "bias + quick_gelu", "bias + gelu"};
    for (int act = 0; act < 3; act++) {
      long bad = ragged((vm_isa)isa, act, src, bias);
      snprintf(what, sizeof what, "%s %s rows == scalar (mismatches)", isa_name[isa], acts[act]);
      check(bad == 0, what, (double)bad);
    }
    long bad = sweep((vm_isa)isa, 1, 120.0f) + sweep((vm_isa)isa, 2, 12.0f);
    snprintf(what, sizeof what, "%s activation sweeps == scalar (mismatches)", isa_name[isa]);
    check(bad == 0, what, (double)bad);
    double e = softmax_err((vm_isa)isa);
    snprintf(what, sizeof what, "%s softmax rows vs double (rel / (1 + |arg|))", isa_name[isa]);
    check(e < 3e-7, what, e);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
