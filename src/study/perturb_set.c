/* vfr_perturb_set: every variant of a study as lossless PNG files plus a manifest, for
 * models vfrobust does not run (see include/vfrobust/perturb_set.h). The variants come
 * from the study's own plan (study_plan_apply), so pixels and seeds are eval's. */
#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/files.h"
#include "study/plan.h"
#include "vfrobust/dataset.h"
#include "vfrobust/image.h"
#include "vfrobust/perturb_set.h"

#define ROW_FILE_MAX 256 /* "NNNNNN-<stem>/JJ-<op>-KKK.png": stems are cut to 64 characters */

vfr_perturb_set_params vfr_perturb_set_default_params(void) {
  vfr_perturb_set_params p;
  memset(&p, 0, sizeof p);
  p.ops = "editing9";
  p.levels = 10;
  return p;
}

static int make_dir(const char *path, vfr_error *err) {
  struct stat st;
  if (mkdir(path, 0755) && errno != EEXIST)
    return vfr_fail(err, VFR_EIO, "%s: cannot create folder (%s)", path, strerror(errno));
  if (stat(path, &st) || !S_ISDIR(st.st_mode)) return vfr_fail(err, VFR_EIO, "%s: exists and is not a folder", path);
  return VFR_OK;
}

/* A file-name-safe copy of s: letters, digits, '-', '=', '+' kept, anything else '_'. */
static void safe_stem(char *out, size_t size, const char *s) {
  size_t k = 0;
  for (; *s && k + 1 < size && k < 64; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '=' ||
             c == '+';
    out[k++] = ok ? c : '_';
  }
  out[k] = '\0';
}

/* The plan op and level of row `row` (>= 1). */
static void row_op(const study_plan *plan, int row, int *j, int *k) {
  for (*j = 0; *j < plan->op_count; (*j)++)
    if (row < plan->ops[*j].first_row + plan->ops[*j].m) break;
  *k = row - plan->ops[*j].first_row;
}

/* The relative file names of one image's rows: files is (rows, ROW_FILE_MAX). */
static void row_files(const study_plan *plan, int index, const char *name, char (*files)[ROW_FILE_MAX]) {
  const char *base = strrchr(name, '/');
  char stem[80], op[80];
  safe_stem(stem, sizeof stem, base ? base + 1 : name);
  snprintf(files[0], ROW_FILE_MAX, "%06d-%s/clean.png", index, stem);
  for (int row = 1; row < plan->rows; row++) {
    int j, k;
    row_op(plan, row, &j, &k);
    safe_stem(op, sizeof op, plan->ops[j].name);
    if (plan->ops[j].identity[k]) memcpy(files[row], files[0], ROW_FILE_MAX); /* row > 0 */
    else snprintf(files[row], ROW_FILE_MAX, "%06d-%s/%02d-%s-%03d.png", index, stem, j, op, k);
  }
}

/* Perturbs and writes one image's variants. A failure to read or perturb the image makes it
 * skipped (*skip_reason set); a failure to write stops the run. */
static int write_image(const vfr_perturb_set_params *p, const study_plan *plan, const vfr_dataset_item *item,
                       int index, char (*files)[ROW_FILE_MAX], char *skip_reason, vfr_error *err) {
  vfr_image base = {0};
  vfr_error ierr;
  skip_reason[0] = '\0';
  if (vfr_image_load(item->path, NULL, &base, &ierr)) {
    snprintf(skip_reason, VFR_ERROR_MESSAGE_MAX, "%s", ierr.message);
    return VFR_OK;
  }
  row_files(plan, index, item->name, files);
  char path[PATH_MAX + ROW_FILE_MAX];
  snprintf(path, sizeof path, "%s/%s", p->out_dir, files[0]);
  *strrchr(path, '/') = '\0';
  int rc = make_dir(path, err);
  snprintf(path, sizeof path, "%s/%s", p->out_dir, files[0]);
  if (!rc) rc = vfr_image_save(&base, path, 0, err);
  int rows = plan->rows;
  int *status = calloc((size_t)rows, sizeof *status), *write_status = calloc((size_t)rows, sizeof *status);
  vfr_error *errs = calloc((size_t)rows, sizeof *errs);
  if (!rc && (!status || !write_status || !errs)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", item->path);
  if (!rc) {
    int threads = p->threads > 0 ? p->threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int row = 1; row < rows; row++) {
      int j, k;
      row_op(plan, row, &j, &k);
      if (plan->ops[j].identity[k]) continue;
      vfr_image v = {0};
      status[row] = study_plan_apply(plan, row, &base, item->name, p->seed, &v, &errs[row]);
      if (!status[row]) {
        char out[PATH_MAX + ROW_FILE_MAX];
        snprintf(out, sizeof out, "%s/%s", p->out_dir, files[row]);
        write_status[row] = vfr_image_save(&v, out, 0, &errs[row]);
      }
      vfr_image_free(&v);
    }
    for (int row = 1; row < rows && !rc; row++) {
      if (write_status[row]) rc = vfr_fail(err, write_status[row], "%s", errs[row].message);
      else if (status[row] && !skip_reason[0]) snprintf(skip_reason, VFR_ERROR_MESSAGE_MAX, "%s", errs[row].message);
    }
  }
  free(status);
  free(write_status);
  free(errs);
  vfr_image_free(&base);
  return rc;
}

