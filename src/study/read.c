/* Reading a finished study back from its published files (see "reading a finished study"
 * in include/vfrobust/study.h and docs/study.md). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/plan.h"
#include "vfrobust/study.h"

/* One embeddings/<stem>.npy file, read row by row. */
typedef struct npy_file {
  FILE *f;
  long data_offset; /* where the float32 data starts */
  int64_t rows;     /* first dimension (images) */
  int64_t per_row;  /* floats per image (d, or m x d) */
} npy_file;

struct vfr_study {
  char dir[4096];
  study_plan plan;
  char *model, *model_dir, *data;
  uint64_t seed;
  int perturb_after_preprocess;
  int n, d;
  char **names, **labels; /* (n) */
  double *dr;             /* (n, op_count) */
  npy_file clean;
  npy_file *ops;          /* (op_count) */
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

/* Opens path, parses the header of a '<f4' C-order array and checks its shape is
 * (n, inner...) with inner the product `per_row` given in dims. */
static int npy_open(npy_file *nf, const char *path, int ndim, const int64_t *dims, vfr_error *err) {
  memset(nf, 0, sizeof *nf);
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  unsigned char pre[12];
  char dict[4096];
  size_t hlen = 0;
  int rc = VFR_OK;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: not a .npy file", path);
  } else if (pre[6] == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
  } else if (fread(pre + 10, 1, 2, f) == 2) {
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated .npy header", path);
  }
  if (!rc && (hlen == 0 || hlen >= sizeof dict || fread(dict, 1, hlen, f) != hlen))
    rc = vfr_fail(err, VFR_EFORMAT, "%s: malformed .npy header", path);
  if (!rc) {
    dict[hlen] = '\0';
    if (!strstr(dict, "'<f4'") || !strstr(dict, "'fortran_order': False"))
      rc = vfr_fail(err, VFR_EFORMAT, "%s: not a C-order little-endian float32 array", path);
  }
  const char *s = rc ? NULL : strstr(dict, "'shape': (");
  if (!rc && !s) rc = vfr_fail(err, VFR_EFORMAT, "%s: .npy header without a shape", path);
  int64_t shape[4] = {0};
  int nd = 0;
  if (!rc) {
    s += strlen("'shape': (");
    while (nd < 4) {
      while (*s == ' ' || *s == ',') s++;
      if (*s == ')') break;
      char *end;
      long long v = strtoll(s, &end, 10);
      if (end == s || v < 0) break;
      shape[nd++] = v;
      s = end;
    }
    int ok = nd == ndim;
    for (int k = 1; ok && k < ndim; k++) ok = shape[k] == dims[k - 1];
    if (!ok) {
      char want[64] = "", have[64] = "";
      size_t w = 0, h = 0;
      w += (size_t)snprintf(want + w, sizeof want - w, "(N");
      for (int k = 1; k < ndim; k++) w += (size_t)snprintf(want + w, sizeof want - w, ", %lld", (long long)dims[k - 1]);
      snprintf(want + w, sizeof want - w, ")");
      h += (size_t)snprintf(have + h, sizeof have - h, "(");
      for (int k = 0; k < nd; k++) h += (size_t)snprintf(have + h, sizeof have - h, k ? ", %lld" : "%lld", (long long)shape[k]);
      snprintf(have + h, sizeof have - h, ")");
      rc = vfr_fail(err, VFR_EFORMAT, "%s: shape %s, summary.json says %s", path, have, want);
    }
  }
  if (rc) {
    fclose(f);
    return rc;
  }
  nf->f = f;
  nf->data_offset = ftell(f);
  nf->rows = shape[0];
  nf->per_row = 1;
  for (int k = 1; k < ndim; k++) nf->per_row *= shape[k];
  if (fseek(f, 0, SEEK_END) != 0 || ftell(f) - nf->data_offset < nf->rows * nf->per_row * 4) {
    fclose(f);
    nf->f = NULL;
    return vfr_fail(err, VFR_EFORMAT, "%s: truncated (shorter than its shape)", path);
  }
  return VFR_OK;
}

