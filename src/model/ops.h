/* Transformer kernels for the vision and text towers (forward passes, fp32; the linear
 * layers also in bf16).
 *
 * The matrix products run on an engine (engine.h: the execution context chosen at load,
 * owning the thread team and the backend's primitives), with their bias, activation,
 * layer scale and residual fused into the product where the engine can; the other
 * kernels are plain loop nests on one OpenMP team of `threads` threads (<= 0: OpenMP's
 * default), the same runtime the engine uses. None allocates. Shapes are given in
 * comments: N is a number of rows (tokens, B*T), C a width. */
#ifndef VFR_MODEL_OPS_H
#define VFR_MODEL_OPS_H

#include <stdint.h>

#include "model/config.h"
#include "model/engine.h"
#include "model/gemm_bf16.h"
#include "model/vec_math.h"

/* out = (inp - mean) / sqrt(var + eps) * weight + bias, per row; biased variance.
 * out, inp are (N,C) (may alias), weight, bias are (C). */
void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                       int C, float eps, int threads);
/* layernorm_forward that also stores each row's mean and 1/sqrt(var + eps) for the
 * backward (finetune/ops_backward.h). mean, rstd are (N), or NULL; with them, out and inp
 * must not alias (the backward needs inp). */
void layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int N, int C, float eps,
                             int threads);
/* r = act(r + bias) over one row of n (bias may be NULL; act 0: none, else a
 * vfr_activation), one pass over r; isa: the vec_math path for bias, quick_gelu and gelu. */
void activation_row(float *r, const float *bias, int n, int act, vm_isa isa);

/* layernorm_forward rounded to bf16 (vm_bf16): out (N,C) bf16; tmp (N,C) fp32 scratch
 * receives the fp32 rows (it may alias inp). */
void layernorm_forward_bf16(uint16_t *out, float *tmp, const float *inp, const float *weight,
                            const float *bias, int N, int C, float eps, int threads);

/* out = inp @ weight^T (+ bias when bias is not NULL), as nn.Linear.
 * out is (N,OC), inp is (N,C), weight is (OC,C), bias is (OC) or NULL. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, vfr_engine *eng);

/* out = inp @ weight^T with no bias (the bias is applied by a later epilogue).
 * out is (N,OC), inp is (N,C), weight is (OC,C). */
void matmul_nobias_forward(float *out, const float *inp, const float *weight, int N, int C, int OC,
                           vfr_engine *eng);

/* Linear layers with their epilogue fused into the product (engine_epilogue):
 *   linear_forward:          out = act(inp @ weight^T + bias)  (act 0: none)
 *   linear_qkv_forward:      q, k, v = inp @ {wq,wk,wv}^T + {bq,bk,bv}  (biases may be NULL)
 *   linear_residual_forward: x += (inp @ weight^T + bias) * scale  (scale NULL: 1)
 * The bias, layer scale and residual are the engine's post-ops (the same fp32 operations
 * as residual_forward); the activation is ours, applied right after the product: the
 * engine's (oneDNN's gelu_erf, swish) differ from quick_gelu/gelu_erf/gelu_tanh below in
 * the last bits, and the training forward (finetune/vit_backward.c), which keeps the
 * pre-activation for its backward, must give the inference forward's result bit for bit.
 * out, q, k, v, x are (N,OC), inp is (N,C), weights are (OC,C), bias, scale are (OC). */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int act, vfr_engine *eng);
void linear_qkv_forward(float *q, float *k, float *v, const float *inp, const float *wq,
                        const float *bq, const float *wk, const float *bk, const float *wv,
                        const float *bv, int N, int C, int OC, vfr_engine *eng);
void linear_residual_forward(float *x, const float *inp, const float *weight, const float *bias,
                             const float *scale, int N, int C, int OC, vfr_engine *eng);

/* The same three layers in bf16 (only where bf16_cpu_supported()): the weights packed for
 * gemm_bf16, inp rounded to bf16 once per call into abuf (N, bf16_row_width(C)), each tile
 * a bf16 product with fp32 accumulation; bias, activation, scale and residual in fp32;
 * y is scratch of (N,OC) holding the product. */
void linear_forward_bf16(float *out, const float *inp, const bf16_weight *weight,
                         const float *bias, uint16_t *abuf, int N, int C, int OC, int act,
                         int threads);
void linear_qkv_forward_bf16(float *q, float *k, float *v, const float *inp,
                             const bf16_weight *wq, const float *bq, const bf16_weight *wk,
                             const float *bk, const bf16_weight *wv, const float *bv,
                             uint16_t *abuf, int N, int C, int OC, int threads);
void linear_residual_forward_bf16(float *x, float *y, const float *inp, const bf16_weight *weight,
                                  const float *bias, const float *scale, uint16_t *abuf, int N,
                                  int C, int OC, int threads);

/* The activations, elementwise. */
float quick_gelu(float x); /* x * sigmoid(1.702 x) */
float gelu_erf(float x);   /* x * 0.5 * (1 + erf(x / sqrt 2)) */
float gelu_tanh(float x);  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
float silu(float x);       /* x * sigmoid(x) */
float activation_apply(vfr_activation act, float x);

/* inout = act(inout + bias), fused epilogue of the first MLP layer.
 * inout is (N,C), bias is (C). */
void bias_activation_forward(float *inout, const float *bias, int N, int C, vfr_activation act,
                             int threads);

/* SwiGLU: out = silu(inp[:, :H] + bias[:H]) * (inp[:, H:] + bias[H:]).
 * out is (N,H), inp is (N,2H), bias is (2H). */
void swiglu_forward(float *out, const float *inp, const float *bias, int N, int H, int threads);

/* Residual with optional layer scale: x += (y + bias) * scale.
 * x, y are (N,C), bias is (C), scale is (C) or NULL (then 1). */
void residual_forward(float *x, const float *y, const float *bias, const float *scale, int N, int C,
                      int threads);

/* Row softmax in place, max-subtracted, accumulated in double then stored as float.
 * x is (N,C). */
void softmax_forward(float *x, int N, int C, int threads);

/* Multi-head self-attention without the projections:
 * out[b,t,h*hd:(h+1)*hd] = softmax(q_h k_h^T * hd^-0.5) v_h per batch element and head.
 * out, q, k, v are (B,T,C) with C = NH*hd; att is scratch of attention_scratch_floats(B,T,NH)
 * floats: the scores of as many images as fit 16 MB (at least one), (nb,NH,T,T), each
 * group two batched products on the heads in place with the row softmax between them. */
size_t attention_scratch_floats(int B, int T, int NH);
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int C, int NH, vfr_engine *eng);
/* attention_forward on bf16 q, k, v (B,T,C): the scores in fp32 (att), their softmax rounded
 * to bf16 into p16 (attention_scratch_floats(B,T,NH) elements), out (B,T,C) bf16 = p16 @ v
 * accumulated in fp32 and rounded. */
void attention_forward_bf16(uint16_t *out, float *att, uint16_t *p16, const uint16_t *q,
                            const uint16_t *k, const uint16_t *v, int B, int T, int C, int NH,
                            vfr_engine *eng);

/* Patch extraction for a convolution with kernel == stride == P (no padding):
 * out[b*GH*GW + gy*GW + gx, c*P*P + ky*P + kx] = inp[b, c, gy*P + ky, gx*P + kx].
 * out is (B*GH*GW, CH*P*P), inp is (B,CH,H,W) with GH = H/P, GW = W/P. */
void im2patch_forward(float *out, const float *inp, int B, int CH, int H, int W, int P,
                      int threads);

#endif
