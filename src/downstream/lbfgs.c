/* L-BFGS: the two-loop recursion for the search direction and a line search that meets the
 * strong Wolfe conditions (bracketing, then zooming with safeguarded cubic interpolation).
 *
 * Why strong Wolfe rather than plain backtracking: the curvature condition guarantees
 * s.y > 0 for every accepted step, so the inverse-Hessian estimate stays positive definite
 * and the direction stays a descent direction without ad-hoc resets. */
#include "downstream/lbfgs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LINE_SEARCH_MAX_EVALUATIONS = 60 };
static const double WOLFE_C1 = 1e-4; /* sufficient decrease */
static const double WOLFE_C2 = 0.9;  /* curvature, the usual value for quasi-Newton methods */

static double dot(const double *a, const double *b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static double max_abs(const double *a, int n) {
  double m = 0.0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
  return m;
}

/* Scratch for one run; all (n) unless noted. */
typedef struct lbfgs_state {
  int n;
  vfr_lbfgs_function f;
  void *context;
  int evaluations;
  double *x_trial, *g_trial; /* the point being evaluated in the line search */
  double *x_lo, *g_lo;       /* the best point of the bracket (sufficient decrease holds) */
} lbfgs_state;

/* phi(alpha) = f(x + alpha d): evaluates into x_trial/g_trial, returns phi and phi'. */
static double evaluate_step(lbfgs_state *st, const double *x, const double *d, double alpha,
                            double *slope) {
  for (int i = 0; i < st->n; i++) st->x_trial[i] = x[i] + alpha * d[i];
  double v = st->f(st->x_trial, st->g_trial, st->context);
  st->evaluations++;
  *slope = dot(st->g_trial, d, st->n);
  return v;
}

/* Near the minimum f stops resolving changes (f - f* ~ g^2 / (2 lambda) drops below one ulp of
 * f long before the gradient reaches its own rounding floor), so sufficient decrease can no
 * longer be tested. There, as in Hager and Zhang's approximate Wolfe conditions, a step whose
 * value is within rounding noise of f0 is accepted on its slope alone: |phi'(alpha)| <= 0.8
 * |phi'(0)|. This lets the gradient keep shrinking by orders of magnitude. */
static int approximately_wolfe(double v, double slope, double f0, double d0) {
  return isfinite(v) && v <= f0 + 1e-13 * fmax(fabs(f0), 1e-300) && fabs(slope) <= -0.8 * d0;
}

/* Minimiser of the cubic that interpolates (a, fa, da) and (b, fb, db), kept inside the
 * middle 80% of [a, b]; bisection when the cubic has no usable minimiser. */
static double cubic_step(double a, double fa, double da, double b, double fb, double db) {
  double lo = fmin(a, b), hi = fmax(a, b), width = hi - lo;
  double d1 = da + db - 3.0 * (fa - fb) / (a - b);
  double disc = d1 * d1 - da * db;
  double t = 0.5 * (a + b);
  if (disc >= 0.0) {
    double d2 = copysign(sqrt(disc), b - a);
    double denom = db - da + 2.0 * d2;
    if (denom != 0.0) {
      double c = b - (b - a) * (db + d2 - d1) / denom;
      if (isfinite(c)) t = c;
    }
  }
  if (!(t >= lo + 0.1 * width && t <= hi - 0.1 * width)) t = 0.5 * (a + b);
  return t;
}

/* Finds alpha meeting the strong Wolfe conditions along d from x (value f0, slope d0 < 0).
 * On success x_trial/g_trial hold the accepted point, *f_out its value; returns 1.
 * When the bracket collapses without meeting the curvature condition but some point with
 * sufficient decrease was seen, that point is accepted (returns 1); otherwise 0. */
static int line_search(lbfgs_state *st, const double *x, const double *d, double f0, double d0,
                       double alpha, double *f_out) {
  const int n = st->n;
  double a_prev = 0.0, f_prev = f0, s_prev = d0;
  int have_lo = 0; /* x_lo/g_lo hold a point with sufficient decrease */
  double a_lo = 0.0, f_lo = f0, s_lo = d0, a_hi = 0.0, f_hi = 0.0, s_hi = 0.0;
  int zooming = 0;

  for (int i = 0; i < LINE_SEARCH_MAX_EVALUATIONS; i++) {
    if (!zooming) {
      double s;
      double v = evaluate_step(st, x, d, alpha, &s);
      if (!isfinite(v) || v > f0 + WOLFE_C1 * alpha * d0 || (i > 0 && v >= f_prev)) {
        if (approximately_wolfe(v, s, f0, d0)) {
          *f_out = v;
          return 1;
        }
        a_lo = a_prev, f_lo = f_prev, s_lo = s_prev;
        a_hi = alpha, f_hi = v, s_hi = s;
        if (!isfinite(v)) f_hi = INFINITY, s_hi = NAN;
        zooming = 1;
        continue;
      }
      if (fabs(s) <= -WOLFE_C2 * d0) {
        *f_out = v;
        return 1;
      }
      memcpy(st->x_lo, st->x_trial, sizeof(double) * n);
      memcpy(st->g_lo, st->g_trial, sizeof(double) * n);
      have_lo = 1;
      if (s >= 0.0) {
        a_lo = alpha, f_lo = v, s_lo = s;
        a_hi = a_prev, f_hi = f_prev, s_hi = s_prev;
        zooming = 1;
        continue;
      }
      a_prev = alpha, f_prev = v, s_prev = s;
      alpha *= 2.0;
      continue;
    }
    /* zoom: a_lo has sufficient decrease and the lowest value so far; the minimiser lies
     * between a_lo and a_hi. */
    double width = fabs(a_hi - a_lo);
    if (width <= 1e-16 * fmax(1.0, fabs(a_lo))) break;
    double a = isfinite(f_hi) && isfinite(s_hi) ? cubic_step(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi)
                                                : 0.5 * (a_lo + a_hi);
    double s;
    double v = evaluate_step(st, x, d, a, &s);
    if (!isfinite(v) || v > f0 + WOLFE_C1 * a * d0 || v >= f_lo) {
      if (approximately_wolfe(v, s, f0, d0)) {
        *f_out = v;
        return 1;
      }
      a_hi = a, f_hi = isfinite(v) ? v : INFINITY, s_hi = isfinite(v) ? s : NAN;
      continue;
    }
    if (fabs(s) <= -WOLFE_C2 * d0) {
      *f_out = v;
      return 1;
    }
    memcpy(st->x_lo, st->x_trial, sizeof(double) * n);
    memcpy(st->g_lo, st->g_trial, sizeof(double) * n);
    have_lo = 1;
    if (s * (a_hi - a_lo) >= 0.0) a_hi = a_lo, f_hi = f_lo, s_hi = s_lo;
    a_lo = a, f_lo = v, s_lo = s;
  }
  if (have_lo && f_lo < f0) {
    memcpy(st->x_trial, st->x_lo, sizeof(double) * n);
    memcpy(st->g_trial, st->g_lo, sizeof(double) * n);
    *f_out = f_lo;
    return 1;
  }
  return 0;
}

int vfr_lbfgs_minimize(int n, double *x, vfr_lbfgs_function f, void *context,
                       const vfr_lbfgs_params *params, vfr_lbfgs_result *result, vfr_error *err) {
  if (n <= 0 || !x || !f || !params || !result || params->history <= 0 ||
      params->max_iterations < 0 || !(params->gradient_tolerance >= 0.0))
    return vfr_fail(err, VFR_EINVAL, "lbfgs: invalid arguments");
  const int m = params->history;
  /* One allocation: g, d, x_trial, g_trial, x_lo, g_lo (n each), s and y (m, n), rho and
   * alpha (m). */
  size_t total = (size_t)n * (6 + 2 * (size_t)m) + 2 * (size_t)m;
  double *mem = malloc(sizeof(double) * total);
  if (!mem) return vfr_fail(err, VFR_ENOMEM, "lbfgs: out of memory for %d variables", n);
  double *g = mem, *d = g + n;
  lbfgs_state st = {.n = n, .f = f, .context = context, .evaluations = 0};
  st.x_trial = d + n, st.g_trial = st.x_trial + n, st.x_lo = st.g_trial + n, st.g_lo = st.x_lo + n;
  double *s_hist = st.g_lo + n, *y_hist = s_hist + (size_t)m * n;
  double *rho = y_hist + (size_t)m * n, *alpha_hist = rho + m;

  double fx = f(x, g, context);
  st.evaluations = 1;
  if (!isfinite(fx)) {
    free(mem);
    return vfr_fail(err, VFR_EINVAL, "lbfgs: objective is not finite at the starting point");
  }
  double gnorm = max_abs(g, n);
  int stored = 0, newest = -1, iter = 0;
  while (gnorm > params->gradient_tolerance && iter < params->max_iterations) {
    /* Two-loop recursion: d = -H g, with H0 = (s.y / y.y) I from the newest pair. */
    for (int i = 0; i < n; i++) d[i] = -g[i];
    for (int j = 0; j < stored; j++) {
      int k = (newest - j + m) % m;
      alpha_hist[k] = rho[k] * dot(s_hist + (size_t)k * n, d, n);
      const double *yk = y_hist + (size_t)k * n;
      for (int i = 0; i < n; i++) d[i] -= alpha_hist[k] * yk[i];
    }
    if (stored > 0) {
      const double *yk = y_hist + (size_t)newest * n;
      double gamma = 1.0 / (rho[newest] * dot(yk, yk, n));
      for (int i = 0; i < n; i++) d[i] *= gamma;
    }
    for (int j = stored - 1; j >= 0; j--) {
      int k = (newest - j + m) % m;
      double beta = rho[k] * dot(y_hist + (size_t)k * n, d, n);
      const double *sk = s_hist + (size_t)k * n;
      for (int i = 0; i < n; i++) d[i] += (alpha_hist[k] - beta) * sk[i];
    }
    double d0 = dot(g, d, n);
    if (!(d0 < 0.0)) { /* rounding spoilt the estimate: fall back to steepest descent */
      stored = 0;
      for (int i = 0; i < n; i++) d[i] = -g[i];
      d0 = dot(g, d, n);
    }
    /* The first step (no curvature known) moves a unit distance; later ones try alpha = 1. */
    double alpha0 = stored > 0 ? 1.0 : 1.0 / fmax(sqrt(-d0), 1e-300);
    double f_new;
    if (!line_search(&st, x, d, fx, d0, alpha0, &f_new)) {
      if (stored == 0) break; /* no progress possible along the gradient: rounding level */
      stored = 0;             /* retry once along the gradient with a fresh memory */
      continue;
    }
    iter++;
    /* s = x_new - x and y = g_new - g (in the line search's spare buffers); the pair
     * replaces the oldest one only when its curvature s.y is safely positive. */
    double *sk = st.x_lo, *yk = st.g_lo;
    for (int i = 0; i < n; i++) {
      sk[i] = st.x_trial[i] - x[i];
      yk[i] = st.g_trial[i] - g[i];
    }
    double sy = dot(sk, yk, n);
    if (sy > 0.0 && sy > 1e-16 * sqrt(dot(sk, sk, n) * dot(yk, yk, n))) {
      int slot = (newest + 1) % m;
      memcpy(s_hist + (size_t)slot * n, sk, sizeof(double) * n);
      memcpy(y_hist + (size_t)slot * n, yk, sizeof(double) * n);
      rho[slot] = 1.0 / sy;
      newest = slot;
      if (stored < m) stored++;
    }
    memcpy(x, st.x_trial, sizeof(double) * n);
    memcpy(g, st.g_trial, sizeof(double) * n);
    fx = f_new;
    gnorm = max_abs(g, n);
  }
  result->value = fx;
  result->gradient_norm = gnorm;
  result->iterations = iter;
  result->evaluations = st.evaluations;
  result->converged = gnorm <= params->gradient_tolerance;
  free(mem);
  return VFR_OK;
}
