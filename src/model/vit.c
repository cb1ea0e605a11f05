/* The vision transformer forward pass (see vit.h for the maths). */
#include "model/vit.h"

#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"
#include "model/ops.h"

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
#endif

static size_t hidden_width(const vit_dims *d) { return (d->swiglu ? 2 : 1) * (size_t)d->M; }

size_t vit_acts_size(const vit_dims *d, int B) {
  size_t BT = (size_t)B * d->T, np = (size_t)B * d->GH * d->GW;
  size_t n = np * 3 * d->P * d->P;       /* patches */
  n += 6 * BT * d->D;                    /* x, ln, q, k, v, atty */
  n += attention_scratch_floats(B, d->T, d->NH); /* att */
  n += BT * hidden_width(d);             /* h */
  if (d->swiglu) n += BT * d->M;         /* hg */
  n += (size_t)B * 2 * d->D;             /* pooled */
  return n;
}

int vit_acts_reserve(vit_acts *a, const vit_dims *d, int B) {
  if (a->memory && a->B >= B) return 0;
  vit_acts_free(a);
  size_t n = vit_acts_size(d, B);
  float *m = vfr_big_calloc(n, sizeof(float));
  if (!m) return -1;
  size_t BT = (size_t)B * d->T, np = (size_t)B * d->GH * d->GW;
  float *p = m;
  a->patches = p, p += np * 3 * d->P * d->P;
  a->x = p, p += BT * d->D;
  a->ln = p, p += BT * d->D;
  a->q = p, p += BT * d->D;
  a->k = p, p += BT * d->D;
  a->v = p, p += BT * d->D;
  a->atty = p, p += BT * d->D;
  a->att = p, p += attention_scratch_floats(B, d->T, d->NH);
  a->h = p, p += BT * hidden_width(d);
  a->hg = NULL;
  if (d->swiglu) a->hg = p, p += BT * d->M;
  a->pooled = p, p += (size_t)B * 2 * d->D;
  a->abf16 = a->ln16 = a->p16 = NULL;
  if (d->bf16) {
    size_t K = hidden_width(d) > (size_t)d->D ? hidden_width(d) : (size_t)d->D;
    size_t n_a = BT * (size_t)bf16_row_width((int)K), n_ln = 0, n_p = 0;
    if (d->linear == VIT_LINEAR_PREPARED)
      n_ln = BT * d->D, n_p = attention_scratch_floats(B, d->T, d->NH);
    a->abf16 = malloc((n_a + n_ln + n_p) * sizeof(uint16_t));
    if (!a->abf16) {
      free(m);
      return -1;
    }
    if (n_ln) a->ln16 = a->abf16 + n_a, a->p16 = a->ln16 + n_ln;
  }
  a->memory = m;
  a->B = B;
  return 0;
}

void vit_acts_free(vit_acts *a) {
  free(a->memory);
  free(a->abf16);
  memset(a, 0, sizeof *a);
}

/* x (B,T,D) = [cls + pos[0], registers, patch_embed(pixels) + pos[1:]].
 * pixels is (B,3,H,W); uses a->patches and a->ln as scratch. */
static void embeddings_forward(float *x, const float *pixels, const vit_params *p,
                               const vit_dims *d, vit_acts *a, int B) {
  int threads = d->threads;
  int D = d->D, T = d->T, R = d->R, np = d->GH * d->GW;
  int K = 3 * d->P * d->P;
  im2patch_forward(a->patches, pixels, B, 3, d->H, d->W, d->P, threads);
  float *pe = a->ln; /* (B*np, D) */
  matmul_nobias_forward(pe, a->patches, p->patch_w, B * np, K, D, d->engine);
  for (int b = 0; b < B; b++) {
    float *xb = x + (size_t)b * T * D;
    for (int c = 0; c < D; c++) xb[c] = p->cls[c] + p->pos[c];
    if (R > 0) memcpy(xb + D, p->registers, (size_t)R * D * sizeof(float));
  }
#pragma omp parallel for collapse(2) num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < np; t++) {
      float *xt = x + ((size_t)b * T + 1 + R + t) * D;
      const float *src = pe + ((size_t)b * np + t) * D;
      const float *pos = p->pos + (size_t)(1 + t) * D;
      if (p->patch_b)
        for (int c = 0; c < D; c++) xt[c] = (src[c] + p->patch_b[c]) + pos[c];
      else
        for (int c = 0; c < D; c++) xt[c] = src[c] + pos[c];
    }
  }
}

