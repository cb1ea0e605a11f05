/* What a fine-tuning run leaves in its folder: model.safetensors (Hugging Face names), the
 * copied configuration and tokenizer files, and finetune.json. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/files.h"
#include "core/text.h"
#include "finetune/checkpoint.h"
#include "finetune/loss.h"
#include "finetune/train_internal.h"
#include "vfrobust/downstream.h"

/* ---- output -------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *text) {
  char *utf8 = vfr_text_utf8(text); /* file names are bytes; JSON is UTF-8 */
  const char *s = utf8 ? utf8 : "";
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
  free(utf8);
}

static int copy_file(const char *from, const char *to, vfr_error *err) {
  FILE *in = fopen(from, "rb");
  if (!in) return VFR_OK; /* absent: nothing to copy */
  char tmp[PATH_LEN + 8];
  FILE *out = vfr_atomic_open(to, tmp, sizeof tmp, err);
  if (!out) {
    fclose(in);
    return err ? err->code : VFR_EIO;
  }
  char buf[65536];
  size_t n;
  int bad = 0;
  while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0) bad = fwrite(buf, 1, n, out) != n;
  bad = ferror(in) || bad;
  fclose(in);
  if (bad) {
    vfr_atomic_abort(out, tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot copy from %s", to, from);
  }
  return vfr_atomic_commit(out, tmp, to, err);
}

/* out_dir/model.safetensors: every float tensor of the original, tuned vision tensors, and
 * the caller's extra tensors (replacing any of the same name). */
int ft_save_model(trainer *t, const vfr_tensor_out *extra, int n_extra, vfr_error *err) {
  const trainer_config *o = &t->cfg;
  int n = vfr_safetensors_count(t->st);
  vfr_tensor_out *outs = calloc((size_t)n + (size_t)n_extra + 1, sizeof *outs);
  float **owned = calloc((size_t)n + 1, sizeof *owned);
  int rc = VFR_OK;
  if (!outs || !owned) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->out_dir);
  int m = 0; /* tensors written */
  for (int i = 0; i < n && rc == VFR_OK; i++) {
    const vfr_tensor_info *ti = vfr_safetensors_at(t->st, i);
    int replaced = 0;
    for (int k = 0; k < n_extra; k++) replaced |= !strcmp(extra[k].name, ti->name);
    if (replaced) continue;
    vfr_tensor_out *to = &outs[m];
    to->name = ti->name;
    to->ndim = ti->ndim;
    memcpy(to->shape, ti->shape, sizeof ti->shape);
    for (int k = 0; k < t->n_slots; k++)
      if (!strcmp(t->slots[k].name, ti->name))
        to->data = t->slots[k].table ? t->params + t->g.n : *t->slots[k].param;
    if (!to->data)
      rc = vfr_safetensors_get_f32(t->st, ti->name, ti->ndim, ti->shape, &to->data, &owned[m],
                                   err);
    m++;
  }
  for (int k = 0; k < n_extra && rc == VFR_OK; k++) outs[m++] = extra[k];
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/model.safetensors", o->out_dir);
  if (rc == VFR_OK) rc = vfr_safetensors_write(path, outs, m, "{\"format\":\"pt\"}", err);
  for (int i = 0; i < n && owned; i++) free(owned[i]);
  free(owned);
  free(outs);
  if (rc) return rc;
  static const char *const files[] = {"config.json",      "preprocessor_config.json",
                                      "tokenizer.json",   "tokenizer_config.json",
                                      "vocab.json",       "merges.txt",
                                      "special_tokens_map.json"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char from[PATH_LEN], to[PATH_LEN];
    snprintf(from, sizeof from, "%s/%s", o->model_dir, files[i]);
    snprintf(to, sizeof to, "%s/%s", o->out_dir, files[i]);
    TRY(copy_file(from, to, err));
  }
  return VFR_OK;
}

static void write_eval(FILE *f, const trainer *t, const char *key, const eval_result *r) {
  fprintf(f, "    \"%s\": {\"mean_dr\": {", key);
  for (int k = 0; k < t->n_eval_specs; k++) {
    fprintf(f, "%s", k ? ", " : "");
    json_string(f, t->eval_specs[k].text);
    fprintf(f, ": %.9g", r->mean_dr[k]);
  }
  fprintf(f, "}");
  if (r->knn_accuracy >= 0) fprintf(f, ", \"knn_accuracy\": %.9g", r->knn_accuracy);
  fprintf(f, "}");
}

