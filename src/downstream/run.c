/* `vfrobust downstream`: the test set's study, a classifier, accuracies per op and level,
 * the prediction regressions, downstream.json and predictions.csv (see
 * include/vfrobust/downstream_run.h and docs/downstream.md). */
#include "vfrobust/downstream_run.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "downstream/zeroshot.h"
#include "model/family.h"
#include "model/config.h"
#include "core/files.h"
#include "study/csv.h"
#include "study/result_file.h"
#include "study/study_internal.h"
#include "vfrobust/dataset.h"
#include "vfrobust/image.h"
#include "vfrobust/metrics.h"
#include "vfrobust/model.h"
#include "vfrobust/npy.h"
#include "vfrobust/tokenizer.h"

/* Test images classified per pass (each brings 1 + sum of levels embeddings). */
#define IMAGES_PER_PASS 64

const char *vfr_protocol_name(vfr_protocol protocol) {
  switch (protocol) {
    case VFR_PROTOCOL_LINEAR: return "linear";
    case VFR_PROTOCOL_KNN: return "knn";
    case VFR_PROTOCOL_ZEROSHOT: return "zeroshot";
  }
  return NULL;
}

int vfr_protocol_parse(const char *name, vfr_protocol *out, vfr_error *err) {
  for (int p = VFR_PROTOCOL_LINEAR; p <= VFR_PROTOCOL_ZEROSHOT; p++)
    if (name && !strcmp(name, vfr_protocol_name((vfr_protocol)p))) {
      *out = (vfr_protocol)p;
      return VFR_OK;
    }
  return vfr_fail(err, VFR_EINVAL, "%s: unknown protocol (linear, knn or zeroshot)", name ? name : "(null)");
}

vfr_downstream_params vfr_downstream_default_params(void) {
  vfr_downstream_params p;
  memset(&p, 0, sizeof p);
  p.study = vfr_eval_default_params();
  p.protocol = VFR_PROTOCOL_LINEAR;
  p.probe = vfr_linear_probe_default_params();
  p.knn = vfr_knn_default_params();
  p.bins = 10;
  return p;
}

int vfr_downstream_check(const vfr_downstream_params *p, vfr_error *err) {
  if (!p->study.model_dir || !p->study.data || !p->study.out_dir)
    return vfr_fail(err, VFR_EINVAL, "downstream: the model, the test set and the output folder are required");
  if (!vfr_protocol_name(p->protocol)) return vfr_fail(err, VFR_EINVAL, "downstream: unknown protocol %d", (int)p->protocol);
  if (p->protocol != VFR_PROTOCOL_ZEROSHOT && !p->train_dir)
    return vfr_fail(err, VFR_EINVAL, "downstream: the %s protocol needs a train set", vfr_protocol_name(p->protocol));
  if (p->study.shards > 1) return vfr_fail(err, VFR_EINVAL, "downstream: runs in one process (no sharding)");
  if (p->protocol == VFR_PROTOCOL_KNN && (p->knn.k < 1 || !(p->knn.temperature > 0)))
    return vfr_fail(err, VFR_EINVAL, "downstream: k-NN needs k >= 1 and a temperature > 0");
  if (p->protocol != VFR_PROTOCOL_ZEROSHOT) {
    if (p->templates_file)
      return vfr_fail(err, VFR_EINVAL, "%s: templates are for the zeroshot protocol only", p->templates_file);
    if (p->classes)
      return vfr_fail(err, VFR_EINVAL, "%s: class names are for the zeroshot protocol only", p->classes);
    return VFR_OK;
  }
  vfr_model_config cfg;
  int rc = vfr_model_config_read(p->study.model_dir, &cfg, err);
  if (rc) return rc;
  const model_family *fam = family_of(cfg.vision.family);
  if (!fam || !fam->text)
    return vfr_fail(err, VFR_EINVAL, "%s: zero-shot needs a CLIP model with its text tower (this is '%s'); use --protocol linear or knn",
                    p->study.model_dir, cfg.vision.model_type);
  if (!cfg.text.present)
    return vfr_fail(err, VFR_EINVAL, "%s: model_type '%s' has no text tower: zero-shot needs a full CLIP folder",
                    p->study.model_dir, cfg.vision.model_type);
  vfr_tokenizer *tok = NULL;
  rc = vfr_tokenizer_load(p->study.model_dir, &tok, err);
  vfr_tokenizer_free(tok);
  if (rc) return rc;
  char **templates = NULL;
  int count = 0;
  rc = vfr_zeroshot_templates_read(p->templates_file, &templates, &count, err);
  vfr_zeroshot_templates_free(templates, count);
  if (!rc && p->classes && strcmp(p->classes, "imagenet") != 0)
    rc = vfr_fail(err, VFR_EINVAL, "%s: unknown class names (imagenet is the one built-in set)",
                  p->classes);
  return rc;
}

