/* `vfrobust downstream`: the test set's study, a classifier, accuracies per op and level,
 * the prediction regressions, downstream.json and predictions.csv (see
 * include/vfrobust/downstream_run.h and docs/downstream.md). The protocols are in
 * classifiers.c, the train embeddings in train_cache.c, the study is read through
 * vfr_study_open. */
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

#include "core/files.h"
#include "downstream/depth_run.h"
#include "downstream/protocol.h"
#include "downstream/study_view.h"
#include "downstream/train_cache.h"
#include "downstream/zeroshot.h"
#include "model/family.h"
#include "model/config.h"
#include "vfrobust/dataset.h"
#include "vfrobust/model.h"
#include "vfrobust/tokenizer.h"

/* Test images classified per pass (each brings 1 + sum of levels embeddings). */
#define IMAGES_PER_PASS 64

const char *vfr_protocol_name(vfr_protocol protocol) {
  switch (protocol) {
    case VFR_PROTOCOL_LINEAR: return "linear";
    case VFR_PROTOCOL_KNN: return "knn";
    case VFR_PROTOCOL_ZEROSHOT: return "zeroshot";
    case VFR_PROTOCOL_DEPTH: return "depth";
  }
  return NULL;
}

int vfr_protocol_parse(const char *name, vfr_protocol *out, vfr_error *err) {
  for (int p = VFR_PROTOCOL_LINEAR; p <= VFR_PROTOCOL_DEPTH; p++)
    if (name && !strcmp(name, vfr_protocol_name((vfr_protocol)p))) {
      *out = (vfr_protocol)p;
      return VFR_OK;
    }
  return vfr_fail(err, VFR_EINVAL, "%s: unknown protocol (linear, knn, zeroshot or depth)", name ? name : "(null)");
}

vfr_downstream_params vfr_downstream_default_params(void) {
  vfr_downstream_params p;
  memset(&p, 0, sizeof p);
  p.study = vfr_eval_default_params();
  p.protocol = VFR_PROTOCOL_LINEAR;
  p.probe = vfr_linear_probe_default_params();
  p.knn = vfr_knn_default_params();
  p.bins = 10;
  p.depth.scale = 1000;
  p.depth.min_depth = 1e-3;
  p.depth.max_depth = 10;
  p.depth.layers = 1;
  p.depth.ridge = 0.1;
  p.depth.upsample = 4;
  p.depth.strips = 4;
  return p;
}

