/* The ImageNet-C corruptions (Hendrycks & Dietterich), equal to bethgelab/imagecorruptions'
 * `corrupt(x, corruption_name=NAME, severity=K)` called right after `np.random.seed(S)`
 * (not public API; the registry's `ic_*` rows call them).
 *
 * Every op takes an RGB image (the reference's 3-channel uint8 array) and writes a new RGB
 * image of the same size into *out, which must be empty and is left empty on failure.
 * severity: 1..5 selects the published constants, 0 copies the image unchanged.
 * seed: the op seeds NumPy's legacy RandomState with vfr_np_seed32(seed) at entry
 * (np.random.seed(S) for S < 2^32); ops without randomness ignore it. The reference
 * refuses images under 32 pixels a side; these ops accept any size the arithmetic allows.
 * The maths, constants and the reference's quirks are in docs/perturbations.md. */
#ifndef VFR_IC_OPS_H
#define VFR_IC_OPS_H

#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "perturb/perturb_internal.h"
#include "vfrobust/error.h"
#include "vfrobust/image.h"

/* The entry of every ic_* op: checks in and out (RGB, distinct) and 0 <= severity <= 5,
 * naming `op` in the message. Severity 0 copies in to out and sets *done. */
static inline int vfr_ic_begin(const vfr_image *in, int severity, vfr_image *out, const char *op,
                               int *done, vfr_error *err) {
  *done = 0;
  int rc = perturb_check_rgb(in, out, op, err);
  if (rc) return rc;
  if (severity < 0 || severity > 5)
    return vfr_fail(err, VFR_EINVAL, "%s: severity %d is not in 0..5", op, severity);
  if (severity > 0) return VFR_OK;
  *done = 1;
  return vfr_image_copy(in, out, err);
}

/* unit[v] = v / 255. for v = 0..255, as NumPy computes x / 255. of a uint8 image: the
 * ops look the quotients up instead of dividing. unit is (256). */
static inline void vfr_ic_unit_table(double *unit) {
  for (int v = 0; v < 256; v++) unit[v] = (double)v / 255.0;
}

/* The reference's final conversion of a value of [0, 1] scaled to 0..255:
 * np.uint8(np.clip(v, 0, 1) * 255), the cast truncating. */
static inline uint8_t vfr_ic_to_u8(double v) {
  /* v > 0 ? v : 0, then v < 1 ? v : 1, without branches; NaN gives 0, as NumPy's cast of
   * NaN does on x86-64 */
#ifdef __SSE2__
  __m128d x = _mm_min_sd(_mm_max_sd(_mm_set_sd(v), _mm_setzero_pd()), _mm_set_sd(1.0));
  return (uint8_t)_mm_cvttsd_si32(_mm_mul_sd(x, _mm_set_sd(255.0)));
#else
  v = v > 0.0 ? v : 0.0;
  v = v < 1.0 ? v : 1.0;
  return (uint8_t)(int)(v * 255.0);
#endif
}

/* noise: ic_noise.c */
int vfr_ic_gaussian_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_shot_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
/* draws from default_rng(S) as skimage's random_noise(..., mode='s&p', seed=S) */
int vfr_ic_impulse_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_speckle_noise(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);

/* blur: ic_blur.c */
int vfr_ic_defocus_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_glass_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_motion_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_zoom_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_gaussian_blur(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);

/* weather: ic_weather.c */
int vfr_ic_snow(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_frost(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_fog(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_spatter(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);

/* geometric: ic_geometric.c */
int vfr_ic_elastic_transform(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);

/* digital: ic_digital.c */
int vfr_ic_brightness(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_contrast(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
/* ic_contrast's three tables (lut[c][v]: channel c's byte v to its result) at severity
 * 1..5 of an RGB image: from the exact byte sums where that provably gives the reference's
 * bytes, else (and always where exact) from the means summed as the reference sums them.
 * Returns 1 where the byte sums sufficed. */
int vfr_ic_contrast_tables(const vfr_image *in, int severity, int exact, uint8_t lut[3][256]);
int vfr_ic_saturate(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_jpeg_compression(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);
int vfr_ic_pixelate(const vfr_image *in, int severity, uint64_t seed, vfr_image *out, vfr_error *err);

#endif
