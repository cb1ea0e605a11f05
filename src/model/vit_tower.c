/* A ViT image tower (HF CLIP, DINOv2, OpenCLIP ViT) bound from its family's catalogue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/try.h"
#include "model/gemm_bf16.h"
#include "model/model_arch.h"
#include "model/pos_embed.h"
#include "model/safetensors.h"
#include "model/vit.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

enum { MICRO_BATCH_ROWS = 8192 };

typedef struct vit_tower {
  const char *dir;
  vfr_vit_config cfg;
  vit_params p;
  vit_dims d;
  vit_acts acts;
  float *pos; /* (1 + GH*GW, D) position embeddings at the input size (DINOv2) */
  const vfr_safetensors *st; /* the weights file (its pages outlive the tower) */
  int prep_rows;             /* fp32 prepared weights: rows they are made for, 0 when made */
} vit_tower;

#define TRY VFR_TRY

/* Fills d from the configs and params; checks the sizes the forward pass relies on. */
static int set_dims(vit_tower *t, const tower_source *src, vfr_error *err) {
  const vfr_vit_config *c = &src->config->vision;
  const vfr_preprocess_config *pp = src->pre;
  vit_dims *d = &t->d;
  char cfg[1100];
  snprintf(cfg, sizeof cfg, "%s/%s", src->dir, src->config->config_file);
  const char *ppfile = src->family->torchvision_preprocess ? src->config->config_file
                                                          : "preprocessor_config.json";
  if (c->num_channels != 3)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: num_channels %d (only 3 is supported)", cfg,
                    c->num_channels);
  if (c->num_heads <= 0 || c->hidden_size % c->num_heads != 0)
    return vfr_fail(err, VFR_EFORMAT, "%s: hidden_size %d is not a multiple of "
                    "num_attention_heads %d", cfg, c->hidden_size, c->num_heads);
  if (!pp->do_center_crop)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/%s: do_center_crop false is not supported",
                    src->dir, ppfile);
  d->clip = src->family->clip_like;
  d->D = c->hidden_size;
  d->L = c->num_layers;
  d->NH = c->num_heads;
  d->swiglu = !d->clip && c->use_swiglu;
  int64_t sizes[FD_COUNT];
  fam_sizes(src->config, sizes);
  d->M = (int)sizes[FD_M];
  d->P = c->patch_size;
  d->H = pp->crop_height;
  d->W = pp->crop_width;
  if (d->H < d->P || d->W < d->P || d->H > 4096 || d->W > 4096)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/%s: crop size %dx%d does not suit patch size %d",
                    src->dir, ppfile, d->W, d->H, d->P);
  if (d->clip && (d->H != c->image_size || d->W != c->image_size))
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/%s: crop size %dx%d differs from the CLIP "
                    "image_size %d", src->dir, ppfile, d->W, d->H, c->image_size);
  d->GH = d->H / d->P;
  d->GW = d->W / d->P;
  d->R = d->clip ? 0 : c->num_register_tokens;
  d->T = 1 + d->R + d->GH * d->GW;
  d->act = c->act;
  d->eps = c->layer_norm_eps;
  d->cls_mean = src->params->pooling == VFR_POOLING_CLS_MEAN;
  d->threads = src->params->threads > 0 ? src->params->threads : omp_get_max_threads();
  d->bf16 = src->params->precision == VFR_PRECISION_BF16;
  d->engine = src->engine;
  if (d->clip && d->cls_mean)
    return vfr_fail(err, VFR_EINVAL, "%s: cls+mean pooling is for DINOv2 models; CLIP's "
                    "embedding is its projected CLS token", src->dir);
  return VFR_OK;
}

/* Binds every row of the family's catalogue that exists for this config. */
static int bind_catalogue(vit_tower *t, const tower_source *src, vfr_error *err) {
  const model_family *f = src->family;
  const vfr_safetensors *st = src->store->st;
  const char *prefix = fam_prefix(f, st);
  int64_t sizes[FD_COUNT];
  fam_sizes(src->config, sizes);
  for (int r = 0; r < f->n_vision; r++) {
    const fam_tensor *row = &f->vision[r];
    int n = row->block ? t->d.L : 1;
    for (int i = 0; i < n; i++) {
      char full[240];
      fam_row_name(row, prefix, i, full, sizeof full);
      if (!fam_row_exists(row, src->config, st, full)) continue;
      const float **out[3] = {vit_field_ptr(&t->p, row->field, i), NULL, NULL};
      if (row->fused == 3) {
        out[1] = vit_field_ptr(&t->p, row->field + 1, i);
        out[2] = vit_field_ptr(&t->p, row->field + 2, i);
      }
      TRY(fam_bind_row(src->store, row, full, sizes, out, err));
    }
  }
  return VFR_OK;
}

/* The rows of the blocks' products at the largest micro-batch this model runs. */
static int typical_rows(const vit_tower *t, const tower_source *src) {
  int micro = MICRO_BATCH_ROWS / t->d.T, max_batch = src->params->max_batch;
  micro = micro < 1 ? 1 : (micro > max_batch ? max_batch : micro);
  return micro * t->d.T;
}

