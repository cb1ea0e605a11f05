/* The tuned copy f' and the frozen copy f of the vision tower, built from the model's
 * safetensors file in the gradient layout (see finetune_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"
#include "finetune/train_internal.h"
#include "model/config.h"
#include "model/family.h"
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

/* The gradient member a field binds (block fields: of g->layers[layer]; NULL before
 * vit_grads_alloc). */
static float **grad_field_ptr(vit_grads *g, int field, int layer) {
  if (field >= VF_LN1_W && !g->layers) return NULL;
  vit_layer_grads *l = field >= VF_LN1_W ? &g->layers[layer] : NULL;
  switch ((vit_field)field) {
  case VF_PATCH_W: return &g->patch_w;
  case VF_PATCH_B: return &g->patch_b;
  case VF_CLS: return &g->cls;
  case VF_REGISTERS: return &g->registers;
  case VF_POS: return &g->pos;
  case VF_PRE_LN_W: return &g->pre_ln_w;
  case VF_PRE_LN_B: return &g->pre_ln_b;
  case VF_FINAL_LN_W: return &g->final_ln_w;
  case VF_FINAL_LN_B: return &g->final_ln_b;
  case VF_PROJ: return &g->proj;
  case VF_LN1_W: return &l->ln1_w;
  case VF_LN1_B: return &l->ln1_b;
  case VF_Q_W: return &l->q_w;
  case VF_K_W: return &l->k_w;
  case VF_V_W: return &l->v_w;
  case VF_Q_B: return &l->q_b;
  case VF_K_B: return &l->k_b;
  case VF_V_B: return &l->v_b;
  case VF_O_W: return &l->o_w;
  case VF_O_B: return &l->o_b;
  case VF_LS1: return &l->ls1;
  case VF_LN2_W: return &l->ln2_w;
  case VF_LN2_B: return &l->ln2_b;
  case VF_FC1_W: return &l->fc1_w;
  case VF_FC1_B: return &l->fc1_b;
  case VF_FC2_W: return &l->fc2_w;
  case VF_FC2_B: return &l->fc2_b;
  case VF_LS2: return &l->ls2;
  default: return NULL;
  }
}

/* Lists the family's vision tensors (its catalogue, family_*.c) with the fields of f'
 * (t->p), f (t->p0) and the gradients (t->g; NULL before vit_grads_alloc) they bind to.
 * A DINOv2 position table is bound to the resampled slot (p.pos, g.pos) and marked: it is
 * kept apart at params + g.n and resampled into that slot. */
static void list_slots(trainer *t, const vfr_model_config *cfg) {
  const model_family *f = family_of(cfg->vision.family);
  const char *prefix = fam_prefix(f, t->st);
  int64_t sizes[FD_COUNT];
  fam_sizes(cfg, sizes);
  sizes[FD_E] = t->d.E;
  t->n_slots = 0;
  for (int r = 0; r < f->n_vision; r++) {
    const fam_tensor *row = &f->vision[r];
    int n = row->block ? t->d.L : 1;
    for (int i = 0; i < n; i++) {
      char name[NAME_LEN];
      fam_row_name(row, prefix, i, name, sizeof name);
      if (row->field == VF_PROJ ? !t->d.proj : !fam_row_exists(row, cfg, t->st, name)) continue;
      int64_t sh[4] = {0, 0, 0, 0};
      for (int k = 0; k < row->ndim; k++) sh[k] = sizes[row->dim[k]];
      add_slot(t, name, vit_field_ptr(&t->p, row->field, i), vit_field_ptr(&t->p0, row->field, i),
               grad_field_ptr(&t->g, row->field, i), row->ndim, sh[0], sh[1], sh[2], sh[3]);
      if (row->table) t->slots[t->n_slots - 1].table = 1;
    }
  }
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
  const model_family *fam = family_of(cfg.vision.family);
  if (!fam || !fam->finetune)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: fine-tuning supports Hugging Face CLIP and DINOv2 "
                    "vision transformers, not %s %s towers", o->model_dir, info.layout,
                    fam && fam->arch == FA_RESNET ? "ResNet" : info.family);
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
  d->clip = fam->clip_like;
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
  t->p0.layers = t->layers0;
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
    t->params = vfr_big_calloc(t->g.n + t->n_table + head, sizeof(float));
    t->params0 = vfr_big_calloc(t->g.n + t->n_table + head, sizeof(float));
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

