/* downstream.json: the accuracies and regressions of one downstream run (SPEC section 8). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/files.h"
#include "core/json_text.h"
#include "vfrobust/downstream.h"

/* A JSON number, or null when x is not finite (JSON has no NaN). */
static json_t *number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *string_or_empty(const char *s) { return vfr_json_text(s ? s : ""); }

/* Adds key: value. Jansson's *_new setters take the reference to value even when they fail,
 * so every put consumes value; returns 0 on failure (value NULL or no memory). */
static int put(json_t *obj, const char *key, json_t *value) {
  return value && json_object_set_new(obj, key, value) == 0;
}

static int append(json_t *array, json_t *value) {
  return value && json_array_append_new(array, value) == 0;
}

/* Returns obj, or NULL (freeing obj) when building it failed. */
static json_t *built(json_t *obj, int ok) {
  if (ok) return obj;
  json_decref(obj);
  return NULL;
}

static json_t *fit_object(const vfr_linear_fit *f) {
  json_t *o = json_object();
  int ok = o && put(o, "slope", number(f->slope)) && put(o, "intercept", number(f->intercept)) &&
           put(o, "r2", number(f->r2)) && put(o, "pearson_r", number(f->pearson_r)) &&
           put(o, "n", json_integer(f->n));
  return built(o, ok);
}

static json_t *bin_object(const vfr_dr_bin *b) {
  json_t *o = json_object();
  int ok = o && put(o, "dr_min", number(b->dr_min)) && put(o, "dr_max", number(b->dr_max)) &&
           put(o, "mean_dr", number(b->mean_dr)) && put(o, "accuracy", number(b->accuracy)) &&
           put(o, "n", json_integer(b->count));
  return built(o, ok);
}

/* The binned fit's numbers at the top level (what SPEC's per_image names), its bins, and the
 * fit over raw per-image pairs under "raw". */
static json_t *per_image_object(const vfr_per_image_regression *r) {
  if (!r) return json_null();
  json_t *o = fit_object(&r->binned), *bins = json_array();
  int ok = o && bins;
  for (int j = 0; ok && j < r->bin_count; j++) ok = append(bins, bin_object(&r->bins[j]));
  if (!ok) json_decref(bins);
  ok = ok && put(o, "n_bins", json_integer(r->bin_count)) && put(o, "bins", bins) &&
       put(o, "raw", fit_object(&r->raw));
  return built(o, ok);
}

static json_t *across_ops_object(const vfr_across_ops_regression *r) {
  if (!r) return json_null();
  json_t *o = fit_object(&r->fit);
  int ok = o && put(o, "leave_one_op_out_mae", number(r->loo_mae)) &&
           put(o, "leave_one_op_out_predictions", json_integer(r->loo_predictions)) &&
           put(o, "leave_one_op_out_skipped_ops", json_integer(r->loo_skipped_ops));
  return built(o, ok);
}

static json_t *level_object(const vfr_level_accuracy *l) {
  json_t *o = json_object();
  int ok = o && put(o, "op", string_or_empty(l->op)) && put(o, "level", number(l->level)) &&
           put(o, "accuracy", number(l->accuracy)) && put(o, "n", json_integer(l->n));
  return built(o, ok);
}

static json_t *op_object(const vfr_op_drop *d) {
  json_t *o = json_object();
  int ok = o && put(o, "op", string_or_empty(d->op)) && put(o, "domain", string_or_empty(d->domain)) &&
           put(o, "mean_dr", number(d->mean_dr)) && put(o, "accuracy_drop", number(d->accuracy_drop));
  return built(o, ok);
}

static json_t *report_object(const vfr_downstream_report *r) {
  json_t *root = json_object(), *levels = json_array(), *ops = json_array(), *reg = json_object();
  int ok = root && levels && ops && reg;
  for (int i = 0; ok && i < r->per_level_count; i++) ok = append(levels, level_object(&r->per_level[i]));
  for (int i = 0; ok && i < r->per_op_count; i++) ok = append(ops, op_object(&r->per_op[i]));
  ok = ok && put(reg, "per_image", per_image_object(r->per_image)) &&
       put(reg, "across_ops", across_ops_object(r->across_ops));
  if (!ok) { /* nothing handed to root yet */
    json_decref(levels);
    json_decref(ops);
    json_decref(reg);
    return built(root, 0);
  }
  ok = put(root, "protocol", string_or_empty(r->protocol)) &&
       put(root, "clean_accuracy", number(r->clean_accuracy));
  // from here each container is consumed by its put, whether or not the one before worked
  ok = put(root, "per_level", levels) && ok;
  ok = put(root, "per_op", ops) && ok;
  ok = put(root, "regression", reg) && ok;
  return built(root, ok);
}

int vfr_downstream_report_write_json(const char *path, const vfr_downstream_report *report,
                                     vfr_error *err) {
  if (!path || !report) return vfr_fail(err, VFR_EINVAL, "downstream report: missing path or report");
  if (report->per_level_count < 0 || report->per_op_count < 0 ||
      (report->per_level_count > 0 && !report->per_level) || (report->per_op_count > 0 && !report->per_op))
    return vfr_fail(err, VFR_EINVAL, "%s: per_level or per_op array missing", path);
  json_t *root = report_object(report);
  if (!root) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory building the report", path);
  int rc = vfr_atomic_write_json(path, root, JSON_INDENT(2) | JSON_REAL_PRECISION(17), err);
  json_decref(root);
  return rc;
}
