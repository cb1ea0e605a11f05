/* Dense features for the depth head and the geometry of its target (depth_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downstream/depth_internal.h"
#include "model/preprocess.h"
#include "vfrobust/tokens.h"

/* The error for `asked` layers when the model's dense features have `max`. */
static int layers_error(const char *dir, int asked, int max, int resnet, vfr_error *err) {
  if (resnet)
    return vfr_fail(err, VFR_EINVAL, "%s: %d layers asked for the depth features; a ResNet's dense features are its "
                    "last stage's feature map alone (1 layer)", dir, asked);
  return vfr_fail(err, VFR_EINVAL, "%s: %d layers asked for the depth features, the model has %d", dir, asked, max);
}

int ds_features_check(const vfr_downstream_params *p, vfr_error *err) {
  vfr_model_config cfg;
  int rc = vfr_model_config_read(p->study.model_dir, &cfg, err);
  if (rc) return rc;
  const int resnet = cfg.vision.family == VFR_FAMILY_OPEN_CLIP_RESNET, max = resnet ? 1 : cfg.vision.num_layers;
  return p->depth.layers > max ? layers_error(p->study.model_dir, p->depth.layers, max, resnet, err) : VFR_OK;
}

int ds_features_open(ds_features *fx, const vfr_downstream_params *p, vfr_error *err) {
  memset(fx, 0, sizeof *fx);
  vfr_model_params mp = vfr_model_default_params();
  if (p->study.threads > 0) mp.threads = p->study.threads;
  mp.precision = (vfr_precision)p->study.precision;
  int rc = vfr_model_load(p->study.model_dir, &mp, &fx->model, err);
  if (rc) return rc;
  vfr_model_get_info(fx->model, &fx->info);
  vfr_model_config cfg;
  if ((rc = vfr_model_config_read(p->study.model_dir, &cfg, err)) ||
      (rc = vfr_preprocess_config_read(p->study.model_dir, cfg.vision.family, &fx->pre, err))) {
    ds_features_close(fx);
    return rc;
  }
  vfr_model_get_token_info(fx->model, &fx->ti);
  if (p->depth.layers > fx->ti.max_layers) {
    const int max = fx->ti.max_layers, resnet = cfg.vision.family == VFR_FAMILY_OPEN_CLIP_RESNET;
    ds_features_close(fx);
    return layers_error(p->study.model_dir, p->depth.layers, max, resnet, err);
  }
  fx->layers = p->depth.layers;
  fx->up = p->depth.upsample;
  fx->H = fx->info.input_height;
  fx->W = fx->info.input_width;
  fx->gh = fx->ti.grid_h;
  fx->gw = fx->ti.grid_w;
  fx->fh = fx->up * fx->gh;
  fx->fw = fx->up * fx->gw;
  fx->pixels = (int64_t)fx->fh * fx->fw;
  fx->crop_pixels = (int64_t)fx->H * fx->W;
  fx->dim = 2 * fx->layers * fx->ti.dim;
  fx->tokens = malloc(sizeof(float) * (size_t)fx->ti.num_tokens * fx->layers * fx->ti.dim);
  fx->grid = malloc(sizeof(float) * (size_t)fx->pixels * fx->dim);
  fx->pred_grid = malloc(sizeof(double) * (size_t)fx->pixels);
  fx->input = malloc(sizeof(float) * 3 * (size_t)fx->crop_pixels);
  if (!fx->tokens || !fx->grid || !fx->pred_grid || !fx->input) {
    ds_features_close(fx);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the depth features", p->study.model_dir);
  }
  return VFR_OK;
}

void ds_features_close(ds_features *fx) {
  vfr_model_free(fx->model);
  free(fx->tokens);
  free(fx->grid);
  free(fx->pred_grid);
  free(fx->input);
  memset(fx, 0, sizeof *fx);
}

/* PyTorch's bilinear source coordinate (align_corners=False): (o + 0.5) / s - 0.5, negative
 * clamped to 0; i0, i1 the two neighbours and w the weight of i1. */
static void source_coord(int o, double scale, int n, int *i0, int *i1, double *w) {
  double s = (o + 0.5) / scale - 0.5;
  if (s < 0) s = 0;
  *i0 = (int)s;
  if (*i0 > n - 1) *i0 = n - 1;
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  *w = s - *i0;
}

int ds_features_compute(ds_features *fx, const vfr_image *img, const char *name, vfr_error *err) {
  int rc = vfr_model_preprocess(fx->model, img, name, fx->input, err);
  if (!rc) rc = vfr_model_tokens_pixels(fx->model, fx->input, 1, fx->layers, 1, fx->tokens, err);
  if (rc) return rc;
  const int D = fx->ti.dim, LD = fx->layers * D, first = fx->ti.prefix;
  const float *cls = fx->tokens; /* token 0 (CLS; a ResNet's mean feature): (layers * D) */
  for (int y = 0; y < fx->fh; y++) {
    int y0, y1;
    double wy;
    source_coord(y, fx->up, fx->gh, &y0, &y1, &wy);
    for (int x = 0; x < fx->fw; x++) {
      int x0, x1;
      double wx;
      source_coord(x, fx->up, fx->gw, &x0, &x1, &wx);
      const float *a = fx->tokens + (size_t)(first + y0 * fx->gw + x0) * LD;
      const float *b = fx->tokens + (size_t)(first + y0 * fx->gw + x1) * LD;
      const float *c = fx->tokens + (size_t)(first + y1 * fx->gw + x0) * LD;
      const float *d = fx->tokens + (size_t)(first + y1 * fx->gw + x1) * LD;
      float *o = fx->grid + ((size_t)y * fx->fw + x) * fx->dim;
      for (int l = 0; l < fx->layers; l++) {
        float *ol = o + (size_t)l * 2 * D;
        for (int k = l * D; k < (l + 1) * D; k++)
          ol[k - l * D] = (float)((1 - wy) * ((1 - wx) * a[k] + wx * b[k]) + wy * ((1 - wx) * c[k] + wx * d[k]));
        memcpy(ol + D, cls + (size_t)l * D, sizeof(float) * (size_t)D);
      }
    }
  }
  return VFR_OK;
}

