/* Vision foundation models: Hugging Face CLIP and DINOv2 folders and OpenCLIP folders
 * (ViT and ModifiedResNet towers) loaded from safetensors, their preprocessing, and the image embedding forward pass (fp32, or bf16
 * linear layers: vfr_precision).
 *
 *   vfr_model_params p = vfr_model_default_params();
 *   p.threads = 4;
 *   vfr_model *m;
 *   if (vfr_model_load("clip-vit-base-patch16", &p, &m, &err)) ... err.message ...
 *   vfr_model_info info; vfr_model_get_info(m, &info);
 *   float *emb = malloc(n * info.embed_dim * sizeof *emb);     // (n, embed_dim)
 *   vfr_model_embed_images(m, images, n, emb, &err);
 *   vfr_model_free(m);
 *
 * Embeddings are the model's raw output, not normalised: CLIP image_embeds
 * (visual_projection of the post-layernorm CLS token), DINOv2 pooler_output (CLS after
 * the final layernorm), or for DINOv2 optionally CLS ‖ mean of the patch tokens.
 * A model is not safe to use from two threads at once (it owns its activation buffers);
 * distinct models are independent. */
#ifndef VFROBUST_MODEL_H
#define VFROBUST_MODEL_H

#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vfr_pooling {
  VFR_POOLING_CLS = 0,     /* the family's standard embedding (see above) */
  VFR_POOLING_CLS_MEAN = 1 /* DINOv2 only: [CLS, mean(patch tokens)], registers excluded; 2*D */
} vfr_pooling;

typedef enum vfr_precision {
  VFR_PRECISION_FP32 = 0, /* every operation in fp32 (the default) */
  VFR_PRECISION_BF16 = 1, /* the transformer blocks' linear layers (q, k, v, out_proj, fc1,
                             fc2) take bf16 weights (rounded once at load, to nearest even)
                             and bf16-rounded inputs, accumulating in fp32; layernorm,
                             softmax, attention scores, the residual stream, the patch
                             embedding and the projection stay fp32. Runs on oneDNN's bf16
                             matmul (AMX, AVX512-BF16, or emulated on AVX-512), else on an
                             own AVX512-BF16 kernel; with neither (vfr_bf16_supported() 0)
                             vfr_model_load fails with VFR_EUNSUPPORTED. */
  VFR_PRECISION_AUTO = 2  /* bf16 where it is the faster precision (oneDNN's AMX kernels),
                             else fp32; resolved at load (vfr_precision_auto) */
} vfr_precision;

typedef struct vfr_model_params {
  int threads;         /* OpenMP threads of the forward pass (0: OpenMP's default, read at
                          load); the matrix-product engine runs on the same team. */
  vfr_pooling pooling; /* default VFR_POOLING_CLS */
  int max_batch;       /* images preprocessed together in vfr_model_embed_images
                          (default 16); its pixel buffer grows linearly with it */
  vfr_precision precision; /* default VFR_PRECISION_FP32 */
} vfr_model_params;

VFR_API vfr_model_params vfr_model_default_params(void);

typedef struct vfr_model vfr_model; /* opaque */

/* Loads DIR/config.json, DIR/preprocessor_config.json (family defaults when absent) and
 * DIR/model.safetensors. Every tensor the vision tower needs is checked against the
 * config; errors name the file, the tensor, the expected and the actual shape.
 * F32 weights are used in place from the read-only mapping; F16/BF16 are converted. */
VFR_API int vfr_model_load(const char *dir, const vfr_model_params *params, vfr_model **out,
                   vfr_error *err);
VFR_API void vfr_model_free(vfr_model *model);

/* 1 when this CPU (and OS) can run VFR_PRECISION_BF16 (oneDNN bf16 or AVX512-BF16), else 0. */
VFR_API int vfr_bf16_supported(void);

