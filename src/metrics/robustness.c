/* Per-image robustness: R_cs, R_ed and the Divergence Radius of one image under one
 * perturbation at m levels (SPEC section 3, docs/metrics.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/metrics.h"

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

/* z (d) = f / ||f||; which names the embedding in the error message. */
static int normalise(const double *f, int d, double *z, const char *which, int index,
                     vfr_error *err) {
  double scale = 0;
  for (int q = 0; q < d; q++) {
    if (!isfinite(f[q]))
      return vfr_fail(err, VFR_EINVAL, "robustness: %s embedding %d has a non-finite value",
                      which, index);
    double a = fabs(f[q]);
    if (a > scale) scale = a;
  }
  if (scale == 0)
    return vfr_fail(err, VFR_EINVAL, "robustness: %s embedding %d is zero and has no direction",
                    which, index);
  /* Scale by the largest entry first so that the sum of squares neither overflows nor
   * underflows. */
  double ss = 0;
  for (int q = 0; q < d; q++) {
    double t = f[q] / scale;
    ss += t * t;
  }
  double norm = sqrt(ss);
  for (int q = 0; q < d; q++) z[q] = (f[q] / scale) / norm;
  return VFR_OK;
}

static int check_args(const void *clean, const void *perturbed, int m, int d,
                      vfr_robustness *out, vfr_error *err) {
  if (!out || !clean || !perturbed)
    return vfr_fail(err, VFR_EINVAL, "robustness: missing argument");
  memset(out, 0, sizeof *out);
  if (m < 1 || d < 1)
    return vfr_fail(err, VFR_EINVAL, "robustness: need m >= 1 levels and d >= 1 (m=%d, d=%d)",
                    m, d);
  if (m + 1 > VFR_MEB_MAX_POINTS)
    return vfr_fail(err, VFR_ELIMIT, "robustness: %d levels exceed the limit of %d", m,
                    VFR_MEB_MAX_POINTS - 1);
  return VFR_OK;
}

int vfr_robustness_compute(const double *clean, const double *perturbed, int m, int d,
                           vfr_robustness *out, double *cos_out, vfr_error *err) {
  int rc = check_args(clean, perturbed, m, d, out, err);
  if (rc != VFR_OK) return rc;
  double *Z = malloc((size_t)(m + 1) * d * sizeof *Z); /* (m+1, d): z0 then z_1..z_m */
  if (!Z) return vfr_fail(err, VFR_ENOMEM, "robustness: cannot allocate %d x %d", m + 1, d);
  rc = normalise(clean, d, Z, "clean", 0, err);
  for (int k = 0; k < m && rc == VFR_OK; k++)
    rc = normalise(perturbed + (size_t)k * d, d, Z + (size_t)(k + 1) * d, "perturbed", k, err);
  if (rc != VFR_OK) {
    free(Z);
    return rc;
  }
  /* ||z0 - zk||^2 = 2 - 2 cos, so (1 - cos)/2 = ||z0 - zk||^2 / 4; the difference form
   * keeps full relative accuracy when the angle is tiny. */
  double r_cs = 0;
  for (int k = 0; k < m; k++) {
    const double *z0 = Z, *zk = Z + (size_t)(k + 1) * d;
    double diff2 = 0, dot = 0;
    for (int q = 0; q < d; q++) {
      double t = z0[q] - zk[q];
      diff2 += t * t;
      dot += z0[q] * zk[q];
    }
    if (diff2 / 4 > r_cs) r_cs = diff2 / 4;
    if (cos_out) cos_out[k] = dot > 1 ? 1 : (dot < -1 ? -1 : dot);
  }
  vfr_meb_result ball;
  rc = vfr_meb(Z, m + 1, d, &ball, err);
  free(Z);
  if (rc != VFR_OK) return rc;
  out->r_cs = clamp01(r_cs);
  out->r_ed = sqrt(out->r_cs);
  out->dr = clamp01(ball.radius);
  out->dr_error_bound = ball.error_bound;
  vfr_meb_result_free(&ball);
  return VFR_OK;
}

int vfr_robustness_compute_f32(const float *clean, const float *perturbed, int m, int d,
                               vfr_robustness *out, double *cos_out, vfr_error *err) {
  int rc = check_args(clean, perturbed, m, d, out, err);
  if (rc != VFR_OK) return rc;
  size_t count = (size_t)(m + 1) * d;
  double *buf = malloc(count * sizeof *buf);
  if (!buf) return vfr_fail(err, VFR_ENOMEM, "robustness: cannot allocate %d x %d", m + 1, d);
  for (int q = 0; q < d; q++) buf[q] = clean[q];
  for (size_t i = 0; i < (size_t)m * d; i++) buf[d + i] = perturbed[i];
  rc = vfr_robustness_compute(buf, buf + d, m, d, out, cos_out, err);
  free(buf);
  return rc;
}