/* ---- small helpers ------------------------------------------------------------------- */

static void normalize_rows(float *x, int64_t n, int d) {
  for (int64_t i = 0; i < n; i++) {
    float *r = x + i * d;
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)r[j] * r[j];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (int j = 0; j < d; j++) r[j] = (float)(r[j] * inv);
  }
}

/* ---- train embeddings (cached in OUT/train_embeddings.npy) ----------------------------- */

typedef struct train_set {
  float *embeddings; /* (n, d) raw */
  int *item;         /* (n) index into the train dataset of each row */
  int n, d;
  int skipped, resumed;
} train_set;

/* Everything that makes cached train embeddings valid: the model files and the list. */
static uint64_t train_fingerprint(const char *model_dir, const vfr_dataset *ds) {
  uint64_t h = study_model_fingerprint(vfr_fingerprint(VFR_FINGERPRINT_INIT, "train-v1", 8), model_dir);
  for (int i = 0; i < ds->count; i++) {
    h = vfr_fingerprint(h, ds->items[i].name, strlen(ds->items[i].name) + 1);
    h = vfr_fingerprint(h, &ds->items[i].label, sizeof ds->items[i].label);
  }
  return h;
}

/* Reads the cache when its fingerprint matches; returns 1 when it was used. */
static int train_cache_read(const char *out_dir, uint64_t fp, const vfr_dataset *ds, train_set *t) {
  char path[4096];
  snprintf(path, sizeof path, "%s/work/train.fingerprint", out_dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long stored = 0;
  int ok = fscanf(f, "%llx", &stored) == 1 && stored == fp;
  fclose(f);
  if (!ok) return 0;
  snprintf(path, sizeof path, "%s/train_images.csv", out_dir);
  vfr_csv csv;
  if (vfr_csv_read(path, &csv, NULL) != VFR_OK) return 0;
  float *emb = NULL;
  int64_t rows = 0, cols = 0;
  int *item = malloc(sizeof(int) * (size_t)(ds->count + 1));
  int n = 0, next = 0;
  ok = item && csv.row_count >= 1; /* a header, then "row,<image>,<label>" rows */
  /* Each row's image is matched against the list in order. */
  for (int r = 1; ok && r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && row->fields[0][0] == '\0') continue;
    if (row->count < 2) { ok = 0; break; }
    int found = -1;
    for (; next < ds->count; next++)
      if (!strcmp(row->fields[1], ds->items[next].name)) {
        found = next++;
        break;
      }
    if (found < 0 || atoi(row->fields[0]) != n) { ok = 0; break; }
    item[n++] = found;
  }
  vfr_csv_free(&csv);
  snprintf(path, sizeof path, "%s/train_embeddings.npy", out_dir);
  if (ok) ok = vfr_npy_read_f32(path, &emb, &rows, &cols, NULL) == VFR_OK && rows == n && n > 0;
  if (!ok) {
    free(item);
    free(emb);
    return 0;
  }
  t->embeddings = emb;
  t->item = item;
  t->n = n;
  t->d = (int)cols;
  t->skipped = ds->count - n;
  t->resumed = 1;
  return 1;
}

