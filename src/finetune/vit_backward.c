/* Training forward and backward of the vision transformer (see vit_backward.h).
 * The forward mirrors model/vit.c step for step, with the *_forward_train kernels where the
 * backward needs something vit.c overwrites; the backward walks it in reverse. */
#include "finetune/vit_backward.h"

#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"
#include "finetune/ops_backward.h"
#include "model/ops.h"

/* ---- one-allocation layouts ------------------------------------------------------------- */

/* Carving: with base NULL only the size is counted (no pointer is formed). */
#define TAKE(ptr, count)                                                                           \
  do {                                                                                             \
    (ptr) = base ? base + off : NULL;                                                              \
    off += (count);                                                                                \
  } while (0)
#define TAKE_IF(cond, ptr, count)                                                                  \
  do {                                                                                             \
    if (cond)                                                                                      \
      TAKE(ptr, count);                                                                            \
    else                                                                                           \
      (ptr) = NULL;                                                                                \
  } while (0)

static size_t carve_grads(vit_grads *g, const vit_params *p, const vit_dims *d, float *base) {
  size_t D = d->D, M = d->M, K = 3 * (size_t)d->P * d->P, off = 0;
  size_t M1 = d->swiglu ? 2 * M : M; /* fc1 output width */
  TAKE(g->patch_w, D * K);
  TAKE_IF(p->patch_b, g->patch_b, D);
  TAKE(g->cls, D);
  TAKE_IF(d->R > 0 && p->registers, g->registers, (size_t)d->R * D);
  TAKE(g->pos, (size_t)(1 + d->GH * d->GW) * D);
  TAKE_IF(p->pre_ln_w, g->pre_ln_w, D);
  TAKE_IF(p->pre_ln_w, g->pre_ln_b, D);
  for (int l = 0; l < d->L; l++) {
    vit_layer_grads *lg = &g->layers[l];
    const vit_layer_params *lp = &p->layers[l];
    TAKE(lg->ln1_w, D);
    TAKE(lg->ln1_b, D);
    TAKE(lg->q_w, D * D);
    TAKE(lg->q_b, D);
    TAKE(lg->k_w, D * D);
    TAKE(lg->k_b, D);
    TAKE(lg->v_w, D * D);
    TAKE(lg->v_b, D);
    TAKE(lg->o_w, D * D);
    TAKE(lg->o_b, D);
    TAKE_IF(lp->ls1, lg->ls1, D);
    TAKE(lg->ln2_w, D);
    TAKE(lg->ln2_b, D);
    TAKE(lg->fc1_w, M1 * D);
    TAKE(lg->fc1_b, M1);
    TAKE(lg->fc2_w, D * M);
    TAKE(lg->fc2_b, D);
    TAKE_IF(lp->ls2, lg->ls2, D);
  }
  TAKE(g->final_ln_w, D);
  TAKE(g->final_ln_b, D);
  TAKE_IF(p->proj, g->proj, (size_t)d->E * D);
  return off;
}

int vit_grads_alloc(vit_grads *g, const vit_params *p, const vit_dims *d) {
  memset(g, 0, sizeof *g);
  g->layers = calloc(d->L > 0 ? (size_t)d->L : 1, sizeof *g->layers);
  if (!g->layers) return -1;
  g->n = carve_grads(g, p, d, NULL);
  g->memory = vfr_big_calloc(g->n, sizeof(float));
  if (!g->memory) {
    vit_grads_free(g);
    return -1;
  }
  carve_grads(g, p, d, g->memory);
  return 0;
}

void vit_grads_zero(vit_grads *g) {
  if (g->memory) memset(g->memory, 0, g->n * sizeof(float));
}

void vit_grads_free(vit_grads *g) {
  free(g->memory);
  free(g->layers);
  memset(g, 0, sizeof *g);
}

