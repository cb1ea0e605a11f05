/* Robustness metrics: R_cs, R_ed, the Divergence Radius (an exact minimum enclosing
 * ball), robustness curves and dataset statistics. The maths and the choices are in
 * docs/metrics.md. All functions are pure: no global state, safe from any thread. */
#ifndef VFROBUST_METRICS_H
#define VFROBUST_METRICS_H

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- minimum enclosing ball ------------------------------------------------------
 * The smallest ball containing n points of R^d, solved exactly on the Gram matrix of the
 * centred points (dual QP over the simplex, primal active-set method; see docs/metrics.md).
 * On return the ball (centre, radius) contains every point; the optimal radius R* obeys
 * dual_radius <= R* <= radius, so error_bound = radius - dual_radius certifies the answer. */

/* Largest n accepted (the solver keeps three n x n matrices of doubles). */
#define VFR_MEB_MAX_POINTS 4096

typedef struct vfr_meb_params {
  double tol;             /* stop when every point lies within radius^2 (1 + tol) of the
                             centre of the dual solution; default 1e-13 */
  int max_iterations;     /* active-set iterations before the Frank-Wolfe fallback takes
                             over; 0 means 20 n + 100 (default 0) */
  int max_fallback_iterations; /* Frank-Wolfe iterations of the fallback; default 100000 */
} vfr_meb_params;

VFR_API vfr_meb_params vfr_meb_default_params(void);

typedef struct vfr_meb_result {
  int n, d;
  double radius;      /* max_i ||p_i - centre||: the returned ball encloses all points */
  double dual_radius; /* sqrt(sum_i w_i ||p_i - centre||^2): a lower bound on the optimum */
  double error_bound; /* radius - dual_radius >= 0 (the duality gap in radius units) */
  int iterations;     /* active-set iterations (plus fallback iterations, if any) */
  int used_fallback;  /* 1 when the active-set method hit max_iterations and Frank-Wolfe
                         (Badoiu-Clarkson) finished; then error_bound is its bound */
  int support_size;   /* number of points with positive weight */
  int *support;       /* (support_size) indices of those points, increasing */
  double *weights;    /* (n) the simplex vector w: w_i >= 0, sum w_i = 1, centre = sum w_i p_i */
  double *centre;     /* (d) the centre, in the input's coordinates */
} vfr_meb_result;

/* points is (n, d) row-major, n >= 1, d >= 1, all finite. On success *out owns its arrays:
 * release them with vfr_meb_result_free. On failure *out is left empty (zeroed). */
VFR_API int vfr_meb(const double *points, int n, int d, vfr_meb_result *out, vfr_error *err);
/* The same with explicit parameters (params may be NULL for the defaults). */
VFR_API int vfr_meb_ex(const double *points, int n, int d, const vfr_meb_params *params,
               vfr_meb_result *out, vfr_error *err);
/* float input (converted to double first); points is (n, d). */
VFR_API int vfr_meb_f32(const float *points, int n, int d, vfr_meb_result *out, vfr_error *err);
VFR_API void vfr_meb_result_free(vfr_meb_result *r);

/* ---- per-image robustness (SPEC section 3) ---------------------------------------
 * Inputs are RAW embeddings: each is L2-normalised here (z = f / ||f||) before anything
 * else; a zero or non-finite embedding is an error. With z0 = z(x), z_k = z(P(x, k)):
 *   r_cs = max_k (1 - cos(z0, z_k)) / 2, evaluated as max_k ||z0 - z_k||^2 / 4 (equal in
 *          exact arithmetic, and accurate for tiny angles)
 *   r_ed = max_k ||z0 - z_k|| / 2 = sqrt(r_cs)
 *   dr   = radius of the minimum enclosing ball of {z0, z_1, ..., z_m}
 * All three lie in [0, 1] (rounding is clamped into that interval). */
typedef struct vfr_robustness {
  double r_cs, r_ed, dr;
  double dr_error_bound; /* the MEB's certified error bound for dr */
} vfr_robustness;

/* clean is (d), perturbed is (m, d); cos_out is (m) or NULL and receives cos(z0, z_k),
 * the per-level cosine similarities behind the robustness curve. m >= 1. */
VFR_API int vfr_robustness_compute(const double *clean, const double *perturbed, int m, int d,
                           vfr_robustness *out, double *cos_out, vfr_error *err);
/* float embeddings as the models produce them (computed in double). */
VFR_API int vfr_robustness_compute_f32(const float *clean, const float *perturbed, int m, int d,
                               vfr_robustness *out, double *cos_out, vfr_error *err);

/* ---- dataset statistics ----------------------------------------------------------
 * mean; std is the population standard deviation (ddof = 0, NumPy's default);
 * median, p10, p90 are percentiles with linear interpolation between order statistics
 * (NumPy's default method): for sorted x_0..x_{n-1} and q in [0, 1], h = q (n - 1),
 * value = x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h)). */
typedef struct vfr_stats {
  int n;
  double mean, std, median, p10, p90, min, max;
} vfr_stats;

/* values is (n), n >= 1, all finite. */
VFR_API int vfr_stats_compute(const double *values, int n, vfr_stats *out, vfr_error *err);
/* The q-th quantile (q in [0, 1]) with the interpolation above; values is (n). */
VFR_API int vfr_quantile(const double *values, int n, double q, double *out, vfr_error *err);

/* Histogram on fixed bins over [0, 1], as numpy.histogram(values, bins, range=(0, 1)):
 * edges e_i = i * (1/bins) (e_bins = 1), bin i holds e_i <= v < e_{i+1}, the last bin also
 * holds v = 1; values outside [0, 1] are not counted (their number goes to *outside, if
 * not NULL). values is (n), counts is (bins). n >= 0, bins >= 1; NaN is an error. */
VFR_API int vfr_histogram01(const double *values, int n, int bins, long *counts, long *outside,
                    vfr_error *err);

/* Robustness curve: per level, the mean and population std of the cosines over images,
 * skipping NaN entries (an image without a value at that level). cos is (n_images, m);
 * mean, std are (m) and get NaN where a level has no value; count is (m) or NULL. */
VFR_API int vfr_curve(const double *cos, int n_images, int m, double *mean, double *std, int *count,
              vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