static int train_cache_write(const char *out_dir, uint64_t fp, const vfr_dataset *ds, const train_set *t,
                             vfr_error *err) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/train_embeddings.npy", out_dir);
  int rc = vfr_npy_write_f32(path, t->embeddings, t->n, t->d, err);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/train_images.csv", out_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  fputs("row,image,label\n", f);
  for (int r = 0; r < t->n; r++) {
    const vfr_dataset_item *it = &ds->items[t->item[r]];
    fprintf(f, "%d,", r);
    vfr_csv_write_field(f, it->name);
    fputc(',', f);
    vfr_csv_write_field(f, ds->class_names[it->label]);
    fputc('\n', f);
  }
  if ((rc = vfr_atomic_commit(f, tmp, path, err))) return rc;
  snprintf(path, sizeof path, "%s/work/train.fingerprint", out_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  f = fopen(tmp, "w");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  fprintf(f, "%016llx\n", (unsigned long long)fp);
  return vfr_atomic_commit(f, tmp, path, err);
}

/* Embeds the train images in batches; an image that cannot be read or that the model
 * refuses is skipped (counted), as in the study. */
static int train_embed(const vfr_downstream_params *p, const vfr_dataset *ds, train_set *t, vfr_error *err) {
  vfr_model_params mp = vfr_model_default_params();
  if (p->study.threads > 0) mp.threads = p->study.threads;
  vfr_model *model = NULL;
  int rc = vfr_model_load(p->study.model_dir, &mp, &model, err);
  if (rc) return rc;
  vfr_model_info info;
  vfr_model_get_info(model, &info);
  const int d = info.embed_dim, batch = p->study.batch > 0 ? p->study.batch : 32;
  t->d = d;
  t->embeddings = malloc(sizeof(float) * (size_t)ds->count * d);
  t->item = malloc(sizeof(int) * (size_t)ds->count);
  vfr_image *imgs = calloc((size_t)batch, sizeof *imgs);
  int *which = malloc(sizeof(int) * (size_t)batch);
  float *out = malloc(sizeof(float) * (size_t)batch * d);
  if (!t->embeddings || !t->item || !imgs || !which || !out) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->train_dir);
  vfr_progress pr = {0};
  pr.total = ds->count;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int start = 0; start < ds->count && !rc; start += batch) {
    int nb = 0;
    for (int i = start; i < ds->count && i < start + batch; i++) {
      vfr_error ierr;
      if (vfr_image_load(ds->items[i].path, NULL, &imgs[nb], &ierr) == VFR_OK) which[nb++] = i;
      else t->skipped++;
    }
    vfr_error merr;
    int st = nb ? vfr_model_embed_images(model, imgs, nb, out, &merr) : VFR_OK;
    if (st == VFR_EINVAL || st == VFR_ELIMIT || st == VFR_EFORMAT) {
      /* Some image of the batch is refused: embed one by one to keep the others. */
      for (int b = 0; b < nb && !rc; b++) {
        int one = vfr_model_embed_images(model, &imgs[b], 1, out + (size_t)b * d, &merr);
        if (one == VFR_EINVAL || one == VFR_ELIMIT || one == VFR_EFORMAT) which[b] = -1;
        else if (one) rc = vfr_fail(err, one, "%s", merr.message);
      }
    } else if (st) {
      rc = vfr_fail(err, st, "%s", merr.message);
    }
    for (int b = 0; b < nb; b++) {
      if (!rc && which[b] >= 0) {
        memcpy(t->embeddings + (size_t)t->n * d, out + (size_t)b * d, sizeof(float) * (size_t)d);
        t->item[t->n++] = which[b];
      } else if (!rc) {
        t->skipped++;
      }
      vfr_image_free(&imgs[b]);
    }
    pr.done = start + batch < ds->count ? start + batch : ds->count;
    pr.skipped = t->skipped;
    pr.current = ds->items[pr.done - 1].name;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pr.elapsed_s = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
    pr.rate = pr.elapsed_s > 0 ? pr.done / pr.elapsed_s : 0;
    pr.eta_s = pr.rate > 0 ? (pr.total - pr.done) / pr.rate : -1;
    if (!rc && p->train_progress) p->train_progress(p->train_progress_ctx, &pr);
  }
  free(imgs);
  free(which);
  free(out);
  vfr_model_free(model);
  if (!rc && t->n == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no train image could be used", p->train_dir);
  return rc;
}

static void train_free(train_set *t) {
  free(t->embeddings);
  free(t->item);
  memset(t, 0, sizeof *t);
}

/* ---- the classifier -------------------------------------------------------------------- */

