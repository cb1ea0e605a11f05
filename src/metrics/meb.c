/* The exact minimum enclosing ball of n points in R^d (the Divergence Radius).
 *
 * Dual problem, on the Gram matrix G = P P^T of the centred points P (n, d):
 *     maximise f(w) = sum_i w_i G_ii - w^T G w  over the simplex  (w >= 0, sum w = 1);
 * its value is R^2 and the centre is sum_i w_i p_i. We minimise -f with a primal
 * active-set method in which the working set W is a set of affinely independent points:
 *   - on W, the equality-constrained minimiser is the circumcentre of W: the affine
 *     combination lambda of W equidistant from all of W. It solves the KKT system
 *     2 H_WW lambda = b_W + mu 1, 1^T lambda = 1, with H = G + s 1 1^T (s > 0). The shift
 *     lifts every point by one extra coordinate sqrt(s): distances between affine
 *     combinations do not change, and affinely independent points become linearly
 *     independent, so H_WW is positive definite and has a Cholesky factor that we update
 *     as W grows and shrinks;
 *   - if lambda >= 0 the iterate moves to it; then the point farthest from the centre is
 *     added to W unless it lies within R^2 (1 + tol) (optimal: the KKT conditions hold);
 *   - otherwise the iterate moves towards lambda until a weight reaches 0 and that point
 *     leaves W;
 *   - a point to be added that is (numerically) an affine combination beta of W keeps the
 *     centre where it is: its weight grows while w_W shrinks along beta until a weight
 *     reaches 0 (a ratio test); that point leaves and the new one enters (see exchange).
 * The answer is then evaluated in R^d directly: centre c = sum w_i p_i, radius =
 * max_i ||p_i - c|| (an upper bound: that ball holds every point) and dual radius =
 * sqrt(sum_i w_i ||p_i - c||^2) = sqrt(f(w)) (a lower bound by weak duality).
 * Should the active-set loop not finish within max_iterations, Frank-Wolfe steps with
 * exact line search (Badoiu-Clarkson) continue from its iterate; the same two bounds
 * certify whatever it reaches. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/cholesky_update.h"
#include "vfrobust/metrics.h"

/* A point whose pivot^2 in the lifted Gram factor is below this fraction of its squared
 * lifted norm is treated as an affine combination of the working set. */
#define DEPENDENT_REL_TOL 1e-12

vfr_meb_params vfr_meb_default_params(void) {
  vfr_meb_params p;
  p.tol = 1e-13;
  p.max_iterations = 0;
  p.max_fallback_iterations = 100000;
  return p;
}

void vfr_meb_result_free(vfr_meb_result *r) {
  if (!r) return;
  free(r->support);
  free(r->weights);
  free(r->centre);
  memset(r, 0, sizeof *r);
}

typedef struct meb_work {
  int n;
  const double *G; /* (n, n) Gram matrix of the centred points, both triangles */
  double s;        /* the lift */
  double *w;       /* (n) current weights */
  double *Gw;      /* (n) G w */
  double *dist2;   /* (n) squared distances to the centre sum w_i p_i */
  int *W;          /* (n) working set, in factor order */
  int *in_W;       /* (n) 1 when in W */
  chol_factor chol;
  double *GW;      /* (n, n) row t holds row W[t] of G (first k rows used) */
  double *yb, *y1;              /* (n) forward solves, see forward_vectors */
  double *u, *lambda, *col;     /* (n) scratch */
} meb_work;

static double lifted(const meb_work *m, int i, int j) { return m->G[(long)i * m->n + j] + m->s; }

/* Gw and dist2 from w (w is supported on W). */
static double refresh_distances(meb_work *m) {
  const int n = m->n;
  const int k = m->chol.k;
  for (int t = 0; t < k; t++) m->u[t] = m->w[m->W[t]];
  /* Gw = G_{:,W} w_W = GW^T w_W with GW the rows of G of the working set */
  cblas_dgemv(CblasRowMajor, CblasTrans, k, n, 1.0, m->GW, n, m->u, 1, 0.0, m->Gw, 1);
  double wGw = 0;
  for (int t = 0; t < m->chol.k; t++) wGw += m->w[m->W[t]] * m->Gw[m->W[t]];
  double f = 0;
  for (int j = 0; j < n; j++) {
    double d2 = m->G[(long)j * n + j] - 2 * m->Gw[j] + wGw;
    m->dist2[j] = d2 > 0 ? d2 : 0;
  }
  for (int t = 0; t < m->chol.k; t++) f += m->w[m->W[t]] * m->dist2[m->W[t]];
  return f; /* the dual value f(w) */
}

