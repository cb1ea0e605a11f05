/* L-BFGS minimisation of a smooth function in double precision (internal). */
#ifndef VFR_DOWNSTREAM_LBFGS_H
#define VFR_DOWNSTREAM_LBFGS_H

#include "vfrobust/error.h"

/* Returns f(x) and writes its gradient into grad; x and grad are (n). */
typedef double (*vfr_lbfgs_function)(const double *x, double *grad, void *context);

typedef struct vfr_lbfgs_params {
  int max_iterations;        /* iterations (one line search each) */
  double gradient_tolerance; /* converged when max_i |grad_i| <= this */
  int history;               /* (s, y) pairs kept for the inverse-Hessian estimate */
} vfr_lbfgs_params;

typedef struct vfr_lbfgs_result {
  double value;         /* f at the returned x */
  double gradient_norm; /* max_i |grad_i| at the returned x */
  int iterations;
  int evaluations;      /* calls of the function */
  int converged;        /* 1 when gradient_norm <= gradient_tolerance */
} vfr_lbfgs_result;

/* Minimises f starting from x (n), which is overwritten with the best point found.
 * A line search that cannot make progress (rounding) ends the run early with converged = 0.
 * Errors: VFR_ENOMEM; VFR_EINVAL for bad parameters or a non-finite value at the start. */
int vfr_lbfgs_minimize(int n, double *x, vfr_lbfgs_function f, void *context,
                       const vfr_lbfgs_params *params, vfr_lbfgs_result *result, vfr_error *err);

#endif
