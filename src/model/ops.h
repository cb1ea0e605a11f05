/* Transformer kernels for the vision towers (forward passes, fp32; the linear layers
 * also in bf16).
 *
 * Every function is a plain loop nest or OpenBLAS sgemm calls, parallelised with one
 * OpenMP team of `threads` threads (<= 0: OpenMP's default); none allocates. The gemms
 * are split across the team, each thread calling a single-threaded sgemm on its slice:
 * callers run these with OpenBLAS's own threading at 1, so that two thread pools never
 * spin against each other. Shapes are given in comments: N is a number of rows
 * (tokens, B*T), C a width. */
#ifndef VFR_MODEL_OPS_H
#define VFR_MODEL_OPS_H

#include <stdint.h>

#include "model/config.h"
#include "model/gemm_bf16.h"

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

/* out = inp @ weight^T (+ bias when bias is not NULL), as nn.Linear.
 * out is (N,OC), inp is (N,C), weight is (OC,C), bias is (OC) or NULL. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int threads);

/* out = inp @ weight^T with no bias (the bias is applied by a fused epilogue).
 * out is (N,OC), inp is (N,C), weight is (OC,C). */
void matmul_nobias_forward(float *out, const float *inp, const float *weight, int N, int C, int OC,
                           int threads);

/* Linear layers with their epilogue fused per chunk of output columns, each chunk's
 * sgemm followed at once by its epilogue while the chunk is in cache, the chunks shared
 * dynamically by the team (one parallel region per call):
 *   linear_forward:          out = act(inp @ weight^T + bias)  (act 0: none)
 *   linear_qkv_forward:      q, k, v = inp @ {wq,wk,wv}^T + {bq,bk,bv}  (biases may be NULL)
 *   linear_residual_forward: x += (inp @ weight^T + bias) * scale  (scale NULL: 1); y is
 *                            scratch of (N,OC) holding the product.
 * out, q, k, v, x, y are (N,OC), inp is (N,C), weights are (OC,C), bias, scale are (OC). */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int act, int threads);
void linear_qkv_forward(float *q, float *k, float *v, const float *inp, const float *wq,
                        const float *bq, const float *wk, const float *bk, const float *wv,
                        const float *bv, int N, int C, int OC, int threads);
void linear_residual_forward(float *x, float *y, const float *inp, const float *weight,
                             const float *bias, const float *scale, int N, int C, int OC,
                             int threads);

/* The same three layers in bf16 (only where bf16_cpu_supported()): the weights packed for
 * gemm_bf16, inp rounded to bf16 once per call into abuf (N, bf16_row_width(C)), each tile
 * a bf16 product with fp32 accumulation; bias, activation, scale and residual in fp32. */
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
 * out, q, k, v are (B,T,C) with C = NH*hd; att is scratch of (attention_threads(threads),T,T):
 * the (b,h) pairs are shared among the threads, one score matrix each. */
int attention_threads(int threads);
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int C, int NH, int threads);

/* Patch extraction for a convolution with kernel == stride == P (no padding):
 * out[b*GH*GW + gy*GW + gx, c*P*P + ky*P + kx] = inp[b, c, gy*P + ky, gx*P + kx].
 * out is (B*GH*GW, CH*P*P), inp is (B,CH,H,W) with GH = H/P, GW = W/P. */
void im2patch_forward(float *out, const float *inp, int B, int CH, int H, int W, int P,
                      int threads);

#endif