/* Maps crop pixel (x, y) to its source pixel in the loaded image, or -1 (padding). */
typedef struct geometry {
  int w, h;         /* loaded image (= depth map) */
  int rw, rh;       /* after the resize */
  int off_x, off_y; /* crop offsets into the resized image */
} geometry;

static int make_geometry(const ds_features *fx, const vfr_depth_map *truth, const vfr_image *img, geometry *g,
                         vfr_error *err) {
  if (truth->width != img->width || truth->height != img->height)
    return vfr_fail(err, VFR_EFORMAT, "depth map %dx%d does not match the image's %dx%d", truth->width, truth->height,
                    img->width, img->height);
  g->w = img->width;
  g->h = img->height;
  g->rw = g->w;
  g->rh = g->h;
  if (fx->pre.do_resize) preprocess_resize_size(g->w, g->h, fx->pre.shortest_edge, &g->rw, &g->rh);
  g->off_y = g->rh >= fx->H ? (g->rh - fx->H) / 2 : -((fx->H - g->rh + 1) / 2);
  g->off_x = g->rw >= fx->W ? (g->rw - fx->W) / 2 : -((fx->W - g->rw + 1) / 2);
  return VFR_OK;
}

/* Depth at crop coordinates (cx, cy) (real, pixel centres at +0.5), nearest; 0 if invalid. */
static float depth_at(const geometry *g, const vfr_depth_map *truth, const vfr_depth_options *o, double cx, double cy) {
  double rx = cx + g->off_x, ry = cy + g->off_y; /* in the resized image */
  if (rx < 0 || ry < 0 || rx >= g->rw || ry >= g->rh) return 0;
  int sx = (int)floor(rx * g->w / g->rw), sy = (int)floor(ry * g->h / g->rh);
  if (sx >= g->w) sx = g->w - 1;
  if (sy >= g->h) sy = g->h - 1;
  if (o->eigen_crop) {
    int y0 = (int)lround(45.0 * g->h / 480), y1 = (int)lround(471.0 * g->h / 480);
    int x0 = (int)lround(41.0 * g->w / 640), x1 = (int)lround(601.0 * g->w / 640);
    if (sy < y0 || sy >= y1 || sx < x0 || sx >= x1) return 0;
  }
  float t = truth->depth[(size_t)sy * g->w + sx];
  if (!(t > 0) || t < o->min_depth || t > o->max_depth) return 0;
  return t;
}

int ds_target_crop(const ds_features *fx, const vfr_depth_map *truth, const vfr_image *img, const vfr_depth_options *o,
                   float *crop, vfr_error *err) {
  geometry g;
  int rc = make_geometry(fx, truth, img, &g, err);
  if (rc) return rc;
  for (int y = 0; y < fx->H; y++)
    for (int x = 0; x < fx->W; x++) crop[(size_t)y * fx->W + x] = depth_at(&g, truth, o, x + 0.5, y + 0.5);
  return VFR_OK;
}

int ds_target_grid(const ds_features *fx, const vfr_depth_map *truth, const vfr_image *img, const vfr_depth_options *o,
                   float *target, vfr_error *err) {
  geometry g;
  int rc = make_geometry(fx, truth, img, &g, err);
  if (rc) return rc;
  const double sx = (double)fx->W / fx->fw, sy = (double)fx->H / fx->fh;
  for (int y = 0; y < fx->fh; y++)
    for (int x = 0; x < fx->fw; x++) target[(size_t)y * fx->fw + x] = depth_at(&g, truth, o, (x + 0.5) * sx, (y + 0.5) * sy);
  return VFR_OK;
}

int ds_predict_crop(ds_features *fx, const vfr_depth_head *head, const vfr_depth_options *o, float *pred, vfr_error *err) {
  int rc = vfr_depth_head_predict(head, fx->grid, fx->pixels, fx->pred_grid, err);
  if (rc) return rc;
  const double scale_y = (double)fx->H / fx->fh, scale_x = (double)fx->W / fx->fw;
  for (int y = 0; y < fx->H; y++) {
    int y0, y1;
    double wy;
    source_coord(y, 1.0 / scale_y, fx->fh, &y0, &y1, &wy);
    for (int x = 0; x < fx->W; x++) {
      int x0, x1;
      double wx;
      source_coord(x, 1.0 / scale_x, fx->fw, &x0, &x1, &wx);
      const double *g = fx->pred_grid;
      double v = (1 - wy) * ((1 - wx) * g[(size_t)y0 * fx->fw + x0] + wx * g[(size_t)y0 * fx->fw + x1]) +
                 wy * ((1 - wx) * g[(size_t)y1 * fx->fw + x0] + wx * g[(size_t)y1 * fx->fw + x1]);
      if (!(v >= o->min_depth)) v = o->min_depth; /* NaN too */
      if (v > o->max_depth) v = o->max_depth;
      /* as the 16-bit PNG holds it */
      v = floor(v * o->scale + 0.5) / o->scale;
      pred[(size_t)y * fx->W + x] = (float)v;
    }
  }
  return VFR_OK;
}
