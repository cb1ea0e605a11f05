/* Loading a Hugging Face CLIP or DINOv2 folder and running its image tower.
 *
 * Tensor names are Hugging Face's (CLIPModel / CLIPVisionModelWithProjection:
 * "vision_model.*" and "visual_projection.weight"; Dinov2Model /
 * Dinov2WithRegistersModel: "embeddings.*", "encoder.layer.{i}.*", "layernorm.*",
 * optionally under a "dinov2." or "dinov2_with_registers." prefix). Every tensor is
 * fetched with the shape the config implies, so a mismatch is an error naming the
 * file, the tensor, and both shapes. */
#include "vfrobust/model.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/try.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/gemm_bf16.h"
#include "model/pos_embed.h"
#include "model/preprocess.h"
#include "model/safetensors.h"
#include "model/vit.h"
#include "vfrobust/tokens.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

enum { MAX_OWNED_DEFAULT = 64, NAME_MAX_LEN = 160, MICRO_BATCH_ROWS = 8192 };

struct vfr_model {
  char dir[1024];
  vfr_model_params params;
  vfr_model_config config;
  vfr_preprocess_config pre;
  vfr_safetensors *st;
  vit_params p;
  vit_dims d;
  vit_acts acts;
  vfr_engine *engine;      /* the products' execution context, m->d.engine */
  float *pos;              /* (1 + GH*GW, D) position embeddings at the input size (DINOv2) */
  float **owned;           /* converted (F16/BF16) or computed buffers to free */
  int n_owned, cap_owned;
  int64_t num_parameters;
  int64_t weight_bytes;
  float *pixels;           /* (max_batch, 3, H, W) for vfr_model_embed_images */
};

vfr_model_params vfr_model_default_params(void) {
  vfr_model_params p;
  p.threads = 0;
  p.pooling = VFR_POOLING_CLS;
  p.max_batch = 16;
  p.precision = VFR_PRECISION_FP32;
  return p;
}

int vfr_bf16_supported(void) { return bf16_cpu_supported(); }

vfr_precision vfr_precision_auto(void) {
  return engine_cpu_has_amx() && bf16_cpu_supported() ? VFR_PRECISION_BF16 : VFR_PRECISION_FP32;
}

const char *vfr_engine_name(void) { return "onednn"; }
const char *vfr_engine_isa(void) { return engine_cpu_isa(); }

static int keep_owned(vfr_model *m, float *buf, vfr_error *err) {
  if (m->n_owned == m->cap_owned) {
    int cap = m->cap_owned ? 2 * m->cap_owned : MAX_OWNED_DEFAULT;
    float **o = realloc(m->owned, (size_t)cap * sizeof *o);
    if (!o) {
      free(buf);
      return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", m->dir);
    }
    m->owned = o;
    m->cap_owned = cap;
  }
  m->owned[m->n_owned++] = buf;
  return VFR_OK;
}

/* Binds *out to tensor (prefix + name) of the given shape (ndim values follow). */
static int bind(vfr_model *m, const char *prefix, const char *name, const float **out,
                vfr_error *err, int ndim, ...) {
  char full[NAME_MAX_LEN];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  int64_t shape[VFR_TENSOR_MAX_DIMS];
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int64_t);
  va_end(ap);
  float *owned = NULL;
  int rc = vfr_safetensors_get_f32(m->st, full, ndim, shape, out, &owned, err);
  if (rc) return rc;
  if (owned && (rc = keep_owned(m, owned, err))) return rc;
  const vfr_tensor_info *ti = vfr_safetensors_find(m->st, full);
  if (ti) {
    m->num_parameters += ti->numel;
    m->weight_bytes += (int64_t)ti->nbytes;
  }
  return VFR_OK;
}

#define B1(name, ptr, a) TRY(bind(m, pre, name, ptr, err, 1, (int64_t)(a)))
#define B2(name, ptr, a, b) TRY(bind(m, pre, name, ptr, err, 2, (int64_t)(a), (int64_t)(b)))
#define TRY VFR_TRY

