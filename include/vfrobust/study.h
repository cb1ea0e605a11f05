/* The study: models x images x ops x levels -> embeddings -> robustness metrics.
 *
 * A study runs in two phases so that it can be split across processes and resumed:
 *   1. vfr_eval_compute: for every image of this shard, load it, perturb it at every level of
 *      every op, embed all variants, and store the embeddings in OUT/work/img-<i>.bin
 *      (one atomic file per image; images already done are skipped when resuming).
 *   2. vfr_eval_merge: read every image's file in dataset order and write per_image.csv,
 *      curves.csv, summary.json and embeddings/ into OUT. The outputs depend only on the
 *      stored embeddings, so a resumed or sharded run writes the same bytes as a single one.
 * See docs/study.md for the file formats. */
#ifndef VFROBUST_STUDY_H
#define VFROBUST_STUDY_H

#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/model.h"
#include "vfrobust/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_progress {
  int done;         /* images finished by this process (including those found done) */
  int total;        /* images of this process's shard */
  int skipped;      /* images that could not be used so far */
  int resumed;      /* images found already done */
  double elapsed_s; /* since the start of this phase */
  double rate;      /* images per second computed in this run */
  double eta_s;     /* estimated seconds left (-1 when unknown) */
  const char *current; /* the image just finished */
  int added;        /* images with no earlier result, computed afresh */
  int changed;      /* images whose earlier result was for another state of the file or
                       other settings (or damaged), computed afresh */
} vfr_progress;

/* The one callback shape of the API (also vfr_classify_progress_fn, vfr_finetune_progress_fn):
 * called with the caller's user pointer and a report that lives for the call only; return 0
 * to go on, non-zero to cancel: the call stops at the next point where its outputs are
 * consistent and returns VFR_ECANCELED (a cancelled study resumes with resume = 1). */
typedef int (*vfr_progress_fn)(void *user, const vfr_progress *p);

typedef struct vfr_eval_params {
  const char *model_dir;        /* Hugging Face folder */
  const char *data;             /* ImageFolder, folder of images, or .csv list */
  const char *ops;              /* LIST: comma-separated SPECs or a preset; default "editing9" */
  int levels;                   /* m levels per domain (default 10) */
  uint64_t seed;                /* for random ops (default 0) */
  const char *out_dir;          /* results folder (created) */
  int resume;                   /* 1: keep finished images of an earlier run with the same settings */
  int batch;                    /* model batch size (default 32) */
  int threads;                  /* 0: all cores */
  int perturb_after_preprocess; /* 1: perturb the model-sized crop instead of the loaded image */
  int limit;                    /* at most this many images (0: all) */
  int per_class;                /* at most this many images per class (0: all) */
  int shard, shards;            /* this process computes images i with i % shards == shard */
  vfr_progress_fn progress;     /* called after every image (may be NULL) */
  void *progress_user;
  vfr_precision precision;      /* default VFR_PRECISION_FP32 */
} vfr_eval_params;

VFR_API vfr_eval_params vfr_eval_default_params(void);

/* Phase 1 for this process's shard. Returns an error only for failures that stop the
 * study (bad settings, unreadable model, unwritable output); an image that cannot be
 * read is recorded as skipped and the study goes on. */
VFR_API int vfr_eval_compute(const vfr_eval_params *params, vfr_error *err);

/* A run's hold on its output folder, from vfr_study_begin to vfr_study_end. */
typedef struct vfr_study_session {
  int lock_fd;  /* the held lock (OUT/.vfrobust.lock), -1 when none */
  int removed;  /* earlier results dropped: images no longer in the study (all without --resume) */
  int ignored_count;
  char **ignored; /* (ignored_count) "NAME: reason" of the data files not used (owned) */
  int cleared;    /* output files of an earlier run removed from OUT */
} vfr_study_session;

/* Before phase 1, once per study (rank 0 of an MPI run): checks the settings, creates OUT,
 * takes its lock (refusing a folder another live run holds, naming it), removes the outputs
 * of any earlier run (per_image.csv, summary.json, embeddings/, figures/, report.html,
 * downstream.json, ...) so that nothing of another study mixes into this one, and removes
 * the results of images no longer in the study (all of them without --resume). */