static size_t carve_acts(vit_train_acts *a, const vit_dims *d, int B, float *base) {
  size_t D = d->D, M = d->M, N = (size_t)B * d->T, np = (size_t)B * d->GH * d->GW, off = 0;
  size_t M1 = d->swiglu ? 2 * M : M;
  TAKE(a->patches, np * 3 * d->P * d->P);
  TAKE(a->emb, N * D);
  TAKE(a->pre_mean, N);
  TAKE(a->pre_rstd, N);
  for (int l = 0; l < d->L; l++) {
    vit_layer_acts *la = &a->layers[l];
    TAKE(la->x_in, N * D);
    TAKE(la->ln1, N * D);
    TAKE(la->ln1_mean, N);
    TAKE(la->ln1_rstd, N);
    TAKE(la->q, N * D);
    TAKE(la->k, N * D);
    TAKE(la->v, N * D);
    TAKE(la->atty, N * D);
    TAKE(la->attn_out, N * D);
    TAKE(la->x_mid, N * D);
    TAKE(la->ln2, N * D);
    TAKE(la->ln2_mean, N);
    TAKE(la->ln2_rstd, N);
    TAKE(la->pre, N * M1);
    TAKE(la->hid, N * M);
    TAKE(la->mlp_out, N * D);
  }
  TAKE(a->x_out, N * D);
  TAKE(a->cls_in, (size_t)B * D);
  TAKE(a->cls_ln, (size_t)B * D);
  TAKE(a->cls_mean, (size_t)B);
  TAKE(a->cls_rstd, (size_t)B);
  TAKE_IF(d->cls_mean, a->all_ln, N * D);
  TAKE_IF(d->cls_mean, a->all_mean, N);
  TAKE_IF(d->cls_mean, a->all_rstd, N);
  TAKE(a->att, attention_scratch_floats(B, d->T, d->NH));
  TAKE(a->dx, N * D);
  TAKE(a->dln, N * D);
  TAKE(a->dtmp, N * D);
  TAKE(a->dq, N * D);
  TAKE(a->dk, N * D);
  TAKE(a->dv, N * D);
  TAKE(a->datty, N * D);
  TAKE(a->dpre, N * M1);
  TAKE(a->dhid, N * M);
  TAKE(a->dpatch, np * D);
  TAKE(a->dcls, (size_t)B * D);
  TAKE(a->att_scratch, attention_backward_scratch_floats(B, d->T, d->NH));
  return off;
}

#undef TAKE_IF
#undef TAKE

int vit_train_acts_reserve(vit_train_acts *a, const vit_dims *d, int B) {
  if (a->memory && a->B >= B) return 0;
  vit_train_acts_free(a);
  a->layers = calloc(d->L > 0 ? (size_t)d->L : 1, sizeof *a->layers);
  if (!a->layers) return -1;
  size_t n = carve_acts(a, d, B, NULL);
  a->memory = vfr_big_calloc(n, sizeof(float));
  if (!a->memory) {
    vit_train_acts_free(a);
    return -1;
  }
  carve_acts(a, d, B, a->memory);
  a->B = B;
  return 0;
}

void vit_train_acts_free(vit_train_acts *a) {
  free(a->memory);
  free(a->layers);
  memset(a, 0, sizeof *a);
}

/* ---- forward --------------------------------------------------------------------------- */

/* x (B,T,D) = [cls + pos[0], registers, patches @ patch_w^T (+ patch_b) + pos[1:]];
 * a->dpatch is the patch-embedding scratch (it is only a gradient in the backward). */
