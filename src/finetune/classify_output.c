/* train.json of a supervised training run (see classify_internal.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/files.h"
#include "core/json_text.h"
#include "finetune/checkpoint.h"
#include "finetune/classify_internal.h"

int cl_write_report(const vfr_classify_params *o, const vfr_dataset *data, const double *history,
                    long total, long steps_per_epoch, double train_seconds,
                    const vfr_classify_result *test,
                    vfr_error *err) {
  json_t *root = json_object();
  json_object_set_new(root, "model", vfr_json_text(o->model_dir));
  json_object_set_new(root, "data", vfr_json_text(o->data_path));
  json_object_set_new(root, "train_images", json_integer(data->count));
  json_t *classes = json_array();
  for (int i = 0; i < data->class_count; i++)
    json_array_append_new(classes, vfr_json_text(data->class_names[i]));
  json_object_set_new(root, "classes", classes);
  json_t *set = json_object();
  json_object_set_new(set, "epochs", json_integer(o->epochs));
  json_object_set_new(set, "batch", json_integer(o->batch));
  json_object_set_new(set, "lr", json_real(o->lr));
  json_object_set_new(set, "lr_min", json_real(o->lr_min));
  json_object_set_new(set, "weight_decay", json_real(o->weight_decay));
  json_object_set_new(set, "beta1", json_real(o->beta1));
  json_object_set_new(set, "beta2", json_real(o->beta2));
  json_object_set_new(set, "adam_eps", json_real(o->adam_eps));
  json_object_set_new(set, "warmup", json_integer(o->warmup));
  json_object_set_new(set, "label_smoothing", json_real(o->label_smoothing));
  json_object_set_new(set, "pad", json_integer(o->pad));
  json_object_set_new(set, "flip", json_boolean(o->flip));
  json_object_set_new(set, "seed", json_integer((json_int_t)o->seed));
  json_object_set_new(set, "limit", json_integer(o->limit));
  json_object_set_new(set, "per_class", json_integer(o->per_class));
  json_object_set_new(root, "settings", set);
  json_t *epochs = json_array();
  for (long e = 0; e * steps_per_epoch < total; e++) {
    double loss = 0, right = 0, n = 0, lr = 0;
    for (long s = e * steps_per_epoch; s < (e + 1) * steps_per_epoch && s < total; s++) {
      const double *h = history + (size_t)s * FT_HISTORY_FIELDS;
      loss += h[0] * h[2];
      right += h[1] * h[2];
      n += h[2];
      lr = h[3];
    }
    json_t *ep = json_object();
    json_object_set_new(ep, "epoch", json_integer(e + 1));
    json_object_set_new(ep, "loss", json_real(n > 0 ? loss / n : 0));
    json_object_set_new(ep, "train_accuracy", json_real(n > 0 ? right / n : 0));
    json_object_set_new(ep, "lr_last", json_real(lr));
    json_array_append_new(epochs, ep);
  }
  json_object_set_new(root, "epochs", epochs);
  json_object_set_new(root, "train_seconds", json_real(train_seconds));
  if (test) {
    json_t *t = json_object();
    json_object_set_new(t, "data", vfr_json_text(o->test_path));
    json_object_set_new(t, "images", json_integer(test->n));
    json_object_set_new(t, "correct", json_integer(test->correct));
    json_object_set_new(t, "skipped", json_integer(test->skipped));
    json_object_set_new(t, "accuracy", json_real(test->accuracy));
    json_object_set_new(root, "test", t);
  }
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/train.json", o->out_dir);
  int rc = vfr_atomic_write_json(path, root, JSON_INDENT(2) | JSON_REAL_PRECISION(10), err);
  json_decref(root);
  return rc;
}