/* 1 when every block weight is read in place from the weights file (an F32 file), so that
 * a prepared copy can stand in for it in memory. */
static int weights_in_file(const vit_tower *t, const tower_source *src) {
  const vit_dims *d = &t->d;
  size_t M1 = (size_t)(d->swiglu ? 2 : 1) * d->M, D = (size_t)d->D;
  for (int i = 0; i < d->L; i++) {
    const vit_layer_params *l = &t->p.layers[i];
    const float *w[6] = {l->q_w, l->k_w, l->v_w, l->o_w, l->fc1_w, l->fc2_w};
    size_t n[6] = {D * D, D * D, D * D, D * D, M1 * D, D * d->M};
    for (int j = 0; j < 6; j++)
      if (!vfr_safetensors_holds(src->store->st, w[j], n[j] * sizeof(float))) return 0;
  }
  return 1;
}

/* vit_prepare's hook: the source pages of a prepared weight leave memory (read back from
 * the file only should a product fall back to the plain weight). */
static void drop_source(void *ctx, const float *w, size_t n) {
  vfr_safetensors_release(((const vit_tower *)ctx)->st, w, n * sizeof(float));
}

/* fp32 weights are prepared at the first forward pass, not at load, so that a model loaded
 * for its info or never run costs neither the reorder nor the memory. oneDNN refusing the
 * layout leaves the plain products; running out of memory is the caller's error. */
static int prepare_fp32(vit_tower *t, vfr_error *err) {
  if (!t->prep_rows) return VFR_OK;
  vfr_error perr;
  if (vit_prepare(&t->p, &t->d, t->prep_rows, drop_source, t, &perr) == VFR_OK)
    t->d.linear = VIT_LINEAR_PREPARED;
  else if (perr.code == VFR_ENOMEM)
    return vfr_fail(err, VFR_ENOMEM, "%s: %s", t->dir, perr.message);
  t->prep_rows = 0;
  return VFR_OK;
}

/* A batch of B runs in micro-batches of about MICRO_BATCH_ROWS tokens, which bounds the
 * activation memory. Taller gemms run closer to the sgemm rate: on ViT-B/16 at batch 32,
 * 2 threads, 512 rows gave 3.2 images/s, 2048 gave 3.7 and 8192 3.95, with 16384 no
 * better (measured on an idle machine). Sets *micro and reserves its activations. */
static int reserve_micro(vit_tower *t, int B, int *micro, vfr_error *err) {
  int m = MICRO_BATCH_ROWS / t->d.T;
  m = m < 1 ? 1 : (m > B ? B : m);
  if (vit_acts_reserve(&t->acts, &t->d, m) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the activations of a batch of %d "
                    "(%zu floats)", t->dir, m, vit_acts_size(&t->d, m));
  *micro = m;
  return VFR_OK;
}

static int vit_embed(void *self, const float *pixels, int B, float *out, vfr_error *err) {
  vit_tower *t = self;
  int micro;
  TRY(prepare_fp32(t, err));
  TRY(reserve_micro(t, B, &micro, err));
  size_t per_image = (size_t)3 * t->d.H * t->d.W;
  for (int start = 0; start < B; start += micro) {
    int b = B - start < micro ? B - start : micro;
    vit_forward(out + (size_t)start * t->d.E, pixels + (size_t)start * per_image, &t->p, &t->d,
                &t->acts, b);
  }
  return VFR_OK;
}

static int vit_tokens(void *self, const float *pixels, int B, int last_k, int final_norm, float *out,
                      vfr_error *err) {
  vit_tower *t = self;
  if (last_k < 1 || last_k > t->d.L)
    return vfr_fail(err, VFR_EINVAL, "%s: last %d layers asked, the model has %d", t->dir, last_k, t->d.L);
  int micro;
  TRY(prepare_fp32(t, err));
  TRY(reserve_micro(t, B, &micro, err));
  const size_t per_image = (size_t)3 * t->d.H * t->d.W, per_out = (size_t)t->d.T * last_k * t->d.D;
  for (int start = 0; start < B; start += micro) {
    int b = B - start < micro ? B - start : micro;
    vit_forward_tokens(out + (size_t)start * per_out, pixels + (size_t)start * per_image, &t->p, &t->d, &t->acts, b,
                       last_k, final_norm);
  }
  return VFR_OK;
}

static void vit_info(const void *self, vfr_model_info *out) {
  const vit_tower *t = self;
  out->hidden_size = t->d.D;
  out->num_layers = t->d.L;
  out->num_heads = t->d.NH;
  out->intermediate_size = t->d.M;
  out->patch_size = t->d.P;
  out->image_size = t->cfg.image_size;
  out->num_register_tokens = t->d.R;
  out->num_tokens = t->d.T;
  out->flops_per_image = vit_flops_per_image(&t->d);
}

