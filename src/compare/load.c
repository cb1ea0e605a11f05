/* Reading the studies to compare, and refusing studies that do not match
 * (see include/vfrobust/compare.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study/csv.h"
#include "vfrobust/compare.h"
#include "report/study_json.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static double num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* The ops of the first study, from its summary.json. */
static int take_ops(vfr_compare *c, json_t *per_op, const char *dir, vfr_error *err) {
  size_t n = json_array_size(per_op);
  if (n == 0) return vfr_fail(err, VFR_EFORMAT, "%s/summary.json: no per_op entries", dir);
  c->ops = calloc(n, sizeof *c->ops);
  if (!c->ops) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  c->n_ops = (int)n;
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(per_op, i), *lv = json_object_get(o, "levels");
    vfr_compare_op *op = &c->ops[i];
    op->op = dup_str(str(o, "op"));
    op->domain = dup_str(str(o, "domain"));
    op->n_levels = (int)json_array_size(lv);
    op->levels = malloc(sizeof(double) * (size_t)(op->n_levels > 0 ? op->n_levels : 1));
    if (!op->op || !op->domain || !op->levels) return vfr_fail(err, VFR_ENOMEM, "out of memory");
    if (!op->op[0] || op->n_levels == 0)
      return vfr_fail(err, VFR_EFORMAT, "%s/summary.json: per_op[%zu] has no op name or levels", dir, i);
    for (int k = 0; k < op->n_levels; k++) {
      json_t *v = json_array_get(lv, (size_t)k);
      op->levels[k] = json_is_number(v) ? json_number_value(v) : (double)k; /* a chain: its position */
    }
    if (op->n_levels > c->max_levels) c->max_levels = op->n_levels;
  }
  return VFR_OK;
}

static void levels_text(char *buf, size_t size, const vfr_compare_op *op) {
  snprintf(buf, size, "%d levels %.6g..%.6g", op->n_levels, op->levels[0], op->levels[op->n_levels - 1]);
}

/* The ops of a later study must be the first study's: names, domains and levels. */
static int same_ops(const vfr_compare *c, json_t *per_op, const char *dir, const char *first, vfr_error *err) {
  size_t n = json_array_size(per_op);
  char a[2048] = "", b[2048] = "";
  if ((int)n != c->n_ops) {
    for (int i = 0; i < c->n_ops; i++)
      snprintf(a + strlen(a), sizeof a - strlen(a), "%s%s", i ? "," : "", c->ops[i].op);
    for (size_t i = 0; i < n; i++)
      snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", i ? "," : "", str(json_array_get(per_op, i), "op"));
    return vfr_fail(err, VFR_EINVAL, "%s: ops differ from %s: %zu ops (%s) against %d (%s)", dir, first, n, b,
                    c->n_ops, a);
  }
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_array_get(per_op, i), *lv = json_object_get(o, "levels");
    const vfr_compare_op *op = &c->ops[i];
    if (strcmp(str(o, "op"), op->op) || strcmp(str(o, "domain"), op->domain))
      return vfr_fail(err, VFR_EINVAL, "%s: ops differ from %s: op %zu is %s:%s, not %s:%s", dir, first, i + 1,
                      str(o, "op"), str(o, "domain"), op->op, op->domain);
    int same = (int)json_array_size(lv) == op->n_levels;
    for (int k = 0; same && k < op->n_levels; k++) {
      json_t *v = json_array_get(lv, (size_t)k);
      same = (json_is_number(v) ? json_number_value(v) : (double)k) == op->levels[k];
    }
    if (!same) {
      levels_text(a, sizeof a, op);
      size_t m = json_array_size(lv);
      if (m > 0)
        snprintf(b, sizeof b, "%zu levels %.6g..%.6g", m, json_number_value(json_array_get(lv, 0)),
                 json_number_value(json_array_get(lv, m - 1)));
      else
        snprintf(b, sizeof b, "no levels");
      return vfr_fail(err, VFR_EINVAL, "%s: levels of %s differ from %s: %s against %s", dir, op->op, first, b, a);
    }
  }
  return VFR_OK;
}

/* downstream.json's per_op must list the study's ops in its order. */
static int take_downstream(const vfr_compare *c, vfr_compare_model *m, json_t *d, vfr_error *err) {
  json_t *per_op = json_object_get(d, "per_op");
  if ((int)json_array_size(per_op) != c->n_ops)
    return vfr_fail(err, VFR_EFORMAT, "%s/downstream.json: %zu ops, summary.json has %d", m->dir,
                    json_array_size(per_op), c->n_ops);
  for (int i = 0; i < c->n_ops; i++) {
    json_t *o = json_array_get(per_op, (size_t)i);
    if (strcmp(str(o, "op"), c->ops[i].op) || strcmp(str(o, "domain"), c->ops[i].domain))
      return vfr_fail(err, VFR_EFORMAT, "%s/downstream.json: op %d is %s:%s, summary.json has %s:%s", m->dir, i + 1,
                      str(o, "op"), str(o, "domain"), c->ops[i].op, c->ops[i].domain);
    m->accuracy_drop[i] = num(o, "accuracy_drop");
  }
  m->has_downstream = 1;
  free(m->protocol);
  m->protocol = dup_str(str(d, "protocol"));
  m->clean_accuracy = num(d, "clean_accuracy");
  return m->protocol ? VFR_OK : vfr_fail(err, VFR_ENOMEM, "out of memory");
}