int vfr_downstream_check(const vfr_downstream_params *p, vfr_error *err) {
  if (!p->study.model_dir || !p->study.data || !p->study.out_dir)
    return vfr_fail(err, VFR_EINVAL, "downstream: the model, the test set and the output folder are required");
  if (!vfr_protocol_name(p->protocol)) return vfr_fail(err, VFR_EINVAL, "downstream: unknown protocol %d", (int)p->protocol);
  if (p->protocol != VFR_PROTOCOL_ZEROSHOT && !p->train_dir)
    return vfr_fail(err, VFR_EINVAL, "downstream: the %s protocol needs a train set", vfr_protocol_name(p->protocol));
  if (p->study.shards > 1) return vfr_fail(err, VFR_EINVAL, "downstream: runs in one process (no sharding)");
  if (p->protocol == VFR_PROTOCOL_DEPTH) return ds_depth_check(p, err);
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

/* ---- the classifier: a protocol fitted, and the classes it predicts ------------------ */

typedef struct classifier {
  const ds_protocol *protocol;
  void *state;
  int class_count;          /* K */
  const char **class_names; /* (K) names of the classes it predicts (borrowed) */
  int d;                    /* embedding width it expects */
} classifier;

static void classifier_free(classifier *c) {
  if (c->protocol && c->state) c->protocol->free(c->state);
  free((void *)c->class_names);
  memset(c, 0, sizeof *c);
}

/* The linear probe or k-NN from the train embeddings: the classes are those of the train
 * set that have at least one used image, in the train set's order. Zero-shot: the test
 * set's classes, all of them. */
static int classifier_fit(const vfr_downstream_params *p, const vfr_dataset *train, ds_train_set *t,
                          const vfr_dataset *test, classifier *c, vfr_error *err) {
  c->protocol = ds_classifier_protocol(p->protocol);
  if (!c->protocol) return vfr_fail(err, VFR_EINVAL, "downstream: %s is not a classification protocol",
                                    vfr_protocol_name(p->protocol));
  const vfr_dataset *names = c->protocol->needs_train ? train : test;
  c->class_names = malloc(sizeof(char *) * (size_t)(names->class_count + 1));
  int *dense = malloc(sizeof(int) * (size_t)(names->class_count + 1));
  int *labels = malloc(sizeof(int) * (size_t)(t->n + 1));
  int rc = VFR_OK;
  if (!dense || !labels || !c->class_names) rc = vfr_fail(err, VFR_ENOMEM, "out of memory");
  for (int k = 0; !rc && k < names->class_count; k++) dense[k] = c->protocol->needs_train ? -1 : 1;
  for (int r = 0; !rc && r < t->n; r++) dense[train->items[t->item[r]].label] = 1;
  c->class_count = 0;
  for (int k = 0; !rc && k < names->class_count; k++)
    if (dense[k] > 0) {
      dense[k] = c->class_count;
      c->class_names[c->class_count++] = names->class_names[k];
    }
  for (int r = 0; !rc && r < t->n; r++) labels[r] = dense[train->items[t->item[r]].label];
  if (!rc) {
    ds_fit_data data = {p, t->embeddings, labels, t->n, t->d, c->class_count, c->class_names};
    rc = c->protocol->fit(&data, &c->state, &c->d, err);
    if (rc && c->protocol->needs_train) {
      char why[VFR_ERROR_MESSAGE_MAX];
      snprintf(why, sizeof why, "%s", err ? err->message : "");
      vfr_fail(err, rc, "%s: %s", p->train_dir, why);
    }
  }
  free(dense);
  free(labels);
  return rc;
}

/* ---- classifying the study's embeddings ------------------------------------------------ */

/* Per test image of the study: its predictions for every row and its DR under every op. */
typedef struct test_results {
  int used;
  int rows;       /* 1 + sum of levels */
  int *predicted; /* (used, rows) classifier class */
  double *dr;     /* (used, op_count) */
} test_results;

static void test_results_free(test_results *r) {
  free(r->predicted);
  free(r->dr);
  memset(r, 0, sizeof *r);
}

static int classify_pass(const classifier *c, float *query, int nq, int *predicted, const char *out_dir,
                         vfr_error *err) {
  int rc = c->protocol->predict(c->state, query, nq, c->d, predicted, err);
  if (rc) {
    char why[VFR_ERROR_MESSAGE_MAX];
    snprintf(why, sizeof why, "%s", err ? err->message : "");
    vfr_fail(err, rc, "%s: classifying the test embeddings: %s", out_dir, why);
  }
  return rc;
}

static int classify_study(vfr_study *study, const classifier *c, const char *out_dir, test_results *res,
                          vfr_error *err) {
  vfr_study_info info;
  vfr_study_get_info(study, &info);
  const int rows = info.rows, n = info.images, d = c->d, nops = info.op_count;
  memset(res, 0, sizeof *res);
  if (info.dim != d)
    return vfr_fail(err, VFR_EFORMAT, "%s: holds embeddings of width %d, the %s classifier expects %d", out_dir,
                    info.dim, c->protocol->name, d);
  if (n == 0) return vfr_fail(err, VFR_EINVAL, "%s: no test image could be used", out_dir);
  res->rows = rows;
  res->predicted = malloc(sizeof(int) * (size_t)(n + 1) * rows);
  res->dr = malloc(sizeof(double) * (size_t)(n + 1) * (nops + 1));
  float *query = malloc(sizeof(float) * (size_t)IMAGES_PER_PASS * rows * d);
  int rc = VFR_OK, in_pass = 0;
  if (!res->predicted || !res->dr || !query) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", out_dir);
  for (int i = 0; i < n && !rc; i++) {
    if (!vfr_study_image_label(study, i)[0]) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: has no class label (the test set must be an ImageFolder or a CSV with labels)",
                    vfr_study_image_name(study, i));
      break;
    }
    rc = vfr_study_embeddings(study, i, query + (size_t)in_pass * rows * d, err);
    for (int j = 0; j < nops; j++) res->dr[(size_t)i * nops + j] = vfr_study_dr(study, i, j);
    if (rc) break;
    res->used++;
    if (++in_pass == IMAGES_PER_PASS) {
      rc = classify_pass(c, query, in_pass * rows, res->predicted + (size_t)(res->used - in_pass) * rows, out_dir, err);
      in_pass = 0;
    }
  }
  if (!rc && in_pass > 0)
    rc = classify_pass(c, query, in_pass * rows, res->predicted + (size_t)(res->used - in_pass) * rows, out_dir, err);
  free(query);
  return rc;
}

