/* Dataset statistics of a metric: mean, population std, NumPy-default percentiles, a
 * histogram on [0, 1], and the per-level robustness curve. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/metrics.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int check_finite(const double *values, int n, const char *what, vfr_error *err) {
  if (!values && n > 0) return vfr_fail(err, VFR_EINVAL, "%s: no values given", what);
  for (int i = 0; i < n; i++)
    if (!isfinite(values[i]))
      return vfr_fail(err, VFR_EINVAL, "%s: value %d is not finite", what, i);
  return VFR_OK;
}

/* Linear interpolation between order statistics: sorted is (n), q in [0, 1]. The two-sided
 * form (from below when t < 1/2, from above otherwise) is NumPy's, and keeps the result
 * inside [lo, hi] and exact at both ends. */
static double quantile_sorted(const double *sorted, int n, double q) {
  double h = q * (n - 1);
  int lo = (int)floor(h);
  if (lo >= n - 1) return sorted[n - 1];
  if (lo < 0) return sorted[0];
  double t = h - lo, a = sorted[lo], b = sorted[lo + 1], diff = b - a;
  return t < 0.5 ? a + diff * t : b - diff * (1 - t);
}

int vfr_quantile(const double *values, int n, double q, double *out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "quantile: no output given");
  if (n < 1) return vfr_fail(err, VFR_EINVAL, "quantile: no values (n=%d)", n);
  if (!(q >= 0 && q <= 1)) return vfr_fail(err, VFR_EINVAL, "quantile: q=%g is not in [0, 1]", q);
  int rc = check_finite(values, n, "quantile", err);
  if (rc != VFR_OK) return rc;
  double *s = malloc((size_t)n * sizeof *s);
  if (!s) return vfr_fail(err, VFR_ENOMEM, "quantile: cannot allocate %d values", n);
  memcpy(s, values, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  *out = quantile_sorted(s, n, q);
  free(s);
  return VFR_OK;
}

int vfr_stats_compute(const double *values, int n, vfr_stats *out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "stats: no output given");
  memset(out, 0, sizeof *out);
  if (n < 1) return vfr_fail(err, VFR_EINVAL, "stats: no values (n=%d)", n);
  int rc = check_finite(values, n, "stats", err);
  if (rc != VFR_OK) return rc;
  double *s = malloc((size_t)n * sizeof *s);
  if (!s) return vfr_fail(err, VFR_ENOMEM, "stats: cannot allocate %d values", n);
  memcpy(s, values, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  /* Two passes over the sorted values: the mean, then the mean squared deviation. */
  double sum = 0;
  for (int i = 0; i < n; i++) sum += s[i];
  double mean = sum / n, ss = 0;
  for (int i = 0; i < n; i++) ss += (s[i] - mean) * (s[i] - mean);
  out->n = n;
  out->mean = mean;
  out->std = sqrt(ss / n);
  out->median = quantile_sorted(s, n, 0.5);
  out->p10 = quantile_sorted(s, n, 0.1);
  out->p90 = quantile_sorted(s, n, 0.9);
  out->min = s[0];
  out->max = s[n - 1];
  free(s);
  return VFR_OK;
}

int vfr_histogram01(const double *values, int n, int bins, long *counts, long *outside,
                    vfr_error *err) {
  if (!counts) return vfr_fail(err, VFR_EINVAL, "histogram: no counts array given");
  if (n < 0 || bins < 1)
    return vfr_fail(err, VFR_EINVAL, "histogram: need n >= 0 and bins >= 1 (n=%d, bins=%d)", n,
                    bins);
  if (!values && n > 0) return vfr_fail(err, VFR_EINVAL, "histogram: no values given");
  for (int i = 0; i < n; i++)
    if (isnan(values[i])) return vfr_fail(err, VFR_EINVAL, "histogram: value %d is NaN", i);
  memset(counts, 0, (size_t)bins * sizeof *counts);
  long out_of_range = 0;
  const double step = 1.0 / bins;
  for (int i = 0; i < n; i++) {
    double v = values[i];
    if (!(v >= 0 && v <= 1)) {
      out_of_range++;
      continue;
    }
    /* A first guess from v * bins, corrected against the exact edges i * step. */
    int b = (int)(v * bins);
    if (b >= bins) b = bins - 1;
    if (v < b * step) b--;
    else if (b != bins - 1 && v >= (b + 1) * step) b++;
    counts[b]++;
  }
  if (outside) *outside = out_of_range;
  return VFR_OK;
}

int vfr_curve(const double *cos, int n_images, int m, double *mean, double *std, int *count,
              vfr_error *err) {
  if (!cos || !mean || !std) return vfr_fail(err, VFR_EINVAL, "curve: missing argument");
  if (n_images < 0 || m < 1)
    return vfr_fail(err, VFR_EINVAL, "curve: need n_images >= 0 and m >= 1 (%d, %d)", n_images, m);
  for (int k = 0; k < m; k++) {
    int c = 0;
    double sum = 0;
    for (int i = 0; i < n_images; i++) {
      double v = cos[(size_t)i * m + k];
      if (isnan(v)) continue;
      if (!isfinite(v))
        return vfr_fail(err, VFR_EINVAL, "curve: image %d level %d is infinite", i, k);
      sum += v;
      c++;
    }
    double mu = c ? sum / c : NAN, ss = 0;
    for (int i = 0; i < n_images && c; i++) {
      double v = cos[(size_t)i * m + k];
      if (!isnan(v)) ss += (v - mu) * (v - mu);
    }
    mean[k] = mu;
    std[k] = c ? sqrt(ss / c) : NAN;
    if (count) count[k] = c;
  }
  return VFR_OK;
}
