/* Several studies side by side: models x ops (`vfrobust compare`). */
#ifndef VFROBUST_COMPARE_H
#define VFROBUST_COMPARE_H

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One op of the compared studies (the same in every study). */
typedef struct vfr_compare_op {
  char *op;       /* summary.json per_op[i].op, e.g. "jpeg" */
  char *domain;   /* per_op[i].domain, e.g. "10..100" */
  int n_levels;
  double *levels; /* [n_levels] the levels as summary.json lists them */
} vfr_compare_op;

/* One study (one model). Arrays indexed by op are [n_ops]; NaN where a value is absent. */
typedef struct vfr_compare_model {
  char *dir;             /* the study folder as given */
  char *name;            /* summary.json's model */
  char *label;           /* name, or "name (folder)" when two studies share a model name */
  char *model_dir;       /* summary.json's model_dir ("" when absent) */
  int images;            /* images used */
  int has_downstream;    /* downstream.json was there */
  char *protocol;        /* its protocol ("" without downstream) */
  double clean_accuracy; /* its clean accuracy (NaN without downstream) */
  double *mean_dr;       /* [n_ops] per_op[i].dr.mean */
  double *mean_rcs;      /* [n_ops] per_op[i].r_cs.mean */
  double *accuracy_drop; /* [n_ops] downstream per_op[i].accuracy_drop (a fraction) */
  double *curve;         /* [n_ops * max_levels] curves.csv mean_cos of op i at level k */
} vfr_compare_model;

typedef struct vfr_compare {
  int n_models, n_ops, max_levels;
  vfr_compare_op *ops;
  vfr_compare_model *models;
} vfr_compare;

/* Reads DIR/summary.json, DIR/curves.csv and (when present) DIR/downstream.json of each of the
 * n study folders. The studies must have the same ops, domains and levels in the same order;
 * otherwise a VFR_EINVAL error naming the two folders and the first difference. */
VFR_API int vfr_compare_load(const char *const *dirs, int n, vfr_compare *out, vfr_error *err);
VFR_API void vfr_compare_free(vfr_compare *c);

/* The comparison as Markdown (*out allocated: vfr_free it): a line per model (images, downstream protocol,
 * clean accuracy), then tables with a row per model and a column per op: mean DR, mean R_cs
 * and, when some study has downstream.json, the accuracy drop in percentage points. */
VFR_API int vfr_compare_markdown(const vfr_compare *c, char **out, vfr_error *err);

/* Writes OUT/report.html (the tables, heat maps of mean DR and accuracy drop, each op's
 * robustness curves of all models overlaid, the DR-vs-drop scatter across models),
 * OUT/figures/<name>.svg,
 * OUT/table.md (vfr_compare_markdown) and OUT/compare.json (every value of the tables). */
VFR_API int vfr_compare_write(const vfr_compare *c, const char *out_dir, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