static void vit_free(void *self) {
  vit_tower *t = self;
  if (!t) return;
  vit_bf16_free(&t->p, t->d.L);
  vit_prepare_free(&t->p, t->d.L);
  free(t->p.layers);
  free(t->pos);
  vit_acts_free(&t->acts);
  free(t);
}

static const model_arch VIT_ARCH = {vit_embed, vit_tokens, vit_info, vit_free};

static int build(vit_tower *t, const tower_source *src, vfr_error *err) {
  TRY(set_dims(t, src, err));
  t->p.layers = calloc((size_t)t->d.L, sizeof *t->p.layers);
  if (!t->p.layers) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", src->dir);
  TRY(bind_catalogue(t, src, err));
  const char *path = vfr_safetensors_path(src->store->st);
  const vfr_vit_config *c = &src->config->vision;
  if (t->d.clip) {
    if (src->family == &FAMILY_HF_CLIP) {
      if (t->p.proj && c->projection_dim <= 0)
        return vfr_fail(err, VFR_EFORMAT, "%s/config.json: projection_dim is missing but the "
                        "checkpoint has visual_projection.weight", src->dir);
      if (!t->p.proj && !strcmp(c->model_type, "clip"))
        return vfr_fail(err, VFR_EFORMAT, "%s: no tensor 'visual_projection.weight'", path);
    }
    t->d.proj = t->p.proj != NULL;
    t->d.E = t->p.proj ? c->projection_dim : t->d.D;
    return VFR_OK;
  }
  t->d.E = t->d.cls_mean ? 2 * t->d.D : t->d.D;
  /* Position embeddings at the input size, once (Hugging Face recomputes them on every
   * call with the same result). */
  int G = c->image_size / t->d.P, n_pos = 1 + G * G;
  int aa = !strcmp(c->model_type, "dinov2_with_registers");
  t->pos = malloc((size_t)(1 + t->d.GH * t->d.GW) * t->d.D * sizeof(float));
  float *tmp = malloc((size_t)G * t->d.GW * t->d.D * sizeof(float));
  int bad = !t->pos || !tmp;
  if (!bad) bad = dinov2_pos_embed(t->pos, t->p.pos, tmp, n_pos, t->d.D, t->d.H, t->d.W, t->d.P, aa);
  free(tmp);
  if (bad) return vfr_fail(err, VFR_EINTERNAL, "%s: cannot resample the position embeddings", path);
  t->p.pos = t->pos;
  return VFR_OK;
}

/* The kind of the blocks' linear layers. fp32: the weights reordered once into the blocked
 * layout oneDNN's fp32 matmul picks (about 8% faster than the plain transposed weight at
 * ViT-B shapes, 2 threads), the activation a post-op (inference only: the training forward
 * has its own block), when the weights come from an F32 file whose pages the copy replaces
 * in memory; else (converted F16/BF16 weights, which would be held twice) the plain
 * products. bf16: weights rounded and reordered once for oneDNN's bf16 matmul where it has
 * a compiled kernel for this CPU (AMX, AVX512-BF16, or emulated on AVX-512), else packed for
 * the own AVX512-BF16 kernel (F16/BF16 files were converted to fp32 first, which is exact);
 * the model loader refused bf16 when neither exists. */
static int pick_linear(vit_tower *t, const tower_source *src, vfr_error *err) {
  t->d.linear = VIT_LINEAR_FP32;
  t->st = src->store->st;
  if (!t->d.bf16) {
    if (weights_in_file(t, src)) t->prep_rows = typical_rows(t, src); /* prepare_fp32 */
    return VFR_OK;
  }
  vfr_error perr;
  if (engine_bf16_probe(NULL, 0)) {
    if (vit_prepare(&t->p, &t->d, typical_rows(t, src), drop_source, t, &perr) == VFR_OK) {
      t->d.linear = VIT_LINEAR_PREPARED;
      return VFR_OK;
    }
    if (perr.code == VFR_ENOMEM)
      return vfr_fail(err, VFR_ENOMEM, "%s: %s", src->dir, perr.message);
  }
  if (!bf16_cpu_supported())
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: bf16 needs AVX-512; this CPU lacks it", src->dir);
  if (vit_bf16_pack(&t->p, &t->d) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the bf16 weights", src->dir);
  t->d.linear = VIT_LINEAR_KERNEL;
  return VFR_OK;
}

int vit_tower_create(const tower_source *src, tower *out, vfr_error *err) {
  vit_tower *t = calloc(1, sizeof *t);
  if (!t) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", src->dir);
  t->dir = src->dir;
  t->cfg = src->config->vision;
  int rc = build(t, src, err);
  if (!rc) rc = pick_linear(t, src, err);
  if (rc) {
    vit_free(t);
    return rc;
  }
  out->arch = &VIT_ARCH;
  out->self = t;
  out->H = t->d.H;
  out->W = t->d.W;
  out->E = t->d.E;
  return VFR_OK;
}
