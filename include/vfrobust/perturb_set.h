/* Bring your own embeddings: a study of a model vfrobust does not run itself.
 *
 *   1. vfr_perturb_set writes every variant a study would embed (each image clean and at
 *      every level of every op, the same pixels and seeds as `eval`) as lossless PNG files,
 *      with OUT/manifest.csv listing them and OUT/perturb_set.json the settings.
 *   2. Any model embeds the manifest's files in row order into one float32 [rows, d] .npy.
 *   3. vfr_score turns those embeddings into the study outputs `eval` writes (per_image.csv,
 *      curves.csv, summary.json, embeddings/, samples.png) with the same writers, so that
 *      `report`, `downstream` and `compare` read them as any study.
 *
 * manifest.csv: header `image,op,level,file`; for every used image, in dataset order, one
 * row `NAME,clean,,FILE` then one row per plan row (op by op, level by level) with the op's
 * name as `eval` writes it and the level as curves.csv writes it. FILE is relative to the
 * manifest's folder. Levels that are the op's identity name the clean file (the study uses
 * the clean embedding there). Images that cannot be read or perturbed are left out and
 * listed in perturb_set.json with the reason. See docs/python.md. */
#ifndef VFROBUST_PERTURB_SET_H
#define VFROBUST_PERTURB_SET_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_perturb_set_params {
  const char *data;    /* ImageFolder, folder of images, or .csv list (vfr_dataset_open) */
  const char *ops;     /* LIST; default "editing9" */
  int levels;          /* m levels per domain (default 10) */
  uint64_t seed;       /* for random ops (default 0); the variants' seeds are eval's */
  int limit;           /* at most this many images (0: all) */
  int per_class;       /* at most this many per class (0: all) */
  const char *out_dir; /* created; manifest.csv, perturb_set.json and the PNG files */
  int threads;         /* 0: OpenMP's default */
} vfr_perturb_set_params;

VFR_API vfr_perturb_set_params vfr_perturb_set_default_params(void);

/* Writes the variants; *n_rows (may be NULL) receives the manifest's row count. */
VFR_API int vfr_perturb_set(const vfr_perturb_set_params *params, int64_t *n_rows, vfr_error *err);

typedef struct vfr_score_params {
  const char *manifest;   /* manifest.csv written by vfr_perturb_set (perturb_set.json beside it) */
  const char *embeddings; /* float32 .npy [rows of the manifest, d], row-aligned with it */
  const char *model_name; /* the `model` column and summary.json's model; default: the
                             embeddings file's name without .npy */
  const char *out_dir;    /* the study folder (created) */
} vfr_score_params;

VFR_API vfr_score_params vfr_score_default_params(void);

/* Writes the study outputs (not report.html: vfr_report_build does that). The manifest
 * must be the one perturb_set.json describes (same images, ops and levels, in order). */
VFR_API int vfr_score(const vfr_score_params *params, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
