/* Hugging Face model folders: config.json and preprocessor_config.json as plain structs. */
#ifndef VFR_MODEL_CONFIG_H
#define VFR_MODEL_CONFIG_H

#include <stddef.h>

#include "vfrobust/error.h"

typedef enum vfr_family {
  VFR_FAMILY_CLIP = 1,   /* model_type "clip" (text + vision) or "clip_vision_model" */
  VFR_FAMILY_DINOV2 = 2, /* model_type "dinov2" or "dinov2_with_registers" */
  VFR_FAMILY_OPEN_CLIP = 3,       /* open_clip_config.json with a ViT vision_cfg */
  VFR_FAMILY_OPEN_CLIP_RESNET = 4 /* open_clip_config.json with a ModifiedResNet vision_cfg
                                     (vision_cfg.layers a list of 4 stage depths) */
} vfr_family;

typedef enum vfr_activation {
  VFR_ACT_QUICK_GELU = 1, /* x * sigmoid(1.702 x) */
  VFR_ACT_GELU = 2,       /* exact erf GELU ("gelu") */
  VFR_ACT_GELU_TANH = 3,  /* "gelu_new" / "gelu_pytorch_tanh" */
  VFR_ACT_RELU = 4        /* max(x, 0): the ResNet towers' (no config names it) */
} vfr_activation;

/* A vision transformer tower (CLIP vision_config, or the DINOv2 config). */
typedef struct vfr_vit_config {
  vfr_family family;
  char model_type[48];       /* as in config.json */
  int hidden_size;           /* D */
  int num_layers;            /* L */
  int num_heads;             /* H, D % H == 0 */
  int intermediate_size;     /* MLP width (DINOv2: hidden_size * mlp_ratio) */
  int patch_size;            /* P */
  int image_size;            /* trained resolution (CLIP 224/336; DINOv2 518 -> 37x37 grid) */
  int num_channels;          /* 3 */
  float layer_norm_eps;
  vfr_activation act;
  int projection_dim;        /* CLIP: visual_projection output; 0 for DINOv2 */
  int use_swiglu;            /* DINOv2 giant */
  int num_register_tokens;   /* dinov2_with_registers: 4; else 0 */
  float layerscale_value;    /* DINOv2 layer scale init (weights come from the file) */
  int qkv_bias;              /* 1 for both families */
  /* ModifiedResNet (VFR_FAMILY_OPEN_CLIP_RESNET): hidden_size is the stem width w, the
   * attention pool has width 32w and num_heads heads, projection_dim its output. */
  int resnet_layers[4];      /* Bottleneck blocks per stage */
} vfr_vit_config;

/* CLIP text tower (text_config). */
typedef struct vfr_text_config {
  int present;               /* 0 when the folder has no text tower */
  int vocab_size;
  int hidden_size;
  int num_layers;
  int num_heads;
  int intermediate_size;
  int max_position_embeddings; /* 77 */
  float layer_norm_eps;
  vfr_activation act;
  int projection_dim;
  int eos_token_id;          /* 49407 in the real checkpoints; 2 in some configs (then argmax pooling) */
  int argmax_pool;           /* 1: pool at the largest token id (open_clip's 'argmax') */
} vfr_text_config;

typedef struct vfr_model_config {
  char weights_file[48];     /* "model.safetensors" or "open_clip_model.safetensors" */
  char config_file[48];      /* "config.json" or "open_clip_config.json" */
  vfr_vit_config vision;
  vfr_text_config text;
  float logit_scale_init;    /* config "logit_scale_init_value" (the weight comes from the file) */
} vfr_model_config;

/* preprocessor_config.json (CLIPImageProcessor / BitImageProcessor). */
typedef struct vfr_preprocess_config {
  int do_resize;
  int shortest_edge;         /* resize so the short side is this (CLIP 224, DINOv2 256) */
  int resample;              /* PIL enum: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming */
  int do_center_crop;
  int crop_height, crop_width;
  int do_rescale;
  float rescale_factor;      /* 1/255 */
  int do_normalize;
  float mean[3], std[3];
  int do_convert_rgb;
  /* open_clip's transform (torchvision): */
  int squash;                /* resize to exactly crop_width x crop_height ('squash') */
  int crop_round;            /* crop offsets int(round((size - crop) / 2)) (half to even);
                                padding floor((crop - size) / 2) before */
  int rescale_divide;        /* x / 255 in float32 (ToTensor) instead of x * factor in double */
} vfr_preprocess_config;

/* Reads DIR/config.json (with a JSON library) into *out; errors name the file and key.
 * Missing optional keys take Hugging Face's defaults for that model_type. Without
 * config.json, DIR/open_clip_config.json (model_cfg) is read with open_clip's defaults. */
int vfr_model_config_read(const char *dir, vfr_model_config *out, vfr_error *err);
/* The same from `len` bytes of JSON text; `name` stands for the file in messages. */
int vfr_model_config_parse(const char *text, size_t len, const char *name, vfr_model_config *out,
                           vfr_error *err);

/* Reads DIR/preprocessor_config.json; when the file is absent, fills the family's
 * defaults (CLIP: 224/224, CLIP mean/std; DINOv2: 256/224, ImageNet mean/std). The
 * open_clip families read open_clip_config.json's preprocess_cfg (mean, std,
 * interpolation, resize_mode) with image_size from model_cfg.vision_cfg. */
int vfr_preprocess_config_read(const char *dir, vfr_family family, vfr_preprocess_config *out,
                               vfr_error *err);
/* The same from `len` bytes of JSON text (starting from the family's defaults). */
int vfr_preprocess_config_parse(const char *text, size_t len, const char *name,
                                vfr_family family, vfr_preprocess_config *out, vfr_error *err);

#endif
