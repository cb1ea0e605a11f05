/* The linear depth head fitted in closed form (ridge regression; include/vfrobust/depth.h).
 *
 * Sums are kept of the shifted rows z = x - s (s: the mean of the first batch added) and
 * of y - s_y: G = sum z z^T, g = sum z, h = sum z (y - s_y), k = sum (y - s_y). Centring
 * then costs no precision: C = G - g g^T / n, c = h - g k / n. The system
 * (C + lambda I) w = c is solved by Cholesky in double; b = mean(y) - mean(x) . w. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/depth.h"

/* Rows turned to double per cblas_dsyrk call. */
#define FIT_CHUNK 1024

struct vfr_depth_fit {
  int dim;
  int64_t n;
  int shifted;  /* 1 once the shift is set */
  double *shift; /* (dim) */
  double shift_y;
  double *gram;  /* (dim, dim), upper triangle filled by dsyrk */
  double *sum;   /* (dim) */
  double *cross; /* (dim) */
  double sum_y;
  double *chunk; /* (FIT_CHUNK, dim) */
  double *chunk_y;
};

int vfr_depth_fit_begin(int dim, vfr_depth_fit **out, vfr_error *err) {
  *out = NULL;
  if (dim < 1 || dim > 65536) return vfr_fail(err, VFR_EINVAL, "depth head: feature width %d", dim);
  vfr_depth_fit *f = calloc(1, sizeof *f);
  if (!f) return vfr_fail(err, VFR_ENOMEM, "depth head: out of memory");
  f->dim = dim;
  f->shift = calloc((size_t)dim, sizeof(double));
  f->gram = calloc((size_t)dim * dim, sizeof(double));
  f->sum = calloc((size_t)dim, sizeof(double));
  f->cross = calloc((size_t)dim, sizeof(double));
  f->chunk = malloc(sizeof(double) * FIT_CHUNK * (size_t)dim);
  f->chunk_y = malloc(sizeof(double) * FIT_CHUNK);
  if (!f->shift || !f->gram || !f->sum || !f->cross || !f->chunk || !f->chunk_y) {
    vfr_depth_fit_free(f);
    return vfr_fail(err, VFR_ENOMEM, "depth head: out of memory for a %d x %d system", dim, dim);
  }
  *out = f;
  return VFR_OK;
}

void vfr_depth_fit_free(vfr_depth_fit *f) {
  if (!f) return;
  free(f->shift);
  free(f->gram);
  free(f->sum);
  free(f->cross);
  free(f->chunk);
  free(f->chunk_y);
  free(f);
}

int vfr_depth_fit_add(vfr_depth_fit *f, const float *x, const float *y, int64_t n, vfr_error *err) {
  const int d = f->dim;
  if (n <= 0) return VFR_OK;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(y[i])) return vfr_fail(err, VFR_EINVAL, "depth head: target %lld is not finite", (long long)i);
    for (int j = 0; j < d; j++)
      if (!isfinite(x[i * d + j])) return vfr_fail(err, VFR_EINVAL, "depth head: feature row %lld is not finite",
                                                   (long long)i);
  }
  if (!f->shifted) {
    for (int64_t i = 0; i < n; i++) {
      for (int j = 0; j < d; j++) f->shift[j] += x[i * d + j];
      f->shift_y += y[i];
    }
    for (int j = 0; j < d; j++) f->shift[j] /= (double)n;
    f->shift_y /= (double)n;
    f->shifted = 1;
  }
  for (int64_t start = 0; start < n; start += FIT_CHUNK) {
    int m = (int)(n - start < FIT_CHUNK ? n - start : FIT_CHUNK);
    for (int i = 0; i < m; i++) {
      double *z = f->chunk + (size_t)i * d;
      const float *xi = x + (start + i) * d;
      double yi = y[start + i] - f->shift_y;
      f->chunk_y[i] = yi;
      f->sum_y += yi;
      for (int j = 0; j < d; j++) {
        z[j] = xi[j] - f->shift[j];
        f->sum[j] += z[j];
      }
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, m, 1.0, f->chunk, d, 1.0, f->gram, d);
    cblas_dgemv(CblasRowMajor, CblasTrans, m, d, 1.0, f->chunk, d, f->chunk_y, 1, 1.0, f->cross, 1);
  }
  f->n += n;
  return VFR_OK;
}

