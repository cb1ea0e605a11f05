/* Seeded random CLIP vision towers (see init_random.h). */
#define _POSIX_C_SOURCE 200809L
#include "finetune/init_random.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/files.h"
#include "finetune/train_internal.h"
#include "model/config.h"
#include "model/family.h"
#include "model/safetensors.h"

/* A standard normal from the hash of (seed, tensor, index): Box-Muller on two uniforms. */
static double normal_at(uint64_t seed, uint64_t tensor, uint64_t i) {
  uint64_t a = ft_mix64(ft_draw_key(seed, tensor, i, 0, 11));
  uint64_t b = ft_mix64(ft_draw_key(seed, tensor, i, 0, 12));
  double u1 = ((double)(a >> 11) + 0.5) * 0x1.0p-53, u2 = (double)(b >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef struct init_list {
  vfr_tensor_out *t;
  float **data;
  int n, cap;
  uint64_t seed;
} init_list;

/* Appends tensor `name` of the given shape: N(0, std^2) when std > 0, else the constant c. */
static int add(init_list *l, const char *name, int ndim, int64_t a, int64_t b, int64_t c4,
               int64_t d4, double std, float c) {
  if (l->n == l->cap) return -1;
  vfr_tensor_out *t = &l->t[l->n];
  int64_t sh[4] = {a, b, c4, d4};
  size_t count = 1;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    t->shape[i] = sh[i];
    count *= (size_t)sh[i];
  }
  float *x = malloc(count * sizeof *x);
  char *nm = strdup(name);
  if (!x || !nm) {
    free(x);
    free(nm);
    return -1;
  }
  for (size_t i = 0; i < count; i++)
    x[i] = std > 0 ? (float)(std * normal_at(l->seed, (uint64_t)l->n, i)) : c;
  t->name = nm;
  t->data = x;
  l->data[l->n++] = x;
  return 0;
}

/* The vision tower's initializer_range in config_dir/config.json (under vision_config for a
 * CLIPModel folder); 0.02, Hugging Face's default, when absent. */
static double init_range(const char *config_dir) {
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/config.json", config_dir);
  json_t *root = json_load_file(path, 0, NULL);
  json_t *vc = root ? json_object_get(root, "vision_config") : NULL;
  json_t *r = json_object_get(json_is_object(vc) ? vc : root, "initializer_range");
  double range = json_is_number(r) && json_number_value(r) > 0 ? json_number_value(r) : 0.02;
  json_decref(root);
  return range;
}

int ft_write_class_config(const char *config_dir, const char *out_dir, char *const *names,
                          int nc, vfr_error *err) {
  char from[PATH_LEN], to[PATH_LEN];
  snprintf(from, sizeof from, "%s/config.json", config_dir);
  snprintf(to, sizeof to, "%s/config.json", out_dir);
  json_error_t je;
  json_t *root = json_load_file(from, JSON_REJECT_DUPLICATES, &je);
  if (!root || !json_is_object(root)) {
    json_decref(root);
    return vfr_fail(err, VFR_EFORMAT, "%s: not a JSON object (%s)", from, je.text);
  }
  if (nc > 0) {
    json_t *id2label = json_object(), *label2id = json_object();
    for (int i = 0; i < nc; i++) {
      char key[32];
      snprintf(key, sizeof key, "%d", i);
      json_object_set_new(id2label, key, json_string(names[i]));
      json_object_set_new(label2id, names[i], json_integer(i));
    }
    json_object_set_new(root, "id2label", id2label);
    json_object_set_new(root, "label2id", label2id);
  }
  int rc = vfr_atomic_write_json(to, root, JSON_INDENT(2) | JSON_SORT_KEYS, err);
  json_decref(root);
  if (rc) return rc;
  /* the processor configuration travels unchanged */
  snprintf(from, sizeof from, "%s/preprocessor_config.json", config_dir);
  snprintf(to, sizeof to, "%s/preprocessor_config.json", out_dir);
  json_t *pp = json_load_file(from, JSON_REJECT_DUPLICATES, &je);
  if (!pp) return vfr_fail(err, VFR_EFORMAT, "%s: %s", from, je.text);
  rc = vfr_atomic_write_json(to, pp, JSON_INDENT(2) | JSON_SORT_KEYS, err);
  json_decref(pp);
  return rc;
}

int ft_init_clip_random(const char *config_dir, const char *out_dir, uint64_t seed,
                        char *const *class_names, int class_count, vfr_error *err) {
  vfr_model_config cfg;
  TRY(vfr_model_config_read(config_dir, &cfg, err));
  const vfr_vit_config *v = &cfg.vision;
  if (v->family != VFR_FAMILY_CLIP || !family_of(v->family)->finetune)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/config.json: random initialisation is for CLIP "
                    "vision towers (model_type %s)", config_dir, v->model_type);
  if (v->image_size % v->patch_size != 0 || v->projection_dim < 1)
    return vfr_fail(err, VFR_EINVAL, "%s/config.json: image_size %d is not a multiple of "
                    "patch_size %d, or no projection_dim", config_dir, v->image_size,
                    v->patch_size);
  int64_t D = v->hidden_size, L = v->num_layers, E = v->projection_dim;
  double attn = pow((double)D, -0.5) * pow(2.0 * (double)L, -0.5), out = pow((double)D, -0.5);
  double fc1 = pow(2.0 * (double)D, -0.5), range = init_range(config_dir);
  init_list l = {0};
  l.seed = seed;
  l.cap = (int)(8 + 16 * L);
  l.t = calloc((size_t)l.cap, sizeof *l.t);
  l.data = calloc((size_t)l.cap, sizeof *l.data);
  int bad = !l.t || !l.data;
  /* the family's catalogue, in its order (the draws are seeded by the row's index) */
  const model_family *f = family_of(v->family);
  int64_t sizes[FD_COUNT];
  fam_sizes(&cfg, sizes);
  sizes[FD_E] = E;
  for (int r = 0; r < f->n_vision && !bad; r++) {
    const fam_tensor *row = &f->vision[r];
    int n = row->block ? (int)L : 1;
    for (int i = 0; i < n && !bad; i++) {
      char n_[160];
      fam_row_name(row, "", i, n_, sizeof n_);
      int64_t sh[4] = {0, 0, 0, 0};
      for (int k = 0; k < row->ndim; k++) sh[k] = sizes[row->dim[k]];
      double std = 0;
      float c = 0;
      switch ((fam_init)row->init) {
      case FI_ONE: c = 1; break;
      case FI_RANGE: std = range; break;
      case FI_CLS: case FI_OUT: std = out; break;
      case FI_ATTN: std = attn; break;
      case FI_FC1: std = fc1; break;
      default: break;
      }
      bad = add(&l, n_, row->ndim, sh[0], sh[1], sh[2], sh[3], std, c) != 0;
    }
  }
  int rc = VFR_OK;
  if (bad) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the initial weights", out_dir);
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
  if (!rc) rc = vfr_safetensors_write(path, l.t, l.n, "{\"format\":\"pt\"}", err);
  if (!rc) rc = ft_write_class_config(config_dir, out_dir, class_names, class_count, err);
  for (int i = 0; i < l.n; i++) {
    free((void *)l.t[i].name);
    free(l.data[i]);
  }
  free(l.t);
  free(l.data);
  return rc;
}
