/* The pieces of the depth pipeline (depth_run.c): dense features and the geometry of the
 * target (depth_features.c), the per-image results and the outputs (depth_output.c). */
#ifndef VFR_DOWNSTREAM_DEPTH_INTERNAL_H
#define VFR_DOWNSTREAM_DEPTH_INTERNAL_H

#include <stdint.h>

#include "model/config.h"
#include "vfrobust/depth.h"
#include "vfrobust/downstream_run.h"
#include "vfrobust/model.h"
#include "vfrobust/study.h"
#include "vfrobust/tokens.h"

/* Files skipped with the reason (depth.json's skipped list). */
typedef struct ds_skips {
  int count, cap;
  char **file, **reason;
} ds_skips;

int ds_skips_add(ds_skips *s, const char *file, const char *reason, vfr_error *err);
void ds_skips_free(ds_skips *s);

/* The model and the buffers of one image's dense features. */
typedef struct ds_features {
  vfr_model *model;
  vfr_model_info info;
  vfr_token_info ti;   /* the dense features' shape */
  vfr_preprocess_config pre;
  int layers, up;
  int gh, gw;          /* token grid (patches; a ResNet's last feature map) */
  int fh, fw;          /* feature grid: up * (gh, gw) */
  int64_t pixels;      /* fh * fw */
  int dim;             /* 2 * layers * D: each layer's patch token, then its CLS token */
  int H, W;            /* the model's input crop */
  int64_t crop_pixels; /* H * W */
  float *tokens;       /* (T, layers * D): prefix tokens, then the grid row by row */
  float *grid;         /* (pixels, dim) */
  double *pred_grid;   /* (pixels) */
  float *input;        /* (3, H, W) */
} ds_features;

/* Before any work: --layers against the model's config (a ResNet has one feature map). */
int ds_features_check(const vfr_downstream_params *p, vfr_error *err);
int ds_features_open(ds_features *fx, const vfr_downstream_params *p, vfr_error *err);
void ds_features_close(ds_features *fx);
/* fx->grid from img: the model's preprocessing, the tokens of the last layers, each patch
 * token beside its image's CLS token, bilinearly upsampled by up (align_corners=False). */
int ds_features_compute(ds_features *fx, const vfr_image *img, const char *name, vfr_error *err);
/* The depth of truth (the size of img) through the model's geometry (resize, centre crop)
 * by nearest neighbour into crop (H, W); pixels without valid depth (outside the Eigen crop
 * when asked, outside min..max depth, or padding) are 0. */
int ds_target_crop(const ds_features *fx, const vfr_depth_map *truth, const vfr_image *img,
                   const vfr_depth_options *o, float *crop, vfr_error *err);
/* The same sampled at the feature grid's pixel centres (nearest): target (pixels). */
int ds_target_grid(const ds_features *fx, const vfr_depth_map *truth, const vfr_image *img,
                   const vfr_depth_options *o, float *target, vfr_error *err);
/* The head on fx->grid, bilinearly resized to the crop, clamped to min..max depth and
 * rounded to the PNG's resolution (1 / scale): pred (H, W) as written. */
int ds_predict_crop(ds_features *fx, const vfr_depth_head *head, const vfr_depth_options *o, float *pred,
                    vfr_error *err);

/* What the evaluation found. */
typedef struct ds_results {
  int used, rows, op_count;
  int *item;                   /* (used) study image index */
  double *dr;                  /* (used, op_count) */
  vfr_depth_metrics *metrics;  /* (used, rows) */
  vfr_depth_metrics *baseline; /* (used) the constant depth on the clean image */
  double baseline_depth;       /* mean valid train depth */
  float *truth, *pred;         /* (crop_pixels) scratch */
  vfr_image strip;             /* depth_strips.png */
  int *strip_col;              /* (rows) column of a row in the strips, -1 when not shown */
  int strip_cols;
} ds_results;

int ds_results_init(ds_results *r, int images, int rows, int op_count, vfr_error *err);
void ds_results_free(ds_results *r);

/* depth_strips.png: per shown image, truth, then input and prediction of the clean image
 * and of every op's strongest level. */
int ds_strip_begin(ds_results *r, const ds_features *fx, int images, const vfr_study *study, vfr_error *err);
int ds_strip_add(ds_results *r, const ds_features *fx, int u, int row, const vfr_image *input, const float *truth,
                 const float *pred, vfr_error *err);
int ds_strip_truth(ds_results *r, const ds_features *fx, int u, const float *truth, vfr_error *err);

/* OUT/depth_predictions/<image>/<row>.png (16-bit, value = depth x scale); with row 0 also
 * truth.png, the target as evaluated. */
int ds_prediction_path(const vfr_study *study, int image, int row, char *out, size_t size);
int ds_write_prediction(const vfr_downstream_params *p, const ds_features *fx, const vfr_study *study, int image,
                        int row, const float *pred, const float *truth, vfr_error *err);

/* depth.json, depth_per_image.csv, depth_strips.png; fills the summary. */
int ds_depth_write(const vfr_downstream_params *p, const vfr_study *study, const ds_features *fx,
                   const vfr_depth_head *head, const ds_results *r, const ds_skips *skips, int train_used,
                   vfr_downstream_summary *summary, vfr_error *err);

#endif