/* The forward halves yb = L^{-1} b_W and y1 = L^{-1} 1 of the two solves behind the
 * circumcentre. Appending to W extends them by one entry; a deletion recomputes them. */
static void forward_vectors(meb_work *m) {
  for (int t = 0; t < m->chol.k; t++) {
    m->yb[t] = lifted(m, m->W[t], m->W[t]);
    m->y1[t] = 1;
  }
  chol_forward(&m->chol, m->yb);
  chol_forward(&m->chol, m->y1);
}

/* lambda (indexed like W) = circumcentre coefficients of W: with u = H^{-1} b_W and
 * v = H^{-1} 1, lambda = (u + mu v) / 2 and 1^T lambda = 1 give mu = (2 - 1^T u) / 1^T v,
 * where 1^T u = y1 . yb and 1^T v = y1 . y1; so lambda = L^{-T} (yb + mu y1) / 2 needs one
 * back substitution. */
static void circumcentre(meb_work *m) {
  const int k = m->chol.k;
  double mu = (2 - cblas_ddot(k, m->y1, 1, m->yb, 1)) / cblas_ddot(k, m->y1, 1, m->y1, 1);
  for (int t = 0; t < k; t++) m->lambda[t] = 0.5 * (m->yb[t] + mu * m->y1[t]);
  chol_backward(&m->chol, m->lambda);
  double sl = 0;
  for (int t = 0; t < k; t++) sl += m->lambda[t];
  for (int t = 0; t < k; t++) m->lambda[t] /= sl; /* sum exactly 1 up to rounding */
}

static void remove_from_W(meb_work *m, int t) {
  m->in_W[m->W[t]] = 0;
  m->w[m->W[t]] = 0;
  chol_delete(&m->chol, t);
  for (int q = t; q < m->chol.k; q++) m->W[q] = m->W[q + 1];
  memmove(m->GW + (size_t)t * m->n, m->GW + (size_t)(t + 1) * m->n,
          (size_t)(m->chol.k - t) * m->n * sizeof *m->GW);
  forward_vectors(m);
}

static int add_to_W(meb_work *m, int j) {
  const int k = m->chol.k;
  for (int t = 0; t < k; t++) m->col[t] = lifted(m, m->W[t], j);
  if (chol_append(&m->chol, m->col, lifted(m, j, j), DEPENDENT_REL_TOL)) return 1;
  const double *row = m->chol.L + (long)k * m->chol.cap; /* the new row of L */
  double sb = lifted(m, j, j), s1 = 1;
  for (int t = 0; t < k; t++) {
    sb -= row[t] * m->yb[t];
    s1 -= row[t] * m->y1[t];
  }
  m->yb[k] = sb / row[k];
  m->y1[k] = s1 / row[k];
  m->W[k] = j;
  memcpy(m->GW + (size_t)k * m->n, m->G + (size_t)j * m->n, (size_t)m->n * sizeof *m->GW);
  m->in_W[j] = 1;
  m->w[j] = 0;
  return 0;
}

static void renormalise(double *w, const int *W, int k) {
  double s = 0;
  for (int t = 0; t < k; t++) s += w[W[t]];
  for (int t = 0; t < k; t++) w[W[t]] /= s;
}

/* j is (numerically) an affine combination beta of W: weight moves onto j along beta, which
 * leaves the centre in place, until a weight of W reaches 0; that point leaves W. Should j
 * still be (numerically) in the span of what remains, the exchange repeats with the smaller
 * W: it ends, as W shrinks every round. Returns 0 when j joined W. */