typedef struct classifier {
  vfr_protocol protocol;
  int class_count;           /* K */
  const char **class_names;  /* (K) names of the classes it predicts (borrowed) */
  int *test_class;           /* (K) the test set's class index of each, -1 when absent */
  int d;                     /* embedding width it expects */
  vfr_linear_probe probe;    /* linear */
  int have_probe;
  float *train;              /* knn: (n_train, d) */
  int *train_labels;         /* knn: (n_train) in [0, K) */
  int n_train;
  vfr_knn_params knn;
  float *text;               /* zeroshot: (K, d) unit rows */
} classifier;

static void classifier_free(classifier *c) {
  if (c->have_probe) vfr_linear_probe_free(&c->probe);
  free((void *)c->class_names);
  free(c->test_class);
  free(c->train);
  free(c->train_labels);
  free(c->text);
  memset(c, 0, sizeof *c);
}

/* Maps each classifier class to the test set's class of the same name. */
static int map_to_test(classifier *c, const vfr_dataset *test, vfr_error *err) {
  c->test_class = malloc(sizeof(int) * (size_t)c->class_count);
  if (!c->test_class) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  for (int k = 0; k < c->class_count; k++) {
    c->test_class[k] = -1;
    for (int j = 0; j < test->class_count; j++)
      if (!strcmp(c->class_names[k], test->class_names[j])) c->test_class[k] = j;
  }
  return VFR_OK;
}

/* Linear probe or k-NN from the train embeddings; the classes are those of the train set
 * that have at least one used image, in the train set's order. */
static int classifier_from_train(const vfr_downstream_params *p, const vfr_dataset *ds, train_set *t,
                                 classifier *c, vfr_error *err) {
  int *dense = malloc(sizeof(int) * (size_t)(ds->class_count + 1));
  int *labels = malloc(sizeof(int) * (size_t)t->n);
  c->class_names = malloc(sizeof(char *) * (size_t)(ds->class_count + 1));
  if (!dense || !labels || !c->class_names) {
    free(dense);
    free(labels);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->train_dir);
  }
  for (int k = 0; k < ds->class_count; k++) dense[k] = -1;
  for (int r = 0; r < t->n; r++) dense[ds->items[t->item[r]].label] = 1;
  c->class_count = 0;
  for (int k = 0; k < ds->class_count; k++)
    if (dense[k] > 0) {
      dense[k] = c->class_count;
      c->class_names[c->class_count++] = ds->class_names[k];
    }
  for (int r = 0; r < t->n; r++) labels[r] = dense[ds->items[t->item[r]].label];
  free(dense);
  c->d = t->d;
  int rc = VFR_OK;
  if (p->protocol == VFR_PROTOCOL_LINEAR) {
    /* The probe sees L2-normalised embeddings, as the robustness metrics do. */
    normalize_rows(t->embeddings, t->n, t->d);
    rc = vfr_linear_probe_fit(t->embeddings, labels, t->n, t->d, c->class_count, &p->probe, &c->probe, err);
    if (rc) {
      char why[VFR_ERROR_MESSAGE_MAX];
      snprintf(why, sizeof why, "%s", err ? err->message : "");
      vfr_fail(err, rc, "%s: %s", p->train_dir, why);
    } else {
      c->have_probe = 1;
    }
    free(labels);
  } else {
    c->train = t->embeddings;
    c->train_labels = labels;
    c->n_train = t->n;
    c->knn = p->knn;
    t->embeddings = NULL;
  }
  return rc;
}

/* predicted (n) for query (n, d), raw embeddings; query may be normalised in place. */
static int classify(const classifier *c, float *query, int n, int *predicted, vfr_error *err) {
  switch (c->protocol) {
    case VFR_PROTOCOL_LINEAR:
      normalize_rows(query, n, c->d);
      return vfr_linear_probe_predict(&c->probe, query, n, c->d, predicted, err);
    case VFR_PROTOCOL_KNN:
      return vfr_knn_classify(c->train, c->train_labels, c->n_train, c->d, c->class_count, query, n, &c->knn,
                              predicted, NULL, err);
    case VFR_PROTOCOL_ZEROSHOT:
      return vfr_zeroshot_classify(c->text, c->class_count, c->d, query, n, predicted, err);
  }
  return vfr_fail(err, VFR_EINTERNAL, "downstream: unknown protocol");
}

