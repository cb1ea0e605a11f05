/* The plan of a study: which ops, which levels, which rows of an image's embeddings. */
#ifndef VFR_STUDY_PLAN_H
#define VFR_STUDY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/study.h"

#define STUDY_MAX_LEVELS 1024
#define STUDY_MAX_OPS 256          /* the contact sheet's limits (vfr_contact_sheet) */
#define STUDY_SHEET_MAX_LEVELS 64

typedef struct study_op {
  char name[256];    /* as in the outputs: the spec text, e.g. "jpeg" or "jpeg:q=30..90" */
  char domain[128];  /* "10..100" */
  int m;             /* number of levels */
  double *levels;    /* (m) parameter values */
  char **level_text; /* (m) each level as the output writes it, e.g. "33" or "0.25" */
  int *identity;     /* (m) 1 where the level is the op's identity (not recomputed) */
  int first_row;     /* this op's levels are rows first_row .. first_row+m-1 (row 0 is clean) */
  void *spec;        /* the parsed op (perturb module's type) */
} study_op;

typedef struct study_plan {
  int op_count;
  study_op *ops;     /* (op_count) */
  int rows;          /* 1 + sum of m over ops */
  uint64_t fingerprint; /* of the ops and levels */
} study_plan;

int study_plan_make(const char *ops_list, int levels, study_plan *out, vfr_error *err);
void study_plan_free(study_plan *plan);

/* Applies row `row` (>= 1) of the plan to `in` for the image with stable name `image_name`. */
struct vfr_image;
int study_plan_apply(const study_plan *plan, int row, const struct vfr_image *in,
                     const char *image_name, uint64_t seed, struct vfr_image *out, vfr_error *err);

/* The file-name stem of op j's embeddings (embeddings/<stem>.npy): its name, or name_domain
 * when the plan has the op on several domains, with characters other than [A-Za-z0-9.-=+_]
 * as '_'; "clean" and "images" get "_op" appended. size >= STUDY_STEM_MAX. */
#define STUDY_STEM_MAX 400
void study_op_file_stem(const study_plan *plan, int j, char *out, size_t size);

/* The settings that make two runs' per-image files interchangeable. */
uint64_t study_fingerprint(const vfr_eval_params *p, const study_plan *plan, const char *model_id);

#endif
