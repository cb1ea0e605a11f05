/* The depth pipeline's results and outputs: depth.json, depth_per_image.csv, the 16-bit
 * predictions and depth_strips.png (docs/depth.md). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/files.h"
#include "downstream/depth_internal.h"
#include "downstream/study_view.h"
#include "vfrobust/downstream.h"

int ds_skips_add(ds_skips *s, const char *file, const char *reason, vfr_error *err) {
  if (s->count == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    char **f = realloc(s->file, sizeof *f * (size_t)cap);
    if (f) s->file = f;
    char **r = f ? realloc(s->reason, sizeof *r * (size_t)cap) : NULL;
    if (r) s->reason = r;
    if (!f || !r) return vfr_fail(err, VFR_ENOMEM, "out of memory");
    s->cap = cap;
  }
  s->file[s->count] = strdup(file);
  s->reason[s->count] = strdup(reason);
  if (!s->file[s->count] || !s->reason[s->count]) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  s->count++;
  return VFR_OK;
}

void ds_skips_free(ds_skips *s) {
  for (int i = 0; i < s->count; i++) {
    free(s->file[i]);
    free(s->reason[i]);
  }
  free(s->file);
  free(s->reason);
  memset(s, 0, sizeof *s);
}

int ds_results_init(ds_results *r, int images, int rows, int op_count, vfr_error *err) {
  r->used = 0;
  r->rows = rows;
  r->op_count = op_count;
  r->item = malloc(sizeof(int) * ((size_t)images + 1));
  r->dr = malloc(sizeof(double) * ((size_t)images * op_count + 1));
  r->metrics = calloc((size_t)images * rows + 1, sizeof *r->metrics);
  r->baseline = calloc((size_t)images + 1, sizeof *r->baseline);
  if (!r->item || !r->dr || !r->metrics || !r->baseline) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  return VFR_OK;
}

void ds_results_free(ds_results *r) {
  free(r->item);
  free(r->dr);
  free(r->metrics);
  free(r->baseline);
  free(r->truth);
  free(r->pred);
  free(r->strip_col);
  vfr_image_free(&r->strip);
  memset(r, 0, sizeof *r);
}

/* ---- strips ---------------------------------------------------------------------------- */

int ds_strip_begin(ds_results *r, const ds_features *fx, int images, const vfr_study *study, vfr_error *err) {
  vfr_study_info info;
  vfr_study_get_info(study, &info);
  r->truth = malloc(sizeof(float) * (size_t)fx->crop_pixels);
  r->pred = malloc(sizeof(float) * (size_t)fx->crop_pixels);
  r->strip_col = malloc(sizeof(int) * (size_t)info.rows);
  if (!r->truth || !r->pred || !r->strip_col) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  for (int k = 0; k < info.rows; k++) r->strip_col[k] = -1;
  r->strip_col[0] = 0;
  r->strip_cols = 1;
  for (int j = 0; j < info.op_count; j++) {
    vfr_study_op op;
    int rc = vfr_study_get_op(study, j, &op, err);
    if (rc) return rc;
    r->strip_col[op.first_row + op.levels - 1] = r->strip_cols++;
  }
  if (images < 1) return VFR_OK;
  if (images > info.images) images = info.images;
  /* columns: truth, then (input, prediction) per shown row */
  int rc = vfr_image_alloc(&r->strip, fx->W * (1 + 2 * r->strip_cols), fx->H * images, 3, err);
  if (!rc) memset(r->strip.data, 255, (size_t)r->strip.stride * r->strip.height);
  return rc;
}

/* A depth as a colour: near is yellow, far is dark blue (viridis-like ramp); 0 is grey. */
static void depth_colour(double t, double lo, double hi, uint8_t *o) {
  static const double ramp[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!(t > 0)) {
    o[0] = o[1] = o[2] = 128;
    return;
  }
  double s = hi > lo ? (hi - t) / (hi - lo) : 0.5; /* near = 1 */
  s = s < 0 ? 0 : s > 1 ? 1 : s;
  double f = s * 4;
  int i = (int)f < 4 ? (int)f : 3;
  double w = f - i;
  for (int c = 0; c < 3; c++) o[c] = (uint8_t)lround((1 - w) * ramp[i][c] + w * ramp[i + 1][c]);
}