static int exchange(meb_work *m, int j) {
  m->w[j] = 0;
  while (m->chol.k > 0) {
    const int k = m->chol.k;
    for (int t = 0; t < k; t++) m->u[t] = lifted(m, m->W[t], j);
    chol_solve(&m->chol, m->u, m->u); /* beta: lifted p_j ~ sum beta_t lifted p_W[t] */
    /* Ratio test in two passes (Harris): the bound (w_t + slack) / beta_t first, then among
     * the points whose own ratio is within it the one with the largest beta_t leaves (one
     * with a tiny beta_t would leave j almost in the span of the rest). */
    const double slack = 1e-15;
    double beta_max = 0, bound = INFINITY;
    for (int t = 0; t < k; t++) beta_max = m->u[t] > beta_max ? m->u[t] : beta_max;
    for (int t = 0; t < k; t++)
      if (m->u[t] > 1e-12 * beta_max) {
        double r = (m->w[m->W[t]] + slack) / m->u[t];
        if (r < bound) bound = r;
      }
    int block = -1;
    for (int t = 0; t < k; t++)
      if (m->u[t] > 1e-12 * beta_max && m->w[m->W[t]] / m->u[t] <= bound &&
          (block < 0 || m->u[t] > m->u[block]))
        block = t;
    if (block < 0) return 1;
    double step = m->w[m->W[block]] / m->u[block];
    for (int t = 0; t < k; t++) {
      double wt = m->w[m->W[t]] - step * m->u[t];
      m->w[m->W[t]] = wt > 0 ? wt : 0;
    }
    m->w[j] += step;
    remove_from_W(m, block);
    double wj = m->w[j];
    if (add_to_W(m, j) == 0) {
      m->w[j] = wj;
      renormalise(m->w, m->W, m->chol.k);
      return 0;
    }
  }
  return 1; /* unreachable in exact arithmetic: a single point is never dependent */
}

/* The active-set loop. Returns 0 when optimal within tol, 1 when it stopped early. */
static int active_set(meb_work *m, double tol, int max_iter, int *iterations) {
  const int n = m->n;
  int it = 0;
  while (it < max_iter) {
    it++;
    circumcentre(m);
    const int k = m->chol.k;
    int negative = 0;
    for (int t = 0; t < k; t++)
      if (m->lambda[t] < 0) negative = 1;
    if (!negative) {
      for (int t = 0; t < k; t++) m->w[m->W[t]] = m->lambda[t];
      double f = refresh_distances(m);
      int far = -1;
      double far_d2 = f * (1 + tol);
      for (int j = 0; j < n; j++)
        if (!m->in_W[j] && m->dist2[j] > far_d2) far = j, far_d2 = m->dist2[j];
      if (far < 0) {
        *iterations = it;
        return 0;
      }
      if (add_to_W(m, far) && exchange(m, far)) break;
      continue;
    }
    /* Move towards lambda until the first weight reaches zero; drop that point. */
    double step = 1;
    int block = -1;
    for (int t = 0; t < k; t++) {
      double wt = m->w[m->W[t]], lt = m->lambda[t];
      if (lt < 0) {
        double r = wt / (wt - lt);
        if (r < step) step = r, block = t;
      }
    }
    for (int t = 0; t < k; t++) {
      double wt = m->w[m->W[t]];
      wt += step * (m->lambda[t] - wt);
      m->w[m->W[t]] = wt > 0 ? wt : 0;
    }
    m->w[m->W[block]] = 0;
    remove_from_W(m, block);
    renormalise(m->w, m->W, m->chol.k);
  }
  *iterations = it;
  return 1;
}

/* Frank-Wolfe with exact line search on f, from the current w. */
static int frank_wolfe(meb_work *m, double tol, int max_iter) {
  const int n = m->n;
  double *w = m->w, *Gw = m->Gw, sw = 0;
  for (int j = 0; j < n; j++) {
    if (w[j] < 0) w[j] = 0;
    sw += w[j];
    Gw[j] = 0;
  }
  for (int j = 0; j < n; j++) w[j] /= sw;
  for (int i = 0; i < n; i++)
    if (w[i] != 0)
      for (int j = 0; j < n; j++) Gw[j] += w[i] * m->G[(long)i * n + j];
  int it = 0;
  for (; it < max_iter; it++) {
    double wGw = 0, wb = 0;
    for (int j = 0; j < n; j++) {
      wGw += w[j] * Gw[j];
      wb += w[j] * m->G[(long)j * n + j];
    }
    double f = wb - wGw;
    int far = 0;
    double far_d2 = -1;
    for (int j = 0; j < n; j++) {
      double d2 = m->G[(long)j * n + j] - 2 * Gw[j] + wGw;
      if (d2 > far_d2) far_d2 = d2, far = j;
    }
    double gap = far_d2 - f; /* = max_j g_j - w.g, the Frank-Wolfe gap */
    if (gap <= tol * f || far_d2 <= 0) break;
    double step = gap / (2 * far_d2);
    if (step > 1) step = 1;
    const double *gf = m->G + (long)far * n;
    for (int j = 0; j < n; j++) {
      w[j] *= 1 - step;
      Gw[j] = (1 - step) * Gw[j] + step * gf[j];
    }
    w[far] += step;
  }
  return it;
}