static void embeddings_forward_train(float *x, const float *pixels, const vit_params *p,
                                     const vit_dims *d, vit_train_acts *a, int B) {
  int D = d->D, T = d->T, R = d->R, np = d->GH * d->GW, K = 3 * d->P * d->P;
  im2patch_forward(a->patches, pixels, B, 3, d->H, d->W, d->P, d->threads);
  float *pe = a->dpatch; /* (B*np, D) */
  matmul_nobias_forward(pe, a->patches, p->patch_w, B * np, K, D, d->engine);
  for (int b = 0; b < B; b++) {
    float *xb = x + (size_t)b * T * D;
    for (int c = 0; c < D; c++) xb[c] = p->cls[c] + p->pos[c];
    if (R > 0) memcpy(xb + D, p->registers, (size_t)R * D * sizeof(float));
    for (int t = 0; t < np; t++) {
      float *xt = xb + (size_t)(1 + R + t) * D;
      const float *src = pe + ((size_t)b * np + t) * D;
      const float *pos = p->pos + (size_t)(1 + t) * D;
      if (p->patch_b)
        for (int c = 0; c < D; c++) xt[c] = (src[c] + p->patch_b[c]) + pos[c];
      else
        for (int c = 0; c < D; c++) xt[c] = src[c] + pos[c];
    }
  }
}

/* One pre-norm block from la->x_in into next (B,T,D). */
static void block_forward_train(float *next, const vit_layer_params *l, vit_layer_acts *la,
                                const vit_dims *d, float *att, int B) {
  int D = d->D, N = B * d->T, M = d->M, th = d->threads;
  size_t nd = (size_t)N * D * sizeof(float);
  layernorm_forward_train(la->ln1, la->ln1_mean, la->ln1_rstd, la->x_in, l->ln1_w, l->ln1_b, N, D,
                          d->eps, th);
  matmul_forward(la->q, la->ln1, l->q_w, l->q_b, N, D, D, d->engine);
  matmul_forward(la->k, la->ln1, l->k_w, l->k_b, N, D, D, d->engine);
  matmul_forward(la->v, la->ln1, l->v_w, l->v_b, N, D, D, d->engine);
  attention_forward(la->atty, att, la->q, la->k, la->v, B, d->T, D, d->NH, d->engine);
  matmul_nobias_forward(la->attn_out, la->atty, l->o_w, N, D, D, d->engine);
  memcpy(la->x_mid, la->x_in, nd);
  residual_forward(la->x_mid, la->attn_out, l->o_b, l->ls1, N, D, th);

  layernorm_forward_train(la->ln2, la->ln2_mean, la->ln2_rstd, la->x_mid, l->ln2_w, l->ln2_b, N, D,
                          d->eps, th);
  if (d->swiglu) {
    matmul_nobias_forward(la->pre, la->ln2, l->fc1_w, N, D, 2 * M, d->engine);
    swiglu_forward(la->hid, la->pre, l->fc1_b, N, M, th);
  } else {
    matmul_nobias_forward(la->pre, la->ln2, l->fc1_w, N, D, M, d->engine);
    bias_activation_forward_train(la->hid, la->pre, l->fc1_b, N, M, d->act, th);
  }
  matmul_nobias_forward(la->mlp_out, la->hid, l->fc2_w, N, M, D, d->engine);
  memcpy(next, la->x_mid, nd);
  residual_forward(next, la->mlp_out, l->fc2_b, l->ls2, N, D, th);
}

static void head_forward_train(float *out, const vit_params *p, const vit_dims *d,
                               vit_train_acts *a, int B) {
  int D = d->D, T = d->T, th = d->threads;
  for (int b = 0; b < B; b++)
    memcpy(a->cls_in + (size_t)b * D, a->x_out + (size_t)b * T * D, D * sizeof(float));
  layernorm_forward_train(a->cls_ln, a->cls_mean, a->cls_rstd, a->cls_in, p->final_ln_w,
                          p->final_ln_b, B, D, d->eps, th);
  if (d->clip) {
    if (p->proj)
      matmul_forward(out, a->cls_ln, p->proj, NULL, B, D, d->E, d->engine);
    else
      memcpy(out, a->cls_ln, (size_t)B * D * sizeof(float));
    return;
  }
  if (!d->cls_mean) {
    memcpy(out, a->cls_ln, (size_t)B * D * sizeof(float));
    return;
  }
  int first = 1 + d->R, np = T - first;
  layernorm_forward_train(a->all_ln, a->all_mean, a->all_rstd, a->x_out, p->final_ln_w,
                          p->final_ln_b, B * T, D, d->eps, th);
  for (int b = 0; b < B; b++) {
    float *o = out + (size_t)b * 2 * D;
    memcpy(o, a->cls_ln + (size_t)b * D, D * sizeof(float));
    for (int c = 0; c < D; c++) {
      double s = 0;
      for (int t = first; t < T; t++) s += a->all_ln[((size_t)b * T + t) * D + c];
      o[D + c] = (float)(s / np);
    }
  }
}

