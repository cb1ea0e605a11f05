/* ImageNet-C's elastic_transform (see ic_ops.h, docs/perturbations.md). With x = v/255
 * in float32, sigma = (0.01 H, 0.01 W), m = 0.005 H and alpha = 250 * (.05 .065 .085 .1 .12):
 *   dx = float32(gaussian(U(-m, m, (H, W)), sigma, mode reflect, truncate 3) * alpha)
 *   dy = the same with a second draw
 *   y[i, j, k] = x sampled at (i + dy[i, j], j + dx[i, j], k), scipy.ndimage.map_coordinates
 *                order 1, mode reflect, in float32
 * then np.uint8(clip(y, 0, 1) * 255) in float32 (truncation). The reference's mod of the
 * elastic gist displaces by the smoothed field directly: there is no affine step. */
/* Separate roundings, as NumPy's ufuncs compute: no contraction to fused multiply-adds
 * (GCC's default in ISO C mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <stdlib.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_ops.h"
#include "perturb/ic_taps.h"
#include "perturb/np_random.h"

/* One displacement field: float32(gaussian(U(-m, m), sigma) * alpha). field is (h, w). */
static int displacement(vfr_np_rng *rng, int h, int w, double m, double alpha, double *tmp,
                        float *field, vfr_error *err) {
  size_t n = (size_t)h * w;
  vfr_np_rng_uniform_fill(rng, -m, m, (int64_t)n, tmp);
  int rc = vfr_icf_gaussian_filter(tmp, h, w, 1, h * 0.01, w * 0.01, 3.0, IC_MODE_REFLECT, 0, err);
  if (rc) return rc;
  vfr_ict_scale_to_f32(field, tmp, n, alpha);
  return VFR_OK;
}

int vfr_ic_elastic_transform(const vfr_image *in, int severity, uint64_t seed, vfr_image *out,
                             vfr_error *err) {
  static const double scale[5] = {0.05, 0.065, 0.085, 0.1, 0.12};
  int done, rc = vfr_ic_begin(in, severity, out, "ic_elastic_transform", &done, err);
  if (rc || done) return rc;
  int w = in->width, h = in->height;
  size_t np = (size_t)w * h, row = (size_t)w * 3;
  float *img = malloc(np * 3 * sizeof(float)), *res = malloc(np * 3 * sizeof(float));
  float *dx = malloc(np * sizeof(float)), *dy = malloc(np * sizeof(float));
  double *tmp = malloc(np * sizeof(double));
  if (!img || !res || !dx || !dy || !tmp) {
    rc = vfr_fail(err, VFR_ENOMEM, "ic_elastic_transform: out of memory");
    goto done;
  }
  for (int y = 0; y < h; y++) vfr_ict_unit_row_f32(img + (size_t)y * row, in->data + (size_t)y * in->stride, row);
  double alpha = 250 * scale[severity - 1], m = h * 0.005;
  vfr_np_rng rng;
  vfr_np_rng_seed(&rng, vfr_np_seed32(seed));
  if ((rc = displacement(&rng, h, w, m, alpha, tmp, dx, err))) goto done;
  if ((rc = displacement(&rng, h, w, m, alpha, tmp, dy, err))) goto done;
  vfr_icf_map_coordinates_reflect(img, h, w, dx, dy, res);
  if ((rc = perturb_alloc_like(in, out, err))) goto done;
  for (int y = 0; y < h; y++)
    vfr_ict_store_unit_row_f32(out->data + (size_t)y * out->stride, res + (size_t)y * row, row);
done:
  free(img), free(res), free(dx), free(dy), free(tmp);
  return rc;
}
