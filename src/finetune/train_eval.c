/* Robustness and utility of f (before) and f' (after) on the held-out images. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/train_internal.h"
#include "vfrobust/downstream.h"
#include "vfrobust/metrics.h"

/* ---- evaluation before and after ------------------------------------------------------- */

/* r->knn_accuracy: the clean k-NN accuracy (SPEC section 4: k = 20, cosine, DINO weights)
 * of the evaluation images against the training images, both embedded with p; -1 when
 * either set has no labels. Eval labels are matched to training classes by name. */
static int knn_utility(trainer *t, const vit_params *p, eval_result *r, vfr_error *err) {
  r->knn_accuracy = -1;
  int n = t->data.count, ne = t->eval.count;
  if (t->data.class_count < 1 || t->eval.class_count < 1 || ne < 1) return VFR_OK;
  for (int i = 0; i < n; i++)
    if (t->data.items[i].label < 0) return VFR_OK;
  size_t E = (size_t)t->d.E;
  float *train = t->fcache, *own = NULL;
  int *labels = malloc((size_t)(n + 2 * ne) * sizeof *labels);
  if (!labels) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", t->o->eval_path);
  int rc = VFR_OK;
  if (p != &t->p0) { /* f' on the training images */
    train = own = malloc((size_t)n * E * sizeof(float));
    if (!own) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", t->o->data_path);
    for (int i = 0; i < n; i++) t->order[i] = i;
    t->order_epoch = -1;
    for (int start = 0; start < n && rc == VFR_OK; start += t->micro) {
      int nm = n - start < t->micro ? n - start : t->micro;
      rc = ft_prepare_views(t, t->order + start, nm, -1, t->pix, err);
      if (!rc) rc = ft_forward(t, p, t->pix, nm, own + (size_t)start * E, err);
    }
  }
  int *truth = labels + n, *pred = labels + n + ne;
  for (int i = 0; i < n; i++) labels[i] = t->data.items[i].label;
  for (int i = 0; i < ne; i++) {
    int l = t->eval.items[i].label;
    truth[i] = -1;
    for (int c = 0; l >= 0 && c < t->data.class_count; c++)
      if (!strcmp(t->data.class_names[c], t->eval.class_names[l])) truth[i] = c;
  }
  vfr_knn_params kp = vfr_knn_default_params();
  if (!rc)
    rc = vfr_knn_classify(train, labels, n, (int)E, t->data.class_count, r->clean, ne, &kp, pred,
                          NULL, err);
  if (!rc) {
    int right = 0;
    for (int i = 0; i < ne; i++) right += pred[i] == truth[i];
    r->knn_accuracy = (double)right / ne;
  }
  free(own);
  free(labels);
  return rc;
}

/* Mean DR per spec over the evaluation images, with parameters p; clean embeddings kept.
 * Each image's rows are the study's (t->eval_plan): row 0 clean, then each op's levels,
 * each variant drawn by study_plan_apply (the study's seed of the image's name and row) and
 * an identity level given the clean embedding, as vfr_eval_compute does; the DR of an op is
 * vfr_robustness_compute_f32 over its rows, as vfr_eval_merge computes it. */
int ft_evaluate(trainer *t, const vit_params *p, eval_result *r, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  const study_plan *plan = &t->eval_plan;
  int n_img = t->eval.count, rows = plan->rows;
  size_t per = (size_t)3 * t->d.H * t->d.W, E = (size_t)t->d.E;
  r->mean_dr = calloc((size_t)plan->op_count, sizeof *r->mean_dr);
  r->clean = malloc((size_t)n_img * E * sizeof(float));
  r->n = n_img;
  float *pix = malloc((size_t)rows * per * sizeof(float));
  float *emb = malloc((size_t)rows * E * sizeof(float)); /* (rows, E) in plan order */
  float *out = malloc((size_t)rows * E * sizeof(float)); /* (distinct rows, E) */
  int *source = malloc((size_t)rows * sizeof *source);   /* the row a row's embedding is */
  int rc = VFR_OK;
  if (!r->mean_dr || !r->clean || !pix || !emb || !out || !source)
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->eval_path);
  if (!rc) {
    source[0] = 0;
    for (int k = 0; k < plan->op_count; k++)
      for (int l = 0; l < plan->ops[k].m; l++) {
        int row = plan->ops[k].first_row + l;
        source[row] = plan->ops[k].identity[l] ? 0 : row;
      }
  }
  for (int i = 0; i < n_img && rc == VFR_OK; i++) {
    vfr_image img = {0};
    const vfr_dataset_item *item = &t->eval.items[i];
    rc = vfr_image_load(item->path, NULL, &img, err);
    if (!rc) rc = vfr_model_preprocess(t->model, &img, item->path, pix, err);
    int n = 1; /* distinct rows in pix, in row order */
    for (int row = 1; row < rows && !rc; row++) {
      if (source[row] != row) continue;
      vfr_image pert = {0};
      rc = study_plan_apply(plan, row, &img, item->name, o->seed, &pert, err);
      if (!rc) rc = vfr_model_preprocess(t->model, &pert, item->path, pix + (size_t)n++ * per, err);
      vfr_image_free(&pert);
    }
    vfr_image_free(&img);
    if (!rc) rc = ft_forward(t, p, pix, n, out, err);
    if (rc) break;
    for (int row = 0, j = 0; row < rows; row++)
      if (source[row] == row) memcpy(emb + (size_t)row * E, out + (size_t)j++ * E, E * sizeof(float));
    for (int row = 1; row < rows; row++)
      if (source[row] != row) memcpy(emb + (size_t)row * E, emb + (size_t)source[row] * E, E * sizeof(float));
    memcpy(r->clean + (size_t)i * E, emb, E * sizeof(float));
    for (int k = 0; k < plan->op_count && !rc; k++) {
      vfr_robustness rob;
      rc = vfr_robustness_compute_f32(emb, emb + (size_t)plan->ops[k].first_row * E, plan->ops[k].m, (int)E,
                                      &rob, NULL, err);
      if (!rc) r->mean_dr[k] += rob.dr / n_img;
    }
  }
  free(pix);
  free(emb);
  free(out);
  free(source);
  if (rc == VFR_OK) rc = knn_utility(t, p, r, err);
  return rc;
}

void ft_eval_result_free(eval_result *r) {
  free(r->mean_dr);
  free(r->clean);
  memset(r, 0, sizeof *r);
}