int vfr_perturb_set(const vfr_perturb_set_params *p, int64_t *n_rows, vfr_error *err) {
  if (n_rows) *n_rows = 0;
  if (!p || !p->data || !p->out_dir) return vfr_fail(err, VFR_EINVAL, "perturb-set needs --data and --out");
  study_plan plan;
  vfr_dataset ds = {0};
  int rc = study_plan_make(p->ops ? p->ops : "editing9", p->levels, &plan, err);
  if (rc) return rc;
  if ((rc = vfr_dataset_open(p->data, &ds, err))) {
    study_plan_free(&plan);
    return rc;
  }
  vfr_dataset_limit(&ds, p->per_class, p->limit);
  char path[PATH_MAX + 64], tmp[PATH_MAX + 80], data_abs[PATH_MAX];
  if (!realpath(p->data, data_abs)) snprintf(data_abs, sizeof data_abs, "%s", p->data);
  char (*files)[ROW_FILE_MAX] = malloc(sizeof *files * (size_t)plan.rows);
  char *reason = malloc(VFR_ERROR_MESSAGE_MAX);
  json_t *skipped = json_array();
  FILE *manifest = NULL;
  int used = 0;
  int64_t rows_written = 0;
  if (!files || !reason || !skipped) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
  if (!rc) rc = make_dir(p->out_dir, err);
  if (!rc) {
    snprintf(path, sizeof path, "%s/manifest.csv", p->out_dir);
    if (!(manifest = vfr_atomic_open(path, tmp, sizeof tmp, err))) rc = err ? err->code : VFR_EIO;
  }
  if (!rc) fputs("image,op,level,file\n", manifest);
  for (int i = 0; i < ds.count && !rc; i++) {
    rc = write_image(p, &plan, &ds.items[i], i, files, reason, err);
    if (rc) break;
    if (reason[0]) {
      json_array_append_new(skipped, json_pack("{s:s, s:s}", "file", ds.items[i].name, "reason", reason));
      continue;
    }
    for (int row = 0; row < plan.rows; row++) {
      int j = 0, k = 0;
      if (row > 0) row_op(&plan, row, &j, &k);
      vfr_csv_write_field(manifest, ds.items[i].name);
      fputc(',', manifest);
      vfr_csv_write_field(manifest, row == 0 ? "clean" : plan.ops[j].name);
      fputc(',', manifest);
      vfr_csv_write_field(manifest, row == 0 ? "" : plan.ops[j].level_text[k]);
      fputc(',', manifest);
      vfr_csv_write_field(manifest, files[row]);
      fputc('\n', manifest);
    }
    rows_written += plan.rows;
    used++;
  }
  if (!rc) {
    snprintf(path, sizeof path, "%s/manifest.csv", p->out_dir);
    rc = vfr_atomic_commit(manifest, tmp, path, err);
    manifest = NULL;
  }
  if (!rc) {
    json_t *root = json_pack("{s:s, s:s, s:i, s:I, s:i, s:i, s:s, s:i, s:I, s:{s:i, s:i, s:i, s:O}}", "data", data_abs,
                             "ops", p->ops ? p->ops : "editing9", "levels", p->levels, "seed", (json_int_t)p->seed,
                             "limit", p->limit, "per_class", p->per_class, "manifest", "manifest.csv",
                             "rows_per_image", plan.rows, "rows", (json_int_t)rows_written, "images", "total", ds.count,
                             "used", used, "skipped", ds.count - used, "skipped_files", skipped);
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    FILE *f = NULL;
    snprintf(path, sizeof path, "%s/perturb_set.json", p->out_dir);
    if (!text) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
    else if (!(f = vfr_atomic_open(path, tmp, sizeof tmp, err))) rc = err ? err->code : VFR_EIO;
    else {
      fputs(text, f);
      fputc('\n', f);
      rc = vfr_atomic_commit(f, tmp, path, err);
    }
    free(text);
    json_decref(root);
  }
  if (manifest) vfr_atomic_abort(manifest, tmp);
  if (!rc && n_rows) *n_rows = rows_written;
  json_decref(skipped);
  free(files);
  free(reason);
  vfr_dataset_free(&ds);
  study_plan_free(&plan);
  return rc;
}
