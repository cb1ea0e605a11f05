/* Model families: one tensor catalogue per family (src/model/family_*.c), read by loading,
 * by fine-tuning's parameter slots and by random initialisation, and the families found by
 * name from one table.
 *
 * A catalogue row names a tensor (a printf pattern; "%d" is the block index in per-block
 * rows), the field of vit_params / vit_layer_params (or the text tower) it binds, its shape
 * in symbolic sizes of the config (fam_dim), when it exists (fam_when), how it is stored
 * (fused q,k,v; transposed (in,out) projections) and how random initialisation draws it. */
#ifndef VFR_MODEL_FAMILY_H
#define VFR_MODEL_FAMILY_H

#include <stdint.h>

#include "model/config.h"
#include "model/safetensors.h"
#include "model/vit.h"
#include "vfrobust/error.h"
#include "vfrobust/model.h"

/* Symbolic sizes a shape is written in (fam_sizes fills them from a config). */
typedef enum fam_dim {
  FD_NONE = 0,
  FD_1,     /* 1 */
  FD_3,     /* input channels */
  FD_D,     /* vision width */
  FD_3D,    /* 3 * D (fused q, k, v) */
  FD_M,     /* MLP width (SwiGLU: the gated width) */
  FD_M1,    /* MLP input layer width: M, or 2M with SwiGLU */
  FD_P,     /* patch size */
  FD_POS,   /* 1 + G*G position rows at the trained resolution */
  FD_R,     /* register tokens */
  FD_E,     /* projection width */
  FD_TV,    /* text: vocabulary */
  FD_TD,    /* text: width */
  FD_T3D,   /* text: 3 * width */
  FD_TM,    /* text: MLP width */
  FD_TP,    /* text: positions (context length) */
  FD_TE,    /* text: projection width */
  FD_COUNT
} fam_dim;

/* When a row exists. */
typedef enum fam_when {
  FW_ALWAYS = 0,
  FW_QKV_BIAS,   /* the config has q, k, v biases */
  FW_REGISTERS,  /* register tokens > 0 */
  FW_MLP,        /* a plain MLP feed-forward */
  FW_SWIGLU,     /* a SwiGLU feed-forward (DINOv2 giant) */
  FW_IF_PRESENT  /* optional: bound when the file has it */
} fam_when;

/* How random initialisation draws a row (Hugging Face CLIP's _init_weights, factor 1). */
typedef enum fam_init {
  FI_NONE = 0,
  FI_ZERO,
  FI_ONE,
  FI_RANGE, /* N(0, initializer_range^2) */
  FI_CLS,   /* N(0, D^-1) i.e. std D^-1/2 */
  FI_ATTN,  /* std D^-1/2 (2L)^-1/2 */
  FI_OUT,   /* std D^-1/2 */
  FI_FC1    /* std (2D)^-1/2 */
} fam_init;

/* The fields a vision row binds (vit_field_ptr maps them to vit_params members). Per-block
 * fields start at VF_LN1_W; q, k, v weights and biases are consecutive (fused rows). */
typedef enum vit_field {
  VF_PATCH_W = 0, VF_PATCH_B, VF_CLS, VF_REGISTERS, VF_POS, VF_PRE_LN_W, VF_PRE_LN_B,
  VF_FINAL_LN_W, VF_FINAL_LN_B, VF_PROJ,
  VF_LN1_W, VF_LN1_B, VF_Q_W, VF_K_W, VF_V_W, VF_Q_B, VF_K_B, VF_V_B, VF_O_W, VF_O_B, VF_LS1,
  VF_LN2_W, VF_LN2_B, VF_FC1_W, VF_FC1_B, VF_FC2_W, VF_FC2_B, VF_LS2,
  VF_COUNT
} vit_field;

/* The fields of the text tower (clip_text.c). */
typedef enum text_field {
  TF_TOKEN = 0, TF_POS, TF_FINAL_LN_W, TF_FINAL_LN_B, TF_PROJ,
  TF_LN1_W, TF_LN1_B, TF_Q_W, TF_K_W, TF_V_W, TF_Q_B, TF_K_B, TF_V_B, TF_O_W, TF_O_B,
  TF_LN2_W, TF_LN2_B, TF_FC1_W, TF_FC1_B, TF_FC2_W, TF_FC2_B,
  TF_COUNT
} text_field;