static int bind_clip(vfr_model *m, vfr_error *err) {
  const vfr_vit_config *c = &m->config.vision;
  vit_params *p = &m->p;
  int64_t D = c->hidden_size, M = c->intermediate_size, P = c->patch_size;
  int64_t G = c->image_size / c->patch_size;
  const char *pre = "vision_model.";
  TRY(bind(m, pre, "embeddings.patch_embedding.weight", &p->patch_w, err, 4, D,
           (int64_t)c->num_channels, P, P));
  B1("embeddings.class_embedding", &p->cls, D);
  B2("embeddings.position_embedding.weight", &p->pos, 1 + G * G, D);
  B1("pre_layrnorm.weight", &p->pre_ln_w, D);
  B1("pre_layrnorm.bias", &p->pre_ln_b, D);
  for (int i = 0; i < c->num_layers; i++) {
    vit_layer_params *l = &p->layers[i];
    char n[NAME_MAX_LEN];
#define LN(suffix) (snprintf(n, sizeof n, "encoder.layers.%d.%s", i, suffix), n)
    B1(LN("layer_norm1.weight"), &l->ln1_w, D);
    B1(LN("layer_norm1.bias"), &l->ln1_b, D);
    B2(LN("self_attn.q_proj.weight"), &l->q_w, D, D);
    B1(LN("self_attn.q_proj.bias"), &l->q_b, D);
    B2(LN("self_attn.k_proj.weight"), &l->k_w, D, D);
    B1(LN("self_attn.k_proj.bias"), &l->k_b, D);
    B2(LN("self_attn.v_proj.weight"), &l->v_w, D, D);
    B1(LN("self_attn.v_proj.bias"), &l->v_b, D);
    B2(LN("self_attn.out_proj.weight"), &l->o_w, D, D);
    B1(LN("self_attn.out_proj.bias"), &l->o_b, D);
    B1(LN("layer_norm2.weight"), &l->ln2_w, D);
    B1(LN("layer_norm2.bias"), &l->ln2_b, D);
    B2(LN("mlp.fc1.weight"), &l->fc1_w, M, D);
    B1(LN("mlp.fc1.bias"), &l->fc1_b, M);
    B2(LN("mlp.fc2.weight"), &l->fc2_w, D, M);
    B1(LN("mlp.fc2.bias"), &l->fc2_b, D);
#undef LN
  }
  B1("post_layernorm.weight", &p->final_ln_w, D);
  B1("post_layernorm.bias", &p->final_ln_b, D);
  if (vfr_safetensors_find(m->st, "visual_projection.weight")) {
    if (c->projection_dim <= 0)
      return vfr_fail(err, VFR_EFORMAT, "%s/config.json: projection_dim is missing but the "
                      "checkpoint has visual_projection.weight", m->dir);
    pre = "";
    B2("visual_projection.weight", &p->proj, c->projection_dim, D);
  } else if (!strcmp(c->model_type, "clip")) {
    return vfr_fail(err, VFR_EFORMAT, "%s: no tensor 'visual_projection.weight'",
                    vfr_safetensors_path(m->st));
  }
  return VFR_OK;
}

/* Width of the SwiGLU hidden layer as Hugging Face's Dinov2SwiGLUFFN computes it from
 * int(hidden_size * mlp_ratio): (int(w * 2 / 3) + 7) // 8 * 8. */
static int swiglu_width(int w) { return ((int)((double)(2 * w) / 3.0) + 7) / 8 * 8; }

