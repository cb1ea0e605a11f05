/* Additive Gaussian noise from a counter-based generator, so that every channel value's
 * noise depends only on (seed, its index) and the output is the same for any thread
 * count or row order.
 *
 * Generator: u_j = the j-th output (j = 0, 1, ...) of SplitMix64 seeded with `seed`,
 * i.e. mix(seed + (j + 1) * 0x9E3779B97F4A7C15) with SplitMix64's finaliser `mix`.
 * Channel value k (k = (y*w + x)*3 + c) belongs to pair p = k / 2; with
 * U1 = ((u_{2p} >> 11) + 1) / 2^53 in (0, 1] and U2 = (u_{2p+1} >> 11) / 2^53 in [0, 1),
 * Box-Muller gives n = sqrt(-2 ln U1) cos(2 pi U2) for even k and ... sin(2 pi U2) for odd k.
 * out = clamp(round(x + 255 * sigma * n), 0, 255), round() halves away from zero. */
#include <math.h>

#include "core/splitmix.h"
#include "perturb/perturb_internal.h"


/* The two standard normals of pair p. */
static inline void normal_pair(uint64_t seed, uint64_t p, double *n0, double *n1) {
  const double two53 = 9007199254740992.0;
  double u1 = (double)((vfr_splitmix_at(seed, 2 * p) >> 11) + 1) / two53;
  double u2 = (double)(vfr_splitmix_at(seed, 2 * p + 1) >> 11) / two53;
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586 * u2;
  *n0 = r * cos(theta);
  *n1 = r * sin(theta);
}

static inline uint8_t noisy(uint8_t x, double scale, double n) {
  double v = round((double)x + scale * n);
  return v <= 0.0 ? 0 : v >= 255.0 ? 255 : (uint8_t)v;
}

int vfr_gaussian_noise(const vfr_image *in, double sigma, uint64_t seed, vfr_image *out,
                       vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "gaussian_noise", err);
  if (rc) return rc;
  if (!(sigma >= 0.0) || sigma > 100.0)
    return vfr_fail(err, VFR_EINVAL, "gaussian_noise: sigma %g is not in 0..100", sigma);
  vfr_image res;
  rc = perturb_alloc_like(in, &res, err);
  if (rc) return rc;
  int w = in->width, h = in->height;
  double scale = 255.0 * sigma;
  size_t n = (size_t)w * 3;
#pragma omp parallel for schedule(static) if ((long long)w * h >= PERTURB_PARALLEL_PIXELS / 4)
  for (int y = 0; y < h; y++) {
    const uint8_t *src = in->data + (size_t)y * in->stride;
    uint8_t *dst = res.data + (size_t)y * res.stride;
    uint64_t k0 = (uint64_t)y * n;
    for (size_t i = 0; i < n;) {
      uint64_t k = k0 + i;
      double n0, n1;
      normal_pair(seed, k >> 1, &n0, &n1);
      if ((k & 1) == 0) {
        dst[i] = noisy(src[i], scale, n0);
        if (++i < n) dst[i] = noisy(src[i], scale, n1), i++;
      } else {
        dst[i] = noisy(src[i], scale, n1);
        i++;
      }
    }
  }
  *out = res;
  return VFR_OK;
}
