/* ImageNet-C's weather corruptions (see ic_ops.h, docs/perturbations.md).
 *   fog    x + c0 * plasma_fractal(next_pow2(max(H, W)), c1)[:H, :W], rescaled by
 *          max(x) / (max(x) + c0)                  (c0, c1) = (1.5, 2) (2, 2) (2.5, 1.7)
 *                                                             (2.5, 1.5) (3, 1.4)
 * then np.uint8(clip(y, 0, 1) * 255). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_ops.h"
#include "perturb/np_random.h"

/* ---- fog -------------------------------------------------------------------------- */

int vfr_ic_fog(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
               vfr_error *err) {
  static const double strength[5] = {1.5, 2., 2.5, 2.5, 3.};
  static const double decay[5] = {2, 2, 1.7, 1.5, 1.4};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_fog", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height, s = severity - 1;
  int side = w > h ? w : h, n = 1;
  if (side < 3) side = 3; /* max over the shape (H, W, 3) */
  while (n < side) n *= 2;
  float *map = malloc((size_t)n * n * sizeof(float));
  if (!map) return vfr_fail(err, VFR_ENOMEM, "ic_fog: out of memory for a %dx%d fractal", n, n);
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  rc = vfr_icf_plasma_fractal(&rng, n, decay[s], map, err);
  if (!rc) rc = perturb_alloc_like(in, out, err);
  if (!rc) {
    double maxv = 0.0;
    for (int y = 0; y < h; y++) {
      const uint8_t *p = in->data + (size_t)y * in->stride;
      for (int q = 0; q < w * 3; q++) {
        double v = (double)p[q] / 255.0;
        if (v > maxv) maxv = v;
      }
    }
    const float c0 = (float)strength[s];
    const double denom = maxv + strength[s];
    for (int y = 0; y < h; y++) {
      const uint8_t *p = in->data + (size_t)y * in->stride;
      uint8_t *d = out->data + (size_t)y * out->stride;
      const float *m = map + (size_t)y * n;
      for (int x = 0; x < w; x++) {
        double f = (double)(c0 * m[x]);
        for (int c = 0; c < 3; c++) {
          double v = (double)p[3 * x + c] / 255.0 + f;
          d[3 * x + c] = vfr_ic_to_u8(v * maxv / denom);
        }
      }
    }
  }
  free(map);
  return rc;
}