/* ---- classifying the study's embeddings ------------------------------------------------ */

/* Per used test image: its dataset index, its predictions for every row of the plan, and
 * its DR under every op. */
typedef struct test_results {
  int used;
  int rows;       /* 1 + sum of levels */
  int *item;      /* (used) dataset index */
  int *predicted; /* (used, rows) classifier class */
  double *dr;     /* (used, op_count) */
} test_results;

static void test_results_free(test_results *r) {
  free(r->item);
  free(r->predicted);
  free(r->dr);
  memset(r, 0, sizeof *r);
}

static int classify_pass(const classifier *c, float *query, int nq, int *predicted, const char *out_dir,
                         vfr_error *err) {
  int rc = classify(c, query, nq, predicted, err);
  if (rc) {
    char why[VFR_ERROR_MESSAGE_MAX];
    snprintf(why, sizeof why, "%s", err ? err->message : "");
    vfr_fail(err, rc, "%s: classifying the test embeddings: %s", out_dir, why);
  }
  return rc;
}

static int classify_study(const study_context *ctx, const classifier *c, const char *out_dir, test_results *res,
                          vfr_error *err) {
  const study_plan *plan = &ctx->plan;
  const vfr_dataset *ds = &ctx->dataset;
  const int rows = plan->rows, n = ds->count, d = c->d;
  int max_m = 1;
  for (int j = 0; j < plan->op_count; j++)
    if (plan->ops[j].m > max_m) max_m = plan->ops[j].m;
  memset(res, 0, sizeof *res);
  res->rows = rows;
  res->item = malloc(sizeof(int) * (size_t)(n + 1));
  res->predicted = malloc(sizeof(int) * (size_t)(n + 1) * rows);
  res->dr = malloc(sizeof(double) * (size_t)(n + 1) * (plan->op_count + 1));
  float *query = malloc(sizeof(float) * (size_t)IMAGES_PER_PASS * rows * d);
  double *cos = malloc(sizeof(double) * (size_t)max_m);
  int rc = VFR_OK, in_pass = 0;
  if (!res->item || !res->predicted || !res->dr || !query || !cos) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", out_dir);
  for (int i = 0; i < n && !rc; i++) {
    vfr_image_result r;
    rc = vfr_result_read(ctx->work_dir, ctx->fingerprint, ds->items[i].name, vfr_image_identity_of(ds->items[i].path),
                         &r, err);
    if (rc) break;
    if (r.status != 0) {
      vfr_result_free(&r);
      continue;
    }
    if ((int)r.rows != rows || (int)r.dim != d) {
      char path[4200];
      vfr_result_path(path, sizeof path, ctx->work_dir, ds->items[i].name);
      rc = vfr_fail(err, VFR_EFORMAT, "%s: holds %u x %u embeddings, the %s classifier expects %d x %d", path, r.rows,
                    r.dim, vfr_protocol_name(c->protocol), rows, d);
      vfr_result_free(&r);
      break;
    }
    if (ds->items[i].label < 0) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: has no class label (the test set must be an ImageFolder or a CSV with labels)",
                    ds->items[i].name);
      vfr_result_free(&r);
      break;
    }
    /* The same DR as per_image.csv: the study's own computation on the same embeddings. */
    for (int j = 0; j < plan->op_count && !rc; j++) {
      vfr_robustness rob;
      rc = vfr_robustness_compute_f32(r.embeddings, r.embeddings + (size_t)plan->ops[j].first_row * d, plan->ops[j].m, d,
                                      &rob, cos, err);
      res->dr[(size_t)res->used * plan->op_count + j] = rob.dr;
    }
    if (!rc) {
      memcpy(query + (size_t)in_pass * rows * d, r.embeddings, sizeof(float) * (size_t)rows * d);
      res->item[res->used++] = i;
      in_pass++;
    }
    vfr_result_free(&r);
    if (!rc && in_pass == IMAGES_PER_PASS) {
      rc = classify_pass(c, query, in_pass * rows, res->predicted + (size_t)(res->used - in_pass) * rows, out_dir, err);
      in_pass = 0;
    }
  }
  if (!rc && in_pass > 0)
    rc = classify_pass(c, query, in_pass * rows, res->predicted + (size_t)(res->used - in_pass) * rows, out_dir, err);
  if (!rc && res->used == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no test image could be used", out_dir);
  free(query);
  free(cos);
  return rc;
}

