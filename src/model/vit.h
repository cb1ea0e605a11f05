/* The vision transformer forward pass shared by CLIP and DINOv2: parameters
 * and activations as structs of named pointers into single allocations.
 *
 * Both towers are pre-norm ViTs over T = 1 + R + GH*GW tokens of width D:
 *   x = [CLS, registers, patches] (+ position embeddings; registers get none)
 *   CLIP: x = pre_layrnorm(x)
 *   per layer: x += ls1 * attn(ln1(x));  x += ls2 * mlp(ln2(x))   (ls = 1 for CLIP)
 *   CLIP: embed = post_layernorm(x[:,0]) @ visual_projection^T
 *   DINOv2: embed = layernorm(x)[:,0]  (or [that, mean of layernorm(x) over patches])
 * Each layer's pieces are `x_forward(out, inp, params.., B, T, C)` functions in ops.c,
 * so that backward passes can sit beside them.
 * The blocks' linear layers (q, k, v, out_proj, fc1, fc2) are of one kind per model
 * (vit_dims.linear, chosen at load): weights prepared once for the engine
 * (engine_weight_prepare: bf16 or fp32, in oneDNN's blocked layout; what a loaded model
 * runs); fp32 on the engine's plain products (the training forward's twin, and the
 * fallback); or bf16 on the own AVX512-BF16 kernel (gemm_bf16.h). In bf16 the products take bf16
 * inputs and accumulate in fp32; everything else stays fp32. */
#ifndef VFR_MODEL_VIT_H
#define VFR_MODEL_VIT_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/engine.h"
#include "model/gemm_bf16.h"

/* One transformer block. Pointers into the mapped file (F32) or converted buffers.
 * D = hidden size, M = MLP width (SwiGLU: the gated width). */
typedef struct vit_layer_params {
  const float *ln1_w, *ln1_b;          /* (D), (D) */
  const float *q_w, *q_b;              /* (D,D), (D) */
  const float *k_w, *k_b;              /* (D,D), (D) */
  const float *v_w, *v_b;              /* (D,D), (D) */
  const float *o_w, *o_b;              /* (D,D), (D) */
  const float *ls1;                    /* (D), DINOv2 only, else NULL */
  const float *ln2_w, *ln2_b;          /* (D), (D) */
  const float *fc1_w, *fc1_b;          /* (M,D), (M); SwiGLU weights_in: (2M,D), (2M) */
  const float *fc2_w, *fc2_b;          /* (D,M), (D); SwiGLU weights_out */
  const float *ls2;                    /* (D), DINOv2 only, else NULL */
} vit_layer_params;

/* One block's linear weights packed for the bf16 kernel. */
typedef struct vit_layer_bf16 {
  bf16_weight q, k, v, o; /* (D,D) each */
  bf16_weight fc1, fc2;   /* (M,D) or SwiGLU (2M,D); (D,M) */
} vit_layer_bf16;

/* One block's linear weights prepared for the engine. */
typedef struct vit_layer_prep {
  engine_weight *q, *k, *v, *o; /* (D,D) each */
  engine_weight *fc1, *fc2;     /* (M,D) or SwiGLU (2M,D); (D,M) */
} vit_layer_prep;

/* The kinds of the blocks' linear layers. */
typedef enum vit_linear {
  VIT_LINEAR_FP32 = 0, /* fp32 weights as bound, engine_linear */
  VIT_LINEAR_PREPARED, /* vit_params.prep: engine_linear_prepared (bf16 or fp32 weights) */
  VIT_LINEAR_KERNEL    /* vit_params.bf16: the own bf16 kernel */
} vit_linear;

typedef struct vit_params {
  const float *patch_w;                /* (D, 3, P, P) */
  const float *patch_b;                /* (D), DINOv2; NULL for CLIP (no bias) */
  const float *cls;                    /* (D) */
  const float *registers;              /* (R, D) or NULL */
  const float *pos;                    /* (1 + GH*GW, D): already at the input resolution */
  const float *pre_ln_w, *pre_ln_b;    /* (D), CLIP's pre_layrnorm; NULL for DINOv2 */
  vit_layer_params *layers;            /* (L) */
  const float *final_ln_w, *final_ln_b; /* (D): post_layernorm / layernorm */
  const float *proj;                   /* (E, D) CLIP visual_projection, or NULL */
  vit_layer_bf16 *bf16;                /* (L) for VIT_LINEAR_KERNEL (vit_bf16_pack), else NULL */
  vit_layer_prep *prep;                /* (L) for VIT_LINEAR_PREPARED (vit_prepare), else NULL */
} vit_params;