static int meb_solve(const double *P, const double *mean, int n, int d,
                     const vfr_meb_params *prm, vfr_meb_result *out, vfr_error *err) {
  /* P is (n, d) centred, mean is (d) */
  size_t nn = (size_t)n * n;
  double *G = malloc(nn * sizeof *G);
  double *L = malloc(nn * sizeof *L);
  double *GW = malloc(nn * sizeof *GW);
  double *buf = malloc((size_t)7 * n * sizeof *buf); /* seven (n) vectors */
  int *ibuf = malloc((size_t)2 * n * sizeof *ibuf);
  out->support = malloc((size_t)n * sizeof *out->support);
  out->weights = calloc((size_t)n, sizeof *out->weights);
  out->centre = calloc((size_t)d, sizeof *out->centre);
  if (!G || !L || !GW || !buf || !ibuf || !out->support || !out->weights || !out->centre) {
    free(G), free(L), free(GW), free(buf), free(ibuf);
    vfr_meb_result_free(out);
    return vfr_fail(err, VFR_ENOMEM, "meb: cannot allocate for %d points", n);
  }
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, d, 1.0, P, d, 0.0, G, n);
  double trace = 0;
  int start = 0;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < i; j++) G[(long)j * n + i] = G[(long)i * n + j];
    trace += G[(long)i * n + i];
    if (G[(long)i * n + i] > G[(long)start * n + start]) start = i;
  }
  if (!isfinite(trace)) {
    free(G), free(L), free(GW), free(buf), free(ibuf);
    vfr_meb_result_free(out);
    return vfr_fail(err, VFR_ELIMIT, "meb: coordinates too large (squared distances overflow)");
  }

  meb_work m = {0};
  m.n = n;
  m.G = G;
  m.s = trace / n;
  m.w = out->weights;
  m.Gw = buf;
  m.dist2 = buf + n;
  m.u = buf + 2 * n;
  m.yb = buf + 3 * n;
  m.y1 = buf + 6 * n;
  m.lambda = buf + 4 * n;
  m.col = buf + 5 * n;
  m.W = ibuf;
  m.in_W = ibuf + n;
  memset(m.in_W, 0, (size_t)n * sizeof *m.in_W);
  m.GW = GW;
  m.chol.L = L;
  m.chol.cap = n;
  m.chol.k = 0;

  int iterations = 0, fallback = 0;
  if (trace > 0) {
    /* Start from the point farthest from the mean. */
    add_to_W(&m, start);
    m.w[start] = 1;
    int max_iter = prm->max_iterations > 0 ? prm->max_iterations : 20 * n + 100;
    if (active_set(&m, prm->tol, max_iter, &iterations)) {
      fallback = 1;
      iterations += frank_wolfe(&m, prm->tol, prm->max_fallback_iterations);
    }
  } else {
    m.w[0] = 1; /* all points coincide */
  }

  /* Evaluate the answer in R^d. */
  double sw = 0;
  for (int i = 0; i < n; i++) {
    if (m.w[i] < 0) m.w[i] = 0;
    sw += m.w[i];
  }
  double *c = out->centre; /* centred coordinates first */
  for (int i = 0; i < n; i++) {
    m.w[i] /= sw;
    if (m.w[i] > 0) cblas_daxpy(d, m.w[i], P + (size_t)i * d, 1, c, 1);
  }
  double r2 = 0, dual = 0;
  for (int i = 0; i < n; i++) {
    const double *p = P + (size_t)i * d;
    double s = 0;
    for (int q = 0; q < d; q++) {
      double t = p[q] - c[q];
      s += t * t;
    }
    if (s > r2) r2 = s;
    dual += m.w[i] * s;
  }
  for (int q = 0; q < d; q++) c[q] += mean[q];
  out->n = n;
  out->d = d;
  out->radius = sqrt(r2);
  out->dual_radius = sqrt(dual < r2 ? dual : r2);
  out->error_bound = out->radius - out->dual_radius;
  out->iterations = iterations;
  out->used_fallback = fallback;
  out->support_size = 0;
  for (int i = 0; i < n; i++)
    if (m.w[i] > 0) out->support[out->support_size++] = i;
  free(G), free(L), free(GW), free(buf), free(ibuf);
  return VFR_OK;
}