/* ---- accuracies, regressions, outputs ---------------------------------------------------- */

static int is_correct(const classifier *c, const vfr_dataset *ds, const test_results *res, int u, int row) {
  return c->test_class[res->predicted[(size_t)u * res->rows + row]] == ds->items[res->item[u]].label;
}

/* How per_level and predictions.csv name a study op: its name ("jpeg"), or when the study
 * has the op on several domains, name:domain ("jpeg:10..50", a SPEC) so that no two
 * (op, level) rows collide. */
typedef char op_label[512];

static void make_op_labels(const study_plan *plan, op_label *labels) {
  for (int j = 0; j < plan->op_count; j++) {
    int repeated = 0;
    for (int i = 0; i < plan->op_count; i++) repeated |= i != j && !strcmp(plan->ops[i].name, plan->ops[j].name);
    if (repeated) snprintf(labels[j], sizeof labels[j], "%s:%s", plan->ops[j].name, plan->ops[j].domain);
    else snprintf(labels[j], sizeof labels[j], "%s", plan->ops[j].name);
  }
}

static int write_predictions(const char *out_dir, const study_context *ctx, const classifier *c,
                             const test_results *res, const op_label *labels, vfr_error *err) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/predictions.csv", out_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  const vfr_dataset *ds = &ctx->dataset;
  fputs("image,op,level,label,predicted\n", f);
  for (int u = 0; u < res->used; u++) {
    const vfr_dataset_item *it = &ds->items[res->item[u]];
    const int *pred = res->predicted + (size_t)u * res->rows;
    vfr_csv_write_field(f, it->name);
    fputs(",clean,,", f);
    vfr_csv_write_field(f, ds->class_names[it->label]);
    fputc(',', f);
    vfr_csv_write_field(f, c->class_names[pred[0]]);
    fputc('\n', f);
    for (int j = 0; j < ctx->plan.op_count; j++) {
      const study_op *op = &ctx->plan.ops[j];
      for (int k = 0; k < op->m; k++) {
        vfr_csv_write_field(f, it->name);
        fputc(',', f);
        vfr_csv_write_field(f, labels[j]);
        fputc(',', f);
        vfr_csv_write_field(f, op->level_text[k]);
        fputc(',', f);
        vfr_csv_write_field(f, ds->class_names[it->label]);
        fputc(',', f);
        vfr_csv_write_field(f, c->class_names[pred[op->first_row + k]]);
        fputc('\n', f);
      }
    }
  }
  return vfr_atomic_commit(f, tmp, path, err);
}