void vit_forward_train(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                       vit_train_acts *a, int B) {
  int N = B * d->T, D = d->D;
  float *x0 = d->L > 0 ? a->layers[0].x_in : a->x_out;
  embeddings_forward_train(a->emb, pixels, p, d, a, B);
  if (p->pre_ln_w)
    layernorm_forward_train(x0, a->pre_mean, a->pre_rstd, a->emb, p->pre_ln_w, p->pre_ln_b, N, D,
                            d->eps, d->threads);
  else
    memcpy(x0, a->emb, (size_t)N * D * sizeof(float));
  for (int l = 0; l < d->L; l++) {
    float *next = l + 1 < d->L ? a->layers[l + 1].x_in : a->x_out;
    block_forward_train(next, &p->layers[l], &a->layers[l], d, a->att, B);
  }
  head_forward_train(out, p, d, a, B);
}

/* ---- backward -------------------------------------------------------------------------- */

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* a->dx (B,T,D) = gradient of the stream after the last block, from dout (B,E). */
static void head_backward(vit_grads *g, const float *dout, const vit_params *p, const vit_dims *d,
                          vit_train_acts *a, int B) {
  int D = d->D, T = d->T, E = d->E, th = d->threads;
  size_t BD = (size_t)B * D;
  zero(a->dx, (size_t)B * T * D);
  /* dcls = gradient of the final-layernormed CLS (B,D) */
  if (d->clip && p->proj) {
    zero(a->dcls, BD);
    matmul_backward(a->dcls, g->proj, NULL, dout, a->cls_ln, p->proj, B, D, E, d->engine);
  } else {
    int stride = d->clip ? D : (d->cls_mean ? 2 * D : D);
    for (int b = 0; b < B; b++)
      memcpy(a->dcls + (size_t)b * D, dout + (size_t)b * stride, D * sizeof(float));
  }
  zero(a->dln, BD);
  layernorm_backward(a->dln, g->final_ln_w, g->final_ln_b, a->dcls, a->cls_in, p->final_ln_w,
                     a->cls_mean, a->cls_rstd, B, D, th);
  for (int b = 0; b < B; b++) {
    float *dst = a->dx + (size_t)b * T * D;
    const float *src = a->dln + (size_t)b * D;
    for (int c = 0; c < D; c++) dst[c] += src[c];
  }
  if (d->clip || !d->cls_mean) return;
  /* the mean over patch tokens of layernorm(x): each patch row gets dout[b, D:] / np */
  int first = 1 + d->R, np = T - first;
  zero(a->dtmp, (size_t)B * T * D);
  for (int b = 0; b < B; b++)
    for (int t = first; t < T; t++) {
      float *dst = a->dtmp + ((size_t)b * T + t) * D;
      const float *src = dout + (size_t)b * 2 * D + D;
      for (int c = 0; c < D; c++) dst[c] = src[c] / (float)np;
    }
  layernorm_backward(a->dx, g->final_ln_w, g->final_ln_b, a->dtmp, a->x_out, p->final_ln_w,
                     a->all_mean, a->all_rstd, B * T, D, th);
}

