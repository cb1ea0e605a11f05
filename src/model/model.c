/* Loading a model folder and running its image tower.
 *
 * The folder is a Hugging Face one (config.json, preprocessor_config.json,
 * model.safetensors: CLIP, DINOv2) or an OpenCLIP one (open_clip_config.json,
 * open_clip_model.safetensors: ViT or ModifiedResNet towers). The family's catalogue
 * (family_*.c) names the tensors; the tower behind the architecture interface
 * (model_arch.h) runs them. Every tensor is fetched with the shape the config implies, so
 * a mismatch is an error naming the file, the tensor, and both shapes. */
#include "vfrobust/model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/try.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/family.h"
#include "model/gemm_bf16.h"
#include "model/model_arch.h"
#include "model/preprocess.h"
#include "model/safetensors.h"
#include "vfrobust/tokens.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

struct vfr_model {
  char dir[1024];
  vfr_model_params params;
  vfr_model_config config;
  vfr_preprocess_config pre;
  const model_family *family;
  vfr_safetensors *st;
  fam_store store;         /* converted or transposed tensors, parameter counts */
  vfr_engine *engine;      /* the products' execution context */
  tower tower;             /* the image tower behind its architecture interface */
  float *pixels;           /* (max_batch, 3, H, W) for vfr_model_embed_images */
};

#define TRY VFR_TRY

vfr_model_params vfr_model_default_params(void) {
  vfr_model_params p;
  p.threads = 0;
  p.pooling = VFR_POOLING_CLS;
  p.max_batch = 16;
  p.precision = VFR_PRECISION_FP32;
  return p;
}

/* bf16 runs on oneDNN's bf16 matmul where it has a compiled kernel for the CPU, else on
 * the own AVX512-BF16 kernel (vit_tower.c picks). */
int vfr_bf16_supported(void) { return engine_bf16_probe(NULL, 0) || bf16_cpu_supported(); }

/* bf16 only where it was measured faster than fp32: oneDNN's AMX kernels (docs/engine.md;
 * on AVX512-BF16 without AMX, and emulated on AVX-512, bf16 is no faster). */
vfr_precision vfr_precision_auto(void) {
  char impl[128];
  int amx = engine_cpu_has_amx() && engine_bf16_probe(impl, sizeof impl) && strstr(impl, "amx");
  return amx ? VFR_PRECISION_BF16 : VFR_PRECISION_FP32;
}

const char *vfr_engine_name(void) { return "onednn"; }
const char *vfr_engine_isa(void) { return engine_cpu_isa(); }

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* The weights file, or an error naming what the folder holds instead (pickled
 * checkpoints are never loaded). */
static int open_weights(vfr_model *m, vfr_error *err) {
  char path[1100];
  snprintf(path, sizeof path, "%s/%s", m->dir, m->config.weights_file);
  if (!file_exists(path)) {
    static const char *const pickles[] = {"open_clip_pytorch_model.bin", "pytorch_model.bin",
                                          "open_clip_model.bin", NULL};
    for (int i = 0; pickles[i]; i++) {
      char bin[1100];
      snprintf(bin, sizeof bin, "%s/%s", m->dir, pickles[i]);
      if (file_exists(bin))
        return vfr_fail(err, VFR_EUNSUPPORTED, "%s: a pickled PyTorch checkpoint, which is never "
                        "loaded; convert it to %s", bin, m->config.weights_file);
    }
  }
  return vfr_safetensors_open(path, &m->st, err);
}

/* auto: the precision vfr_precision_auto resolved to, fp32 for ResNet towers (fp32 only). */
static int load(vfr_model *m, const char *dir, int auto_precision, vfr_error *err) {
  TRY(vfr_model_config_read(dir, &m->config, err));
  m->family = family_of(m->config.vision.family);
  if (!m->family)
    return vfr_fail(err, VFR_EINTERNAL, "%s: no model family %d", dir, (int)m->config.vision.family);
  if (auto_precision && m->family->arch == FA_RESNET) m->params.precision = VFR_PRECISION_FP32;
  TRY(vfr_preprocess_config_read(dir, m->config.vision.family, &m->pre, err));
  TRY(engine_create(m->params.threads > 0 ? m->params.threads : omp_get_max_threads(),
                    m->params.precision, &m->engine, err));
  TRY(open_weights(m, err));
  m->store.st = m->st;
  tower_source src = {m->dir, &m->params, &m->config, &m->pre, m->family, &m->store, m->engine};
  if (m->family->arch == FA_RESNET) return resnet_tower_create(&src, &m->tower, err);
  return vit_tower_create(&src, &m->tower, err);
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
  int auto_precision = params->precision == VFR_PRECISION_AUTO;
  vfr_model_params resolved = *params;
  if (auto_precision) resolved.precision = vfr_precision_auto();
  params = &resolved;
  if (params->precision == VFR_PRECISION_BF16 && !vfr_bf16_supported())
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: bf16 needs AVX-512; this CPU lacks it", dir);
  vfr_model *m = calloc(1, sizeof *m);
  if (!m) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  m->params = *params;
  int rc = load(m, dir, auto_precision, err);
  if (rc) {
    vfr_model_free(m);
    return rc;
  }
  *out = m;
  return VFR_OK;
}

