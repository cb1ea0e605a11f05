/* The tuned copy f' and the frozen copy f of the vision tower, built from the model's
 * safetensors file in the gradient layout (see finetune_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/train_internal.h"
#include "model/config.h"
#include "model/pos_embed.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

/* ---- the tuned copy ------------------------------------------------------------------ */

static void add_slot(trainer *t, const char *name, const float **param, const float **param0,
                     float **grad, int ndim, int64_t a, int64_t b, int64_t c, int64_t dd) {
  tensor_slot *s = &t->slots[t->n_slots++];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->ndim = ndim;
  int64_t sh[4] = {a, b, c, dd};
  s->count = 1;
  for (int i = 0; i < ndim; i++) {
    s->shape[i] = sh[i];
    s->count *= (size_t)sh[i];
  }
  s->param = param;
  s->param0 = param0;
  s->grad = grad;
}

/* Lists CLIP's vision tensors with the fields of f' (t->p), f (t->p0) and the gradients
 * (t->g; NULL before vit_grads_alloc) they bind to. */
static void list_clip_slots(trainer *t) {
  const vit_dims *d = &t->d;
  int64_t D = d->D, M = d->M, P = d->P, G = (int64_t)d->GH * d->GW;
  t->n_slots = 0;
#define TOP(name, field, ...) \
  add_slot(t, name, &t->p.field, &t->p0.field, &t->g.field, __VA_ARGS__)
  TOP("vision_model.embeddings.patch_embedding.weight", patch_w, 4, D, 3, P, P);
  TOP("vision_model.embeddings.class_embedding", cls, 1, D, 0, 0, 0);
  TOP("vision_model.embeddings.position_embedding.weight", pos, 2, 1 + G, D, 0, 0);
  TOP("vision_model.pre_layrnorm.weight", pre_ln_w, 1, D, 0, 0, 0);
  TOP("vision_model.pre_layrnorm.bias", pre_ln_b, 1, D, 0, 0, 0);
  for (int i = 0; i < d->L; i++) {
    char n[NAME_LEN];
#define LAYER(suffix, field, ...)                                                          \
  (snprintf(n, sizeof n, "vision_model.encoder.layers.%d.%s", i, suffix),                  \
   add_slot(t, n, &t->layers[i].field, &t->layers0[i].field,                               \
            t->g.layers ? &t->g.layers[i].field : NULL, __VA_ARGS__))
    LAYER("layer_norm1.weight", ln1_w, 1, D, 0, 0, 0);
    LAYER("layer_norm1.bias", ln1_b, 1, D, 0, 0, 0);
    LAYER("self_attn.q_proj.weight", q_w, 2, D, D, 0, 0);
    LAYER("self_attn.q_proj.bias", q_b, 1, D, 0, 0, 0);
    LAYER("self_attn.k_proj.weight", k_w, 2, D, D, 0, 0);
    LAYER("self_attn.k_proj.bias", k_b, 1, D, 0, 0, 0);
    LAYER("self_attn.v_proj.weight", v_w, 2, D, D, 0, 0);
    LAYER("self_attn.v_proj.bias", v_b, 1, D, 0, 0, 0);
    LAYER("self_attn.out_proj.weight", o_w, 2, D, D, 0, 0);
    LAYER("self_attn.out_proj.bias", o_b, 1, D, 0, 0, 0);
    LAYER("layer_norm2.weight", ln2_w, 1, D, 0, 0, 0);
    LAYER("layer_norm2.bias", ln2_b, 1, D, 0, 0, 0);
    LAYER("mlp.fc1.weight", fc1_w, 2, M, D, 0, 0);
    LAYER("mlp.fc1.bias", fc1_b, 1, M, 0, 0, 0);
    LAYER("mlp.fc2.weight", fc2_w, 2, D, M, 0, 0);
    LAYER("mlp.fc2.bias", fc2_b, 1, D, 0, 0, 0);
#undef LAYER
  }
  TOP("vision_model.post_layernorm.weight", final_ln_w, 1, D, 0, 0, 0);
  TOP("vision_model.post_layernorm.bias", final_ln_b, 1, D, 0, 0, 0);
  if (d->proj) TOP("visual_projection.weight", proj, 2, d->E, D, 0, 0);
#undef TOP
}

/* Lists DINOv2's tensors (Hugging Face names, optionally under a model prefix). The trained
 * position table is bound to the resampled slot (p.pos, g.pos) and marked: it is kept apart
 * at params + g.n and resampled into that slot. */