int vit_bf16_pack(vit_params *p, const vit_dims *d) {
  int D = d->D, M = d->M, M1 = d->swiglu ? 2 * M : M;
  p->bf16 = calloc((size_t)d->L, sizeof *p->bf16);
  if (!p->bf16) return -1;
  for (int i = 0; i < d->L; i++) {
    const vit_layer_params *l = &p->layers[i];
    vit_layer_bf16 *b = &p->bf16[i];
    if (bf16_weight_pack(&b->q, l->q_w, D, D) || bf16_weight_pack(&b->k, l->k_w, D, D) ||
        bf16_weight_pack(&b->v, l->v_w, D, D) || bf16_weight_pack(&b->o, l->o_w, D, D) ||
        bf16_weight_pack(&b->fc1, l->fc1_w, M1, D) || bf16_weight_pack(&b->fc2, l->fc2_w, D, M)) {
      vit_bf16_free(p, d->L);
      return -1;
    }
  }
  return 0;
}

void vit_bf16_free(vit_params *p, int L) {
  if (!p->bf16) return;
  for (int i = 0; i < L; i++) {
    vit_layer_bf16 *b = &p->bf16[i];
    bf16_weight *all[6] = {&b->q, &b->k, &b->v, &b->o, &b->fc1, &b->fc2};
    for (int j = 0; j < 6; j++) bf16_weight_free(all[j]);
  }
  free(p->bf16);
  p->bf16 = NULL;
}

int vit_prepare(vit_params *p, const vit_dims *d, int rows,
                void (*done)(void *ctx, const float *w, size_t n), void *ctx, vfr_error *err) {
  int D = d->D, M = d->M, M1 = d->swiglu ? 2 * M : M;
  p->prep = calloc((size_t)d->L, sizeof *p->prep);
  if (!p->prep) return vfr_fail(err, VFR_ENOMEM, "out of memory for the prepared weights");
  int rc = VFR_OK;
  for (int i = 0; i < d->L && !rc; i++) {
    const vit_layer_params *l = &p->layers[i];
    vit_layer_prep *w = &p->prep[i];
    const float *src[6] = {l->q_w, l->k_w, l->v_w, l->o_w, l->fc1_w, l->fc2_w};
    engine_weight **dst[6] = {&w->q, &w->k, &w->v, &w->o, &w->fc1, &w->fc2};
    int oc[6] = {D, D, D, D, M1, D}, ic[6] = {D, D, D, D, D, M};
    for (int j = 0; j < 6 && !rc; j++) {
      rc = engine_weight_prepare(d->engine, src[j], oc[j], ic[j], d->bf16, rows, dst[j], err);
      if (!rc && done) done(ctx, src[j], (size_t)oc[j] * ic[j]);
    }
  }
  if (rc) vit_prepare_free(p, d->L);
  return rc;
}

void vit_prepare_free(vit_params *p, int L) {
  if (!p->prep) return;
  for (int i = 0; i < L; i++) {
    vit_layer_prep *w = &p->prep[i];
    engine_weight *all[6] = {w->q, w->k, w->v, w->o, w->fc1, w->fc2};
    for (int j = 0; j < 6; j++) engine_weight_free(all[j]);
  }
  free(p->prep);
  p->prep = NULL;
}

/* ---- one transformer block, its linear layers of the kind picked at load ------------- */

/* What a block's linear layers read: its fp32 parameters l, their bf16 copies lb or
 * prepared weights lp (by kind), the activations (a->abf16: the bf16 input buffer) and N = B*T rows. */
typedef struct block_ctx {
  const vit_layer_params *l;
  const vit_layer_bf16 *lb;
  const vit_layer_prep *lp;
  const vit_dims *d;
  vit_acts *a;
  int N;
} block_ctx;

enum { LIN_O, LIN_FC1, LIN_FC2 };

/* The block's sublayers of one kind, chosen once per model (vit_dims.bf16, .linear), never
 * per layer: fp32 weights on the engine; bf16 copies on the own kernel (gemm_bf16.h);
 * prepared fp32 weights on the engine; prepared bf16 weights with bf16 activations between
 * the products. What norm and attention return is the kind's activation type (fp32 rows, or
 * bf16 rows for LINEAR_PREPARED_BF16), and the functions reading it know that type. */
