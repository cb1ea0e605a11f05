/* vfr_score: a study from embeddings made elsewhere (see include/vfrobust/perturb_set.h).
 * The embeddings are checked against the manifest and the plan, stored as the per-image
 * result files phase 1 of `eval` writes, and merged by phase 2 (vfr_eval_merge): the
 * outputs are written by the study's own writers. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/plan.h"
#include "study/result_file.h"
#include "study/study_internal.h"
#include "vfrobust/npy.h"
#include "vfrobust/perturb_set.h"
#include "vfrobust/study.h"

vfr_score_params vfr_score_default_params(void) {
  vfr_score_params p;
  memset(&p, 0, sizeof p);
  return p;
}

/* The settings perturb_set.json records, read into ep (strings point into *root). */
static int read_settings(const char *manifest, json_t **root, vfr_eval_params *ep, vfr_error *err) {
  char path[PATH_MAX + 32];
  const char *slash = strrchr(manifest, '/');
  if (slash) snprintf(path, sizeof path, "%.*s/perturb_set.json", (int)(slash - manifest), manifest);
  else snprintf(path, sizeof path, "perturb_set.json");
  json_error_t je;
  *root = json_load_file(path, 0, &je);
  if (!*root) return vfr_fail(err, VFR_EIO, "%s: cannot read (%s); it is written by perturb-set next to its manifest", path, je.text);
  json_t *data = json_object_get(*root, "data"), *ops = json_object_get(*root, "ops");
  json_t *levels = json_object_get(*root, "levels"), *seed = json_object_get(*root, "seed");
  json_t *limit = json_object_get(*root, "limit"), *per_class = json_object_get(*root, "per_class");
  if (!json_is_string(data) || !json_is_string(ops) || !json_is_integer(levels) || !json_is_integer(seed) ||
      json_integer_value(seed) < 0 || !json_is_integer(limit) || !json_is_integer(per_class) ||
      json_integer_value(levels) < 1 || json_integer_value(levels) > STUDY_MAX_LEVELS)
    return vfr_fail(err, VFR_EFORMAT, "%s: needs data, ops, levels, seed, limit and per_class", path);
  ep->data = json_string_value(data);
  ep->ops = json_string_value(ops);
  ep->levels = (int)json_integer_value(levels);
  ep->seed = (uint64_t)json_integer_value(seed);
  ep->limit = (int)json_integer_value(limit);
  ep->per_class = (int)json_integer_value(per_class);
  return VFR_OK;
}

/* Why perturb-set left image `name` out, from perturb_set.json. */
static const char *skip_reason(json_t *root, const char *name) {
  json_t *list = json_object_get(json_object_get(root, "images"), "skipped_files"), *it;
  size_t i;
  json_array_foreach(list, i, it) {
    const char *f = json_string_value(json_object_get(it, "file"));
    const char *r = json_string_value(json_object_get(it, "reason"));
    if (f && r && !strcmp(f, name)) return r;
  }
  return "not in the manifest";
}

/* Checks that manifest rows first..first+plan->rows-1 are image `name`'s rows in plan order. */
static int check_rows(const char *manifest, const vfr_csv *csv, int first, const study_plan *plan, const char *name,
                      vfr_error *err) {
  for (int row = 0; row < plan->rows; row++) {
    const char *op = "clean", *level = "";
    if (row > 0) {
      int j = 0;
      while (row >= plan->ops[j].first_row + plan->ops[j].m) j++;
      op = plan->ops[j].name;
      level = plan->ops[j].level_text[row - plan->ops[j].first_row];
    }
    const vfr_csv_row *r = first + row < csv->row_count ? &csv->rows[first + row] : NULL;
    if (!r || strcmp(r->fields[0], name) || strcmp(r->fields[1], op) || strcmp(r->fields[2], level))
      return vfr_fail(err, VFR_EFORMAT, "%s:%d: expected image %s, op %s, level %s (the manifest does not match perturb_set.json)",
                      manifest, r ? r->line : csv->rows[csv->row_count - 1].line + 1, name, op, level[0] ? level : "(none)");
  }
  return VFR_OK;
}