static int bind_dinov2(vfr_model *m, vfr_error *err) {
  const vfr_vit_config *c = &m->config.vision;
  vit_params *p = &m->p;
  int64_t D = c->hidden_size, M = m->d.M, P = c->patch_size, R = c->num_register_tokens;
  int64_t G = c->image_size / c->patch_size;
  const char *pre = "";
  static const char *const prefixes[] = {"", "dinov2.", "dinov2_with_registers."};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    char n[NAME_MAX_LEN];
    snprintf(n, sizeof n, "%sembeddings.cls_token", prefixes[i]);
    if (vfr_safetensors_find(m->st, n)) {
      pre = prefixes[i];
      break;
    }
  }
  TRY(bind(m, pre, "embeddings.cls_token", &p->cls, err, 3, (int64_t)1, (int64_t)1, D));
  TRY(bind(m, pre, "embeddings.position_embeddings", &p->pos, err, 3, (int64_t)1, 1 + G * G, D));
  TRY(bind(m, pre, "embeddings.patch_embeddings.projection.weight", &p->patch_w, err, 4, D,
           (int64_t)c->num_channels, P, P));
  B1("embeddings.patch_embeddings.projection.bias", &p->patch_b, D);
  if (R > 0)
    TRY(bind(m, pre, "embeddings.register_tokens", &p->registers, err, 3, (int64_t)1, R, D));
  for (int i = 0; i < c->num_layers; i++) {
    vit_layer_params *l = &p->layers[i];
    char n[NAME_MAX_LEN];
#define LN(suffix) (snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix), n)
    B1(LN("norm1.weight"), &l->ln1_w, D);
    B1(LN("norm1.bias"), &l->ln1_b, D);
    B2(LN("attention.attention.query.weight"), &l->q_w, D, D);
    B2(LN("attention.attention.key.weight"), &l->k_w, D, D);
    B2(LN("attention.attention.value.weight"), &l->v_w, D, D);
    if (c->qkv_bias) {
      B1(LN("attention.attention.query.bias"), &l->q_b, D);
      B1(LN("attention.attention.key.bias"), &l->k_b, D);
      B1(LN("attention.attention.value.bias"), &l->v_b, D);
    }
    B2(LN("attention.output.dense.weight"), &l->o_w, D, D);
    B1(LN("attention.output.dense.bias"), &l->o_b, D);
    B1(LN("layer_scale1.lambda1"), &l->ls1, D);
    B1(LN("norm2.weight"), &l->ln2_w, D);
    B1(LN("norm2.bias"), &l->ln2_b, D);
    if (c->use_swiglu) {
      B2(LN("mlp.weights_in.weight"), &l->fc1_w, 2 * M, D);
      B1(LN("mlp.weights_in.bias"), &l->fc1_b, 2 * M);
      B2(LN("mlp.weights_out.weight"), &l->fc2_w, D, M);
      B1(LN("mlp.weights_out.bias"), &l->fc2_b, D);
    } else {
      B2(LN("mlp.fc1.weight"), &l->fc1_w, M, D);
      B1(LN("mlp.fc1.bias"), &l->fc1_b, M);
      B2(LN("mlp.fc2.weight"), &l->fc2_w, D, M);
      B1(LN("mlp.fc2.bias"), &l->fc2_b, D);
    }
    B1(LN("layer_scale2.lambda1"), &l->ls2, D);
#undef LN
  }
  B1("layernorm.weight", &p->final_ln_w, D);
  B1("layernorm.bias", &p->final_ln_b, D);
  return VFR_OK;
}

/* Fills m->d from the configs and params; checks the sizes the forward pass relies on. */
static int set_dims(vfr_model *m, vfr_error *err) {
  const vfr_vit_config *c = &m->config.vision;
  const vfr_preprocess_config *pp = &m->pre;
  vit_dims *d = &m->d;
  char cfg[1100];
  snprintf(cfg, sizeof cfg, "%s/config.json", m->dir);
  if (c->num_channels != 3)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: num_channels %d (only 3 is supported)", cfg,
                    c->num_channels);
  if (c->num_heads <= 0 || c->hidden_size % c->num_heads != 0)
    return vfr_fail(err, VFR_EFORMAT, "%s: hidden_size %d is not a multiple of "
                    "num_attention_heads %d", cfg, c->hidden_size, c->num_heads);
  if (!pp->do_center_crop)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/preprocessor_config.json: do_center_crop false "
                    "is not supported", m->dir);
  d->clip = c->family == VFR_FAMILY_CLIP;
  d->D = c->hidden_size;
  d->L = c->num_layers;
  d->NH = c->num_heads;
  d->swiglu = !d->clip && c->use_swiglu;
  d->M = d->swiglu ? swiglu_width(c->intermediate_size) : c->intermediate_size;
  d->P = c->patch_size;
  d->H = pp->crop_height;
  d->W = pp->crop_width;
  if (d->H < d->P || d->W < d->P || d->H > 4096 || d->W > 4096)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/preprocessor_config.json: crop size %dx%d does "
                    "not suit patch size %d", m->dir, d->W, d->H, d->P);
  if (d->clip && (d->H != c->image_size || d->W != c->image_size))
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/preprocessor_config.json: crop size %dx%d differs "
                    "from the CLIP image_size %d", m->dir, d->W, d->H, c->image_size);
  d->GH = d->H / d->P;
  d->GW = d->W / d->P;
  d->R = d->clip ? 0 : c->num_register_tokens;
  d->T = 1 + d->R + d->GH * d->GW;
  d->act = c->act;
  d->eps = c->layer_norm_eps;
  d->cls_mean = m->params.pooling == VFR_POOLING_CLS_MEAN;
  d->threads = m->params.threads > 0 ? m->params.threads : omp_get_max_threads();
  d->bf16 = m->params.precision == VFR_PRECISION_BF16;
  if (d->clip && d->cls_mean)
    return vfr_fail(err, VFR_EINVAL, "%s: cls+mean pooling is for DINOv2 models; CLIP's "
                    "embedding is its projected CLS token", m->dir);
  return VFR_OK;
}

