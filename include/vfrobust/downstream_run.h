/* `vfrobust downstream`: classification accuracy of a model on clean and perturbed test
 * images (zero-shot, linear probe or k-NN), and whether robustness predicts the damage.
 *
 *   vfr_downstream_params p = vfr_downstream_default_params();
 *   p.study.model_dir = "clip-vit-base-patch16";
 *   p.study.data = "cifar10/test";        // the test set: a study (include/vfrobust/study.h)
 *   p.study.out_dir = "out";
 *   p.train_dir = "cifar10/train";
 *   p.protocol = VFR_PROTOCOL_KNN;
 *   if (vfr_downstream_check(&p, &err)) ...   // cheap: bad settings before any work
 *   vfr_downstream_summary s;
 *   if (vfr_downstream_run(&p, &s, &err)) ... err.message ...
 *
 * The run is a study of the test set (vfr_eval_compute + vfr_eval_merge: per_image.csv,
 * embeddings/, ...), then a classifier applied to every clean and perturbed test embedding,
 * then OUT/downstream.json and OUT/predictions.csv. docs/downstream.md defines every number. */
#ifndef VFROBUST_DOWNSTREAM_RUN_H
#define VFROBUST_DOWNSTREAM_RUN_H

#include "vfrobust/downstream.h"
#include "vfrobust/error.h"
#include "vfrobust/study.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vfr_protocol {
  VFR_PROTOCOL_LINEAR = 0,  /* logistic regression on the clean train embeddings */
  VFR_PROTOCOL_KNN = 1,     /* DINO-style weighted k-NN on the clean train embeddings */
  VFR_PROTOCOL_ZEROSHOT = 2, /* CLIP only: cosine to the text embeddings of class prompts */
  VFR_PROTOCOL_DEPTH = 3     /* depth estimation: a linear head on the clean train images'
                                dense features (docs/depth.md) */
} vfr_protocol;

/* The depth protocol's settings. The train and test sets are RGB-D sets (vfr_depth_set_open
 * in vfrobust/depth.h): train_dir and study.data. */
typedef struct vfr_depth_options {
  double scale;      /* depth PNG value per metre, for reading and for the written
                        predictions (default 1000: millimetres) */
  double min_depth;  /* valid truth >= this; predictions are clamped up to it (default 1e-3) */
  double max_depth;  /* valid truth <= this; predictions are clamped down to it (default 10) */
  int eigen_crop;    /* 1: evaluate inside Eigen's NYU crop only (rows 45..470, columns
                        41..600 of 480 x 640, scaled to the map's size) (default 0) */
  int layers;        /* the last blocks whose tokens are features (default 1) */
  double ridge;      /* the head's ridge, relative to the mean feature variance (default 0.1) */
  int upsample;      /* bilinear upsampling of the patch grid (default 4) */
  int strips;        /* test images shown in depth_strips.png (default 4) */
} vfr_depth_options;

/* "linear", "knn", "zeroshot" or "depth"; NULL for anything else. */
VFR_API const char *vfr_protocol_name(vfr_protocol protocol);
/* Parses a protocol name; VFR_EINVAL naming it when unknown. */
VFR_API int vfr_protocol_parse(const char *name, vfr_protocol *out, vfr_error *err);

typedef struct vfr_downstream_params {
  vfr_eval_params study;      /* the test set's study: model_dir, data (= the test set), ops,
                                 levels, seed, out_dir, resume, batch, threads, limit, per_class,
                                 progress; shard/shards must stay 0/1 */
  const char *train_dir;      /* labelled train set (ImageFolder or CSV); unused by zeroshot */
  int train_per_class;        /* at most this many train images per class (0: all) */
  vfr_protocol protocol;      /* default VFR_PROTOCOL_LINEAR */
  const char *templates_file; /* zeroshot: one prompt template per line, each with one "{}";
                                 NULL: "a photo of a {}."; "openai80" or "simple": CLIP's
                                 80 ImageNet templates or OpenCLIP's 7 (built in) */
  const char *classes;        /* zeroshot: NULL: the class folder names are the class text;
                                 "imagenet": folders are ImageNet synsets (n01440764),
                                 prompted with CLIP's class names (built in) */
  vfr_linear_probe_params probe; /* linear: vfr_linear_probe_default_params() */
  vfr_knn_params knn;            /* knn: vfr_knn_default_params() (k 20, T 0.07) */
  int bins;                   /* bins of the per-image regression (default 10) */
  vfr_progress_fn train_progress; /* called after each batch of train images (may be NULL) */
  void *train_progress_user;
  vfr_depth_options depth;    /* depth: vfr_downstream_default_params() fills the defaults */
} vfr_downstream_params;

VFR_API vfr_downstream_params vfr_downstream_default_params(void);

/* What a run found, for the caller to show (the files hold everything). */
typedef struct vfr_downstream_summary {
  double clean_accuracy; /* on the used test images */
  int test_used;         /* test images classified (the study skips unreadable ones) */
  int train_used;        /* train images embedded (0 for zeroshot) */
  int train_skipped;     /* train images that could not be read or embedded */
  int train_resumed;     /* 1 when OUT/train_embeddings.npy was reused */
  int class_count;       /* classes the classifier chooses from */
  double clean_rmse;     /* depth: mean per-image RMSE of the clean test images */
  double baseline_rmse;  /* depth: the same for the constant depth (mean train depth) */
  int skipped_depth;     /* depth: pairs whose depth PNG could not be used (listed in depth.json) */
} vfr_downstream_summary;

/* Checks the settings without doing the work: required fields, the protocol, and for
 * zeroshot that model_dir holds a CLIP model with its text tower and that the templates
 * file reads and has "{}" on every line. Bad settings are VFR_EINVAL; an unreadable model
 * config or templates file is VFR_EIO / VFR_EFORMAT. */
VFR_API int vfr_downstream_check(const vfr_downstream_params *params, vfr_error *err);

/* The whole run (see the top of this file). Writes into study.out_dir, besides the study's
 * outputs: train_embeddings.npy (float32 [n_train, d], raw) with train_images.csv
 * (row,image,label) — reused on resume when the model, train set and limits are unchanged —
 * downstream.json and predictions.csv (image,op,level,label,predicted; op "clean" with an
 * empty level for the clean images). The depth protocol writes depth.json,
 * depth_per_image.csv, depth_predictions/ and depth_strips.png instead (docs/depth.md).
 * The HTML report is the caller's (vfr_report_build). */
VFR_API int vfr_downstream_run(const vfr_downstream_params *params, vfr_downstream_summary *summary,
                       vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
