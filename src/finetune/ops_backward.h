/* Backward passes of the vision-transformer kernels of model/ops.h (fp32): one x_backward per
 * x_forward, gradients accumulated, shapes in comments.
 *
 * Each `x_backward(dinp, dparams.., dout, inp, params.., sizes, threads)` ACCUMULATES
 * (+=) into its gradient outputs, so that a tensor used twice (the residual stream, a
 * shared parameter) collects the sum; callers zero gradients once per step. A gradient
 * pointer may be NULL when that gradient is not wanted (a frozen weight, the pixels),
 * unless a comment says otherwise. Gradient outputs never alias the inputs they are
 * computed from. None allocates; scratch is an argument. Threading is as in ops.h: the
 * matrix products run on the engine (dX = dY W and dW += dY^T X as products with
 * transposed operands, accumulated by the product itself), the rest on one OpenMP team of
 * `threads` (<= 0: OpenMP's default).
 *
 * The forward helpers named `*_forward_train` compute what the matching forward of
 * ops.h computes and also keep what the backward needs (layernorm statistics, the input
 * of an activation that ops.h would overwrite in place). */
#ifndef VFR_FINETUNE_OPS_BACKWARD_H
#define VFR_FINETUNE_OPS_BACKWARD_H

#include "model/config.h"
#include "model/engine.h"

/* ---- layernorm ------------------------------------------------------------------------ */

/* The forward that keeps mean and rstd is layernorm_forward_train in model/ops.h. */

/* dinp (N,C), dweight (C), dbias (C) += gradients of layernorm given dout (N,C), the
 * forward's inp (N,C), weight (C), and the mean, rstd (N) layernorm_forward_train stored. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean, const float *rstd,
                        int N, int C, int threads);

/* ---- linear layers -------------------------------------------------------------------- */

/* Backward of out = inp @ weight^T (+ bias) (matmul_forward and matmul_nobias_forward):
 *   dinp (N,C) += dout @ weight,  dweight (OC,C) += dout^T @ inp,  dbias (OC) += sum_n dout.
 * dout is (N,OC), inp is (N,C), weight is (OC,C). Each of dinp, dweight, dbias may be NULL.
 * The patch convolution is this with inp = the im2patch_forward matrix (B*GH*GW, 3*P*P)
 * and dinp = NULL: gradients with respect to the pixels are not needed for fine-tuning. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC, vfr_engine *eng);

/* ---- activations ---------------------------------------------------------------------- */

/* d act(x) / dx for the activations of ops.h. */
float quick_gelu_grad(float x);
float gelu_erf_grad(float x);
float gelu_tanh_grad(float x);
float silu_grad(float x);
float activation_grad(vfr_activation act, float x);

/* out = act(inp + bias): bias_activation_forward out of place, so that inp survives for the
 * backward. out, inp are (N,C) and must not alias; bias is (C). */
void bias_activation_forward_train(float *out, const float *inp, const float *bias, int N, int C,
                                   vfr_activation act, int threads);

/* dinp (N,C), dbias (C) += gradients of out = act(inp + bias) given dout (N,C),
 * the forward's inp (N,C) (before the bias) and bias (C). */
void bias_activation_backward(float *dinp, float *dbias, const float *dout, const float *inp,
                              const float *bias, int N, int C, vfr_activation act, int threads);

/* dinp (N,2H), dbias (2H) += gradients of swiglu_forward's
 * out = silu(inp[:, :H] + bias[:H]) * (inp[:, H:] + bias[H:]) given dout (N,H),
 * the forward's inp (N,2H) and bias (2H). */
void swiglu_backward(float *dinp, float *dbias, const float *dout, const float *inp,
                     const float *bias, int N, int H, int threads);

/* ---- residual with layer scale -------------------------------------------------------- */

/* Backward of residual_forward: x_out = x + (y + bias) * scale (scale NULL means 1).
 *   dx (N,C) += dout        (skipped when dx is NULL or dx == dout: the residual stream's
 *                             gradient passes through unchanged, in place)
 *   dy (N,C) += dout * scale,   dbias (C) += sum_n dout * scale,
 *   dscale (C) += sum_n dout * (y + bias)   (only when scale is not NULL).
 * dout, y are (N,C), bias is (C), scale is (C) or NULL. */
void residual_backward(float *dx, float *dy, float *dbias, float *dscale, const float *dout,
                       const float *y, const float *bias, const float *scale, int N, int C,
                       int threads);

/* ---- softmax and attention ------------------------------------------------------------ */

/* dinp (N,C) += gradient of a row softmax given dout (N,C) and the softmax output out (N,C):
 * dinp = out * (dout - sum_c dout * out). */
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C, int threads);

/* Floats of scratch attention_backward needs: 2 * attention_scratch_floats(B, T, NH). */
size_t attention_backward_scratch_floats(int B, int T, int NH);

/* Backward of attention_forward (same layout and hd^-0.5 scale): dq, dk, dv (B,T,C) +=
 * gradients given dout (B,T,C) and the forward's q, k, v (B,T,C), C = NH*hd. The
 * attention probabilities are recomputed as attention_forward computes them (the same
 * batched products over the same groups of images) rather than stored, so the training
 * forward needs nothing beyond q, k, v. scratch is attention_backward_scratch_floats(B, T,
 * NH) floats. dq, dk, dv must not be NULL. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                        const float *q, const float *k, const float *v, int B, int T, int C, int NH,
                        vfr_engine *eng);

/* ---- embeddings ----------------------------------------------------------------------- */

/* Backward of the token assembly of vit.c,
 *   x[b] = [cls + pos[0], registers (R rows, no position), patch[b] + pos[1:]]:
 *   dcls (D) += sum_b dx[b,0],   dregisters (R,D) += sum_b dx[b,1:1+R],
 *   dpos (1+G,D) += sum_b [dx[b,0], dx[b,1+R:]],   dpatch (B*G,D) += dx[b,1+R:].
 * dx is (B,T,D) with T = 1 + R + G. Any gradient pointer may be NULL. The patch bias (DINOv2)
 * is then matmul_backward's dbias of the patch convolution, fed with dpatch. */
void embeddings_backward(float *dpatch, float *dcls, float *dregisters, float *dpos,
                         const float *dx, int B, int T, int D, int R, int threads);

#endif