typedef struct linear_kind {
  /* layernorm(x (N,D)) with (w, b): the next products' input (a->ln, or a->ln16) */
  const void *(*norm)(const block_ctx *c, const float *x, const float *w, const float *b);
  /* a->q, a->k, a->v (N,D) = inp @ {q,k,v}_w^T + biases */
  void (*qkv)(const block_ctx *c, const void *inp);
  /* attention over a->q, k, v for B images: its output (N,D) (a->atty) */
  const void *(*attention)(const block_ctx *c, int B);
  /* out (N,OC) fp32 = act(inp (N,C) @ W^T + bias); inp as norm returns it */
  void (*linear)(const block_ctx *c, int which, float *out, const void *inp, const float *bias,
                 int C, int OC, int act);
  /* x (N,OC) += (inp (N,C) @ W^T + bias) * scale; inp: attention's output (LIN_O) or fp32
   * rows (LIN_FC2: SwiGLU's gated hidden) */
  void (*residual)(const block_ctx *c, int which, float *x, const void *inp, const float *bias,
                   const float *scale, int C, int OC);
  /* The plain MLP: x (N,D) += ls2 * fc2(act(fc1(inp (N,D)))); inp as norm returns it */
  void (*mlp)(const block_ctx *c, float *x, const void *inp);
} linear_kind;

/* fp32 activations: layernorm into a->ln, attention in fp32 into a->atty. */
static const void *f32_norm(const block_ctx *c, const float *x, const float *w, const float *b) {
  const vit_dims *d = c->d;
  layernorm_forward(c->a->ln, x, w, b, c->N, d->D, d->eps, d->threads);
  return c->a->ln;
}

static const void *f32_attention(const block_ctx *c, int B) {
  const vit_dims *d = c->d;
  vit_acts *a = c->a;
  attention_forward(a->atty, a->att, a->q, a->k, a->v, B, d->T, d->D, d->NH, d->engine);
  return a->atty;
}

/* The MLP as two layers of the kind, the hidden (N,M) fp32 in a->h. */
static void mlp_two_layers(const linear_kind *lk, const block_ctx *c, float *x, const void *inp) {
  const vit_layer_params *l = c->l;
  const vit_dims *d = c->d;
  lk->linear(c, LIN_FC1, c->a->h, inp, l->fc1_b, d->D, d->M, (int)d->act);
  lk->residual(c, LIN_FC2, x, c->a->h, l->fc2_b, l->ls2, d->M, d->D);
}

static const float *f32_weight(const vit_layer_params *l, int which) {
  return which == LIN_O ? l->o_w : which == LIN_FC1 ? l->fc1_w : l->fc2_w;
}

static void f32_qkv(const block_ctx *c, const void *inp) {
  const vit_layer_params *l = c->l;
  vit_acts *a = c->a;
  linear_qkv_forward(a->q, a->k, a->v, inp, l->q_w, l->q_b, l->k_w, l->k_b, l->v_w, l->v_b, c->N,
                     c->d->D, c->d->D, c->d->engine);
}

static void f32_linear(const block_ctx *c, int which, float *out, const void *inp,
                       const float *bias, int C, int OC, int act) {
  linear_forward(out, inp, f32_weight(c->l, which), bias, c->N, C, OC, act, c->d->engine);
}

static void f32_residual(const block_ctx *c, int which, float *x, const void *inp,
                         const float *bias, const float *scale, int C, int OC) {
  linear_residual_forward(x, inp, f32_weight(c->l, which), bias, scale, c->N, C, OC,
                          c->d->engine);
}

static const linear_kind LINEAR_FP32;
static void f32_mlp(const block_ctx *c, float *x, const void *inp) {
  mlp_two_layers(&LINEAR_FP32, c, x, inp);
}

static const linear_kind LINEAR_FP32 = {f32_norm,   f32_qkv,      f32_attention,
                                        f32_linear, f32_residual, f32_mlp};

static const bf16_weight *bf16_of(const vit_layer_bf16 *lb, int which) {
  return which == LIN_O ? &lb->o : which == LIN_FC1 ? &lb->fc1 : &lb->fc2;
}

