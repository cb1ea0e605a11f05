/* Training forward and backward of the vision transformer of model/vit.h: parameters
 * and activations as structs of named pointers into single allocations.
 *
 * vit_forward_train computes exactly what vit_forward computes (same kernels, same order)
 * and keeps, per layer, what ops_backward.h's kernels need; vit_backward then takes the
 * gradient of the embeddings (B,E) and ACCUMULATES the gradient of every parameter into a
 * vit_grads laid out like vit_params. Blocks below `first_layer` are frozen: the backward
 * stops there (no gradient reaches them, the embeddings or the patch convolution).
 * The position-embedding gradient is with respect to p->pos as the forward used it (already
 * at the input resolution); DINOv2's trained table gets it through dinov2_pos_embed_backward. */
#ifndef VFR_FINETUNE_VIT_BACKWARD_H
#define VFR_FINETUNE_VIT_BACKWARD_H

#include <stddef.h>

#include "model/vit.h"

/* Gradients, one per parameter of vit_layer_params / vit_params, same shapes and names; a
 * pointer is NULL where the parameter is (patch_b, registers, ls1/ls2, pre_ln, proj). */
typedef struct vit_layer_grads {
  float *ln1_w, *ln1_b;
  float *q_w, *q_b;
  float *k_w, *k_b;
  float *v_w, *v_b;
  float *o_w, *o_b;
  float *ls1;
  float *ln2_w, *ln2_b;
  float *fc1_w, *fc1_b;
  float *fc2_w, *fc2_b;
  float *ls2;
} vit_layer_grads;

typedef struct vit_grads {
  float *patch_w, *patch_b, *cls, *registers, *pos, *pre_ln_w, *pre_ln_b;
  vit_layer_grads *layers; /* (L) */
  float *final_ln_w, *final_ln_b, *proj;
  float *memory; /* all of the above, in that order */
  size_t n;      /* floats in memory */
} vit_grads;

/* Allocates zeroed gradients for the parameters p has. Returns 0 or -1 (out of memory). */
int vit_grads_alloc(vit_grads *g, const vit_params *p, const vit_dims *d);
void vit_grads_zero(vit_grads *g);
void vit_grads_free(vit_grads *g);

/* What one block's backward needs; all (B,T,.) for the batch the buffers were sized for. */
typedef struct vit_layer_acts {
  float *x_in;                      /* (B,T,D) block input (the residual stream) */
  float *ln1, *ln1_mean, *ln1_rstd; /* (B,T,D), (B*T), (B*T) */
  float *q, *k, *v, *atty;          /* (B,T,D) */
  float *attn_out;                  /* (B,T,D) out_proj output before its bias */
  float *x_mid;                     /* (B,T,D) stream after the attention residual */
  float *ln2, *ln2_mean, *ln2_rstd;
  float *pre;     /* (B,T,M) fc1 output before its bias; SwiGLU: (B,T,2M) */
  float *hid;     /* (B,T,M) activation (SwiGLU: gated) output */
  float *mlp_out; /* (B,T,D) fc2 output before its bias */
} vit_layer_acts;

typedef struct vit_train_acts {
  float *patches;                               /* (B*GH*GW, 3*P*P) */
  float *emb;                                   /* (B,T,D) tokens before CLIP's pre-layernorm */
  float *pre_mean, *pre_rstd;                   /* (B*T) CLIP pre-layernorm statistics */
  vit_layer_acts *layers;                       /* (L) */
  float *x_out;                                 /* (B,T,D) stream after the last block */
  float *cls_in, *cls_ln, *cls_mean, *cls_rstd; /* (B,D), (B,D), (B), (B): final layernorm of CLS */
  float *all_ln, *all_mean, *all_rstd; /* (B,T,D), (B*T), (B*T): DINOv2 cls_mean pooling only */
  float *att; /* forward attention scratch, attention_scratch_floats(B,T,NH) */
  /* backward scratch */
  float *dx, *dln, *dtmp, *dq, *dk, *dv, *datty; /* (B,T,D) */
  float *dpre;                                   /* (B,T,M) or (B,T,2M) */
  float *dhid;                                   /* (B,T,M) */
  float *dpatch;                                 /* (B*GH*GW, D) */
  float *dcls;                                   /* (B,D) */
  float *att_scratch; /* attention_backward_scratch_floats(B, T, NH) */
  float *memory;
  int B;
} vit_train_acts;

/* Sizes the buffers for a batch of B (keeps them when already large enough). 0 or -1. */
int vit_train_acts_reserve(vit_train_acts *a, const vit_dims *d, int B);
void vit_train_acts_free(vit_train_acts *a);

/* out (B,E) = the same embeddings as vit_forward; pixels is (B,3,H,W); a reserved for >= B. */
void vit_forward_train(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                       vit_train_acts *a, int B);

/* g += d(sum(dout * out)) / d(parameters) for the last vit_forward_train of a; dout is (B,E).
 * Layers l < first_layer are frozen (and with first_layer > 0 the embeddings too). */
void vit_backward(vit_grads *g, const float *dout, const vit_params *p, const vit_dims *d,
                  vit_train_acts *a, int B, int first_layer);

#endif