static void truth_range(const float *truth, int64_t n, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = 0;
  for (int64_t k = 0; k < n; k++)
    if (truth[k] > 0) {
      if (truth[k] < *lo) *lo = truth[k];
      if (truth[k] > *hi) *hi = truth[k];
    }
  if (!(*hi > 0)) *lo = *hi = 1;
}

static void paint_depth(ds_results *r, const ds_features *fx, int u, int col, const float *depth, const float *truth) {
  double lo, hi;
  truth_range(truth, fx->crop_pixels, &lo, &hi);
  for (int y = 0; y < fx->H; y++)
    for (int x = 0; x < fx->W; x++)
      depth_colour(depth[(size_t)y * fx->W + x], lo, hi,
                   r->strip.data + (size_t)(u * fx->H + y) * r->strip.stride + (size_t)(col * fx->W + x) * 3);
}

int ds_strip_truth(ds_results *r, const ds_features *fx, int u, const float *truth, vfr_error *err) {
  (void)err;
  if (!r->strip.data || u * fx->H >= r->strip.height) return VFR_OK;
  paint_depth(r, fx, u, 0, truth, truth);
  return VFR_OK;
}

int ds_strip_add(ds_results *r, const ds_features *fx, int u, int row, const vfr_image *input, const float *truth,
                 const float *pred, vfr_error *err) {
  if (!r->strip.data || u * fx->H >= r->strip.height || r->strip_col[row] < 0) return VFR_OK;
  const int col = 1 + 2 * r->strip_col[row];
  vfr_image crop = {0};
  int rc = vfr_model_prepare_image(fx->model, input, "strip", &crop, err);
  if (rc) return rc;
  for (int y = 0; y < fx->H; y++)
    memcpy(r->strip.data + (size_t)(u * fx->H + y) * r->strip.stride + (size_t)col * fx->W * 3,
           crop.data + (size_t)y * crop.stride, (size_t)fx->W * 3);
  vfr_image_free(&crop);
  paint_depth(r, fx, u, col + 1, pred, truth);
  return VFR_OK;
}

/* ---- predictions ----------------------------------------------------------------------- */

static void stem_of(const char *s, char *out, size_t size) {
  size_t k = 0;
  for (; *s && k + 1 < size; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
             c == '=' || c == '+' || c == '_';
    out[k++] = ok ? c : '_';
  }
  out[k] = '\0';
}

/* depth_predictions/<image stem>/<clean | row-R>.png, relative to OUT. */
int ds_prediction_path(const vfr_study *study, int image, int row, char *out, size_t size) {
  char stem[1100];
  stem_of(vfr_study_image_name(study, image), stem, sizeof stem);
  if (row == 0) return snprintf(out, size, "depth_predictions/%s/clean.png", stem);
  return snprintf(out, size, "depth_predictions/%s/row-%03d.png", stem, row);
}

static int make_dir(const char *path, vfr_error *err) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return VFR_OK;
  return vfr_fail(err, VFR_EIO, "%s: cannot create folder (%s)", path, strerror(errno));
}

int ds_write_prediction(const vfr_downstream_params *p, const ds_features *fx, const vfr_study *study, int image,
                        int row, const float *pred, const float *truth, vfr_error *err) {
  char rel[1300], path[5500];
  ds_prediction_path(study, image, row, rel, sizeof rel);
  snprintf(path, sizeof path, "%s/depth_predictions", p->study.out_dir);
  int rc = make_dir(path, err);
  snprintf(path, sizeof path, "%s/%s", p->study.out_dir, rel);
  *strrchr(path, '/') = '\0';
  if (!rc) rc = make_dir(path, err);
  snprintf(path, sizeof path, "%s/%s", p->study.out_dir, rel);
  vfr_depth_map m = {fx->W, fx->H, (float *)pred};
  if (!rc) rc = vfr_depth_png_write(path, &m, p->depth.scale, err);
  if (!rc && row == 0) { /* the target beside it, as evaluated (0: not a valid pixel) */
    char *slash = strrchr(path, '/');
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "truth.png");
    vfr_depth_map t = {fx->W, fx->H, (float *)truth};
    rc = vfr_depth_png_write(path, &t, p->depth.scale, err);
  }
  return rc;
}