static void bf16_qkv(const block_ctx *c, const void *inp) {
  const vit_layer_params *l = c->l;
  vit_acts *a = c->a;
  linear_qkv_forward_bf16(a->q, a->k, a->v, inp, &c->lb->q, l->q_b, &c->lb->k, l->k_b, &c->lb->v,
                          l->v_b, a->abf16, c->N, c->d->D, c->d->D, c->d->threads);
}

static void bf16_linear(const block_ctx *c, int which, float *out, const void *inp,
                        const float *bias, int C, int OC, int act) {
  linear_forward_bf16(out, inp, bf16_of(c->lb, which), bias, c->a->abf16, c->N, C, OC, act,
                      c->d->threads);
}

/* the product goes through a->ln (free at that point) before the residual add */
static void bf16_residual(const block_ctx *c, int which, float *x, const void *inp,
                          const float *bias, const float *scale, int C, int OC) {
  linear_residual_forward_bf16(x, c->a->ln, inp, bf16_of(c->lb, which), bias, scale,
                               c->a->abf16, c->N, C, OC, c->d->threads);
}

static const linear_kind LINEAR_BF16;
static void bf16_mlp(const block_ctx *c, float *x, const void *inp) {
  mlp_two_layers(&LINEAR_BF16, c, x, inp);
}

static const linear_kind LINEAR_BF16 = {f32_norm,    bf16_qkv,      f32_attention,
                                        bf16_linear, bf16_residual, bf16_mlp};

/* Prepared fp32 weights (engine_linear_prepared). */
static const engine_weight *prep_of(const vit_layer_prep *lp, int which) {
  return which == LIN_O ? lp->o : which == LIN_FC1 ? lp->fc1 : lp->fc2;
}

static void prep_qkv(const block_ctx *c, const void *inp) {
  const vit_layer_params *l = c->l;
  const vit_layer_prep *lp = c->lp;
  vit_acts *a = c->a;
  vfr_engine *e = c->d->engine;
  engine_epilogue eq = {l->q_b, 0, NULL, 0}, ek = {l->k_b, 0, NULL, 0}, ev = {l->v_b, 0, NULL, 0};
  engine_linear_prepared(e, a->q, 0, inp, 0, lp->q, c->N, &eq);
  engine_linear_prepared(e, a->k, 0, inp, 0, lp->k, c->N, &ek);
  engine_linear_prepared(e, a->v, 0, inp, 0, lp->v, c->N, &ev);
}

static void prep_linear(const block_ctx *c, int which, float *out, const void *inp,
                        const float *bias, int C, int OC, int act) {
  (void)C, (void)OC;
  engine_epilogue ep = {bias, act, NULL, 0};
  engine_linear_prepared(c->d->engine, out, 0, inp, 0, prep_of(c->lp, which), c->N, &ep);
}

static void prep_residual(const block_ctx *c, int which, float *x, const void *inp,
                          const float *bias, const float *scale, int C, int OC) {
  (void)C, (void)OC;
  engine_epilogue ep = {bias, 0, scale, 1};
  engine_linear_prepared(c->d->engine, x, 0, inp, 0, prep_of(c->lp, which), c->N, &ep);
}

static void prep_mlp(const block_ctx *c, float *x, const void *inp) {
  const vit_layer_params *l = c->l;
  engine_epilogue e1 = {l->fc1_b, (int)c->d->act, NULL, 0}, e2 = {l->fc2_b, 0, l->ls2, 1};
  engine_linear_prepared(c->d->engine, c->a->h, 0, inp, 0, c->lp->fc1, c->N, &e1);
  engine_linear_prepared(c->d->engine, x, 0, c->a->h, 0, c->lp->fc2, c->N, &e2);
}

static const linear_kind LINEAR_PREPARED = {f32_norm,    prep_qkv,      f32_attention,
                                            prep_linear, prep_residual, prep_mlp};

/* Prepared bf16 weights and bf16 activations between the products, as PyTorch's bf16
 * autocast runs the block: each layernorm rounded once into a->ln16; q, k, v written in bf16
 * (the first half of a->q, k, v); attention on bf16 operands (attention_forward_bf16) into
 * bf16 (the first half of a->atty); the MLP hidden bf16 after its activation (a->abf16). Only
 * SwiGLU's gated hidden is fp32 (a->hg; the engine rounds it for fc2). x stays fp32. */