static int load(vfr_model *m, const char *dir, vfr_error *err) {
  TRY(vfr_model_config_read(dir, &m->config, err));
  TRY(vfr_preprocess_config_read(dir, m->config.vision.family, &m->pre, err));
  TRY(set_dims(m, err));
  TRY(engine_create(m->d.threads, m->params.precision, &m->engine, err));
  m->d.engine = m->engine;
  char path[1100];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  TRY(vfr_safetensors_open(path, &m->st, err));
  m->p.layers = calloc((size_t)m->d.L, sizeof *m->p.layers);
  if (!m->p.layers) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  if (m->d.clip) {
    TRY(bind_clip(m, err));
    m->d.proj = m->p.proj != NULL;
    m->d.E = m->p.proj ? m->config.vision.projection_dim : m->d.D;
  } else {
    TRY(bind_dinov2(m, err));
    m->d.E = m->d.cls_mean ? 2 * m->d.D : m->d.D;
    /* Position embeddings at the input size, once (Hugging Face recomputes them on every
     * call with the same result). */
    int n_pos = 1 + (m->config.vision.image_size / m->d.P) * (m->config.vision.image_size / m->d.P);
    int G = m->config.vision.image_size / m->d.P;
    int aa = !strcmp(m->config.vision.model_type, "dinov2_with_registers");
    m->pos = malloc((size_t)(1 + m->d.GH * m->d.GW) * m->d.D * sizeof(float));
    float *tmp = malloc((size_t)G * m->d.GW * m->d.D * sizeof(float));
    int bad = !m->pos || !tmp;
    if (!bad)
      bad = dinov2_pos_embed(m->pos, m->p.pos, tmp, n_pos, m->d.D, m->d.H, m->d.W, m->d.P, aa);
    free(tmp);
    if (bad) return vfr_fail(err, VFR_EINTERNAL, "%s: cannot resample the position embeddings",
                             path);
    m->p.pos = m->pos;
  }
  /* bf16: the linear weights rounded and packed once (F16/BF16 files were converted to
   * fp32 first, which is exact). */
  if (m->d.bf16 && vit_bf16_pack(&m->p, &m->d) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the bf16 weights", dir);
  return VFR_OK;
}

int vfr_model_load(const char *dir, const vfr_model_params *params, vfr_model **out,
                   vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "model: no output handle given");
  *out = NULL;
  if (!dir || !*dir) return vfr_fail(err, VFR_EINVAL, "model: no directory given");
  vfr_model_params defaults = vfr_model_default_params();
  if (!params) params = &defaults;
  if (params->max_batch < 1 || params->max_batch > 4096)
    return vfr_fail(err, VFR_EINVAL, "%s: max_batch %d is not in 1..4096", dir, params->max_batch);
  if (params->pooling != VFR_POOLING_CLS && params->pooling != VFR_POOLING_CLS_MEAN)
    return vfr_fail(err, VFR_EINVAL, "%s: unknown pooling %d", dir, (int)params->pooling);
  if (params->precision != VFR_PRECISION_FP32 && params->precision != VFR_PRECISION_BF16 &&
      params->precision != VFR_PRECISION_AUTO)
    return vfr_fail(err, VFR_EINVAL, "%s: unknown precision %d", dir, (int)params->precision);
  vfr_model_params resolved = *params;
  if (resolved.precision == VFR_PRECISION_AUTO) resolved.precision = vfr_precision_auto();
  params = &resolved;
  if (params->precision == VFR_PRECISION_BF16 && !bf16_cpu_supported())
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: bf16 needs AVX512-BF16; this CPU lacks it", dir);
  vfr_model *m = calloc(1, sizeof *m);
  if (!m) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  m->params = *params;
  int rc = load(m, dir, err);
  if (rc) {
    vfr_model_free(m);
    return rc;
  }
  *out = m;
  return VFR_OK;
}