/* ---- accuracies, regressions, outputs ---------------------------------------------------- */

static int is_correct(const classifier *c, const vfr_study *study, const test_results *res, int u, int row) {
  return !strcmp(c->class_names[res->predicted[(size_t)u * res->rows + row]], vfr_study_image_label(study, u));
}

static int write_predictions(const char *out_dir, const vfr_study *study, const ds_study_view *v, const classifier *c,
                             const test_results *res, vfr_error *err) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/predictions.csv", out_dir);
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fputs("image,op,level,label,predicted\n", f);
  for (int u = 0; u < res->used; u++) {
    const char *name = vfr_study_image_name(study, u), *label = vfr_study_image_label(study, u);
    const int *pred = res->predicted + (size_t)u * res->rows;
    vfr_csv_write_field(f, name);
    fputs(",clean,,", f);
    vfr_csv_write_field(f, label);
    fputc(',', f);
    vfr_csv_write_field(f, c->class_names[pred[0]]);
    fputc('\n', f);
    for (int j = 0; j < v->info.op_count; j++) {
      const vfr_study_op *op = &v->ops[j];
      for (int k = 0; k < op->levels; k++) {
        vfr_csv_write_field(f, name);
        fputc(',', f);
        vfr_csv_write_field(f, v->labels[j]);
        fputc(',', f);
        vfr_csv_write_field(f, op->level_text[k]);
        fputc(',', f);
        vfr_csv_write_field(f, label);
        fputc(',', f);
        vfr_csv_write_field(f, c->class_names[pred[op->first_row + k]]);
        fputc('\n', f);
      }
    }
  }
  return vfr_atomic_commit(f, tmp, path, err);
}

static int analyse_and_write(const vfr_downstream_params *p, const vfr_study *study, const classifier *c,
                             const test_results *res, vfr_downstream_summary *summary, vfr_error *err) {
  ds_study_view v;
  int rc = ds_study_view_make(study, &v, err);
  if (rc) return rc;
  const int used = res->used, nops = v.info.op_count;
  int clean_correct = 0;
  for (int u = 0; u < used; u++) clean_correct += is_correct(c, study, res, u, 0);
  const double clean_acc = (double)clean_correct / used;

  int points = 0;
  for (int j = 0; j < nops; j++) points += used * v.ops[j].levels;
  vfr_level_accuracy *levels = calloc((size_t)(v.info.rows + 1), sizeof *levels);
  vfr_op_drop *drops = calloc((size_t)(nops + 1), sizeof *drops);
  double *x = malloc(sizeof(double) * (size_t)(points + 1)), *mean_dr = malloc(sizeof(double) * (size_t)(nops + 1));
  double *drop = malloc(sizeof(double) * (size_t)(nops + 1));
  int *y = malloc(sizeof(int) * (size_t)(points + 1));
  if (!levels || !drops || !x || !mean_dr || !drop || !y) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->study.out_dir);
    goto done;
  }
  int nl = 0, np = 0;
  for (int j = 0; j < nops; j++) {
    const vfr_study_op *op = &v.ops[j];
    double acc_sum = 0, dr_sum = 0;
    for (int u = 0; u < used; u++) dr_sum += res->dr[(size_t)u * nops + j];
    for (int k = 0; k < op->levels; k++) {
      int correct = 0;
      for (int u = 0; u < used; u++) {
        int ok = is_correct(c, study, res, u, op->first_row + k);
        correct += ok;
        /* Per-image regression point: this image's DR under the op against whether it is
         * classified correctly at this level. */
        x[np] = res->dr[(size_t)u * nops + j];
        y[np++] = ok;
      }
      levels[nl] = (vfr_level_accuracy){v.labels[j], op->values[k], (double)correct / used, used};
      acc_sum += levels[nl++].accuracy;
    }
    mean_dr[j] = dr_sum / used;
    drop[j] = clean_acc - acc_sum / op->levels;
    drops[j] = (vfr_op_drop){op->name, op->domain, mean_dr[j], drop[j]};
  }

  /* A regression that cannot be fitted (one op, all DR equal, ...) is written as null. */
  vfr_per_image_regression per_image;
  vfr_across_ops_regression across;
  memset(&per_image, 0, sizeof per_image);
  int have_per_image = np >= 2 && vfr_per_image_regression_compute(x, y, np, p->bins, &per_image, NULL) == VFR_OK;
  int have_across = nops >= 2 && vfr_across_ops_regression_compute(v.op_id, mean_dr, drop, nops, &across, NULL) == VFR_OK;

  vfr_downstream_report report = {vfr_protocol_name(p->protocol), clean_acc, levels, nl, drops, nops,
                                  have_per_image ? &per_image : NULL, have_across ? &across : NULL};
  char path[4096];
  snprintf(path, sizeof path, "%s/downstream.json", p->study.out_dir);
  rc = vfr_downstream_report_write_json(path, &report, err);
  if (!rc) rc = write_predictions(p->study.out_dir, study, &v, c, res, err);
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
  ds_study_view_free(&v);
  return rc;
}