int vfr_meb_ex(const double *points, int n, int d, const vfr_meb_params *params,
               vfr_meb_result *out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "meb: no result struct given");
  memset(out, 0, sizeof *out);
  if (!points) return vfr_fail(err, VFR_EINVAL, "meb: no points given");
  if (n < 1 || d < 1)
    return vfr_fail(err, VFR_EINVAL, "meb: need at least one point and one dimension (n=%d, d=%d)",
                    n, d);
  if (n > VFR_MEB_MAX_POINTS)
    return vfr_fail(err, VFR_ELIMIT, "meb: %d points exceed the limit of %d", n,
                    VFR_MEB_MAX_POINTS);
  vfr_meb_params prm = params ? *params : vfr_meb_default_params();
  if (!(prm.tol >= 0) || prm.max_iterations < 0 || prm.max_fallback_iterations < 0)
    return vfr_fail(err, VFR_EINVAL, "meb: negative tolerance or iteration count");
  size_t nd = (size_t)n * d;
  double *P = malloc(nd * sizeof *P);
  double *mean = calloc((size_t)d, sizeof *mean);
  if (!P || !mean) {
    free(P), free(mean);
    return vfr_fail(err, VFR_ENOMEM, "meb: cannot allocate %d x %d points", n, d);
  }
  /* Centre the points: uncentred unit vectors cannot resolve radii below ~1e-8. A NaN or
   * infinity anywhere makes its column's sum non-finite, so the scan for it runs only then. */
  int finite = 1;
  for (int i = 0; i < n; i++)
    for (int q = 0; q < d; q++) mean[q] += points[(size_t)i * d + q];
  for (int q = 0; q < d; q++) finite &= isfinite(mean[q] /= n) != 0;
  if (!finite) {
    free(P), free(mean);
    for (size_t i = 0; i < nd; i++)
      if (!isfinite(points[i]))
        return vfr_fail(err, VFR_EINVAL, "meb: point %zu has a non-finite coordinate", i / d);
    return vfr_fail(err, VFR_ELIMIT, "meb: coordinates too large (their sum overflows)");
  }
  for (int i = 0; i < n; i++)
    for (int q = 0; q < d; q++) P[(size_t)i * d + q] = points[(size_t)i * d + q] - mean[q];
  int rc = meb_solve(P, mean, n, d, &prm, out, err);
  free(P), free(mean);
  return rc;
}

int vfr_meb(const double *points, int n, int d, vfr_meb_result *out, vfr_error *err) {
  return vfr_meb_ex(points, n, d, NULL, out, err);
}

int vfr_meb_f32(const float *points, int n, int d, vfr_meb_result *out, vfr_error *err) {
  if (out) memset(out, 0, sizeof *out);
  if (!points) return vfr_fail(err, VFR_EINVAL, "meb: no points given");
  if (n < 1 || d < 1)
    return vfr_fail(err, VFR_EINVAL, "meb: need at least one point and one dimension (n=%d, d=%d)",
                    n, d);
  if (n > VFR_MEB_MAX_POINTS)
    return vfr_fail(err, VFR_ELIMIT, "meb: %d points exceed the limit of %d", n,
                    VFR_MEB_MAX_POINTS);
  size_t nd = (size_t)n * d;
  double *p = malloc(nd * sizeof *p);
  if (!p) return vfr_fail(err, VFR_ENOMEM, "meb: cannot allocate %d x %d points", n, d);
  for (size_t i = 0; i < nd; i++) p[i] = points[i];
  int rc = vfr_meb_ex(p, n, d, NULL, out, err);
  free(p);
  return rc;
}
