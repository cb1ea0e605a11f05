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

/* Mean DR per spec over the evaluation images, with parameters p; clean embeddings kept. */
int ft_evaluate(trainer *t, const vit_params *p, eval_result *r, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  int n_img = t->eval.count, m = o->eval_levels;
  size_t per = (size_t)3 * t->d.H * t->d.W, E = (size_t)t->d.E;
  int n_levels = 0;
  vfr_chain *chains = malloc((size_t)t->n_eval_specs * MAX_EVAL_LEVELS * sizeof *chains);
  int *count = calloc((size_t)t->n_eval_specs, sizeof *count);
  r->mean_dr = calloc((size_t)t->n_eval_specs, sizeof *r->mean_dr);
  r->clean = malloc((size_t)n_img * E * sizeof(float));
  r->n = n_img;
  if (!chains || !count || !r->mean_dr || !r->clean) {
    free(chains);
    free(count);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->eval_path);
  }
  int rc = VFR_OK;
  for (int k = 0; k < t->n_eval_specs && rc == VFR_OK; k++) {
    rc = vfr_spec_levels(&t->eval_specs[k], m, chains + (size_t)k * MAX_EVAL_LEVELS, NULL,
                         MAX_EVAL_LEVELS, &count[k], err);
    n_levels += count[k];
  }
  float *pix = rc ? NULL : malloc((size_t)(1 + n_levels) * per * sizeof(float));
  float *emb = rc ? NULL : malloc((size_t)(1 + n_levels) * E * sizeof(float));
  if (!rc && (!pix || !emb)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->eval_path);
  for (int i = 0; i < n_img && rc == VFR_OK; i++) {
    vfr_image img = {0};
    const char *file = t->eval.items[i].path;
    rc = vfr_image_load(file, NULL, &img, err);
    if (!rc) rc = vfr_model_preprocess(t->model, &img, file, pix, err);
    int j = 1;
    for (int k = 0; k < t->n_eval_specs && !rc; k++) {
      for (int l = 0; l < count[k] && !rc; l++, j++) {
        vfr_image pert = {0};
        uint64_t seed = ft_mix64(ft_draw_key(o->seed, (uint64_t)i, (uint64_t)k, (uint64_t)l, 5));
        rc = vfr_perturb_apply(&img, chains + (size_t)k * MAX_EVAL_LEVELS + l, seed, &pert, err);
        if (!rc) rc = vfr_model_preprocess(t->model, &pert, file, pix + (size_t)j * per, err);
        vfr_image_free(&pert);
      }
    }
    vfr_image_free(&img);
    if (!rc) rc = ft_forward(t, p, pix, 1 + n_levels, emb, err);
    if (rc) break;
    memcpy(r->clean + (size_t)i * E, emb, E * sizeof(float));
    for (int k = 0, j0 = 1; k < t->n_eval_specs && !rc; j0 += count[k], k++) {
      vfr_robustness rob;
      rc = vfr_robustness_compute_f32(emb, emb + (size_t)j0 * E, count[k], (int)E, &rob, NULL,
                                      err);
      if (!rc) r->mean_dr[k] += rob.dr / n_img;
    }
  }
  free(pix);
  free(emb);
  free(chains);
  free(count);
  if (rc == VFR_OK) rc = knn_utility(t, p, r, err);
  return rc;
}

void ft_eval_result_free(eval_result *r) {
  free(r->mean_dr);
  free(r->clean);
  memset(r, 0, sizeof *r);
}

