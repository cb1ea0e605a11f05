/* What both phases of a study need: the plan, the dataset, the names and the fingerprint. */
#ifndef VFR_STUDY_INTERNAL_H
#define VFR_STUDY_INTERNAL_H

#include <stdint.h>

#include "study/plan.h"
#include "vfrobust/dataset.h"
#include "vfrobust/study.h"

typedef struct study_context {
  study_plan plan;
  vfr_dataset dataset;     /* the whole (limited) dataset, not sharded */
  char model_name[256];    /* the model folder's last path component, or the name given */
  char work_dir[4096];     /* OUT/work */
  char **op_file_names;    /* (plan.op_count) file-name stems for embeddings/<stem>.npy */
  uint64_t fingerprint;    /* of every setting that changes the per-image files */
} study_context;

/* Validates the parameters, creates OUT and OUT/work, lists the dataset, makes the plan. */
int study_context_open(const vfr_eval_params *p, study_context *ctx, vfr_error *err);
/* The same for a study of embeddings made elsewhere (vfr_score): the model is a name only,
 * with no folder (p->model_dir is not read and may be NULL); the fingerprint chains the name
 * instead of the folder's files, so nothing in the current directory changes it. */
int study_context_open_named(const vfr_eval_params *p, const char *model_name, study_context *ctx,
                             vfr_error *err);

/* Phase 2 (vfr_eval_merge) of such a study: summary.json's model_dir is null. */
int study_merge_named(const vfr_eval_params *p, const char *model_name, vfr_error *err);
void study_context_close(study_context *ctx);
/* Chains into h the bytes of DIR/config.json (or open_clip_config.json) and the size and
 * modification time of DIR/model.safetensors (or open_clip_model.safetensors): results
 * computed with another model never pass as current. */
uint64_t study_model_fingerprint(uint64_t h, const char *model_dir);

/* The seed of one perturbed variant: depends on the study seed, the image's name and the
 * row, never on sharding or batching. */
uint64_t study_variant_seed(uint64_t seed, const char *image_name, int row);

#endif