/* ---- depth.json and depth_per_image.csv ------------------------------------------------ */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void metrics_mean(const vfr_depth_metrics *m, int count, int stride, vfr_depth_metrics *out) {
  memset(out, 0, sizeof *out);
  int used = 0;
  for (int i = 0; i < count; i++) {
    const vfr_depth_metrics *x = &m[(size_t)i * stride];
    if (x->n == 0) continue;
    out->rmse += x->rmse;
    out->mse += x->mse;
    out->abs_rel += x->abs_rel;
    out->log10 += x->log10;
    out->delta1 += x->delta1;
    out->delta2 += x->delta2;
    out->delta3 += x->delta3;
    out->n += x->n;
    used++;
  }
  double inv = used ? 1.0 / used : NAN;
  out->rmse *= inv;
  out->mse *= inv;
  out->abs_rel *= inv;
  out->log10 *= inv;
  out->delta1 *= inv;
  out->delta2 *= inv;
  out->delta3 *= inv;
}

static void put_metrics(json_t *o, const vfr_depth_metrics *m) {
  json_object_set_new(o, "rmse", num(m->rmse));
  json_object_set_new(o, "mse", num(m->mse));
  json_object_set_new(o, "abs_rel", num(m->abs_rel));
  json_object_set_new(o, "log10", num(m->log10));
  json_object_set_new(o, "delta1", num(m->delta1));
  json_object_set_new(o, "delta2", num(m->delta2));
  json_object_set_new(o, "delta3", num(m->delta3));
}

static json_t *fit_json(const vfr_linear_fit *f) {
  return json_pack("{s:o, s:o, s:o, s:o, s:i}", "slope", num(f->slope), "intercept", num(f->intercept), "r2", num(f->r2),
                   "pearson_r", num(f->pearson_r), "n", f->n);
}

typedef struct dr_point {
  double dr, err;
  int index;
} dr_point;

static int cmp_point(const void *a, const void *b) {
  const dr_point *x = a, *y = b;
  if (x->dr != y->dr) return x->dr < y->dr ? -1 : 1;
  return x->index - y->index;
}

/* RMSE against DR over every (image, op, level): raw over the points, binned over bins of
 * equal count by DR (as the classification per-image regression). NULL when not fitted. */
static json_t *per_image_regression(const ds_results *r, const ds_study_view *v, int bins) {
  int n = 0;
  for (int j = 0; j < v->info.op_count; j++) n += r->used * v->ops[j].levels;
  dr_point *pt = malloc(sizeof *pt * ((size_t)n + 1));
  double *x = malloc(sizeof(double) * ((size_t)n + 1)), *y = malloc(sizeof(double) * ((size_t)n + 1));
  json_t *out = NULL;
  if (!pt || !x || !y) goto done;
  int k = 0;
  for (int j = 0; j < v->info.op_count; j++)
    for (int l = 0; l < v->ops[j].levels; l++)
      for (int u = 0; u < r->used; u++) {
        double e = r->metrics[(size_t)u * r->rows + v->ops[j].first_row + l].rmse;
        if (!isfinite(e)) continue;
        pt[k] = (dr_point){r->dr[(size_t)u * r->op_count + j], e, k};
        x[k] = pt[k].dr;
        y[k] = e;
        k++;
      }
  n = k;
  vfr_linear_fit raw, binned;
  if (n < 2 || vfr_linear_fit_compute(x, y, n, &raw, NULL)) goto done;
  qsort(pt, (size_t)n, sizeof *pt, cmp_point);
  if (bins <= 0) bins = 10;
  if (bins > n) bins = n;
  json_t *jb = json_array();
  for (int b = 0; b < bins; b++) {
    int lo = (int)((int64_t)b * n / bins), hi = (int)((int64_t)(b + 1) * n / bins);
    double sd = 0, se = 0;
    for (int i = lo; i < hi; i++) sd += pt[i].dr, se += pt[i].err;
    x[b] = sd / (hi - lo);
    y[b] = se / (hi - lo);
    json_array_append_new(jb, json_pack("{s:o, s:o, s:o, s:o, s:i}", "dr_min", num(pt[lo].dr), "dr_max",
                                        num(pt[hi - 1].dr), "mean_dr", num(x[b]), "rmse", num(y[b]), "n", hi - lo));
  }
  out = json_object();
  if (vfr_linear_fit_compute(x, y, bins, &binned, NULL) == VFR_OK) {
    json_t *fj = fit_json(&binned);
    json_object_update(out, fj);
    json_decref(fj);
  } else {
    json_object_set_new(out, "slope", json_null());
  }
  json_object_set_new(out, "n_bins", json_integer(bins));
  json_object_set_new(out, "bins", jb);
  json_object_set_new(out, "raw", fit_json(&raw));
done:
  free(pt);
  free(x);
  free(y);
  return out;
}