/* Everything about the shapes the forward pass needs. */
typedef struct vit_dims {
  int D, L, NH, M;        /* width, layers, heads, MLP width (SwiGLU: gated width) */
  int P, H, W;            /* patch size, input height and width (multiples of P) */
  int GH, GW, R, T;       /* patch grid, registers, tokens = 1 + R + GH*GW */
  int E;                  /* output width: projection (CLIP), D or 2D (DINOv2) */
  int swiglu;
  int clip;               /* 1: CLIP tower (pre-layernorm, projection), 0: DINOv2 */
  int proj;               /* CLIP: visual_projection present */
  int cls_mean;           /* DINOv2 [CLS, mean(patches)] pooling */
  vfr_activation act;
  float eps;
  int threads;            /* the OpenMP team of the loops (the engine's team) */
  vfr_engine *engine;     /* the products' execution context (owned by the model) */
  int bf16;               /* 1: the blocks' linear layers in bf16 */
  vit_linear linear;      /* their kind (VIT_LINEAR_KERNEL and bf16 PREPARED need bf16) */
} vit_dims;

/* Activations for a batch of B: one allocation carved into named buffers. */
typedef struct vit_acts {
  float *patches;  /* (B*GH*GW, 3*P*P) */
  float *x;        /* (B,T,D) residual stream */
  float *ln;       /* (B,T,D) normalised input of a sublayer; also sublayer outputs */
  float *q, *k, *v;/* (B,T,D) */
  float *atty;     /* (B,T,D) attention output before out_proj */
  float *att;      /* attention_scratch_floats(B,T,NH): the scores of a group of images */
  float *h;        /* (B,T,M) MLP hidden; SwiGLU: (B,T,2M) */
  float *hg;       /* (B,T,M) SwiGLU gated hidden; NULL otherwise */
  float *pooled;   /* (B, 2D) */
  uint16_t *abf16; /* (B*T, bf16_row_width(max(D, M))): a linear layer's bf16 input (the
                    * kernel's padded rows, or dense rows for prepared weights); bf16 only */
  /* bf16 with prepared weights (the whole block in bf16 activations): ln16 (B,T,D), the
   * sublayers' bf16 input; p16 (attention_scratch_floats) the attention probabilities. The
   * bf16 q, k, v and attention output (B,T,D) live in the first half of q, k, v, atty. */
  uint16_t *ln16, *p16;
  float *memory;   /* the allocation (abf16, ln16 and p16 are a second one) */
  int B;           /* batch these were sized for */
} vit_acts;

/* Number of floats vit_acts needs for a batch of B. */
size_t vit_acts_size(const vit_dims *d, int B);
/* Allocates for B (freeing what was there when it is smaller). Returns 0 or -1. */
int vit_acts_reserve(vit_acts *a, const vit_dims *d, int B);
void vit_acts_free(vit_acts *a);

/* Packs the blocks' linear weights of p into p->bf16 (allocated, L entries) for d->bf16.
 * Returns 0, or -1 when out of memory (then nothing is left allocated). */
int vit_bf16_pack(vit_params *p, const vit_dims *d);
/* Frees p->bf16 (L entries; NULL is fine) and sets it to NULL. */
void vit_bf16_free(vit_params *p, int L);

/* Prepares the blocks' linear weights of p into p->prep (allocated, L entries) on d->engine,
 * in bf16 when d->bf16, for products of about `rows` rows. Returns VFR_OK or the engine's
 * error (then nothing is left allocated). */
/* done (NULL: none) is called with each weight (n floats) once its prepared copy is made,
 * so that the caller can drop the source's pages. */
int vit_prepare(vit_params *p, const vit_dims *d, int rows,
                void (*done)(void *ctx, const float *w, size_t n), void *ctx, vfr_error *err);
/* Frees p->prep (L entries; NULL is fine) and sets it to NULL. */
void vit_prepare_free(vit_params *p, int L);

/* Forward pass on d->engine and d->threads, the linear layers of kind d->linear (whose
 * weights p must hold). pixels is (B,3,H,W); out is (B,E). acts must be reserved for >= B
 * under d. */
void vit_forward(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                 vit_acts *a, int B);

/* The token outputs of the last last_k blocks (1 <= last_k <= L): out is (B, T, last_k*D),
 * each token's layers side by side, the earliest first; with final_norm each through the
 * final layernorm (DINOv2's get_intermediate_layers(norm=True); CLIP's post_layernorm).
 * Tokens in the model's order: CLS, registers, patches row by row. */
void vit_forward_tokens(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                        vit_acts *a, int B, int last_k, int final_norm);

/* Multiply-adds x 2 of one image's forward pass. */
double vit_flops_per_image(const vit_dims *d);

#endif