/* out_dir/finetune.json (written whole or not at all: src/core/files.c). */
int ft_write_report(trainer *t, const eval_result *before, const eval_result *after,
                        double train_seconds, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  char path[PATH_LEN], tmp[PATH_LEN + 8];
  snprintf(path, sizeof path, "%s/finetune.json", o->out_dir);
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fprintf(f, "{\n  \"model\": ");
  json_string(f, o->model_dir);
  fprintf(f, ",\n  \"data\": ");
  json_string(f, o->data_path);
  fprintf(f, ",\n  \"ops\": [");
  for (int k = 0; k < t->n_specs; k++) {
    fprintf(f, "%s", k ? ", " : "");
    json_string(f, t->specs[k].text);
  }
  fprintf(f, "],\n  \"settings\": {\"lambda\": %.17g, \"l2_both_views\": %s, \"l1_stop_clean\": %s, \"epochs\": %d, \"train_blocks\": %d, "
          "\"first_trained_layer\": %d, \"batch\": %d, \"accum\": %d, \"lr\": %.17g, "
          "\"lr_min\": %.17g, \"weight_decay\": %.17g, \"beta1\": %.17g, \"beta2\": %.17g, "
          "\"adam_eps\": %.17g, \"warmup\": %d, \"seed\": %llu, \"threads\": %d, "
          "\"images\": %d, \"steps\": %ld, \"steps_per_epoch\": %ld, "
          "\"trained_parameters\": %zu, \"vision_parameters\": %zu},\n",
          o->lambda, o->l2_both_views ? "true" : "false", o->l1_stop_clean ? "true" : "false", o->epochs, o->train_blocks, t->first_layer, o->batch, o->accum, o->lr,
          o->lr_min, o->weight_decay, o->beta1, o->beta2, o->adam_eps, o->warmup,
          (unsigned long long)o->seed, t->d.threads, t->data.count, t->total,
          t->steps_per_epoch, t->n_train, t->g.n);
  fprintf(f, "  \"train_seconds\": %.3f,\n  \"image_names\": [", train_seconds);
  for (int i = 0; i < t->data.count; i++) {
    fprintf(f, "%s", i ? ", " : "");
    json_string(f, t->data.items[i].name);
  }
  fprintf(f, "],\n  \"steps\": [\n");
  for (long s = 0; s < t->total; s++) {
    const double *h = t->history + (size_t)s * FT_HISTORY_FIELDS;
    const int *idx;
    int n;
    ft_step_images(t, s, &idx, &n);
    fprintf(f, "    {\"step\": %ld, \"loss\": %.9g, \"l1\": %.9g, \"l2\": %.9g, \"lr\": %.9g, "
            "\"images\": [", s + 1, h[0], h[1], h[2], h[3]);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", idx[i]);
    fprintf(f, "], \"perturbations\": [");
    for (int i = 0; i < n; i++) {
      vfr_chain c;
      uint64_t seed;
      int k;
      ft_draw_perturbation(t, s, idx[i], &c, &seed, &k);
      fprintf(f, "%s{\"spec\": %d, \"seed\": %llu, \"chain\": [", i ? ", " : "", k,
              (unsigned long long)seed);
      for (int j = 0; j < c.n; j++)
        fprintf(f, "%s{\"op\": \"%s\", \"value\": %.17g}", j ? ", " : "", c.steps[j].op->name,
                c.steps[j].value);
      fprintf(f, "]}");
    }
    fprintf(f, "]}%s\n", s + 1 < t->total ? "," : "");
  }
  fprintf(f, "  ]");
  if (before && after) {
    double cmean = 0, cmin = 1;
    float c;
    for (int i = 0; i < before->n; i++) {
      cosine_forward(&c, before->clean + (size_t)i * t->d.E, after->clean + (size_t)i * t->d.E, 1,
                     t->d.E);
      cmean += (double)c / before->n;
      if (c < cmin) cmin = c;
    }
    fprintf(f, ",\n  \"evaluation\": {\n    \"data\": ");
    json_string(f, o->eval_path);
    fprintf(f, ",\n    \"images\": %d,\n    \"levels\": %d,\n    \"image_names\": [", before->n,
            o->eval_levels);
    for (int i = 0; i < t->eval.count; i++) {
      fprintf(f, "%s", i ? ", " : "");
      json_string(f, t->eval.items[i].path);
    }
    fprintf(f, "],\n    \"knn\": {\"k\": %d, \"temperature\": %g, \"train_images\": %d},\n",
            vfr_knn_default_params().k, vfr_knn_default_params().temperature, t->data.count);
    write_eval(f, t, "before", before);
    fprintf(f, ",\n");
    write_eval(f, t, "after", after);
    fprintf(f, ",\n    \"clean_cosine_to_original\": {\"mean\": %.9g, \"min\": %.9g}\n  }", cmean,
            cmin);
  }
  fprintf(f, "\n}\n");
  return vfr_atomic_commit(f, tmp, path, err);
}