static int write_csv(const vfr_downstream_params *p, const vfr_study *study, const ds_study_view *v,
                     const ds_results *r, vfr_error *err) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/depth_per_image.csv", p->study.out_dir);
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fputs("image,op,level,dr,rmse,mse,abs_rel,log10,delta1,delta2,delta3,n,prediction\n", f);
  for (int u = 0; u < r->used; u++) {
    const int i = r->item[u];
    for (int row = 0; row < r->rows; row++) {
      int j = -1, l = 0;
      for (int q = 0; q < v->info.op_count && j < 0; q++)
        if (row >= v->ops[q].first_row && row < v->ops[q].first_row + v->ops[q].levels) j = q, l = row - v->ops[q].first_row;
      const vfr_depth_metrics *m = &r->metrics[(size_t)u * r->rows + row];
      char rel[1300];
      ds_prediction_path(study, i, row, rel, sizeof rel);
      vfr_csv_write_field(f, vfr_study_image_name(study, i));
      fputc(',', f);
      vfr_csv_write_field(f, j < 0 ? "clean" : v->labels[j]);
      fputc(',', f);
      vfr_csv_write_field(f, j < 0 ? "" : v->ops[j].level_text[l]);
      if (j < 0) fputc(',', f);
      else fprintf(f, ",%.17g", r->dr[(size_t)u * r->op_count + j]);
      fprintf(f, ",%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%lld,", m->rmse, m->mse, m->abs_rel, m->log10, m->delta1,
              m->delta2, m->delta3, (long long)m->n);
      vfr_csv_write_field(f, rel);
      fputc('\n', f);
    }
  }
  return vfr_atomic_commit(f, tmp, path, err);
}