/* In-place Cholesky of the upper triangle of a (d, d) row-major: a = U^T U. 0, or -1 when a
 * pivot falls below 1e-10 of its diagonal entry (numerically singular). */
static int cholesky_upper(double *a, int d) {
  for (int j = 0; j < d; j++) {
    const double diag = a[(size_t)j * d + j];
    double s = diag;
    for (int k = 0; k < j; k++) s -= a[(size_t)k * d + j] * a[(size_t)k * d + j];
    if (!(s > 1e-10 * diag)) return -1;
    double r = sqrt(s);
    a[(size_t)j * d + j] = r;
    for (int i = j + 1; i < d; i++) {
      double t = a[(size_t)j * d + i];
      for (int k = 0; k < j; k++) t -= a[(size_t)k * d + j] * a[(size_t)k * d + i];
      a[(size_t)j * d + i] = t / r;
    }
  }
  return 0;
}

int vfr_depth_fit_solve(const vfr_depth_fit *f, double ridge, vfr_depth_head *head, vfr_error *err) {
  memset(head, 0, sizeof *head);
  const int d = f->dim;
  const double n = (double)f->n;
  if (f->n < 2) return vfr_fail(err, VFR_EINVAL, "depth head: %lld rows, at least 2 are needed", (long long)f->n);
  if (!(ridge >= 0) || !isfinite(ridge)) return vfr_fail(err, VFR_EINVAL, "depth head: ridge %g must be >= 0", ridge);
  double *a = calloc((size_t)d * d, sizeof(double)), *w = malloc(sizeof(double) * (size_t)d);
  if (!a || !w) {
    free(a);
    free(w);
    return vfr_fail(err, VFR_ENOMEM, "depth head: out of memory");
  }
  double trace = 0;
  for (int i = 0; i < d; i++)
    for (int j = i; j < d; j++) {
      a[(size_t)i * d + j] = f->gram[(size_t)i * d + j] - f->sum[i] * f->sum[j] / n;
      if (i == j) trace += a[(size_t)i * d + i];
    }
  const double lambda = ridge * trace / d;
  for (int i = 0; i < d; i++) {
    a[(size_t)i * d + i] += lambda;
    w[i] = f->cross[i] - f->sum[i] * f->sum_y / n;
  }
  if (cholesky_upper(a, d)) {
    free(a);
    free(w);
    return vfr_fail(err, VFR_EINVAL,
                    "depth head: the features are collinear (the system is not positive definite); use a ridge > 0");
  }
  /* U^T U w = c: forward with U^T, back with U. */
  cblas_dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, d, a, d, w, 1);
  cblas_dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, d, a, d, w, 1);
  free(a);
  /* b = mean(y) - mean(x) . w, with mean(x) = shift + sum/n. */
  double b = f->shift_y + f->sum_y / n;
  for (int j = 0; j < d; j++) b -= (f->shift[j] + f->sum[j] / n) * w[j];
  head->dim = d;
  head->weight = w;
  head->bias = b;
  head->ridge = ridge;
  head->lambda = lambda;
  head->n = f->n;
  return VFR_OK;
}

int vfr_depth_head_predict(const vfr_depth_head *head, const float *x, int64_t n, double *out, vfr_error *err) {
  if (!head || !head->weight) return vfr_fail(err, VFR_EINVAL, "depth head: not fitted");
  const int d = head->dim;
  for (int64_t i = 0; i < n; i++) {
    double s = head->bias;
    const float *r = x + i * d;
    for (int j = 0; j < d; j++) s += head->weight[j] * r[j];
    out[i] = s;
  }
  return VFR_OK;
}

void vfr_depth_head_free(vfr_depth_head *head) {
  if (!head) return;
  free(head->weight);
  memset(head, 0, sizeof *head);
}