/* curves.csv (model,op,level,mean_cos,std_cos,n): the rows of each op in per_op's order. */
static int take_curves(const vfr_compare *c, vfr_compare_model *m, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/curves.csv", m->dir);
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  int r = 1;
  for (int i = 0; i < c->n_ops && !rc; i++) {
    for (int k = 0; k < c->ops[i].n_levels; k++, r++) {
      if (r >= csv.row_count || csv.rows[r].count < 6 || strcmp(csv.rows[r].fields[1], c->ops[i].op)) {
        rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d: expected level %d of %s", path,
                      r < csv.row_count ? csv.rows[r].line : csv.row_count + 1, k + 1, c->ops[i].op);
        break;
      }
      const char *f = csv.rows[r].fields[3];
      m->curve[(size_t)i * (size_t)c->max_levels + (size_t)k] = f[0] ? strtod(f, NULL) : NAN;
    }
  }
  vfr_csv_free(&csv);
  return rc;
}

static int load_one(vfr_compare *c, int idx, const char *dir, const char *first, vfr_error *err) {
  vfr_compare_model *m = &c->models[idx];
  int rc;
  json_t *s = vfr_study_json_load(dir, "summary.json", 1, err, &rc);
  if (rc) return rc;
  json_t *per_op = json_object_get(s, "per_op");
  if (!json_is_array(per_op)) rc = vfr_fail(err, VFR_EFORMAT, "%s/summary.json: no per_op array", dir);
  else if (idx == 0) rc = take_ops(c, per_op, dir, err);
  else rc = same_ops(c, per_op, dir, first, err);
  if (!rc) {
    m->dir = dup_str(dir);
    m->name = dup_str(str(s, "model"));
    m->model_dir = dup_str(str(s, "model_dir"));
    m->protocol = dup_str("");
    m->images = (int)num(json_object_get(s, "images"), "used");
    m->clean_accuracy = NAN;
    size_t n = (size_t)c->n_ops, L = (size_t)c->max_levels;
    m->mean_dr = malloc(sizeof(double) * n * 3);
    m->curve = malloc(sizeof(double) * n * L);
    if (!m->dir || !m->name || !m->model_dir || !m->protocol || !m->mean_dr || !m->curve) {
      rc = vfr_fail(err, VFR_ENOMEM, "out of memory");
    } else {
      m->mean_rcs = m->mean_dr + n;
      m->accuracy_drop = m->mean_dr + 2 * n;
      for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(per_op, i);
        m->mean_dr[i] = num(json_object_get(o, "dr"), "mean");
        m->mean_rcs[i] = num(json_object_get(o, "r_cs"), "mean");
        m->accuracy_drop[i] = NAN;
      }
      for (size_t i = 0; i < n * L; i++) m->curve[i] = NAN;
    }
  }
  json_decref(s);
  if (!rc) rc = take_curves(c, m, err);
  if (!rc) {
    json_t *d = vfr_study_json_load(dir, "downstream.json", 0, err, &rc);
    if (d) rc = take_downstream(c, m, d, err);
    json_decref(d);
  }
  return rc;
}

/* label = name, or "name (dir)" when another study has the same model name. */
static int make_labels(vfr_compare *c, vfr_error *err) {
  for (int i = 0; i < c->n_models; i++) {
    vfr_compare_model *m = &c->models[i];
    int shared = 0;
    for (int j = 0; j < c->n_models; j++) shared |= j != i && !strcmp(c->models[j].name, m->name);
    size_t n = strlen(m->name) + strlen(m->dir) + 4;
    m->label = malloc(n);
    if (!m->label) return vfr_fail(err, VFR_ENOMEM, "out of memory");
    if (shared) snprintf(m->label, n, "%s (%s)", m->name, m->dir);
    else snprintf(m->label, n, "%s", m->name[0] ? m->name : m->dir);
  }
  return VFR_OK;
}

int vfr_compare_load(const char *const *dirs, int n, vfr_compare *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  if (n < 1) return vfr_fail(err, VFR_EINVAL, "compare: no study folders given");
  out->models = calloc((size_t)n, sizeof *out->models);
  if (!out->models) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  out->n_models = n;
  int rc = VFR_OK;
  for (int i = 0; i < n && !rc; i++) rc = load_one(out, i, dirs[i], dirs[0], err);
  if (!rc) rc = make_labels(out, err);
  if (rc) vfr_compare_free(out);
  return rc;
}

void vfr_compare_free(vfr_compare *c) {
  for (int i = 0; c->ops && i < c->n_ops; i++) {
    free(c->ops[i].op);
    free(c->ops[i].domain);
    free(c->ops[i].levels);
  }
  for (int i = 0; c->models && i < c->n_models; i++) {
    vfr_compare_model *m = &c->models[i];
    free(m->dir);
    free(m->name);
    free(m->label);
    free(m->model_dir);
    free(m->protocol);
    free(m->mean_dr);
    free(m->curve);
  }
  free(c->ops);
  free(c->models);
  memset(c, 0, sizeof *c);
}
