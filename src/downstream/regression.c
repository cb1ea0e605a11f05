/* Does robustness predict downstream damage? Least-squares lines of accuracy against the
 * divergence radius, per image (binned and raw) and across (op, domain) pairs, with a
 * leave-one-op-out prediction error. Formulas in docs/downstream.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/downstream.h"

enum { DEFAULT_BIN_COUNT = 10 };

/* Two-pass centred sums: mean first, then Sxx = sum (x - mx)^2, Syy, Sxy.
 *   slope = Sxy / Sxx, intercept = my - slope mx, r = Sxy / sqrt(Sxx Syy) (clipped to [-1, 1];
 *   0 when Syy = 0), r2 = r^2. */
int vfr_linear_fit_compute(const double *x, const double *y, int n, vfr_linear_fit *fit,
                           vfr_error *err) {
  if (!x || !y || !fit) return vfr_fail(err, VFR_EINVAL, "linear fit: missing array");
  if (n < 2) return vfr_fail(err, VFR_EINVAL, "linear fit: needs at least 2 points, got %d", n);
  double mx = 0.0, my = 0.0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]) || !isfinite(y[i]))
      return vfr_fail(err, VFR_EINVAL, "linear fit: non-finite value at point %d", i);
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxx = 0.0, syy = 0.0, sxy = 0.0;
  for (int i = 0; i < n; i++) {
    double dx = x[i] - mx, dy = y[i] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  int all_equal = 1; // tested exactly: the centred sum can be a rounding residue when they are
  for (int i = 1; i < n && all_equal; i++) all_equal = x[i] == x[0];
  if (all_equal || !(sxx > 0.0))
    return vfr_fail(err, VFR_EINVAL, "linear fit: all %d x values are equal, the slope is undefined", n);
  double r = 0.0;
  if (syy > 0.0) {
    r = sxy / sqrt(sxx * syy);
    r = fmin(1.0, fmax(-1.0, r));
  }
  fit->slope = sxy / sxx;
  fit->intercept = my - fit->slope * mx;
  fit->pearson_r = r;
  fit->r2 = r * r;
  fit->n = n;
  return VFR_OK;
}

typedef struct ranked {
  double dr;
  int index;
} ranked;

static int compare_ranked(const void *a, const void *b) {
  const ranked *p = a, *q = b;
  if (p->dr < q->dr) return -1;
  if (p->dr > q->dr) return 1;
  return (p->index > q->index) - (p->index < q->index);
}

int vfr_per_image_regression_compute(const double *dr, const int *correct, int n, int bin_count,
                                     vfr_per_image_regression *out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "per-image regression: missing output");
  memset(out, 0, sizeof *out);
  if (!dr || !correct) return vfr_fail(err, VFR_EINVAL, "per-image regression: missing array");
  if (n < 2) return vfr_fail(err, VFR_EINVAL, "per-image regression: needs at least 2 images, got %d", n);
  for (int i = 0; i < n; i++) {
    if (!isfinite(dr[i]))
      return vfr_fail(err, VFR_EINVAL, "per-image regression: DR of image %d is not finite", i);
    if (correct[i] != 0 && correct[i] != 1)
      return vfr_fail(err, VFR_EINVAL, "per-image regression: correct[%d] is %d, not 0 or 1", i, correct[i]);
  }
  int bins = bin_count > 0 ? bin_count : DEFAULT_BIN_COUNT;
  if (bins > n) bins = n;
  ranked *order = malloc(sizeof(ranked) * (size_t)n);
  double *ys = malloc(sizeof(double) * (size_t)n);
  double *bx = malloc(sizeof(double) * (size_t)bins), *by = malloc(sizeof(double) * (size_t)bins);
  vfr_dr_bin *bin = calloc((size_t)bins, sizeof(vfr_dr_bin));
  int rc = VFR_OK;
  if (!order || !ys || !bx || !by || !bin) {
    rc = vfr_fail(err, VFR_ENOMEM, "per-image regression: out of memory for %d images", n);
    goto done;
  }
  for (int i = 0; i < n; i++) {
    order[i].dr = dr[i];
    order[i].index = i;
    ys[i] = correct[i];
  }
  qsort(order, (size_t)n, sizeof *order, compare_ranked);
  for (int j = 0; j < bins; j++) {
    int lo = (int)((long long)j * n / bins), hi = (int)((long long)(j + 1) * n / bins);
    double sum_dr = 0.0;
    int right = 0;
    for (int t = lo; t < hi; t++) {
      sum_dr += order[t].dr;
      right += correct[order[t].index];
    }
    bin[j].dr_min = order[lo].dr;
    bin[j].dr_max = order[hi - 1].dr;
    bin[j].count = hi - lo;
    bin[j].mean_dr = sum_dr / (hi - lo);
    bin[j].accuracy = (double)right / (hi - lo);
    bx[j] = bin[j].mean_dr;
    by[j] = bin[j].accuracy;
  }
  rc = vfr_linear_fit_compute(bx, by, bins, &out->binned, err);
  if (!rc) rc = vfr_linear_fit_compute(dr, ys, n, &out->raw, err);
  if (rc) goto done;
  out->bin_count = bins;
  out->bins = bin;
  bin = NULL;
done:
  free(order);
  free(ys);
  free(bx);
  free(by);
  free(bin);
  return rc;
}

void vfr_per_image_regression_free(vfr_per_image_regression *r) {
  if (!r) return;
  free(r->bins);
  memset(r, 0, sizeof *r);
}

int vfr_across_ops_regression_compute(const int *op, const double *mean_dr,
                                      const double *accuracy_drop, int n_pairs,
                                      vfr_across_ops_regression *out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "across-ops regression: missing output");
  memset(out, 0, sizeof *out);
  if (!op || !mean_dr || !accuracy_drop)
    return vfr_fail(err, VFR_EINVAL, "across-ops regression: missing array");
  int rc = vfr_linear_fit_compute(mean_dr, accuracy_drop, n_pairs, &out->fit, err);
  if (rc) return rc;
  double *x = malloc(sizeof(double) * (size_t)n_pairs), *y = malloc(sizeof(double) * (size_t)n_pairs);
  if (!x || !y) {
    free(x);
    free(y);
    return vfr_fail(err, VFR_ENOMEM, "across-ops regression: out of memory");
  }
  double abs_error = 0.0;
  int predictions = 0, skipped = 0;
  for (int i = 0; i < n_pairs; i++) {
    int first = 1; // each op once, at its first pair
    for (int t = 0; t < i && first; t++) first = op[t] != op[i];
    if (!first) continue;
    int m = 0;
    for (int t = 0; t < n_pairs; t++)
      if (op[t] != op[i]) x[m] = mean_dr[t], y[m] = accuracy_drop[t], m++;
    vfr_linear_fit f;
    if (vfr_linear_fit_compute(x, y, m, &f, NULL) != VFR_OK) {
      skipped++;
      continue;
    }
    for (int t = 0; t < n_pairs; t++)
      if (op[t] == op[i]) {
        abs_error += fabs(f.intercept + f.slope * mean_dr[t] - accuracy_drop[t]);
        predictions++;
      }
  }
  free(x);
  free(y);
  out->loo_mae = predictions > 0 ? abs_error / predictions : NAN;
  out->loo_predictions = predictions;
  out->loo_skipped_ops = skipped;
  return VFR_OK;
}