enum { FAM_MAX_DIMS = 4 };

typedef struct fam_tensor {
  const char *name;            /* pattern; "%d" = block index when `block` */
  int field;                   /* vit_field or text_field */
  unsigned char block;         /* 1: one per block */
  unsigned char ndim;
  unsigned char dim[FAM_MAX_DIMS]; /* fam_dim */
  unsigned char when;          /* fam_when */
  unsigned char fused;         /* 3: rows of q, k, v stacked; binds field, field+1, field+2 */
  unsigned char transposed;    /* stored (in, out) as x @ W: transposed once at load */
  unsigned char table;         /* DINOv2 position table: resampled to the input size */
  unsigned char init;          /* fam_init */
} fam_tensor;

/* The architecture a family's image tower has. */
typedef enum fam_arch { FA_VIT = 0, FA_RESNET = 1 } fam_arch;

typedef struct model_family {
  const char *name;            /* "clip", "dinov2", "open_clip", "open_clip_resnet" */
  const char *layout;          /* "hugging_face" or "open_clip" */
  fam_arch arch;
  const fam_tensor *vision;    /* the ViT catalogue (NULL for ResNets: resnet.c names its own) */
  int n_vision;
  const fam_tensor *text;      /* the text tower catalogue, or NULL */
  int n_text;
  const char *const *prefixes; /* prefixes tried in order (NULL-terminated), first whose */
  const char *probe;           /* probe tensor exists wins; NULL: no prefix */
  int finetune;                /* 1: fine-tuning and random initialisation support it */
  int clip_like;               /* 1: CLIP-style tower (pre-layernorm, projection) */
  int torchvision_preprocess;  /* 1: open_clip's transform (round crop offsets, x/255) */
} model_family;

/* The family descriptors (family_*.c). */
extern const model_family FAMILY_HF_CLIP;
extern const model_family FAMILY_DINOV2;
extern const model_family FAMILY_OPEN_CLIP;
extern const model_family FAMILY_OPEN_CLIP_RESNET;
/* The open_clip text tower catalogue, shared by its ViT and ResNet families. */
enum { OPEN_CLIP_TEXT_ROWS = 17 };
extern const fam_tensor OPEN_CLIP_TEXT[OPEN_CLIP_TEXT_ROWS];

/* The family of a vfr_family id (config.h), never NULL for a valid id. */
const model_family *family_of(vfr_family id);
/* The family named `name` ("clip", "dinov2", "open_clip", "open_clip_resnet"), or NULL. */
const model_family *family_find(const char *name);

/* The symbolic sizes of a vision config (and its text tower) at the trained resolution. */
void fam_sizes(const vfr_model_config *cfg, int64_t out[FD_COUNT]);

/* The prefix of the family's names in st ("" when the family has none or no probe hits). */
const char *fam_prefix(const model_family *f, const vfr_safetensors *st);

/* Whether row r exists for this config in st (the prefixed name is `full`). */
int fam_row_exists(const fam_tensor *r, const vfr_model_config *cfg, const vfr_safetensors *st,
                   const char *full);

/* The row's full name for block i into buf. */
void fam_row_name(const fam_tensor *r, const char *prefix, int i, char *buf, size_t cap);

/* The member of p (block fields: of p->layers[layer]) a field binds. */
const float **vit_field_ptr(vit_params *p, int field, int layer);

/* Buffers made at load (converted or transposed tensors) and the parameter count. */
typedef struct fam_store {
  const vfr_safetensors *st;
  float **owned;
  int n_owned, cap_owned;
  int64_t num_parameters; /* elements bound */
  int64_t weight_bytes;   /* their bytes in the file */
} fam_store;

void fam_store_free(fam_store *s);

/* Fetches tensor `name` of the given shape as float32 into *out (keeping converted
 * buffers in s); errors name the file, the tensor and both shapes. */
int fam_get(fam_store *s, const char *name, int ndim, const int64_t *shape, const float **out,
            vfr_error *err);

/* Binds one catalogue row: out[0..fused) receive the row's pointer(s) (for fused rows
 * the q, k, v parts). */
int fam_bind_row(fam_store *s, const fam_tensor *r, const char *full, const int64_t *sizes,
                 const float **out[3], vfr_error *err);

#endif