static const void *lowp_norm(const block_ctx *c, const float *x, const float *w, const float *b) {
  const vit_dims *d = c->d;
  layernorm_forward_bf16(c->a->ln16, c->a->ln, x, w, b, c->N, d->D, d->eps, d->threads);
  return c->a->ln16;
}

static void lowp_qkv(const block_ctx *c, const void *inp) {
  const vit_layer_params *l = c->l;
  const vit_layer_prep *lp = c->lp;
  vit_acts *a = c->a;
  vfr_engine *e = c->d->engine;
  engine_epilogue eq = {l->q_b, 0, NULL, 0}, ek = {l->k_b, 0, NULL, 0}, ev = {l->v_b, 0, NULL, 0};
  engine_linear_prepared(e, a->q, 1, inp, 1, lp->q, c->N, &eq);
  engine_linear_prepared(e, a->k, 1, inp, 1, lp->k, c->N, &ek);
  engine_linear_prepared(e, a->v, 1, inp, 1, lp->v, c->N, &ev);
}

static const void *lowp_attention(const block_ctx *c, int B) {
  const vit_dims *d = c->d;
  vit_acts *a = c->a;
  uint16_t *out = (uint16_t *)a->atty;
  attention_forward_bf16(out, a->att, a->p16, (const uint16_t *)a->q, (const uint16_t *)a->k,
                         (const uint16_t *)a->v, B, d->T, d->D, d->NH, d->engine);
  return out;
}

static void lowp_linear(const block_ctx *c, int which, float *out, const void *inp,
                        const float *bias, int C, int OC, int act) {
  (void)C, (void)OC;
  engine_epilogue ep = {bias, act, NULL, 0};
  engine_linear_prepared(c->d->engine, out, 0, inp, 1, prep_of(c->lp, which), c->N, &ep);
}

static void lowp_residual(const block_ctx *c, int which, float *x, const void *inp,
                          const float *bias, const float *scale, int C, int OC) {
  (void)C, (void)OC;
  engine_epilogue ep = {bias, 0, scale, 1};
  engine_linear_prepared(c->d->engine, x, 0, inp, which == LIN_O, prep_of(c->lp, which), c->N,
                         &ep);
}

static void lowp_mlp(const block_ctx *c, float *x, const void *inp) {
  const vit_layer_params *l = c->l;
  engine_epilogue e1 = {l->fc1_b, (int)c->d->act, NULL, 0}, e2 = {l->fc2_b, 0, l->ls2, 1};
  engine_linear_prepared(c->d->engine, c->a->abf16, 1, inp, 1, c->lp->fc1, c->N, &e1);
  engine_linear_prepared(c->d->engine, x, 0, c->a->abf16, 1, c->lp->fc2, c->N, &e2);
}

static const linear_kind LINEAR_PREPARED_BF16 = {lowp_norm,   lowp_qkv,      lowp_attention,
                                                 lowp_linear, lowp_residual, lowp_mlp};

static const linear_kind *kind_of(const vit_params *p, const vit_dims *d, const vit_acts *a) {
  if (d->linear == VIT_LINEAR_PREPARED && p->prep && !d->bf16) return &LINEAR_PREPARED;
  if (d->linear == VIT_LINEAR_PREPARED && p->prep && a->ln16) return &LINEAR_PREPARED_BF16;
  if (d->linear == VIT_LINEAR_KERNEL && p->bf16 && a->abf16) return &LINEAR_BF16;
  return &LINEAR_FP32;
}

/* One pre-norm block: x += ls1*attn(ln1(x)); x += ls2*mlp(ln2(x)). x is (B,T,D). */
static void block_forward(float *x, const linear_kind *lk, const block_ctx *c, int B) {
  const vit_layer_params *l = c->l;
  const vit_dims *d = c->d;
  vit_acts *a = c->a;
  int D = d->D, N = c->N, M = d->M;
  lk->qkv(c, lk->norm(c, x, l->ln1_w, l->ln1_b));
  lk->residual(c, LIN_O, x, lk->attention(c, B), l->o_b, l->ls1, D, D);

  const void *in = lk->norm(c, x, l->ln2_w, l->ln2_b);
  if (d->swiglu) {
    lk->linear(c, LIN_FC1, a->h, in, NULL, D, 2 * M, 0);
    swiglu_forward(a->hg, a->h, l->fc1_b, N, M, d->threads);
    lk->residual(c, LIN_FC2, x, a->hg, l->fc2_b, l->ls2, M, D);
  } else {
    lk->mlp(c, x, in);
  }
}

