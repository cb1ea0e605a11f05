/* Depth estimation: depth maps and their 16-bit PNG files, RGB-D sets (NYU-Depth-v2 as
 * commonly exported, and synthetic scenes this library renders), the linear depth head on
 * dense features, and the standard depth metrics. The pipeline that runs them under
 * perturbation is `vfrobust downstream --protocol depth` (downstream_run.h); the maths and
 * the choices are in docs/depth.md. */
#ifndef VFROBUST_DEPTH_H
#define VFROBUST_DEPTH_H

#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- depth maps -------------------------------------------------------------------- */

/* Metres per pixel, row-major; 0 (or anything not > 0) marks a pixel without depth. */
typedef struct vfr_depth_map {
  int width, height;
  float *depth; /* (height, width), owned */
} vfr_depth_map;

VFR_API void vfr_depth_map_free(vfr_depth_map *map);

/* Reads a single-channel PNG (16-bit, or 8-bit) as depth = value / scale (scale 1000: the
 * values are millimetres). Not a PNG, not grey, truncated: an error naming the file. */
VFR_API int vfr_depth_png_read(const char *path, double scale, vfr_depth_map *out, vfr_error *err);
/* Writes 16-bit grey: round(depth * scale) clamped to 0..65535 (atomically). */
VFR_API int vfr_depth_png_write(const char *path, const vfr_depth_map *map, double scale, vfr_error *err);

/* ---- RGB-D sets -------------------------------------------------------------------- */

typedef struct vfr_depth_item {
  char *image;   /* RGB file, usable from the current directory */
  char *depth;   /* its depth PNG */
  char *name;    /* the image's path relative to the set's root */
  double scale;  /* depth PNG value per metre */
} vfr_depth_item;

typedef struct vfr_depth_set {
  int count;
  vfr_depth_item *items; /* (count), sorted by name */
} vfr_depth_set;

/* Lists an RGB-D set:
 *  - a folder (searched recursively): every image NAME.jpg|jpeg|png|webp that has a depth
 *    PNG beside it, NAME_depth.png, or for a .jpg/.jpeg/.webp image NAME.png (the
 *    NYU-Depth-v2 export: 0.jpg with 0.png); files named *_depth.png are never images;
 *  - a .csv file: rows image,depth[,scale] (paths relative to the CSV's folder; a first
 *    row whose second field is "depth" is a header); an empty scale means `scale`.
 * scale (> 0) is the depth PNG value per metre (1000: millimetres). No pair: an error. */
VFR_API int vfr_depth_set_open(const char *path, double scale, vfr_depth_set *out, vfr_error *err);
VFR_API void vfr_depth_set_free(vfr_depth_set *set);
/* Writes the set as a CSV list image,depth,scale (paths as listed) to path. */
VFR_API int vfr_depth_set_write_csv(const vfr_depth_set *set, const char *path, vfr_error *err);

/* ---- synthetic scenes ---------------------------------------------------------------- */

/* Renders a room seen from a pinhole camera inside it (seeded): floor, ceiling and walls,
 * a few boxes and spheres, every surface textured with one of the textures (tiled),
 * Lambert-shaded by a ceiling light and by a light at the camera that falls off with the
 * distance, with haze growing with the distance. rgb (width x height RGB) and depth (metres along the
 * optical axis, exact at each pixel's centre) must be empty. textures: RGB images. */
VFR_API int vfr_scene_render(const vfr_image *textures, int texture_count, uint64_t seed, int width,
                     int height, vfr_image *rgb, vfr_depth_map *depth, vfr_error *err);

/* Writes count scenes into out_dir as NNNNN.png and NNNNN_depth.png (16-bit, millimetres):
 * scene i from seed + i. Textures are the images of textures_dir (any set
 * vfr_dataset_open lists). */
VFR_API int vfr_scenes_write(const char *out_dir, const char *textures_dir, int count, uint64_t seed,
                     int width, int height, vfr_error *err);

/* ---- the linear depth head ------------------------------------------------------------
 *
 * depth = w . x + b per pixel, fitted in closed form: ridge regression on centred
 * features, (Xc^T Xc + lambda I) w = Xc^T yc, b = mean(y) - mean(x) . w, with
 * lambda = ridge * trace(Xc^T Xc) / dim (the intercept is not penalised). The sums are
 * accumulated in double, shifted by the first rows' mean, so rows can be added batch by
 * batch without holding them. */

typedef struct vfr_depth_fit vfr_depth_fit; /* opaque accumulator */

VFR_API int vfr_depth_fit_begin(int dim, vfr_depth_fit **out, vfr_error *err);
/* Adds x (n, dim) with targets y (n). Non-finite values are VFR_EINVAL. */
VFR_API int vfr_depth_fit_add(vfr_depth_fit *fit, const float *x, const float *y, int64_t n, vfr_error *err);
VFR_API void vfr_depth_fit_free(vfr_depth_fit *fit);

typedef struct vfr_depth_head {
  int dim;
  double *weight; /* (dim), owned */
  double bias;
  double ridge;   /* as given */
  double lambda;  /* the penalty used: ridge * trace / dim */
  int64_t n;      /* rows fitted */
} vfr_depth_head;

/* Solves for the head (Cholesky); fewer than 2 rows, or a system that is not positive
 * definite (ridge 0 with collinear features), is VFR_EINVAL. */
VFR_API int vfr_depth_fit_solve(const vfr_depth_fit *fit, double ridge, vfr_depth_head *head,
                        vfr_error *err);
/* out (n) = w . x_i + b for x (n, dim). */
VFR_API int vfr_depth_head_predict(const vfr_depth_head *head, const float *x, int64_t n, double *out,
                           vfr_error *err);
VFR_API void vfr_depth_head_free(vfr_depth_head *head);

/* ---- metrics ------------------------------------------------------------------------ */

/* Over the valid pixels of one image: truth > 0, min_depth <= truth <= max_depth (a bound
 * <= 0 is not applied) and inside the evaluation mask when one is given. */
typedef struct vfr_depth_metrics {
  double rmse;    /* sqrt(mean (p - t)^2) */
  double mse;     /* mean (p - t)^2 */
  double abs_rel; /* mean |p - t| / t */
  double log10;   /* mean |log10 p - log10 t| */
  double delta1, delta2, delta3; /* share with max(p/t, t/p) < 1.25, 1.25^2, 1.25^3 */
  int64_t n;      /* valid pixels */
} vfr_depth_metrics;

/* pred and truth (n) in metres; mask (n) may be NULL (1: evaluate). pred must be > 0 where
 * evaluated. No valid pixel: n = 0 and every metric NaN (not an error). */
VFR_API int vfr_depth_metrics_compute(const float *pred, const float *truth, const uint8_t *mask,
                              int64_t n, double min_depth, double max_depth,
                              vfr_depth_metrics *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