VFR_API int vfr_study_begin(const vfr_eval_params *params, vfr_study_session *session, vfr_error *err);
/* Releases the lock (after phase 2). */
VFR_API void vfr_study_end(vfr_study_session *session);

/* Phase 2: writes the outputs from OUT/work/ (every image must have been computed). */
VFR_API int vfr_eval_merge(const vfr_eval_params *params, vfr_error *err);


/* ---- reading a finished study ------------------------------------------------------
 *
 * A study folder (after vfr_eval_merge) read back through its published files:
 * summary.json (settings, ops, levels), embeddings/images.csv (which image each row is),
 * embeddings/clean.npy and embeddings/<op>.npy (read row by row, never all at once) and
 * per_image.csv (the DR of every image under every op). Every downstream task reads a
 * study this way.
 *
 *   vfr_study *s;
 *   if (vfr_study_open("out", &s, &err)) ... err.message ...
 *   vfr_study_info info; vfr_study_get_info(s, &info);
 *   float *emb = malloc(sizeof(float) * info.rows * info.dim);
 *   vfr_study_embeddings(s, 0, emb, &err);   // image 0: clean row, then every op's levels
 *   double dr = vfr_study_dr(s, 0, 0);      // image 0 under op 0
 *   vfr_study_close(s);
 *
 * A handle is not safe to use from two threads at once (it owns open files). */

typedef struct vfr_study vfr_study; /* opaque */

typedef struct vfr_study_info {
  int images;        /* N: the used images, rows of embeddings/clean.npy */
  int dim;           /* d: embedding width */
  int op_count;      /* ops of the study */
  int rows;          /* embeddings per image: 1 clean + the levels of every op */
  const char *model; /* the model's name as the study wrote it */
  const char *model_dir, *data; /* the folders the study was run on */
  uint64_t seed;
  int perturb_after_preprocess;
} vfr_study_info;

typedef struct vfr_study_op {
  const char *name;               /* as in the outputs, e.g. "jpeg" or "jpeg:q=30..90" */
  const char *domain;             /* "10..100" */
  int levels;                     /* m */
  const double *values;           /* (m) parameter values */
  const char *const *level_text;  /* (m) each level as the outputs write it */
  int first_row;                  /* its levels are rows first_row .. first_row + m - 1 */
} vfr_study_op;

/* Opens the study written into dir. Missing or inconsistent files are errors naming the
 * file (VFR_EIO unreadable, VFR_EFORMAT malformed or not matching summary.json). */
VFR_API int vfr_study_open(const char *dir, vfr_study **out, vfr_error *err);
VFR_API void vfr_study_close(vfr_study *study);

VFR_API void vfr_study_get_info(const vfr_study *study, vfr_study_info *info);
/* Op j (0 <= j < op_count) into *op; VFR_EINVAL when out of range. Pointers stay valid
 * until vfr_study_close. */
VFR_API int vfr_study_get_op(const vfr_study *study, int j, vfr_study_op *op, vfr_error *err);
/* Image i's name (relative to the data root) and class label ("" when unlabelled);
 * NULL when i is out of range. */
VFR_API const char *vfr_study_image_name(const vfr_study *study, int i);
VFR_API const char *vfr_study_image_label(const vfr_study *study, int i);

/* Image i's embeddings, raw model outputs: out is (rows, dim), row 0 the clean image,
 * rows first_row .. first_row + m - 1 op j's levels. */
VFR_API int vfr_study_embeddings(vfr_study *study, int i, float *out, vfr_error *err);

/* The divergence radius of image i under op j (per_image.csv); NaN when out of range. */
VFR_API double vfr_study_dr(const vfr_study *study, int i, int j);

/* The perturbed variant of row (>= 1) for image i, made as the study made it (same op,
 * level and seed): in is the image as the study perturbed it (the loaded image, or the
 * model-sized crop when perturb_after_preprocess). *out must be empty. */
VFR_API int vfr_study_variant(const vfr_study *study, int i, int row, const vfr_image *in,
                      vfr_image *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