int vfr_score(const vfr_score_params *p, vfr_error *err) {
  if (!p || !p->manifest || !p->embeddings || !p->out_dir)
    return vfr_fail(err, VFR_EINVAL, "score needs --manifest, --embeddings and --out");
  char model_name[256];
  if (p->model_name && *p->model_name) {
    if (strlen(p->model_name) >= sizeof model_name)
      return vfr_fail(err, VFR_EINVAL, "--model-name %.40s...: longer than %zu bytes", p->model_name,
                      sizeof model_name - 1);
    snprintf(model_name, sizeof model_name, "%s", p->model_name);
  } else {
    const char *base = strrchr(p->embeddings, '/');
    snprintf(model_name, sizeof model_name, "%s", base ? base + 1 : p->embeddings);
    size_t n = strlen(model_name);
    if (n > 4 && !strcmp(model_name + n - 4, ".npy")) model_name[n - 4] = '\0';
  }
  if (strchr(model_name, '/') || !model_name[0] || !strcmp(model_name, ".") || !strcmp(model_name, ".."))
    return vfr_fail(err, VFR_EINVAL, "--model-name %s: must be a plain name", model_name);

  json_t *settings = NULL;
  vfr_eval_params ep = vfr_eval_default_params();
  vfr_csv csv = {0};
  float *emb = NULL;
  int64_t rows = 0, dim = 0;
  study_context ctx;
  int ctx_open = 0;
  int rc = read_settings(p->manifest, &settings, &ep, err);
  ep.model_dir = NULL; /* the model is a name only: no folder is read or recorded */
  ep.out_dir = p->out_dir;
  if (!rc) rc = vfr_csv_read(p->manifest, &csv, err);
  if (!rc && (csv.row_count < 1 || csv.rows[0].count != 4 || strcmp(csv.rows[0].fields[0], "image") ||
              strcmp(csv.rows[0].fields[1], "op") || strcmp(csv.rows[0].fields[2], "level") ||
              strcmp(csv.rows[0].fields[3], "file")))
    rc = vfr_fail(err, VFR_EFORMAT, "%s: expected the header image,op,level,file", p->manifest);
  for (int r = 1; !rc && r < csv.row_count; r++)
    if (csv.rows[r].count != 4) rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: %d fields, expected 4", p->manifest, csv.rows[r].line, csv.rows[r].count);
  if (!rc) rc = vfr_npy_read_f32(p->embeddings, &emb, &rows, &dim, err);
  if (!rc && rows != csv.row_count - 1)
    rc = vfr_fail(err, VFR_EFORMAT, "%s: %lld rows of embeddings, the manifest %s lists %d", p->embeddings,
                  (long long)rows, p->manifest, csv.row_count - 1);
  if (!rc && (dim < 1 || dim > (1 << 20))) rc = vfr_fail(err, VFR_EFORMAT, "%s: embedding width %lld", p->embeddings, (long long)dim);
  for (int64_t i = 0; !rc && i < rows * dim; i++)
    if (!isfinite(emb[i]))
      rc = vfr_fail(err, VFR_EFORMAT, "%s: row %lld (%s line %d) holds a non-finite value", p->embeddings,
                    (long long)(i / dim), p->manifest, csv.rows[1 + i / dim].line);
  if (!rc) rc = study_context_open_named(&ep, model_name, &ctx, err);
  ctx_open = !rc;

  /* One result file per dataset image, as phase 1 of eval leaves them. */
  int next = 1; /* the manifest row of the next used image */
  for (int i = 0; !rc && i < ctx.dataset.count; i++) {
    const char *name = ctx.dataset.items[i].name;
    vfr_image_result r;
    memset(&r, 0, sizeof r);
    r.name = strdup(name);
    r.id = vfr_image_identity_of(ctx.dataset.items[i].path);
    if (!r.name) {
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
      break;
    }
    if (next < csv.row_count && !strcmp(csv.rows[next].fields[0], name)) {
      const study_plan *plan = &ctx.plan;
      rc = check_rows(p->manifest, &csv, next, plan, name, err);
      if (rc) break;
      r.rows = (uint32_t)plan->rows;
      r.dim = (uint32_t)dim;
      r.embeddings = malloc(sizeof(float) * (size_t)plan->rows * (size_t)dim);
      r.message = strdup("");
      if (!r.embeddings || !r.message) {
        vfr_result_free(&r);
        rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
        break;
      }
      const float *src = emb + (size_t)(next - 1) * (size_t)dim;
      memcpy(r.embeddings, src, sizeof(float) * (size_t)plan->rows * (size_t)dim);
      /* identity levels use the clean embedding, as eval does */
      for (int j = 0; j < plan->op_count; j++)
        for (int k = 0; k < plan->ops[j].m; k++)
          if (plan->ops[j].identity[k])
            memcpy(r.embeddings + (size_t)(plan->ops[j].first_row + k) * dim, src, sizeof(float) * (size_t)dim);
      next += plan->rows;
    } else {
      r.status = VFR_EIO;
      r.message = strdup(skip_reason(settings, name));
      if (!r.message) {
        rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->out_dir);
        break;
      }
    }
    rc = vfr_result_write(ctx.work_dir, ctx.fingerprint, &r, err);
    vfr_result_free(&r);
  }
  if (!rc && next < csv.row_count)
    rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: image %s is not in %s or not in its order", p->manifest, csv.rows[next].line,
                  csv.rows[next].fields[0], ep.data);
  if (ctx_open) study_context_close(&ctx);
  if (!rc) rc = study_merge_named(&ep, model_name, err);
  free(emb);
  vfr_csv_free(&csv);
  json_decref(settings);
  return rc;
}