static int npy_read_row(npy_file *nf, int64_t i, float *out, const char *what, vfr_error *err) {
  if (fseek(nf->f, nf->data_offset + (long)(i * nf->per_row * 4), SEEK_SET) != 0 ||
      fread(out, 4, (size_t)nf->per_row, nf->f) != (size_t)nf->per_row)
    return vfr_fail(err, VFR_EIO, "%s: cannot read row %lld", what, (long long)i);
  return VFR_OK;
}

static const char *json_str(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* summary.json: the settings and the plan they make, checked against per_op. */
static int read_summary(vfr_study *s, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/summary.json", s->dir);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) {
    FILE *f = fopen(path, "rb");
    if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot read (%s); is %s a study folder?", path, strerror(errno), s->dir);
    fclose(f);
    return vfr_fail(err, VFR_EFORMAT, "%s: not valid JSON (line %d: %s)", path, je.line, je.text);
  }
  int rc = VFR_OK;
  json_t *per_op = json_object_get(j, "per_op"), *levels = json_object_get(j, "levels");
  json_t *seed = json_object_get(j, "seed");
  /* no ops: the study ran with the default list (vfr_eval_params.ops NULL) */
  const char *ops = json_str(j, "ops") ? json_str(j, "ops") : "editing9";
  if (!json_is_object(j) || !json_is_array(per_op) || !json_is_integer(levels) || !json_is_integer(seed) ||
      !json_is_integer(json_object_get(j, "embedding_dim")))
    rc = vfr_fail(err, VFR_EFORMAT, "%s: not a study summary (needs ops, levels, seed, embedding_dim, per_op)", path);
  if (!rc) {
    s->model = dup_or_empty(json_str(j, "model"));
    s->model_dir = dup_or_empty(json_str(j, "model_dir"));
    s->data = dup_or_empty(json_str(j, "data"));
    s->seed = (uint64_t)json_integer_value(seed);
    s->perturb_after_preprocess = json_is_true(json_object_get(j, "perturb_after_preprocess"));
    s->d = (int)json_integer_value(json_object_get(j, "embedding_dim"));
    if (!s->model || !s->model_dir || !s->data) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  if (!rc) {
    vfr_error perr;
    if (study_plan_make(ops, (int)json_integer_value(levels), &s->plan, &perr))
      rc = vfr_fail(err, VFR_EFORMAT, "%s: ops \"%s\": %s", path, ops, perr.message);
  }
  if (!rc && (int)json_array_size(per_op) != s->plan.op_count)
    rc = vfr_fail(err, VFR_EFORMAT, "%s: per_op has %d ops, \"%s\" makes %d", path, (int)json_array_size(per_op), ops,
                  s->plan.op_count);
  for (int k = 0; !rc && k < s->plan.op_count; k++) {
    json_t *o = json_array_get(per_op, (size_t)k);
    const char *name = json_str(o, "op"), *domain = json_str(o, "domain");
    json_t *lv = json_object_get(o, "levels");
    const study_op *op = &s->plan.ops[k];
    if (!name || !domain || strcmp(name, op->name) || strcmp(domain, op->domain) || !json_is_array(lv) ||
        (int)json_array_size(lv) != op->m)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: per_op[%d] is not op %s on %s with %d levels", path, k, op->name, op->domain,
                    op->m);
  }
  json_decref(j);
  return rc;
}