static void list_dinov2_slots(trainer *t, const char *pre, int qkv_bias, int image_size) {
  const vit_dims *d = &t->d;
  int64_t D = d->D, M = d->M, P = d->P, G = image_size / d->P, M1 = d->swiglu ? 2 * M : M;
  char n[NAME_LEN];
  t->n_slots = 0;
#define TOP(name, field, ...)                      \
  (snprintf(n, sizeof n, "%s%s", pre, name),       \
   add_slot(t, n, &t->p.field, &t->p0.field, &t->g.field, __VA_ARGS__))
  TOP("embeddings.cls_token", cls, 3, 1, 1, D, 0);
  TOP("embeddings.position_embeddings", pos, 3, 1, 1 + G * G, D, 0);
  t->slots[t->n_slots - 1].table = 1;
  TOP("embeddings.patch_embeddings.projection.weight", patch_w, 4, D, 3, P, P);
  TOP("embeddings.patch_embeddings.projection.bias", patch_b, 1, D, 0, 0, 0);
  if (d->R > 0) TOP("embeddings.register_tokens", registers, 3, 1, d->R, D, 0);
  for (int i = 0; i < d->L; i++) {
#define LAYER(suffix, field, ...)                                                          \
  (snprintf(n, sizeof n, "%sencoder.layer.%d.%s", pre, i, suffix),                         \
   add_slot(t, n, &t->layers[i].field, &t->layers0[i].field,                               \
            t->g.layers ? &t->g.layers[i].field : NULL, __VA_ARGS__))
    LAYER("norm1.weight", ln1_w, 1, D, 0, 0, 0);
    LAYER("norm1.bias", ln1_b, 1, D, 0, 0, 0);
    LAYER("attention.attention.query.weight", q_w, 2, D, D, 0, 0);
    LAYER("attention.attention.key.weight", k_w, 2, D, D, 0, 0);
    LAYER("attention.attention.value.weight", v_w, 2, D, D, 0, 0);
    if (qkv_bias) {
      LAYER("attention.attention.query.bias", q_b, 1, D, 0, 0, 0);
      LAYER("attention.attention.key.bias", k_b, 1, D, 0, 0, 0);
      LAYER("attention.attention.value.bias", v_b, 1, D, 0, 0, 0);
    }
    LAYER("attention.output.dense.weight", o_w, 2, D, D, 0, 0);
    LAYER("attention.output.dense.bias", o_b, 1, D, 0, 0, 0);
    LAYER("layer_scale1.lambda1", ls1, 1, D, 0, 0, 0);
    LAYER("norm2.weight", ln2_w, 1, D, 0, 0, 0);
    LAYER("norm2.bias", ln2_b, 1, D, 0, 0, 0);
    LAYER(d->swiglu ? "mlp.weights_in.weight" : "mlp.fc1.weight", fc1_w, 2, M1, D, 0, 0);
    LAYER(d->swiglu ? "mlp.weights_in.bias" : "mlp.fc1.bias", fc1_b, 1, M1, 0, 0, 0);
    LAYER(d->swiglu ? "mlp.weights_out.weight" : "mlp.fc2.weight", fc2_w, 2, D, M, 0, 0);
    LAYER(d->swiglu ? "mlp.weights_out.bias" : "mlp.fc2.bias", fc2_b, 1, D, 0, 0, 0);
    LAYER("layer_scale2.lambda1", ls2, 1, D, 0, 0, 0);
#undef LAYER
  }
  TOP("layernorm.weight", final_ln_w, 1, D, 0, 0, 0);
  TOP("layernorm.bias", final_ln_b, 1, D, 0, 0, 0);
#undef TOP
}

static const char *dinov2_prefix(const vfr_safetensors *st) {
  static const char *const prefixes[] = {"", "dinov2.", "dinov2_with_registers."};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    char n[NAME_LEN];
    snprintf(n, sizeof n, "%sembeddings.cls_token", prefixes[i]);
    if (vfr_safetensors_find(st, n)) return prefixes[i];
  }
  return "";
}

/* The listing of the model's family (CLIP or DINOv2). */
static void list_slots(trainer *t, const vfr_model_config *cfg) {
  if (t->d.clip)
    list_clip_slots(t);
  else
    list_dinov2_slots(t, dinov2_prefix(t->st), cfg->vision.qkv_bias, cfg->vision.image_size);
}

/* Loads the original model, fills t->d, and builds f' and f as copies of its vision
 * tensors in the gradient layout. */