/* out (B,E) from the final residual stream x (B,T,D). */
static void head_forward(float *out, float *x, const vit_params *p, const vit_dims *d,
                         vit_acts *a, int B) {
  int D = d->D, T = d->T, threads = d->threads;
  float *cls = a->pooled; /* (B,D) */
  for (int b = 0; b < B; b++) memcpy(cls + (size_t)b * D, x + (size_t)b * T * D, D * sizeof(float));
  layernorm_forward(cls, cls, p->final_ln_w, p->final_ln_b, B, D, d->eps, threads);
  if (d->clip) {
    if (p->proj) matmul_forward(out, cls, p->proj, NULL, B, D, d->E, d->engine);
    else memcpy(out, cls, (size_t)B * D * sizeof(float));
    return;
  }
  if (!d->cls_mean) {
    memcpy(out, cls, (size_t)B * D * sizeof(float));
    return;
  }
  /* [CLS, mean over patch tokens of layernorm(x)]; registers excluded. */
  int first = 1 + d->R, np = T - first;
  layernorm_forward(x, x, p->final_ln_w, p->final_ln_b, B * T, D, d->eps, threads);
  for (int b = 0; b < B; b++) {
    float *o = out + (size_t)b * 2 * D;
    memcpy(o, cls + (size_t)b * D, D * sizeof(float));
    for (int c = 0; c < D; c++) {
      double s = 0;
      for (int t = first; t < T; t++) s += x[((size_t)b * T + t) * D + c];
      o[D + c] = (float)(s / np);
    }
  }
}

void vit_forward(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                 vit_acts *a, int B) {
  float *x = a->x;
  embeddings_forward(x, pixels, p, d, a, B);
  if (p->pre_ln_w)
    layernorm_forward(x, x, p->pre_ln_w, p->pre_ln_b, B * d->T, d->D, d->eps, d->threads);
  const linear_kind *lk = kind_of(p, d, a);
  for (int l = 0; l < d->L; l++) {
    block_ctx c = {&p->layers[l], p->bf16 ? &p->bf16[l] : NULL, p->prep ? &p->prep[l] : NULL,
                   d, a, B * d->T};
    block_forward(x, lk, &c, B);
  }
  head_forward(out, x, p, d, a, B);
}

void vit_forward_tokens(float *out, const float *pixels, const vit_params *p, const vit_dims *d,
                        vit_acts *a, int B, int last_k, int final_norm) {
  float *x = a->x;
  const int D = d->D, T = d->T, first = d->L - last_k;
  const size_t width = (size_t)last_k * D;
  embeddings_forward(x, pixels, p, d, a, B);
  if (p->pre_ln_w) layernorm_forward(x, x, p->pre_ln_w, p->pre_ln_b, B * T, D, d->eps, d->threads);
  const linear_kind *lk = kind_of(p, d, a);
  for (int l = 0; l < d->L; l++) {
    block_ctx c = {&p->layers[l], p->bf16 ? &p->bf16[l] : NULL, p->prep ? &p->prep[l] : NULL,
                   d, a, B * T};
    block_forward(x, lk, &c, B);
    if (l < first) continue;
    /* This layer's tokens, through the final layernorm when asked, into slot l - first. */
    const float *src = x;
    if (final_norm) {
      layernorm_forward(a->ln, x, p->final_ln_w, p->final_ln_b, B * T, D, d->eps, d->threads);
      src = a->ln;
    }
    for (size_t r = 0; r < (size_t)B * T; r++)
      memcpy(out + r * width + (size_t)(l - first) * D, src + r * D, D * sizeof(float));
  }
}

double vit_flops_per_image(const vit_dims *d) {
  double T = d->T, D = d->D, M = d->M, np = (double)d->GH * d->GW;
  double macs = np * D * 3.0 * d->P * d->P;           /* patch embedding */
  double mlp = d->swiglu ? T * D * 2 * M + T * M * D : 2 * T * D * M;
  macs += d->L * (4 * T * D * D + 2 * T * T * D + mlp); /* qkv+out, scores+values, MLP */
  if (d->clip && d->proj) macs += D * d->E;       /* projection */
  return 2 * macs;
}
