/* What every downstream pipeline needs of a study besides its embeddings: its ops, how the
 * outputs name them, and which ops the leave-one-op-out error leaves out together. */
#ifndef VFR_DOWNSTREAM_STUDY_VIEW_H
#define VFR_DOWNSTREAM_STUDY_VIEW_H

#include "vfrobust/study.h"

/* How per_level and predictions name a study op: its name ("jpeg"), or when the study
 * has the op on several domains, name:domain ("jpeg:10..50", a SPEC) so that no two
 * (op, level) rows collide. */
typedef char ds_op_label[512];

typedef struct ds_study_view {
  vfr_study_info info;
  vfr_study_op *ops;   /* (info.op_count) */
  ds_op_label *labels; /* (info.op_count) */
  int *op_id;          /* (info.op_count) equal for the same op on several domains */
} ds_study_view;

int ds_study_view_make(const vfr_study *study, ds_study_view *v, vfr_error *err);
void ds_study_view_free(ds_study_view *v);

#endif