int ft_load_model(trainer *t, vfr_error *err) {
  const trainer_config *o = &t->cfg;
  vfr_model_params mp = vfr_model_default_params();
  mp.threads = o->threads;
  TRY(vfr_model_load(o->model_dir, &mp, &t->model, err));
  vfr_model_info info;
  vfr_model_get_info(t->model, &info);
  vfr_model_config cfg;
  TRY(vfr_model_config_read(o->model_dir, &cfg, err));
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%s/model.safetensors", o->model_dir);
  TRY(vfr_safetensors_open(path, &t->st, err));
  vit_dims *d = &t->d;
  memset(d, 0, sizeof *d);
  d->D = info.hidden_size;
  d->L = info.num_layers;
  d->NH = info.num_heads;
  d->M = info.intermediate_size;
  d->P = info.patch_size;
  d->H = info.input_height;
  d->W = info.input_width;
  d->GH = d->H / d->P;
  d->GW = d->W / d->P;
  d->R = info.num_register_tokens;
  d->T = info.num_tokens;
  d->E = info.embed_dim;
  d->clip = !strcmp(info.family, "clip");
  d->proj = d->clip && vfr_safetensors_find(t->st, "visual_projection.weight") != NULL;
  d->swiglu = !d->clip && cfg.vision.use_swiglu;
  t->aa = !strcmp(cfg.vision.model_type, "dinov2_with_registers");
  d->act = cfg.vision.act;
  d->eps = cfg.vision.layer_norm_eps;
  d->threads = o->threads > 0 ? o->threads : omp_get_max_threads();
  d->engine = vfr_model_engine(t->model);

  t->layers = calloc((size_t)d->L, sizeof *t->layers);
  t->layers0 = calloc((size_t)d->L, sizeof *t->layers0);
  t->slots = calloc((size_t)(8 + 20 * d->L), sizeof *t->slots);
  if (!t->layers || !t->layers0 || !t->slots)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->model_dir);
  t->p.layers = t->layers;
  list_slots(t, &cfg);
  /* Bind to the file first (checks every shape), so the gradient layout sees which
   * optional tensors exist; then copy into the one allocation. */
  float **owned = calloc((size_t)t->n_slots, sizeof *owned);
  if (!owned) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->model_dir);
  int rc = VFR_OK;
  for (int i = 0; i < t->n_slots && rc == VFR_OK; i++) {
    tensor_slot *s = &t->slots[i];
    rc = vfr_safetensors_get_f32(t->st, s->name, s->ndim, s->shape, s->param, &owned[i], err);
  }
  if (rc == VFR_OK && vit_grads_alloc(&t->g, &t->p, d) != 0)
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the gradients", o->model_dir);
  for (int i = 0; i < t->n_slots; i++)
    if (t->slots[i].table) {
      t->n_table = t->slots[i].count;
      t->table_rows = (int)t->slots[i].shape[1];
    }
  if (rc == VFR_OK) {
    /* zeroed: a parameter the model lacks (qkv without bias) stays 0 where its gradient
     * slot is */
    size_t head = (size_t)t->head_classes * ((size_t)d->E + 1);
    t->params = calloc(t->g.n + t->n_table + head, sizeof(float));
    t->params0 = calloc(t->g.n + t->n_table + head, sizeof(float));
    int G = (int)lround(sqrt((double)(t->table_rows > 1 ? t->table_rows - 1 : 1)));
    t->table_tmp = malloc(((size_t)G * d->GW * d->D + 1) * sizeof(float));
    if (!t->params || !t->params0 || !t->table_tmp)
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the parameters", o->model_dir);
  }
  /* Second listing, now with the gradient fields: a tensor's offset in both parameter
   * copies is its gradient's offset in g.memory. */
  if (rc == VFR_OK) list_slots(t, &cfg);
  for (int i = 0; i < t->n_slots && rc == VFR_OK; i++) {
    tensor_slot *s = &t->slots[i];
    size_t off = (size_t)(*s->grad - t->g.memory);
    if (s->table) { /* the table at g.n, resampled into the pos slot */
      memcpy(t->params + t->g.n, *s->param, s->count * sizeof(float));
      memcpy(t->params0 + t->g.n, *s->param, s->count * sizeof(float));
      if (dinov2_pos_embed(t->params + off, t->params + t->g.n, t->table_tmp, t->table_rows,
                           d->D, d->H, d->W, d->P, t->aa) != 0 ||
          dinov2_pos_embed(t->params0 + off, t->params0 + t->g.n, t->table_tmp, t->table_rows,
                           d->D, d->H, d->W, d->P, t->aa) != 0)
        rc = vfr_fail(err, VFR_EFORMAT, "%s: %s is not a square grid", path, s->name);
    } else {
      memcpy(t->params + off, *s->param, s->count * sizeof(float));
      memcpy(t->params0 + off, *s->param, s->count * sizeof(float));
    }
    *s->param = t->params + off;
    *s->param0 = t->params0 + off;
  }
  for (int i = 0; i < t->n_slots; i++) free(owned[i]);
  free(owned);
  if (rc) return rc;
  t->p0.layers = t->layers0;
  return VFR_OK;
}