/* embeddings/images.csv: row,image,label. */
static int read_images(vfr_study *s, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/embeddings/images.csv", s->dir);
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  s->names = calloc((size_t)csv.row_count + 1, sizeof *s->names);
  s->labels = calloc((size_t)csv.row_count + 1, sizeof *s->labels);
  if (!s->names || !s->labels) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  if (!rc && (csv.row_count < 1 || csv.rows[0].count < 3 || strcmp(csv.rows[0].fields[1], "image")))
    rc = vfr_fail(err, VFR_EFORMAT, "%s: expected the header row,image,label", path);
  for (int r = 1; !rc && r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && !row->fields[0][0]) continue;
    if (row->count != 3 || atoi(row->fields[0]) != s->n) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: expected row %d with image and label", path, row->line, s->n);
      break;
    }
    s->names[s->n] = strdup(row->fields[1]);
    s->labels[s->n] = strdup(row->fields[2]);
    if (!s->names[s->n] || !s->labels[s->n]) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
    s->n++;
  }
  vfr_csv_free(&csv);
  return rc;
}

/* per_image.csv: one row per image (in images.csv order) and op. */
static int read_dr(vfr_study *s, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/per_image.csv", s->dir);
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  const int nops = s->plan.op_count;
  s->dr = malloc(sizeof(double) * ((size_t)s->n * nops + 1));
  if (!s->dr) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  int col[4] = {-1, -1, -1, -1}; /* image, op, domain, dr */
  const char *want[4] = {"image", "op", "domain", "dr"};
  for (int c = 0; !rc && csv.row_count > 0 && c < csv.rows[0].count; c++)
    for (int k = 0; k < 4; k++)
      if (!strcmp(csv.rows[0].fields[c], want[k])) col[k] = c;
  for (int k = 0; !rc && k < 4; k++)
    if (col[k] < 0) rc = vfr_fail(err, VFR_EFORMAT, "%s: no `%s` column", path, want[k]);
  int next = 0;
  for (int r = 1; !rc && r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && !row->fields[0][0]) continue;
    int i = next / (nops ? nops : 1), j = next % (nops ? nops : 1);
    char *end = NULL;
    double v = row->count == csv.rows[0].count ? strtod(row->fields[col[3]], &end) : 0;
    if (i >= s->n || row->count != csv.rows[0].count || strcmp(row->fields[col[0]], s->names[i]) ||
        strcmp(row->fields[col[1]], s->plan.ops[j].name) || strcmp(row->fields[col[2]], s->plan.ops[j].domain) ||
        !end || end == row->fields[col[3]]) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: expected image %s under op %s (%s) with a dr value", path, row->line,
                    i < s->n ? s->names[i] : "(none: more rows than images)", s->plan.ops[j].name,
                    s->plan.ops[j].domain);
      break;
    }
    s->dr[next++] = v;
  }
  if (!rc && next != s->n * nops)
    rc = vfr_fail(err, VFR_EFORMAT, "%s: %d rows, expected %d images x %d ops", path, next, s->n, nops);
  vfr_csv_free(&csv);
  return rc;
}

int vfr_study_open(const char *dir, vfr_study **out, vfr_error *err) {
  *out = NULL;
  if (!dir) return vfr_fail(err, VFR_EINVAL, "study: no folder given");
  vfr_study *s = calloc(1, sizeof *s);
  if (!s) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  int rc = read_summary(s, err);
  if (!rc) rc = read_images(s, err);
  if (!rc) rc = read_dr(s, err);
  char path[4600];
  if (!rc) {
    snprintf(path, sizeof path, "%s/embeddings/clean.npy", dir);
    int64_t dims[1] = {s->d};
    rc = npy_open(&s->clean, path, 2, dims, err);
    if (!rc && s->clean.rows != s->n)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: %lld rows, embeddings/images.csv lists %d images", path,
                    (long long)s->clean.rows, s->n);
  }
  if (!rc) {
    s->ops = calloc((size_t)s->plan.op_count + 1, sizeof *s->ops);
    if (!s->ops) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  }
  for (int j = 0; !rc && j < s->plan.op_count; j++) {
    char stem[STUDY_STEM_MAX];
    study_op_file_stem(&s->plan, j, stem, sizeof stem);
    snprintf(path, sizeof path, "%s/embeddings/%s.npy", dir, stem);
    int64_t dims[2] = {s->plan.ops[j].m, s->d};
    rc = npy_open(&s->ops[j], path, 3, dims, err);
    if (!rc && s->ops[j].rows != s->n)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: %lld rows, embeddings/images.csv lists %d images", path,
                    (long long)s->ops[j].rows, s->n);
  }
  if (rc) {
    vfr_study_close(s);
    return rc;
  }
  *out = s;
  return VFR_OK;
}