/* What VFR_PRECISION_AUTO means on this CPU: VFR_PRECISION_BF16 where the CPU has AMX
 * tiles and oneDNN runs its bf16 products on them (there bf16 runs several times faster
 * than fp32), else VFR_PRECISION_FP32 (without AMX a bf16 dot product has at most the fp32
 * FMA rate's worth of work per instruction and was measured no faster). */
VFR_API vfr_precision vfr_precision_auto(void);

/* The matrix-product engine ("onednn") and the instruction set it dispatches to on this
 * CPU ("avx512_core", "avx512_core_amx", "avx2", ...); static strings. */
VFR_API const char *vfr_engine_name(void);
VFR_API const char *vfr_engine_isa(void);

typedef struct vfr_model_info {
  char family[24];         /* "clip", "dinov2", "open_clip" or "open_clip_resnet" */
  char layout[16];         /* the folder's layout: "hugging_face" or "open_clip" */
  char model_type[48];     /* config.json's model_type */
  int hidden_size;         /* D (ResNets: the stem width) */
  int num_layers;          /* blocks (ResNets: Bottleneck blocks over the four stages) */
  int num_heads;           /* (ResNets: of the attention pool) */
  int intermediate_size;   /* MLP width (SwiGLU: the gated width; ResNets: the pool width) */
  int patch_size;          /* (ResNets: the total stride, 32) */
  int image_size;          /* trained resolution */
  int num_register_tokens;
  int input_height, input_width; /* the preprocessed input (crop size) */
  int num_tokens;          /* sequence length T at that input: 1 + registers + patches
                              (ResNets: 1 + the last stage's grid, as the dense features) */
  int embed_dim;           /* length of one embedding as returned (depends on pooling) */
  int64_t num_parameters;  /* vision tower parameters used for the embedding */
  double flops_per_image;  /* multiply-adds x 2 of the forward pass at the input size */
  int64_t weight_bytes;    /* bytes of the vision tensors in the file */
  char engine[16];         /* the matrix-product engine, "onednn" */
  char engine_isa[32];     /* the instruction set it runs, e.g. "avx512_core" */
  vfr_precision precision; /* the precision the model runs in (AUTO resolved) */
} vfr_model_info;

VFR_API void vfr_model_get_info(const vfr_model *model, vfr_model_info *out);

/* The model's preprocessing (Hugging Face CLIPImageProcessor / BitImageProcessor
 * semantics): resize the short side (Pillow filter, long side truncated), center crop,
 * rescale, normalise. rgb: an RGB (or L/RGBA, converted as Pillow does) image;
 * pixels is (3, input_height, input_width), channel-planar. `name` (e.g. the file)
 * starts error messages; NULL stands for "image". */
VFR_API int vfr_model_preprocess(const vfr_model *model, const vfr_image *rgb, const char *name,
                         float *pixels, vfr_error *err);

/* Forward pass on preprocessed inputs. pixels is (B, 3, input_height, input_width),
 * out is (B, embed_dim). B >= 1; any B is accepted: the forward pass runs in
 * micro-batches of about 512 tokens, the size its activations are allocated for. */
VFR_API int vfr_model_embed_pixels(vfr_model *model, const float *pixels, int B, float *out,
                           vfr_error *err);

/* Preprocess and embed n images in batches of max_batch. out is (n, embed_dim). */
VFR_API int vfr_model_embed_images(vfr_model *model, const vfr_image *images, int n, float *out,
                           vfr_error *err);

/* The 8-bit crop the preprocessing normalises: rgb resized and center-cropped as above,
 * out an RGB image of input_width x input_height (empty on entry). Perturbing this crop and
 * passing it to vfr_model_embed_prepared applies a perturbation after preprocessing. */
VFR_API int vfr_model_prepare_image(const vfr_model *model, const vfr_image *rgb, const char *name,
                            vfr_image *out, vfr_error *err);

/* Like vfr_model_embed_images for crops that already have the input size (from
 * vfr_model_prepare_image): only rescaled and normalised, never resized again. */
VFR_API int vfr_model_embed_prepared(vfr_model *model, const vfr_image *crops, int n, float *out,
                             vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
