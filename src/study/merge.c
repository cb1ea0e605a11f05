/* Phase 2 of a study: from the per-image files to per_image.csv, curves.csv,
 * summary.json and embeddings/ (see include/vfrobust/study.h, docs/study.md). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "core/json_text.h"
#include "study/npy_stream.h"
#include "study/plan.h"
#include "study/result_file.h"
#include "study/study_internal.h"
#include "vfrobust/dataset.h"
#include "vfrobust/image.h"
#include "vfrobust/metrics.h"
#include "vfrobust/model.h"
#include "vfrobust/perturb.h"

#define HISTOGRAM_BINS 20

/* Per-op accumulators over the used images. */
typedef struct op_acc {
  double *r_cs, *r_ed, *dr; /* (used) */
  double *cos;              /* (used, m) */
} op_acc;

static json_t *stats_json(const double *v, int n, int with_histogram, vfr_error *err) {
  json_t *o = json_object();
  vfr_stats st;
  if (n > 0 && vfr_stats_compute(v, n, &st, err) == 0) {
    json_object_set_new(o, "mean", json_real(st.mean));
    json_object_set_new(o, "std", json_real(st.std));
    json_object_set_new(o, "median", json_real(st.median));
    json_object_set_new(o, "p10", json_real(st.p10));
    json_object_set_new(o, "p90", json_real(st.p90));
    json_object_set_new(o, "min", json_real(st.min));
    json_object_set_new(o, "max", json_real(st.max));
  } else {
    json_object_set_new(o, "mean", json_null());
  }
  if (with_histogram) {
    long counts[HISTOGRAM_BINS];
    json_t *h = json_object(), *c = json_array();
    if (vfr_histogram01(v, n, HISTOGRAM_BINS, counts, NULL, err) == 0)
      for (int i = 0; i < HISTOGRAM_BINS; i++) json_array_append_new(c, json_integer(counts[i]));
    json_object_set_new(h, "range", json_pack("[f, f]", 0.0, 1.0));
    json_object_set_new(h, "counts", c);
    json_object_set_new(o, "histogram", h);
  }
  return o;
}

/* samples.png: the first used image under every op at every level, for the report. */
static int write_samples(const vfr_eval_params *p, const study_context *ctx, int first_used, vfr_error *err) {
  vfr_image img = {0}, sheet = {0};
  vfr_spec *specs = NULL;
  int n = 0;
  int rc = vfr_image_load(ctx->dataset.items[first_used].path, NULL, &img, err);
  if (!rc) rc = vfr_spec_list_parse(p->ops ? p->ops : "editing9", &specs, &n, err);
  if (!rc) rc = vfr_contact_sheet(&img, specs, n, p->levels, 96, p->seed, &sheet, err);
  if (!rc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.png", p->out_dir);
    rc = vfr_image_save(&sheet, path, 0, err);
  }
  free(specs);
  vfr_image_free(&img);
  vfr_image_free(&sheet);
  return rc;
}

int vfr_eval_merge(const vfr_eval_params *p, vfr_error *err) {
  return study_merge_named(p, NULL, err);
}