void vfr_model_free(vfr_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m->owned);
  vit_bf16_free(&m->p, m->d.L);
  free(m->p.layers);
  free(m->pos);
  free(m->pixels);
  vit_acts_free(&m->acts);
  vfr_safetensors_close(m->st);
  engine_free(m->engine);
  free(m);
}

void vfr_model_get_info(const vfr_model *m, vfr_model_info *out) {
  memset(out, 0, sizeof *out);
  const vfr_vit_config *c = &m->config.vision;
  snprintf(out->family, sizeof out->family, "%s", m->d.clip ? "clip" : "dinov2");
  snprintf(out->model_type, sizeof out->model_type, "%s", c->model_type);
  out->hidden_size = m->d.D;
  out->num_layers = m->d.L;
  out->num_heads = m->d.NH;
  out->intermediate_size = m->d.M;
  out->patch_size = m->d.P;
  out->image_size = c->image_size;
  out->num_register_tokens = m->d.R;
  out->input_height = m->d.H;
  out->input_width = m->d.W;
  out->num_tokens = m->d.T;
  out->embed_dim = m->d.E;
  out->num_parameters = m->num_parameters;
  out->flops_per_image = vit_flops_per_image(&m->d);
  out->weight_bytes = m->weight_bytes;
  snprintf(out->engine, sizeof out->engine, "%s", engine_backend(m->engine));
  snprintf(out->engine_isa, sizeof out->engine_isa, "%s", engine_isa(m->engine));
  out->precision = m->params.precision;
}

int vfr_model_preprocess(const vfr_model *m, const vfr_image *rgb, const char *name,
                         float *pixels, vfr_error *err) {
  if (!m || !pixels) return vfr_fail(err, VFR_EINVAL, "%s: no model or output buffer",
                                     name ? name : "image");
  return preprocess_image(&m->pre, rgb, pixels, m->d.H, m->d.W, name ? name : "image", err);
}

int vfr_model_embed_pixels(vfr_model *m, const float *pixels, int B, float *out,
                           vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (B < 1) return vfr_fail(err, VFR_EINVAL, "%s: batch size %d must be positive", m->dir, B);
  if (!pixels || !out) return vfr_fail(err, VFR_EINVAL, "%s: no input or output buffer", m->dir);
  /* The batch runs in micro-batches of about MICRO_BATCH_ROWS tokens, which bounds the
   * activation memory. Taller gemms run closer to the sgemm rate: on ViT-B/16 at batch 32,
   * 2 threads, 512 rows gave 3.2 images/s, 2048 gave 3.7 and 8192 3.95, with 16384 no
   * better (measured on an idle machine). */
  int micro = MICRO_BATCH_ROWS / m->d.T;
  micro = micro < 1 ? 1 : (micro > B ? B : micro);
  if (vit_acts_reserve(&m->acts, &m->d, micro) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the activations of a batch of %d "
                    "(%zu floats)", m->dir, micro, vit_acts_size(&m->d, micro));
  size_t per_image = (size_t)3 * m->d.H * m->d.W;
  for (int start = 0; start < B; start += micro) {
    int b = B - start < micro ? B - start : micro;
    vit_forward(out + (size_t)start * m->d.E, pixels + (size_t)start * per_image, &m->p, &m->d,
                &m->acts, b);
  }
  return VFR_OK;
}

vfr_engine *vfr_model_engine(const vfr_model *m) { return m->engine; }