static int analyse_and_write(const vfr_downstream_params *p, const study_context *ctx, const classifier *c,
                             const test_results *res, vfr_downstream_summary *summary, vfr_error *err) {
  const study_plan *plan = &ctx->plan;
  const vfr_dataset *ds = &ctx->dataset;
  const int used = res->used, nops = plan->op_count;
  int clean_correct = 0;
  for (int u = 0; u < used; u++) clean_correct += is_correct(c, ds, res, u, 0);
  const double clean_acc = (double)clean_correct / used;

  int points = 0;
  for (int j = 0; j < nops; j++) points += used * plan->ops[j].m;
  vfr_level_accuracy *levels = calloc((size_t)(plan->rows + 1), sizeof *levels);
  vfr_op_drop *drops = calloc((size_t)(nops + 1), sizeof *drops);
  double *x = malloc(sizeof(double) * (size_t)(points + 1)), *mean_dr = malloc(sizeof(double) * (size_t)(nops + 1));
  double *drop = malloc(sizeof(double) * (size_t)(nops + 1));
  int *y = malloc(sizeof(int) * (size_t)(points + 1)), *op_id = malloc(sizeof(int) * (size_t)(nops + 1));
  op_label *labels = malloc(sizeof(op_label) * (size_t)(nops + 1));
  int rc = VFR_OK;
  if (!levels || !drops || !x || !mean_dr || !drop || !y || !op_id || !labels) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->study.out_dir);
    goto done;
  }
  make_op_labels(plan, labels);
  int nl = 0, np = 0;
  for (int j = 0; j < nops; j++) {
    const study_op *op = &plan->ops[j];
    double acc_sum = 0, dr_sum = 0;
    for (int u = 0; u < used; u++) dr_sum += res->dr[(size_t)u * nops + j];
    for (int k = 0; k < op->m; k++) {
      int correct = 0;
      for (int u = 0; u < used; u++) {
        int ok = is_correct(c, ds, res, u, op->first_row + k);
        correct += ok;
        /* Per-image regression point: this image's DR under the op against whether it is
         * classified correctly at this level. */
        x[np] = res->dr[(size_t)u * nops + j];
        y[np++] = ok;
      }
      levels[nl] = (vfr_level_accuracy){labels[j], op->levels[k], (double)correct / used, used};
      acc_sum += levels[nl++].accuracy;
    }
    mean_dr[j] = dr_sum / used;
    drop[j] = clean_acc - acc_sum / op->m;
    drops[j] = (vfr_op_drop){op->name, op->domain, mean_dr[j], drop[j]};
    /* The same op on several domains is left out together by the leave-one-op-out error. */
    op_id[j] = j;
    for (int i = 0; i < j; i++)
      if (!strcmp(plan->ops[i].name, op->name)) {
        op_id[j] = op_id[i];
        break;
      }
  }

  /* A regression that cannot be fitted (one op, all DR equal, ...) is written as null. */
  vfr_per_image_regression per_image;
  vfr_across_ops_regression across;
  memset(&per_image, 0, sizeof per_image);
  int have_per_image = np >= 2 && vfr_per_image_regression_compute(x, y, np, p->bins, &per_image, NULL) == VFR_OK;
  int have_across = nops >= 2 && vfr_across_ops_regression_compute(op_id, mean_dr, drop, nops, &across, NULL) == VFR_OK;

  vfr_downstream_report report = {vfr_protocol_name(p->protocol), clean_acc, levels, nl, drops, nops,
                                  have_per_image ? &per_image : NULL, have_across ? &across : NULL};
  char path[4096];
  snprintf(path, sizeof path, "%s/downstream.json", p->study.out_dir);
  rc = vfr_downstream_report_write_json(path, &report, err);
  if (!rc) rc = write_predictions(p->study.out_dir, ctx, c, res, (const op_label *)labels, err);
  if (have_per_image) vfr_per_image_regression_free(&per_image);
  summary->clean_accuracy = clean_acc;
  summary->test_used = used;
done:
  free(levels);
  free(drops);
  free(x);
  free(y);
  free(mean_dr);
  free(drop);
  free(op_id);
  free(labels);
  return rc;
}

/* ---- the run ------------------------------------------------------------------------------ */

