/* A Cholesky factor H_WW = L L^T of a principal submatrix that grows and shrinks one
 * row/column at a time (the working set of the MEB active-set method). Internal. */
#ifndef VFR_METRICS_CHOLESKY_UPDATE_H
#define VFR_METRICS_CHOLESKY_UPDATE_H

typedef struct chol_factor {
  double *L; /* (cap, cap) row-major, lower triangle of the leading k x k block used */
  int cap;   /* leading dimension and largest k */
  int k;     /* current order */
} chol_factor;

/* Appends the row/column (col (k) = H_W,j, diag = H_jj). Returns 0 when appended, 1 when
 * the new pivot^2 <= rel_tol * diag (j numerically in the span of W: nothing changes). */
int chol_append(chol_factor *f, const double *col, double diag, double rel_tol);

/* Removes row/column r (0 <= r < k) and restores the factor with Givens rotations. */
void chol_delete(chol_factor *f, int r);

/* Solve L x = x and L^T x = x in place; x is (k). */
void chol_forward(const chol_factor *f, double *x);
void chol_backward(const chol_factor *f, double *x);

/* Solves L L^T x = rhs; rhs and x are (k), may alias. */
void chol_solve(const chol_factor *f, const double *rhs, double *x);

#endif