/* ---- the run ------------------------------------------------------------------------------ */

int vfr_downstream_run(const vfr_downstream_params *p, vfr_downstream_summary *summary, vfr_error *err) {
  vfr_downstream_summary local;
  if (!summary) summary = &local;
  memset(summary, 0, sizeof *summary);
  int rc = vfr_downstream_check(p, err);
  if (rc) return rc;
  if (p->protocol == VFR_PROTOCOL_DEPTH) return ds_depth_run(p, summary, err);

  /* Both sets are listed first: a wrong path or an unlabelled set fails before the (long)
   * study. */
  vfr_dataset train = {0}, test = {0};
  ds_train_set t = {0};
  vfr_study *study = NULL;
  classifier c;
  memset(&c, 0, sizeof c);
  vfr_study_session session = {-1, 0, 0, NULL, 0};
  if ((rc = vfr_dataset_open(p->study.data, &test, err))) return rc;
  vfr_dataset_limit_seeded(&test, p->study.per_class, p->study.limit, p->study.seed);
  for (int i = 0; i < test.count && !rc; i++)
    if (test.items[i].label < 0)
      rc = vfr_fail(err, VFR_EINVAL, "%s: the test set has no class labels (use an ImageFolder or a CSV with a label column)",
                    p->study.data);
  if (rc) goto done;
  if (p->protocol == VFR_PROTOCOL_ZEROSHOT && p->classes) { /* every folder names a class */
    const char **names = NULL;
    if ((rc = vfr_zeroshot_class_names(p->classes, test.class_names, test.class_count, &names, err)) && err) {
      char why[VFR_ERROR_MESSAGE_MAX];
      snprintf(why, sizeof why, "%s", err->message);
      vfr_fail(err, rc, "%s: %s", p->study.data, why);
    }
    free(names);
    if (rc) goto done;
  }
  if (p->protocol != VFR_PROTOCOL_ZEROSHOT) {
    if ((rc = vfr_dataset_open(p->train_dir, &train, err))) goto done;
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
  if (rc) goto done;

  if ((rc = vfr_study_begin(&p->study, &session, err))) goto done;
  if ((rc = vfr_eval_compute(&p->study, err))) goto done;
  if ((rc = vfr_eval_merge(&p->study, err))) goto done;
  if ((rc = vfr_study_open(p->study.out_dir, &study, err))) goto done;

  if (p->protocol != VFR_PROTOCOL_ZEROSHOT) {
    uint64_t fp = ds_train_fingerprint(p->study.model_dir, &train);
    if (!(p->study.resume && ds_train_cache_read(p->study.out_dir, fp, &train, &t))) {
      rc = ds_train_embed(p, &train, &t, err);
      if (!rc) rc = ds_train_cache_write(p->study.out_dir, fp, &train, &t, err);
    }
    summary->train_used = t.n;
    summary->train_skipped = t.skipped;
    summary->train_resumed = t.resumed;
  }
  if (!rc) rc = classifier_fit(p, &train, &t, &test, &c, err);
  summary->class_count = c.class_count;

  test_results res;
  memset(&res, 0, sizeof res);
  if (!rc) rc = classify_study(study, &c, p->study.out_dir, &res, err);
  if (!rc) rc = analyse_and_write(p, study, &c, &res, summary, err);
  test_results_free(&res);
done:
  classifier_free(&c);
  vfr_study_close(study);
  vfr_study_end(&session);
  ds_train_free(&t);
  vfr_dataset_free(&train);
  vfr_dataset_free(&test);
  return rc;
}