int study_merge_named(const vfr_eval_params *p, const char *model_name, vfr_error *err) {
  study_context ctx;
  int rc = study_context_open_named(p, model_name, &ctx, err);
  if (rc) return rc;
  const study_plan *plan = &ctx.plan;
  const vfr_dataset *ds = &ctx.dataset;
  int n = ds->count, used = 0, skipped = 0, dim = 0, first_used = -1;
  char path[4096], tmp[4200];

  op_acc *acc = calloc((size_t)plan->op_count, sizeof *acc);
  npy_stream *npy = calloc((size_t)plan->op_count + 1, sizeof *npy);
  int npy_open = 0;
  json_t *skipped_files = json_array();
  FILE *per_image = NULL, *names = NULL;
  char per_image_tmp[4200], names_tmp[4200];
  if (!acc || !npy) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
    goto done;
  }
  for (int j = 0; j < plan->op_count && !rc; j++) {
    int m = plan->ops[j].m;
    acc[j].r_cs = malloc(sizeof(double) * (size_t)(n + 1));
    acc[j].r_ed = malloc(sizeof(double) * (size_t)(n + 1));
    acc[j].dr = malloc(sizeof(double) * (size_t)(n + 1));
    acc[j].cos = malloc(sizeof(double) * (size_t)(n + 1) * (size_t)m);
    if (!acc[j].r_cs || !acc[j].r_ed || !acc[j].dr || !acc[j].cos) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
  }
  if (rc) goto done;

  snprintf(path, sizeof path, "%s/embeddings", p->out_dir);
  if (mkdir(path, 0755) && errno != EEXIST) {
    rc = vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", path, strerror(errno));
    goto done;
  }
  snprintf(path, sizeof path, "%s/per_image.csv", p->out_dir);
  if (!(per_image = vfr_atomic_open(path, per_image_tmp, sizeof per_image_tmp, err))) { rc = err ? err->code : VFR_EIO; goto done; }
  fputs("model,image,op,domain,r_cs,r_ed,dr\n", per_image);
  snprintf(path, sizeof path, "%s/embeddings/images.csv", p->out_dir);
  if (!(names = vfr_atomic_open(path, names_tmp, sizeof names_tmp, err))) { rc = err ? err->code : VFR_EIO; goto done; }
  fputs("row,image,label\n", names);

  for (int i = 0; i < n && !rc; i++) {
    vfr_image_result r;
    rc = vfr_result_read(ctx.work_dir, ctx.fingerprint, ds->items[i].name, vfr_image_identity_of(ds->items[i].path),
                         &r, err);
    if (rc) {
      if (rc == VFR_EIO) vfr_fail(err, VFR_EIO, "%s: image %d (%s) has not been computed: run eval (with --resume) first",
                                  p->out_dir, i, ds->items[i].name);
      break;
    }
    if (r.status != 0) {
      json_array_append_new(skipped_files, json_pack("{s:o, s:o}", "file", vfr_json_text(ds->items[i].name), "reason",
                                                      vfr_json_text(r.message)));
      skipped++;
      vfr_result_free(&r);
      continue;
    }
    if ((int)r.rows != plan->rows || r.dim == 0 || (dim && (int)r.dim != dim)) {
      vfr_result_path(path, sizeof path, ctx.work_dir, ds->items[i].name);
      rc = vfr_fail(err, VFR_EFORMAT, "%s: holds %u x %u embeddings, expected %d rows", path, r.rows, r.dim, plan->rows);
      vfr_result_free(&r);
      break;
    }
    if (!dim) {
      dim = (int)r.dim;
      int64_t inner[2] = {dim, 0};
      snprintf(path, sizeof path, "%s/embeddings/clean.npy", p->out_dir);
      rc = npy_stream_open(&npy[0], path, 2, inner, err);
      for (int j = 0; j < plan->op_count && !rc; j++) {
        int64_t in3[2] = {plan->ops[j].m, dim};
        snprintf(path, sizeof path, "%s/embeddings/%s.npy", p->out_dir, ctx.op_file_names[j]);
        rc = npy_stream_open(&npy[j + 1], path, 3, in3, err);
        if (!rc) npy_open = j + 2;
      }
      if (!rc && plan->op_count == 0) npy_open = 1;
      if (rc) { vfr_result_free(&r); break; }
    }
    const float *e = r.embeddings;
    rc = npy_stream_append(&npy[0], e, 1, err);
    for (int j = 0; j < plan->op_count && !rc; j++) {
      const study_op *op = &plan->ops[j];
      vfr_robustness rob;
      rc = vfr_robustness_compute_f32(e, e + (size_t)op->first_row * dim, op->m, dim, &rob,
                                      acc[j].cos + (size_t)used * op->m, err);
      if (rc) {
        vfr_fail(err, rc, "%s: image %s, op %s: %s", p->out_dir, ds->items[i].name, op->name, err ? err->message : "");
        break;
      }
      acc[j].r_cs[used] = rob.r_cs;
      acc[j].r_ed[used] = rob.r_ed;
      acc[j].dr[used] = rob.dr;
      vfr_csv_write_field(per_image, ctx.model_name);
      fputc(',', per_image);
      vfr_csv_write_field(per_image, ds->items[i].name);
      fputc(',', per_image);
      vfr_csv_write_field(per_image, op->name);
      fputc(',', per_image);
      vfr_csv_write_field(per_image, op->domain);
      fprintf(per_image, ",%.17g,%.17g,%.17g\n", rob.r_cs, rob.r_ed, rob.dr);
      rc = npy_stream_append(&npy[j + 1], e + (size_t)op->first_row * dim, 1, err);
    }
    if (!rc) {
      fprintf(names, "%d,", used);
      vfr_csv_write_field(names, ds->items[i].name);
      fputc(',', names);
      vfr_csv_write_field(names, ds->items[i].label >= 0 ? ds->class_names[ds->items[i].label] : "");
      fputc('\n', names);
      if (first_used < 0) first_used = i;
      used++;
    }
    vfr_result_free(&r);
  }
  if (rc) goto done;

  snprintf(path, sizeof path, "%s/per_image.csv", p->out_dir);
  rc = vfr_atomic_commit(per_image, per_image_tmp, path, err);
  per_image = NULL;
  if (rc) goto done;
  snprintf(path, sizeof path, "%s/embeddings/images.csv", p->out_dir);
  rc = vfr_atomic_commit(names, names_tmp, path, err);
  names = NULL;
  for (int j = 0; j < npy_open && !rc; j++) rc = npy_stream_close(&npy[j], err);
  npy_open = 0;
  if (rc) goto done;

  /* curves.csv */
  {
    FILE *f;
    snprintf(path, sizeof path, "%s/curves.csv", p->out_dir);
    if (!(f = vfr_atomic_open(path, tmp, sizeof tmp, err))) { rc = err ? err->code : VFR_EIO; goto done; }
    fputs("model,op,level,mean_cos,std_cos,n\n", f);
    for (int j = 0; j < plan->op_count && !rc; j++) {
      const study_op *op = &plan->ops[j];
      double *mean = malloc(sizeof(double) * (size_t)op->m), *sd = malloc(sizeof(double) * (size_t)op->m);
      int *cnt = malloc(sizeof(int) * (size_t)op->m);
      if (!mean || !sd || !cnt) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
      else if (used > 0) rc = vfr_curve(acc[j].cos, used, op->m, mean, sd, cnt, err);
      for (int k = 0; k < op->m && !rc; k++) {
        vfr_csv_write_field(f, ctx.model_name);
        fputc(',', f);
        vfr_csv_write_field(f, op->name);
        fputc(',', f);
        vfr_csv_write_field(f, op->level_text[k]);
        if (used > 0) fprintf(f, ",%.17g,%.17g,%d\n", mean[k], sd[k], cnt[k]);
        else fprintf(f, ",,,0\n");
      }
      free(mean);
      free(sd);
      free(cnt);
    }
    if (rc) { vfr_atomic_abort(f, tmp); goto done; }
    if ((rc = vfr_atomic_commit(f, tmp, path, err))) goto done;
  }

  /* summary.json */
  {
    json_t *root = json_object(), *ops = json_array();
    json_object_set_new(root, "model", vfr_json_text(ctx.model_name));
    json_object_set_new(root, "model_dir", model_name ? json_null() : vfr_json_text(p->model_dir));
    json_object_set_new(root, "data", vfr_json_text(p->data));
    json_object_set_new(root, "ops", p->ops ? vfr_json_text(p->ops) : NULL);
    json_object_set_new(root, "levels", json_integer(p->levels));
    json_object_set_new(root, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(root, "perturb_after_preprocess", json_boolean(p->perturb_after_preprocess));
    if (p->precision) json_object_set_new(root, "precision", json_string("bf16")); /* fp32: absent */
    json_object_set_new(root, "engine", json_string(vfr_engine_name()));
    json_object_set_new(root, "engine_isa", json_string(vfr_engine_isa()));
    json_object_set_new(root, "embedding_dim", json_integer(dim));
    json_object_set_new(root, "images", json_pack("{s:i, s:i, s:i, s:O}", "total", n, "used", used, "skipped",
                                                  skipped, "skipped_files", skipped_files));
    if (ds->ignored_count > 0) { /* files of the data folder that are not images it can read */
      json_t *ign = json_array();
      for (int k = 0; k < ds->ignored_count; k++) {
        const char *s = ds->ignored[k], *colon = NULL; /* the reason follows the last ": " */
        for (const char *q = strstr(s, ": "); q; q = strstr(q + 1, ": ")) colon = q;
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        char *file = strndup(s, len);
        json_array_append_new(ign, json_pack("{s:o, s:o}", "file", vfr_json_text(file ? file : ""), "reason",
                                             vfr_json_text(colon ? colon + 2 : "")));
        free(file);
      }
      json_object_set_new(json_object_get(root, "images"), "ignored_files", ign);
    }
    for (int j = 0; j < plan->op_count; j++) {
      const study_op *op = &plan->ops[j];
      json_t *o = json_object(), *lv = json_array();
      json_object_set_new(o, "op", json_string(op->name));
      json_object_set_new(o, "domain", json_string(op->domain));
      for (int k = 0; k < op->m; k++) json_array_append_new(lv, json_real(op->levels[k]));
      json_object_set_new(o, "levels", lv);
      json_object_set_new(o, "n", json_integer(used));
      json_object_set_new(o, "r_cs", stats_json(acc[j].r_cs, used, 0, err));
      json_object_set_new(o, "r_ed", stats_json(acc[j].r_ed, used, 0, err));
      json_object_set_new(o, "dr", stats_json(acc[j].dr, used, 1, err));
      json_array_append_new(ops, o);
    }
    json_object_set_new(root, "per_op", ops);
    snprintf(path, sizeof path, "%s/summary.json", p->out_dir);
    rc = vfr_atomic_write_json(path, root, JSON_INDENT(2) | JSON_REAL_PRECISION(17), err);
    json_decref(root);
  }
  if (!rc && first_used >= 0) rc = write_samples(p, &ctx, first_used, err);

done:
  if (per_image) vfr_atomic_abort(per_image, per_image_tmp);
  if (names) vfr_atomic_abort(names, names_tmp);
  for (int j = 0; j < npy_open; j++) npy_stream_abort(&npy[j]);
  if (acc)
    for (int j = 0; j < plan->op_count; j++) {
      free(acc[j].r_cs);
      free(acc[j].r_ed);
      free(acc[j].dr);
      free(acc[j].cos);
    }
  free(acc);
  free(npy);
  json_decref(skipped_files);
  study_context_close(&ctx);
  return rc;
}