int vfr_model_prepare_image(const vfr_model *m, const vfr_image *rgb, const char *name,
                            vfr_image *out, vfr_error *err) {
  if (!m || !out) return vfr_fail(err, VFR_EINVAL, "%s: no model or output image", name ? name : "image");
  return preprocess_crop(&m->pre, rgb, m->d.H, m->d.W, name ? name : "image", out, err);
}

/* Fills pixels (3,H,W) from one input: the whole preprocessing, or (prepared) the
 * normalisation of a crop that already has the input size. */
static int prepare_pixels(const vfr_model *m, const vfr_image *img, int prepared, float *pixels,
                          const char *name, vfr_error *err) {
  if (!prepared) return preprocess_image(&m->pre, img, pixels, m->d.H, m->d.W, name, err);
  if (img->width != m->d.W || img->height != m->d.H || img->channels != 3)
    return vfr_fail(err, VFR_EINVAL, "%s: a prepared image must be %dx%d RGB, not %dx%d with %d channels",
                    name, m->d.W, m->d.H, img->width, img->height, img->channels);
  return preprocess_normalize(&m->pre, img, pixels, name, err);
}

static int embed_images(vfr_model *m, const vfr_image *images, int n, int prepared, float *out,
                        vfr_error *err);

int vfr_model_embed_images(vfr_model *m, const vfr_image *images, int n, float *out,
                           vfr_error *err) {
  return embed_images(m, images, n, 0, out, err);
}

int vfr_model_embed_prepared(vfr_model *m, const vfr_image *crops, int n, float *out,
                             vfr_error *err) {
  return embed_images(m, crops, n, 1, out, err);
}

static int embed_images(vfr_model *m, const vfr_image *images, int n, int prepared, float *out,
                        vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (n < 0 || (n > 0 && (!images || !out)))
    return vfr_fail(err, VFR_EINVAL, "%s: bad image list", m->dir);
  size_t per = (size_t)3 * m->d.H * m->d.W;
  int mb = m->params.max_batch;
  if (n > 0 && !m->pixels) {
    m->pixels = malloc((size_t)mb * per * sizeof(float));
    if (!m->pixels) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", m->dir);
  }
  for (int start = 0; start < n; start += mb) {
    int B = n - start < mb ? n - start : mb;
    int failed = INT_MAX;
    vfr_error first;
    vfr_error_clear(&first);
#pragma omp parallel for num_threads(m->params.threads > 0 ? m->params.threads : 1) \
    schedule(dynamic)
    for (int i = 0; i < B; i++) {
      vfr_error e;
      char name[32];
      snprintf(name, sizeof name, "image %d", start + i);
      if (prepare_pixels(m, &images[start + i], prepared, m->pixels + (size_t)i * per, name,
                         &e) != VFR_OK) {
#pragma omp critical /* unnamed: a named one would be an exported symbol */
        if (start + i < failed) {
          failed = start + i;
          first = e;
        }
      }
    }
    if (failed != INT_MAX) {
      if (err) *err = first;
      return first.code;
    }
    TRY(vfr_model_embed_pixels(m, m->pixels, B, out + (size_t)start * m->d.E, err));
  }
  return VFR_OK;
}

int vfr_model_tokens_pixels(vfr_model *m, const float *pixels, int B, int last_k, int final_norm, float *out,
                            vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (B < 1 || !pixels || !out) return vfr_fail(err, VFR_EINVAL, "%s: bad batch or buffers", m->dir);
  if (last_k < 1 || last_k > m->d.L)
    return vfr_fail(err, VFR_EINVAL, "%s: last %d layers asked, the model has %d", m->dir, last_k, m->d.L);
  int micro = MICRO_BATCH_ROWS / m->d.T;
  micro = micro < 1 ? 1 : (micro > B ? B : micro);
  if (vit_acts_reserve(&m->acts, &m->d, micro) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the activations of a batch of %d", m->dir, micro);
  const size_t per_image = (size_t)3 * m->d.H * m->d.W, per_out = (size_t)m->d.T * last_k * m->d.D;
  for (int start = 0; start < B; start += micro) {
    int b = B - start < micro ? B - start : micro;
    vit_forward_tokens(out + (size_t)start * per_out, pixels + (size_t)start * per_image, &m->p, &m->d, &m->acts, b,
                       last_k, final_norm);
  }
  return VFR_OK;
}
