/* Depth metrics on the valid pixels of one image (vfr_depth_metrics_compute). */
#include <math.h>
#include <string.h>

#include "vfrobust/depth.h"

int vfr_depth_metrics_compute(const float *pred, const float *truth, const uint8_t *mask, int64_t n, double min_depth,
                              double max_depth, vfr_depth_metrics *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  double se = 0, rel = 0, lg = 0;
  int64_t d1 = 0, d2 = 0, d3 = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    const double t = truth[i], p = pred[i];
    if (!(t > 0) || (mask && !mask[i]) || (min_depth > 0 && t < min_depth) || (max_depth > 0 && t > max_depth)) continue;
    if (!(p > 0) || !isfinite(p)) return vfr_fail(err, VFR_EINVAL, "depth metrics: prediction %g at pixel %lld", p, (long long)i);
    const double e = p - t, ratio = fmax(p / t, t / p);
    se += e * e;
    rel += fabs(e) / t;
    lg += fabs(log10(p) - log10(t));
    d1 += ratio < 1.25;
    d2 += ratio < 1.25 * 1.25;
    d3 += ratio < 1.25 * 1.25 * 1.25;
    m++;
  }
  out->n = m;
  if (m == 0) {
    out->rmse = out->mse = out->abs_rel = out->log10 = out->delta1 = out->delta2 = out->delta3 = NAN;
    return VFR_OK;
  }
  out->mse = se / m;
  out->rmse = sqrt(out->mse);
  out->abs_rel = rel / m;
  out->log10 = lg / m;
  out->delta1 = (double)d1 / m;
  out->delta2 = (double)d2 / m;
  out->delta3 = (double)d3 / m;
  return VFR_OK;
}