void vfr_study_close(vfr_study *s) {
  if (!s) return;
  if (s->clean.f) fclose(s->clean.f);
  for (int j = 0; s->ops && j < s->plan.op_count; j++)
    if (s->ops[j].f) fclose(s->ops[j].f);
  free(s->ops);
  for (int i = 0; s->names && s->names[i]; i++) free(s->names[i]);
  for (int i = 0; s->labels && s->labels[i]; i++) free(s->labels[i]);
  free(s->names);
  free(s->labels);
  free(s->dr);
  free(s->model);
  free(s->model_dir);
  free(s->data);
  study_plan_free(&s->plan);
  free(s);
}

void vfr_study_get_info(const vfr_study *s, vfr_study_info *info) {
  memset(info, 0, sizeof *info);
  info->images = s->n;
  info->dim = s->d;
  info->op_count = s->plan.op_count;
  info->rows = s->plan.rows;
  info->model = s->model;
  info->model_dir = s->model_dir;
  info->data = s->data;
  info->seed = s->seed;
  info->perturb_after_preprocess = s->perturb_after_preprocess;
}

int vfr_study_get_op(const vfr_study *s, int j, vfr_study_op *op, vfr_error *err) {
  if (j < 0 || j >= s->plan.op_count)
    return vfr_fail(err, VFR_EINVAL, "%s: op %d out of range (the study has %d)", s->dir, j, s->plan.op_count);
  const study_op *o = &s->plan.ops[j];
  op->name = o->name;
  op->domain = o->domain;
  op->levels = o->m;
  op->values = o->levels;
  op->level_text = (const char *const *)o->level_text;
  op->first_row = o->first_row;
  return VFR_OK;
}

const char *vfr_study_image_name(const vfr_study *s, int i) { return i >= 0 && i < s->n ? s->names[i] : NULL; }
const char *vfr_study_image_label(const vfr_study *s, int i) { return i >= 0 && i < s->n ? s->labels[i] : NULL; }

int vfr_study_embeddings(vfr_study *s, int i, float *out, vfr_error *err) {
  if (i < 0 || i >= s->n)
    return vfr_fail(err, VFR_EINVAL, "%s: image %d out of range (the study has %d)", s->dir, i, s->n);
  int rc = npy_read_row(&s->clean, i, out, "embeddings/clean.npy", err);
  for (int j = 0; !rc && j < s->plan.op_count; j++)
    rc = npy_read_row(&s->ops[j], i, out + (size_t)s->plan.ops[j].first_row * s->d, s->plan.ops[j].name, err);
  return rc;
}

double vfr_study_dr(const vfr_study *s, int i, int j) {
  if (i < 0 || i >= s->n || j < 0 || j >= s->plan.op_count) return NAN;
  return s->dr[(size_t)i * s->plan.op_count + j];
}

int vfr_study_variant(const vfr_study *s, int i, int row, const vfr_image *in, vfr_image *out, vfr_error *err) {
  if (i < 0 || i >= s->n || row < 1 || row >= s->plan.rows)
    return vfr_fail(err, VFR_EINVAL, "%s: image %d row %d out of range (%d images, rows 1..%d)", s->dir, i, row, s->n,
                    s->plan.rows - 1);
  return study_plan_apply(&s->plan, row, in, s->names[i], s->seed, out, err);
}