void vfr_model_free(vfr_model *m) {
  if (!m) return;
  if (m->tower.arch) m->tower.arch->free(m->tower.self);
  fam_store_free(&m->store);
  free(m->pixels);
  vfr_safetensors_close(m->st);
  engine_free(m->engine);
  free(m);
}

void vfr_model_get_info(const vfr_model *m, vfr_model_info *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->family, sizeof out->family, "%s", m->family->name);
  snprintf(out->layout, sizeof out->layout, "%s", m->family->layout);
  snprintf(out->model_type, sizeof out->model_type, "%s", m->config.vision.model_type);
  m->tower.arch->info(m->tower.self, out);
  out->input_height = m->tower.H;
  out->input_width = m->tower.W;
  out->embed_dim = m->tower.E;
  out->num_parameters = m->store.num_parameters;
  out->weight_bytes = m->store.weight_bytes;
  snprintf(out->engine, sizeof out->engine, "%s", engine_backend(m->engine));
  snprintf(out->engine_isa, sizeof out->engine_isa, "%s", engine_isa(m->engine));
  out->precision = m->params.precision;
}

int vfr_model_preprocess(const vfr_model *m, const vfr_image *rgb, const char *name,
                         float *pixels, vfr_error *err) {
  if (!m || !pixels) return vfr_fail(err, VFR_EINVAL, "%s: no model or output buffer",
                                     name ? name : "image");
  return preprocess_image(&m->pre, rgb, pixels, m->tower.H, m->tower.W, name ? name : "image", err);
}

int vfr_model_embed_pixels(vfr_model *m, const float *pixels, int B, float *out,
                           vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (B < 1) return vfr_fail(err, VFR_EINVAL, "%s: batch size %d must be positive", m->dir, B);
  if (!pixels || !out) return vfr_fail(err, VFR_EINVAL, "%s: no input or output buffer", m->dir);
  return m->tower.arch->embed(m->tower.self, pixels, B, out, err);
}

vfr_engine *vfr_model_engine(const vfr_model *m) { return m->engine; }

int vfr_model_prepare_image(const vfr_model *m, const vfr_image *rgb, const char *name,
                            vfr_image *out, vfr_error *err) {
  if (!m || !out) return vfr_fail(err, VFR_EINVAL, "%s: no model or output image", name ? name : "image");
  return preprocess_crop(&m->pre, rgb, m->tower.H, m->tower.W, name ? name : "image", out, err);
}

/* Fills pixels (3,H,W) from one input: the whole preprocessing, or (prepared) the
 * normalisation of a crop that already has the input size. */
static int prepare_pixels(const vfr_model *m, const vfr_image *img, int prepared, float *pixels,
                          const char *name, vfr_error *err) {
  if (!prepared) return preprocess_image(&m->pre, img, pixels, m->tower.H, m->tower.W, name, err);
  if (img->width != m->tower.W || img->height != m->tower.H || img->channels != 3)
    return vfr_fail(err, VFR_EINVAL, "%s: a prepared image must be %dx%d RGB, not %dx%d with %d channels",
                    name, m->tower.W, m->tower.H, img->width, img->height, img->channels);
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
  size_t per = (size_t)3 * m->tower.H * m->tower.W;
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
    TRY(vfr_model_embed_pixels(m, m->pixels, B, out + (size_t)start * m->tower.E, err));
  }
  return VFR_OK;
}

void vfr_model_get_token_info(const vfr_model *m, vfr_token_info *out) {
  memset(out, 0, sizeof *out);
  if (m->tower.tokens.num_tokens) {
    *out = m->tower.tokens;
    return;
  }
  if (!m->tower.arch->tokens) return;
  vfr_model_info in;
  vfr_model_get_info(m, &in);
  out->prefix = 1 + in.num_register_tokens;
  out->grid_h = in.input_height / in.patch_size;
  out->grid_w = in.input_width / in.patch_size;
  out->num_tokens = in.num_tokens;
  out->dim = in.hidden_size;
  out->max_layers = in.num_layers;
}

int vfr_model_tokens_pixels(vfr_model *m, const float *pixels, int B, int last_k, int final_norm, float *out,
                            vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (B < 1 || !pixels || !out) return vfr_fail(err, VFR_EINVAL, "%s: bad batch or buffers", m->dir);
  if (!m->tower.arch->tokens)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: a %s tower has no token grid (dense features need a ViT)",
                    m->dir, m->family->name);
  return m->tower.arch->tokens(m->tower.self, pixels, B, last_k, final_norm, out, err);
}
