/* Accuracy of a trained classification head on a labelled image set (vfr_classify_eval). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/classify_head.h"
#include "finetune/train_internal.h"
#include "model/engine.h"
#include "model/safetensors.h"
#include "vfrobust/classify.h"
#include "vfrobust/dataset.h"
#include "vfrobust/model.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

void vfr_classify_result_free(vfr_classify_result *r) {
  if (!r) return;
  free(r->predicted);
  free(r->truth);
  for (int i = 0; i < r->class_count && r->class_names; i++) free(r->class_names[i]);
  free(r->class_names);
  memset(r, 0, sizeof *r);
}

/* r->class_names from DIR/config.json's id2label, which must name 0..C-1. */
static int read_classes(const char *dir, int C, vfr_classify_result *r, vfr_error *err) {
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  json_t *map = root ? json_object_get(root, "id2label") : NULL;
  if (!json_is_object(map)) {
    json_decref(root);
    return vfr_fail(err, VFR_EFORMAT, "%s: no id2label object naming the head's %d classes",
                    path, C);
  }
  r->class_names = calloc((size_t)C, sizeof *r->class_names);
  if (!r->class_names) {
    json_decref(root);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  r->class_count = C;
  int rc = VFR_OK;
  for (int i = 0; i < C && rc == VFR_OK; i++) {
    char key[32];
    snprintf(key, sizeof key, "%d", i);
    json_t *v = json_object_get(map, key);
    if (!json_is_string(v))
      rc = vfr_fail(err, VFR_EFORMAT, "%s: id2label has no class name for %d (the head has %d "
                    "classes)", path, i, C);
    else if (!(r->class_names[i] = strdup(json_string_value(v))))
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  json_decref(root);
  return rc;
}

vfr_classify_eval_params vfr_classify_eval_default_params(void) {
  vfr_classify_eval_params p = {0};
  p.batch = 64;
  return p;
}

int vfr_classify_eval(const vfr_classify_eval_params *params, vfr_classify_result *out,
                      vfr_error *err) {
  memset(out, 0, sizeof *out);
  if (!params) return vfr_fail(err, VFR_EINVAL, "classify: no parameters");
  const char *model_dir = params->model_dir, *data_path = params->data_path;
  int limit = params->limit, batch = params->batch, threads = params->threads;
  if (!model_dir || !data_path)
    return vfr_fail(err, VFR_EINVAL, "classify: a model and a labelled image set are required");
  if (batch < 1) batch = 64;
  vfr_model_params mp = vfr_model_default_params();
  mp.threads = threads;
  vfr_model *model = NULL;
  vfr_safetensors *st = NULL;
  vfr_dataset ds = {0};
  float *W = NULL, *b = NULL, *own_w = NULL, *own_b = NULL, *pix = NULL, *z = NULL, *logits = NULL;
  int *ok = NULL;
  int rc = vfr_model_load(model_dir, &mp, &model, err);
  vfr_model_info info;
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
  if (!rc) {
    vfr_model_get_info(model, &info);
    rc = vfr_safetensors_open(path, &st, err);
  }
  int C = 0, E = 0;
  if (!rc) {
    const vfr_tensor_info *hw = vfr_safetensors_find(st, "classifier_head.weight");
    E = info.embed_dim;
    if (!hw || hw->ndim != 2)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: no classification head (classifier_head.weight, "
                    "[classes, %d]): train one with vfrobust train", path, E);
    else
      C = (int)hw->shape[0];
  }
  if (!rc) {
    int64_t sw[2] = {C, E}, sb[1] = {C};
    rc = vfr_safetensors_get_f32(st, "classifier_head.weight", 2, sw, (const float **)&W, &own_w,
                                 err);
    if (!rc)
      rc = vfr_safetensors_get_f32(st, "classifier_head.bias", 1, sb, (const float **)&b, &own_b,
                                   err);
  }
  if (!rc) rc = read_classes(model_dir, C, out, err);
  if (!rc) rc = vfr_dataset_open(data_path, &ds, err);
  if (!rc) {
    vfr_dataset_limit(&ds, 0, limit);
    if (ds.class_count < 1)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: the images have no labels", data_path);
  }
  size_t per = 0;
  if (!rc) {
    per = (size_t)3 * info.input_height * info.input_width;
    out->n = ds.count;
    out->predicted = malloc((size_t)ds.count * sizeof(int));
    out->truth = malloc((size_t)ds.count * sizeof(int));
    pix = malloc((size_t)batch * per * sizeof(float));
    z = malloc((size_t)batch * E * sizeof(float));
    logits = malloc((size_t)batch * C * sizeof(float));
    ok = malloc((size_t)batch * sizeof(int));
    if (!out->predicted || !out->truth || !pix || !z || !logits || !ok)
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", data_path);
  }
  for (int i = 0; !rc && i < ds.count; i++) {
    int l = ds.items[i].label;
    out->truth[i] = -1;
    for (int c = 0; l >= 0 && c < C; c++)
      if (!strcmp(out->class_names[c], ds.class_names[l])) out->truth[i] = c;
  }
  int matched = 0;
  for (int i = 0; !rc && i < ds.count && !matched; i++) matched = out->truth[i] >= 0;
  if (!rc && ds.count > 0 && !matched) /* every answer would count as wrong */
    rc = vfr_fail(err, VFR_EINVAL, "%s: none of its %d classes (%s, ...) is a label of the model %s (%s, ...)",
                  data_path, ds.class_count, ds.class_names[0], model_dir, C > 0 ? out->class_names[0] : "none");
  int nthreads = threads > 0 ? threads : omp_get_max_threads();
  for (int start = 0; !rc && start < ds.count; start += batch) {
    int n = ds.count - start < batch ? ds.count - start : batch;
    /* read and preprocess; an unreadable image is skipped (predicted -1) */
#pragma omp parallel for num_threads(nthreads) schedule(dynamic)
    for (int i = 0; i < n; i++) {
      vfr_error e;
      vfr_image img = {0};
      const char *file = ds.items[start + i].path;
      ok[i] = vfr_image_load(file, NULL, &img, &e) == VFR_OK &&
              vfr_model_preprocess(model, &img, file, pix + (size_t)i * per, &e) == VFR_OK;
      vfr_image_free(&img);
    }
    int m = 0; /* compact the readable ones */
    for (int i = 0; i < n; i++)
      if (ok[i]) {
        if (m != i) memcpy(pix + (size_t)m * per, pix + (size_t)i * per, per * sizeof(float));
        m++;
      }
    if (m > 0) rc = vfr_model_embed_pixels(model, pix, m, z, err);
    if (rc) break;
    if (m > 0) head_forward(logits, z, W, b, m, E, C, vfr_model_engine(model));
    for (int i = 0, k = 0; i < n; i++) {
      int p = -1;
      if (ok[i]) {
        const float *l = logits + (size_t)k++ * C;
        p = 0;
        for (int c = 1; c < C; c++)
          if (l[c] > l[p]) p = c;
      } else {
        out->skipped++;
      }
      out->predicted[start + i] = p;
      out->correct += p >= 0 && p == out->truth[start + i];
    }
  }
  if (!rc) out->accuracy = out->n > 0 ? (double)out->correct / out->n : 0;
  free(own_w);
  free(own_b);
  free(pix);
  free(z);
  free(logits);
  free(ok);
  vfr_dataset_free(&ds);
  vfr_safetensors_close(st);
  vfr_model_free(model);
  if (rc) vfr_classify_result_free(out);
  return rc;
}
