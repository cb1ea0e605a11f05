/* The family registry and the catalogue binder (see family.h). */
#include "model/family.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Families by name and by id: the one place a new family is registered. */
static const struct {
  const char *name;
  vfr_family id;
  const model_family *family;
} FAMILIES[] = {
    {"clip", VFR_FAMILY_CLIP, &FAMILY_HF_CLIP},
    {"dinov2", VFR_FAMILY_DINOV2, &FAMILY_DINOV2},
    {"open_clip", VFR_FAMILY_OPEN_CLIP, &FAMILY_OPEN_CLIP},
    {"open_clip_resnet", VFR_FAMILY_OPEN_CLIP_RESNET, &FAMILY_OPEN_CLIP_RESNET},
};

const model_family *family_of(vfr_family id) {
  for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++)
    if (FAMILIES[i].id == id) return FAMILIES[i].family;
  return NULL;
}

const model_family *family_find(const char *name) {
  for (size_t i = 0; name && i < sizeof FAMILIES / sizeof *FAMILIES; i++)
    if (!strcmp(FAMILIES[i].name, name)) return FAMILIES[i].family;
  return NULL;
}

void fam_sizes(const vfr_model_config *cfg, int64_t out[FD_COUNT]) {
  const vfr_vit_config *v = &cfg->vision;
  const vfr_text_config *t = &cfg->text;
  int64_t G = v->patch_size > 0 ? v->image_size / v->patch_size : 0;
  int64_t M = v->intermediate_size;
  if (v->use_swiglu) M = ((int64_t)((double)(2 * M) / 3.0) + 7) / 8 * 8;
  memset(out, 0, FD_COUNT * sizeof *out);
  out[FD_1] = 1;
  out[FD_3] = v->num_channels;
  out[FD_D] = v->hidden_size;
  out[FD_3D] = 3 * (int64_t)v->hidden_size;
  out[FD_M] = M;
  out[FD_M1] = v->use_swiglu ? 2 * M : M;
  out[FD_P] = v->patch_size;
  out[FD_POS] = 1 + G * G;
  out[FD_R] = v->num_register_tokens;
  out[FD_E] = v->projection_dim;
  out[FD_TV] = t->vocab_size;
  out[FD_TD] = t->hidden_size;
  out[FD_T3D] = 3 * (int64_t)t->hidden_size;
  out[FD_TM] = t->intermediate_size;
  out[FD_TP] = t->max_position_embeddings;
  out[FD_TE] = t->projection_dim;
}

const char *fam_prefix(const model_family *f, const vfr_safetensors *st) {
  if (!f->prefixes || !f->probe) return "";
  for (int i = 0; f->prefixes[i]; i++) {
    char n[200];
    snprintf(n, sizeof n, "%s%s", f->prefixes[i], f->probe);
    if (vfr_safetensors_find(st, n)) return f->prefixes[i];
  }
  return f->prefixes[0];
}

void fam_row_name(const fam_tensor *r, const char *prefix, int i, char *buf, size_t cap) {
  char n[200];
  if (r->block) snprintf(n, sizeof n, r->name, i);
  else snprintf(n, sizeof n, "%s", r->name);
  snprintf(buf, cap, "%s%s", prefix, n);
}

int fam_row_exists(const fam_tensor *r, const vfr_model_config *cfg, const vfr_safetensors *st,
                   const char *full) {
  switch ((fam_when)r->when) {
  case FW_QKV_BIAS: return cfg->vision.qkv_bias;
  case FW_REGISTERS: return cfg->vision.num_register_tokens > 0;
  case FW_MLP: return !cfg->vision.use_swiglu;
  case FW_SWIGLU: return cfg->vision.use_swiglu;
  case FW_IF_PRESENT: return st && vfr_safetensors_find(st, full) != NULL;
  default: return 1;
  }
}

const float **vit_field_ptr(vit_params *p, int field, int layer) {
  vit_layer_params *l = field >= VF_LN1_W ? &p->layers[layer] : NULL;
  switch ((vit_field)field) {
  case VF_PATCH_W: return &p->patch_w;
  case VF_PATCH_B: return &p->patch_b;
  case VF_CLS: return &p->cls;
  case VF_REGISTERS: return &p->registers;
  case VF_POS: return &p->pos;
  case VF_PRE_LN_W: return &p->pre_ln_w;
  case VF_PRE_LN_B: return &p->pre_ln_b;
  case VF_FINAL_LN_W: return &p->final_ln_w;
  case VF_FINAL_LN_B: return &p->final_ln_b;
  case VF_PROJ: return &p->proj;
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

void fam_store_free(fam_store *s) {
  for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
  free(s->owned);
  s->owned = NULL;
  s->n_owned = s->cap_owned = 0;
}

static int keep(fam_store *s, float *buf, vfr_error *err) {
  if (s->n_owned == s->cap_owned) {
    int cap = s->cap_owned ? 2 * s->cap_owned : 64;
    float **o = realloc(s->owned, (size_t)cap * sizeof *o);
    if (!o) {
      free(buf);
      return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(s->st));
    }
    s->owned = o;
    s->cap_owned = cap;
  }
  s->owned[s->n_owned++] = buf;
  return VFR_OK;
}

int fam_get(fam_store *s, const char *name, int ndim, const int64_t *shape, const float **out,
            vfr_error *err) {
  float *owned = NULL;
  int rc = vfr_safetensors_get_f32(s->st, name, ndim, shape, out, &owned, err);
  if (rc) return rc;
  if (owned && (rc = keep(s, owned, err))) return rc;
  const vfr_tensor_info *ti = vfr_safetensors_find(s->st, name);
  if (ti) {
    s->num_parameters += ti->numel;
    s->weight_bytes += (int64_t)ti->nbytes;
  }
  return VFR_OK;
}

int fam_bind_row(fam_store *s, const fam_tensor *r, const char *full, const int64_t *sizes,
                 const float **out[3], vfr_error *err) {
  int64_t shape[FAM_MAX_DIMS];
  for (int i = 0; i < r->ndim; i++) shape[i] = sizes[r->dim[i]];
  const float *data;
  int rc = fam_get(s, full, r->ndim, shape, &data, err);
  if (rc) return rc;
  if (r->transposed) { /* (in, out) as x @ W -> (out, in) as nn.Linear */
    int64_t rows = shape[0], cols = shape[1];
    float *t = malloc((size_t)rows * (size_t)cols * sizeof *t);
    if (!t) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(s->st));
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) t[j * rows + i] = data[i * cols + j];
    if ((rc = keep(s, t, err))) return rc;
    data = t;
  }
  if (r->fused == 3) {
    /* (3C, ...) stacked q, k, v: each a third of the rows */
    size_t part = 1;
    for (int i = 0; i < r->ndim; i++) part *= (size_t)shape[i];
    part /= 3;
    for (int k = 0; k < 3; k++) *out[k] = data + k * part;
  } else {
    *out[0] = data;
  }
  return VFR_OK;
}
