/* bf16 linear layers on AMX tiles (Intel Advanced Matrix Extensions), fp32 accumulation:
 *
 *   t[r, o] = sum_k a[r, k] * w[o, k]         a, w bf16; products exact, sums in fp32
 *   y[r, o] = epilogue(t[r, o])               bias, activation, scale, accumulate, rounding
 *
 * Measured faster than oneDNN 2.6's AMX matmul at the vision towers' shapes (docs/engine.md),
 * so the engine runs a prepared bf16 weight on it where the CPU has AMX and the shape fits
 * (C and OC multiples of 32, amx_linear_fits); everything else stays on oneDNN.
 *
 * Packed weight: 16 output columns x 32 inputs per 1 KiB tile, in the pair-interleaved
 * ("VNNI") order the tile product reads:
 *   data[((ob * KB + kb) * 16 + kp) * 32 + j * 2 + e] = bf16(w[ob*16 + j, kb*32 + 2*kp + e])
 * for ob < OC/16, kb < KB = C/32, kp < 16, j < 16, e < 2.
 *
 * The caller must have asked Linux for the tile state (the engine does, at creation) and
 * must only call amx_linear where amx_cpu_supported() is 1. */
#ifndef VFR_MODEL_GEMM_AMX_H
#define VFR_MODEL_GEMM_AMX_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU has AMX-BF16 tiles, the OS saves their state and this process may use it. */
int amx_cpu_supported(void);

/* 1 when a (OC,C) weight can run on the AMX kernel. */
static inline int amx_linear_fits(int OC, int C) {
  return OC > 0 && C > 0 && OC % 32 == 0 && C % 32 == 0;
}

typedef struct amx_weight {
  uint16_t *data; /* the packed tiles (layout above), 64-byte aligned */
  int OC, C;
} amx_weight;

/* Packs weight (OC,C) fp32, rounded to bf16 (nearest even). OC, C must fit. Returns 0, or -1
 * when out of memory. */
int amx_weight_pack(amx_weight *w, const float *weight, int OC, int C);
void amx_weight_free(amx_weight *w);

/* What follows the product, per element, in this order (as engine_epilogue):
 *   t += bias[o]; t = act(t) (0: none, else a vfr_activation); t *= scale[o];
 *   y = t + accumulate * y, rounded to bf16 when y is bf16 (then accumulate is 0). */
typedef struct amx_epilogue {
  const float *bias;  /* (OC) or NULL */
  int act;
  const float *scale; /* (OC) or NULL */
  int accumulate;
} amx_epilogue;

/* y (N,OC) = epilogue(a (N,C) bf16 @ w^T) on `threads` OpenMP threads; y is fp32, or bf16
 * (y_bf16 1). Works in `scratch` (any alignment, `scratch_bytes` long) when that holds
 * amx_linear_scratch_bytes(w, N, threads) + 63 bytes, else in a buffer of its own. Returns
 * 0, or -1 when out of memory (then y is untouched). */
size_t amx_linear_scratch_bytes(const amx_weight *w, int N, int threads);
int amx_linear(void *y, int y_bf16, const uint16_t *a, const amx_weight *w, int N,
               const amx_epilogue *ep, int threads, void *scratch, size_t scratch_bytes);

/* Attention on bf16 operands for B images of T tokens, NH heads of hd = C / NH columns
 * (hd a multiple of 32): for each image and head h, with q_h, k_h, v_h (T,hd) the head's
 * columns of q, k, v (B,T,C) bf16,
 *   s = scale * q_h k_h^T       fp32 (tile products, fp32 sums)
 *   p = bf16(softmax(s))        per row, vm_softmax_row_bf16
 *   out_h = bf16(p v_h)         fp32 sums, rounded
 * into out (B,T,C) bf16 at the head's columns; each (image, head) stays in its thread's L2.
 * Scratch as amx_linear's, amx_attention_scratch_bytes(T, C, NH, threads) + 63 bytes.
 * Returns 0, or -1 when out of memory or hd does not fit (then out is untouched). */
size_t amx_attention_scratch_bytes(int T, int C, int NH, int threads);
int amx_attention(uint16_t *out, const uint16_t *q, const uint16_t *k, const uint16_t *v, int B,
                  int T, int C, int NH, float scale, int threads, void *scratch,
                  size_t scratch_bytes);

#endif