int vfr_downstream_run(const vfr_downstream_params *p, vfr_downstream_summary *summary, vfr_error *err) {
  vfr_downstream_summary local;
  if (!summary) summary = &local;
  memset(summary, 0, sizeof *summary);
  int rc = vfr_downstream_check(p, err);
  if (rc) return rc;

  /* Both sets are listed first: a wrong path or an unlabelled set fails before the (long)
   * study. */
  vfr_dataset train = {0}, test = {0};
  train_set t = {0};
  vfr_study_session session = {-1, 0, 0, NULL, 0};
  if ((rc = vfr_dataset_open(p->study.data, &test, err))) return rc;
  vfr_dataset_limit_seeded(&test, p->study.per_class, p->study.limit, p->study.seed);
  for (int i = 0; i < test.count && !rc; i++)
    if (test.items[i].label < 0)
      rc = vfr_fail(err, VFR_EINVAL, "%s: the test set has no class labels (use an ImageFolder or a CSV with a label column)",
                    p->study.data);
  if (rc) {
    vfr_dataset_free(&test);
    return rc;
  }
  if (p->protocol == VFR_PROTOCOL_ZEROSHOT && p->classes) { /* every folder names a class */
    const char **names = NULL;
    if ((rc = vfr_zeroshot_class_names(p->classes, test.class_names, test.class_count, &names, err)) && err) {
      char why[VFR_ERROR_MESSAGE_MAX];
      snprintf(why, sizeof why, "%s", err->message);
      vfr_fail(err, rc, "%s: %s", p->study.data, why);
    }
    free(names);
  }
  if (!rc && p->protocol != VFR_PROTOCOL_ZEROSHOT) {
    if ((rc = vfr_dataset_open(p->train_dir, &train, err))) {
      vfr_dataset_free(&test);
      return rc;
    }
    vfr_dataset_limit(&train, p->train_per_class, 0);
    for (int i = 0; i < train.count && !rc; i++)
      if (train.items[i].label < 0)
        rc = vfr_fail(err, VFR_EINVAL, "%s: the train set has no class labels (use an ImageFolder or a CSV with a label column)",
                      p->train_dir);
    /* The classifier predicts train classes: a test set with none of them cannot be scored. */
    int shared = 0;
    for (int a = 0; a < train.class_count && !rc && !shared; a++)
      for (int b = 0; b < test.class_count && !shared; b++) shared = !strcmp(train.class_names[a], test.class_names[b]);
    if (!rc && !shared)
      rc = vfr_fail(err, VFR_EINVAL, "%s: none of its %d classes (%s, ...) is a class of the train set %s (%s, ...)",
                    p->study.data, test.class_count, test.class_names[0], p->train_dir,
                    train.class_count ? train.class_names[0] : "none");
  }
  vfr_dataset_free(&test);
  if (rc) goto done_train;

  if ((rc = vfr_study_begin(&p->study, &session, err))) goto done_train;
  if ((rc = vfr_eval_compute(&p->study, err))) goto done_train;
  if ((rc = vfr_eval_merge(&p->study, err))) goto done_train;

  study_context ctx;
  if ((rc = study_context_open(&p->study, &ctx, err))) goto done_train;
  classifier c;
  memset(&c, 0, sizeof c);
  c.protocol = p->protocol;
  if (p->protocol == VFR_PROTOCOL_ZEROSHOT) {
    char **templates = NULL;
    int count = 0;
    /* The classes are the test set's folder (or CSV label) names, all of them. */
    const vfr_dataset *ts = &ctx.dataset;
    const char **text = NULL;
    rc = vfr_zeroshot_templates_read(p->templates_file, &templates, &count, err);
    if (!rc && (rc = vfr_zeroshot_class_names(p->classes, ts->class_names, ts->class_count, &text, err)) && err) {
      char why[VFR_ERROR_MESSAGE_MAX];
      snprintf(why, sizeof why, "%s", err->message);
      vfr_fail(err, rc, "%s: %s", p->study.data, why);
    }
    if (!rc) rc = vfr_zeroshot_class_embeddings(p->study.model_dir, text, ts->class_count, templates, count,
                                                p->study.threads, &c.text, &c.d, err);
    free(text);
    vfr_zeroshot_templates_free(templates, count);
    c.class_count = ts->class_count;
    c.class_names = malloc(sizeof(char *) * (size_t)(ts->class_count + 1));
    if (!rc && !c.class_names) rc = vfr_fail(err, VFR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < ts->class_count; k++) c.class_names[k] = ts->class_names[k];
  } else {
    uint64_t fp = train_fingerprint(p->study.model_dir, &train);
    if (!(p->study.resume && train_cache_read(p->study.out_dir, fp, &train, &t))) {
      rc = train_embed(p, &train, &t, err);
      if (!rc) rc = train_cache_write(p->study.out_dir, fp, &train, &t, err);
    }
    summary->train_used = t.n;
    summary->train_skipped = t.skipped;
    summary->train_resumed = t.resumed;
    if (!rc) rc = classifier_from_train(p, &train, &t, &c, err);
  }
  if (!rc) rc = map_to_test(&c, &ctx.dataset, err);
  summary->class_count = c.class_count;

  test_results res;
  memset(&res, 0, sizeof res);
  if (!rc) rc = classify_study(&ctx, &c, p->study.out_dir, &res, err);
  if (!rc) rc = analyse_and_write(p, &ctx, &c, &res, summary, err);
  test_results_free(&res);
  classifier_free(&c);
  study_context_close(&ctx);
done_train:
  vfr_study_end(&session);
  train_free(&t);
  vfr_dataset_free(&train);
  return rc;
}
