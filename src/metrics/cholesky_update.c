/* Cholesky factor updates: append a row/column, delete one, solve. O(k^2) each. */
#include "metrics/cholesky_update.h"

#include <cblas.h>
#include <math.h>

/* Row-major L with leading dimension cap: the triangular solves go to BLAS. */
void chol_forward(const chol_factor *f, double *x) { /* L x = x */
  if (f->k == 0) return;
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, f->k, f->L, f->cap, x, 1);
}

void chol_backward(const chol_factor *f, double *x) { /* L^T x = x */
  if (f->k == 0) return;
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, f->k, f->L, f->cap, x, 1);
}

int chol_append(chol_factor *f, const double *col, double diag, double rel_tol) {
  double *row = f->L + (long)f->k * f->cap;
  for (int i = 0; i < f->k; i++) row[i] = col[i];
  double ss = 0;
  if (f->k > 0) {
    chol_forward(f, row); /* row = L^{-1} col */
    ss = cblas_ddot(f->k, row, 1, row, 1);
  }
  double pivot2 = diag - ss;
  if (!(pivot2 > rel_tol * diag)) return 1;
  row[f->k] = sqrt(pivot2);
  f->k++;
  return 0;
}

void chol_delete(chol_factor *f, int r) {
  const int ld = f->cap, k = f->k;
  /* Drop row r: rows below shift up and carry one entry right of the diagonal. */
  for (int i = r; i < k - 1; i++) {
    double *dst = f->L + (long)i * ld, *src = f->L + (long)(i + 1) * ld;
    for (int j = 0; j <= i + 1; j++) dst[j] = src[j];
  }
  /* Columns c and c+1 of rows c.. are rotated so that entry (c, c+1) vanishes. */
  for (int c = r; c < k - 1; c++) {
    double *rc = f->L + (long)c * ld;
    double a = rc[c], b = rc[c + 1];
    double h = hypot(a, b);
    double cs = a / h, sn = b / h;
    for (int i = c; i < k - 1; i++) {
      double *ri = f->L + (long)i * ld;
      double x = ri[c], y = ri[c + 1];
      ri[c] = cs * x + sn * y;
      ri[c + 1] = -sn * x + cs * y;
    }
    rc[c + 1] = 0;
    if (rc[c] < 0) /* keep a positive diagonal: flip the column */
      for (int i = c; i < k - 1; i++) f->L[(long)i * ld + c] = -f->L[(long)i * ld + c];
  }
  f->k = k - 1;
}

void chol_solve(const chol_factor *f, const double *rhs, double *x) {
  if (x != rhs)
    for (int i = 0; i < f->k; i++) x[i] = rhs[i];
  chol_forward(f, x);
  chol_backward(f, x);
}