/* a->dx: gradient of the block's output on entry, of its input on return. */
static void block_backward(vit_layer_grads *lg, const vit_layer_params *l, const vit_layer_acts *la,
                           const vit_dims *d, vit_train_acts *a, int B) {
  int D = d->D, N = B * d->T, M = d->M, th = d->threads, M1 = d->swiglu ? 2 * M : M;
  size_t nd = (size_t)N * D;
  /* x_out = x_mid + (mlp_out + fc2_b) * ls2 */
  zero(a->dtmp, nd);
  residual_backward(a->dx, a->dtmp, lg->fc2_b, lg->ls2, a->dx, la->mlp_out, l->fc2_b, l->ls2, N, D,
                    th);
  zero(a->dhid, (size_t)N * M);
  matmul_backward(a->dhid, lg->fc2_w, NULL, a->dtmp, la->hid, l->fc2_w, N, M, D, d->engine);
  zero(a->dpre, (size_t)N * M1);
  if (d->swiglu)
    swiglu_backward(a->dpre, lg->fc1_b, a->dhid, la->pre, l->fc1_b, N, M, th);
  else
    bias_activation_backward(a->dpre, lg->fc1_b, a->dhid, la->pre, l->fc1_b, N, M, d->act, th);
  zero(a->dln, nd);
  matmul_backward(a->dln, lg->fc1_w, NULL, a->dpre, la->ln2, l->fc1_w, N, D, M1, d->engine);
  layernorm_backward(a->dx, lg->ln2_w, lg->ln2_b, a->dln, la->x_mid, l->ln2_w, la->ln2_mean,
                     la->ln2_rstd, N, D, th);
  /* x_mid = x_in + (attn_out + o_b) * ls1 */
  zero(a->dtmp, nd);
  residual_backward(a->dx, a->dtmp, lg->o_b, lg->ls1, a->dx, la->attn_out, l->o_b, l->ls1, N, D,
                    th);
  zero(a->datty, nd);
  matmul_backward(a->datty, lg->o_w, NULL, a->dtmp, la->atty, l->o_w, N, D, D, d->engine);
  zero(a->dq, nd), zero(a->dk, nd), zero(a->dv, nd);
  attention_backward(a->dq, a->dk, a->dv, a->att_scratch, a->datty, la->q, la->k, la->v, B, d->T, D,
                     d->NH, d->engine);
  zero(a->dln, nd);
  matmul_backward(a->dln, lg->q_w, lg->q_b, a->dq, la->ln1, l->q_w, N, D, D, d->engine);
  matmul_backward(a->dln, lg->k_w, lg->k_b, a->dk, la->ln1, l->k_w, N, D, D, d->engine);
  matmul_backward(a->dln, lg->v_w, lg->v_b, a->dv, la->ln1, l->v_w, N, D, D, d->engine);
  layernorm_backward(a->dx, lg->ln1_w, lg->ln1_b, a->dln, la->x_in, l->ln1_w, la->ln1_mean,
                     la->ln1_rstd, N, D, th);
}

void vit_backward(vit_grads *g, const float *dout, const vit_params *p, const vit_dims *d,
                  vit_train_acts *a, int B, int first_layer) {
  int D = d->D, T = d->T, N = B * T, th = d->threads;
  int np = d->GH * d->GW, K = 3 * d->P * d->P;
  if (first_layer < 0) first_layer = 0;
  head_backward(g, dout, p, d, a, B);
  for (int l = d->L - 1; l >= first_layer; l--)
    block_backward(&g->layers[l], &p->layers[l], &a->layers[l], d, a, B);
  if (first_layer > 0) return;
  const float *demb = a->dx;
  if (p->pre_ln_w) {
    zero(a->dtmp, (size_t)N * D);
    layernorm_backward(a->dtmp, g->pre_ln_w, g->pre_ln_b, a->dx, a->emb, p->pre_ln_w, a->pre_mean,
                       a->pre_rstd, N, D, th);
    demb = a->dtmp;
  }
  zero(a->dpatch, (size_t)B * np * D);
  embeddings_backward(a->dpatch, g->cls, g->registers, g->pos, demb, B, T, D, d->R, th);
  matmul_backward(NULL, g->patch_w, g->patch_b, a->dpatch, a->patches, p->patch_w, B * np, K, D,
                  d->engine);
}
