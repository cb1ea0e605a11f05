/* Hugging Face model folders: config.json and preprocessor_config.json as plain structs. */
#ifndef VFR_MODEL_CONFIG_H
#define VFR_MODEL_CONFIG_H

#include <stddef.h>

#include "vfrobust/error.h"

typedef enum vfr_family {
  VFR_FAMILY_CLIP = 1,   /* model_type "clip" (text + vision) or "clip_vision_model" */
  VFR_FAMILY_DINOV2 = 2  /* model_type "dinov2" or "dinov2_with_registers" */
} vfr_family;

typedef enum vfr_activation {
  VFR_ACT_QUICK_GELU = 1, /* x * sigmoid(1.702 x) */
  VFR_ACT_GELU = 2,       /* exact erf GELU ("gelu") */
  VFR_ACT_GELU_TANH = 3   /* "gelu_new" / "gelu_pytorch_tanh" */
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
} vfr_text_config;

typedef struct vfr_model_config {
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
} vfr_preprocess_config;

/* Reads DIR/config.json (with a JSON library) into *out; errors name the file and key.
 * Missing optional keys take Hugging Face's defaults for that model_type. */
int vfr_model_config_read(const char *dir, vfr_model_config *out, vfr_error *err);
/* The same from `len` bytes of JSON text; `name` stands for the file in messages. */
int vfr_model_config_parse(const char *text, size_t len, const char *name, vfr_model_config *out,
                           vfr_error *err);

/* Reads DIR/preprocessor_config.json; when the file is absent, fills the family's
 * defaults (CLIP: 224/224, CLIP mean/std; DINOv2: 256/224, ImageNet mean/std). */
int vfr_preprocess_config_read(const char *dir, vfr_family family, vfr_preprocess_config *out,
                               vfr_error *err);
/* The same from `len` bytes of JSON text (starting from the family's defaults). */
int vfr_preprocess_config_parse(const char *text, size_t len, const char *name,
                                vfr_family family, vfr_preprocess_config *out, vfr_error *err);

#endif
