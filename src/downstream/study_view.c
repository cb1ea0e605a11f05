/* A study's ops as the downstream pipelines name and group them (study_view.h). */
#include "downstream/study_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ds_study_view_make(const vfr_study *study, ds_study_view *v, vfr_error *err) {
  memset(v, 0, sizeof *v);
  vfr_study_get_info(study, &v->info);
  const int n = v->info.op_count;
  v->ops = calloc((size_t)n + 1, sizeof *v->ops);
  v->labels = calloc((size_t)n + 1, sizeof *v->labels);
  v->op_id = calloc((size_t)n + 1, sizeof *v->op_id);
  if (!v->ops || !v->labels || !v->op_id) {
    ds_study_view_free(v);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  for (int j = 0; j < n; j++) {
    int rc = vfr_study_get_op(study, j, &v->ops[j], err);
    if (rc) {
      ds_study_view_free(v);
      return rc;
    }
  }
  for (int j = 0; j < n; j++) {
    int repeated = 0;
    v->op_id[j] = j;
    for (int i = 0; i < n; i++) repeated |= i != j && !strcmp(v->ops[i].name, v->ops[j].name);
    for (int i = j - 1; i >= 0; i--)
      if (!strcmp(v->ops[i].name, v->ops[j].name)) v->op_id[j] = v->op_id[i];
    if (repeated) snprintf(v->labels[j], sizeof v->labels[j], "%s:%s", v->ops[j].name, v->ops[j].domain);
    else snprintf(v->labels[j], sizeof v->labels[j], "%s", v->ops[j].name);
  }
  return VFR_OK;
}

void ds_study_view_free(ds_study_view *v) {
  free(v->ops);
  free(v->labels);
  free(v->op_id);
  memset(v, 0, sizeof *v);
}