int ds_depth_write(const vfr_downstream_params *p, const vfr_study *study, const ds_features *fx,
                   const vfr_depth_head *head, const ds_results *r, const ds_skips *skips, int train_used,
                   vfr_downstream_summary *summary, vfr_error *err) {
  ds_study_view v;
  int rc = ds_study_view_make(study, &v, err);
  if (rc) return rc;
  const int nops = v.info.op_count;
  vfr_depth_metrics clean, base;
  metrics_mean(r->metrics, r->used, r->rows, &clean);
  metrics_mean(r->baseline, r->used, 1, &base);
  json_t *root = json_object();
  json_object_set_new(root, "protocol", json_string("depth"));
  json_object_set_new(root, "head", json_pack("{s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:I, s:i, s:i, s:i}", "type",
                                              "linear, closed-form ridge regression", "features",
                                              "patch tokens concatenated with the CLS token, bilinear upsampling",
                                              "layers", fx->layers, "upsample", fx->up, "dim", fx->dim, "ridge",
                                              num(head->ridge), "lambda", num(head->lambda), "train_pixels",
                                              (json_int_t)head->n, "train_images", train_used, "grid_height", fx->fh,
                                              "grid_width", fx->fw));
  json_object_set_new(root, "evaluation",
                      json_pack("{s:o, s:o, s:b, s:o, s:i, s:i}", "min_depth", num(p->depth.min_depth), "max_depth",
                                num(p->depth.max_depth), "eigen_crop", p->depth.eigen_crop, "scale", num(p->depth.scale),
                                "height", fx->H, "width", fx->W));
  json_t *jc = json_object();
  put_metrics(jc, &clean);
  json_object_set_new(jc, "n", json_integer(r->used));
  json_object_set_new(root, "clean", jc);
  json_t *jbase = json_object();
  json_object_set_new(jbase, "depth", num(r->baseline_depth));
  put_metrics(jbase, &base);
  json_object_set_new(root, "constant_baseline", jbase);

  json_t *levels = json_array(), *per_op = json_array();
  double *mean_dr = malloc(sizeof(double) * ((size_t)nops + 1)), *rise = malloc(sizeof(double) * ((size_t)nops + 1));
  if (!mean_dr || !rise) rc = vfr_fail(err, VFR_ENOMEM, "out of memory");
  for (int j = 0; !rc && j < nops; j++) {
    const vfr_study_op *op = &v.ops[j];
    double sum = 0, dr = 0;
    for (int u = 0; u < r->used; u++) dr += r->dr[(size_t)u * nops + j];
    for (int l = 0; l < op->levels; l++) {
      vfr_depth_metrics m;
      metrics_mean(r->metrics + op->first_row + l, r->used, r->rows, &m);
      json_t *o = json_pack("{s:s, s:o, s:s}", "op", v.labels[j], "level", num(op->values[l]), "level_text",
                            op->level_text[l]);
      put_metrics(o, &m);
      json_object_set_new(o, "n", json_integer(r->used));
      json_array_append_new(levels, o);
      sum += m.rmse;
    }
    mean_dr[j] = dr / r->used;
    rise[j] = sum / op->levels - clean.rmse;
    json_array_append_new(per_op, json_pack("{s:s, s:s, s:i, s:o, s:o}", "op", op->name, "domain", op->domain, "levels",
                                            op->levels, "mean_dr", num(mean_dr[j]), "rmse_increase", num(rise[j])));
  }
  json_object_set_new(root, "per_level", levels);
  json_object_set_new(root, "per_op", per_op);
  json_t *reg = json_object();
  json_t *pi = rc ? NULL : per_image_regression(r, &v, p->bins);
  json_object_set_new(reg, "per_image", pi ? pi : json_null());
  vfr_across_ops_regression across;
  if (!rc && nops >= 2 && vfr_across_ops_regression_compute(v.op_id, mean_dr, rise, nops, &across, NULL) == VFR_OK) {
    json_t *a = fit_json(&across.fit);
    json_object_set_new(a, "leave_one_op_out_mae", num(across.loo_mae));
    json_object_set_new(a, "leave_one_op_out_predictions", json_integer(across.loo_predictions));
    json_object_set_new(a, "leave_one_op_out_skipped_ops", json_integer(across.loo_skipped_ops));
    json_object_set_new(reg, "across_ops", a);
  } else {
    json_object_set_new(reg, "across_ops", json_null());
  }
  json_object_set_new(root, "regression", reg);
  json_t *sk = json_array();
  for (int k = 0; k < skips->count; k++)
    json_array_append_new(sk, json_pack("{s:s, s:s}", "file", skips->file[k], "reason", skips->reason[k]));
  json_object_set_new(root, "skipped", sk);
  free(mean_dr);
  free(rise);

  char path[4200], tmp[4300];
  if (!rc) {
    snprintf(path, sizeof path, "%s/depth.json", p->study.out_dir);
    FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
    if (!f) rc = err ? err->code : VFR_EIO;
    else {
      json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
      fputc('\n', f);
      rc = vfr_atomic_commit(f, tmp, path, err);
    }
  }
  json_decref(root);
  if (!rc) rc = write_csv(p, study, &v, r, err);
  if (!rc && r->strip.data) {
    snprintf(path, sizeof path, "%s/depth_strips.png", p->study.out_dir);
    rc = vfr_image_save(&r->strip, path, 0, err);
  }
  summary->clean_rmse = clean.rmse;
  summary->baseline_rmse = base.rmse;
  summary->test_used = r->used;
  ds_study_view_free(&v);
  return rc;
}
