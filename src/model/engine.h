/* The execution context of the model kernels: every matrix product of the vision towers,
 * the text tower and the backward passes goes through one engine, chosen once at model
 * load. It owns the thread count, the precision, the backend's handles and a cache of
 * the products it has prepared (one per shape, created on first use).
 *
 *   C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N), then the epilogue of engine_epilogue
 *
 * Matrices are row-major with leading dimensions as in BLAS; transA/transB say that A is
 * stored as (K,M) or B as (N,K) (a linear layer's weight (OC,C) is B transposed). The
 * batched form names every stride explicitly, so a head's slice of a (B,T,C) tensor is
 * used in place.
 *
 * One backend implements this header (engine_onednn.c: oneDNN's matmul primitives, run on
 * the OpenMP runtime the rest of the library uses, so there is one thread pool). A second
 * backend is a second file implementing the same functions, chosen at build time.
 *
 * Thread-safety: calls on one engine are serialised by the engine (each product already
 * uses the engine's whole team); distinct engines may be used from distinct threads. */
#ifndef VFR_MODEL_ENGINE_H
#define VFR_MODEL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/model.h"

typedef struct vfr_engine vfr_engine;

/* Creates an engine running products on `threads` OpenMP threads (<= 0: the calling
 * thread's OpenMP default at each call) in `precision` (VFR_PRECISION_BF16: products
 * with bf16 inputs and fp32 accumulation where the caller asks for them, see
 * engine_gemm_lowp). Returns VFR_OK or an error naming the backend's failure. */
int engine_create(int threads, vfr_precision precision, vfr_engine **out, vfr_error *err);
void engine_free(vfr_engine *e);

/* What the backend dispatches to on this CPU, without an engine (engine_isa's string), and
 * whether that includes AMX tiles. */
const char *engine_cpu_isa(void);
int engine_cpu_has_amx(void);

/* The engine a loaded model runs on (owned by the model; its trainers use it too). */
vfr_engine *vfr_model_engine(const vfr_model *m);

/* The team size products run on (>= 1). */
int engine_threads(const vfr_engine *e);
vfr_precision engine_precision(const vfr_engine *e);
/* The backend ("onednn") and the instruction set it dispatches to ("avx512_core",
 * "avx512_core_amx", "avx2", ...); static strings. */
const char *engine_backend(const vfr_engine *e);
const char *engine_isa(const vfr_engine *e);
/* 1 when the CPU has AMX tiles the backend can use (then bf16 is the faster precision). */
int engine_has_amx(const vfr_engine *e);

/* What follows the product, per element (i,j) of C, in this order:
 *   t = alpha * sum_k A(i,k) B(k,j)
 *   t += bias[j]            (bias not NULL; then alpha must be 1)
 *   t = act(t)              (act 0: none, else a vfr_activation)
 *   t *= scale[j]           (scale not NULL)
 *   C(i,j) = t + accumulate * C(i,j)   (accumulate 0 or 1) */
typedef struct engine_epilogue {
  const float *bias;  /* (N) or NULL */
  int act;            /* 0 or a vfr_activation */
  const float *scale; /* (N) or NULL */
  int accumulate;     /* 1: add to C's previous contents */
} engine_epilogue;

/* C = alpha * op(A) @ op(B) with the epilogue ep (NULL: none). A is (M,K), or (K,M) with
 * transA; B is (K,N), or (N,K) with transB; C is (M,N); leading dimensions in elements. */
void engine_gemm(vfr_engine *e, int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                 int64_t ldc, const engine_epilogue *ep);

/* y = inp @ weight^T with ep, as nn.Linear: y is (N,OC) (leading dimension OC), inp is (N,C),
 * weight is (OC,C). In bf16 precision the product rounds inp and weight to bf16 and
 * accumulates in fp32; in fp32 precision it is engine_gemm. */
void engine_linear(vfr_engine *e, float *y, const float *inp, const float *weight, int N, int C,
                   int OC, const engine_epilogue *ep);

/* ---- linear layers with weights prepared at load -------------------------------------
 *
 * A linear layer's weight (OC,C) converted once (to bf16, or kept fp32) and reordered into
 * the blocked layout oneDNN's matmul picks for it (memory format `any`), so that each call
 * only runs the product. The handle owns the reordered copy and remembers `weight` (which
 * must outlive it) for the plain fallback of a product oneDNN refuses. */
typedef struct engine_weight engine_weight;

/* Which oneDNN implementation runs bf16 products on this CPU ("brg:avx512_core_amx",
 * "gemm:jit", ...; written into impl, n bytes). Returns 1 when it is a compiled kernel
 * (native or emulated bf16), 0 when oneDNN has only its reference loops or refuses bf16
 * (or VFROBUST_NO_BF16 is set: a CPU without bf16, for tests). */
int engine_bf16_probe(char *impl, size_t n);

/* Prepares weight (OC,C): bf16 1 rounds it to bf16 (nearest even), 0 keeps fp32; rows is
 * the typical number of rows of the products (the layout may depend on it). Returns VFR_OK,
 * or an error naming oneDNN's refusal (then *out is NULL). */
int engine_weight_prepare(vfr_engine *e, const float *weight, int OC, int C, int bf16, int rows,
                          engine_weight **out, vfr_error *err);
void engine_weight_free(engine_weight *w);
int engine_weight_bf16(const engine_weight *w);

/* y (N,OC) = inp (N,C) @ w^T with ep. inp is fp32 (inp_bf16 0; a bf16 weight's product
 * converts it), or bf16 rows (uint16_t, inp_bf16 1, bf16 weights only); y is fp32, or bf16
 * rounded after the epilogue (y_bf16 1; then ep->accumulate must be 0). */
void engine_linear_prepared(vfr_engine *e, void *y, int y_bf16, const void *inp, int inp_bf16,
                            const engine_weight *w, int N, const engine_epilogue *ep);

/* dst[i] = bf16(src[i]) (nearest even) for i < n, on the engine's team. */
void engine_to_bf16(vfr_engine *e, uint16_t *dst, const float *src, int64_t n);

/* Element (i,j) of matrix (b0,b1) of a strided batched operand lives at
 * data[b0 * batch0 + b1 * batch1 + i * row + j * col]. */
typedef struct engine_strides {
  int64_t batch0, batch1, row, col;
} engine_strides;

/* C[b0,b1] = alpha * A[b0,b1] (M,K) @ B[b0,b1] (K,N) (+ C[b0,b1] with accumulate) for
 * b0 < nb0, b1 < nb1; the strides of each operand as above. */
void engine_gemm_batched(vfr_engine *e, int nb0, int nb1, int M, int N, int K, float alpha,
                         const float *A, engine_strides sa, const float *B, engine_strides sb,
                         float *C, engine_strides sc, int accumulate);

/* engine_gemm_batched on bf16 operands A and B (uint16_t, the same strides in elements),
 * accumulated in fp32; C is fp32, or bf16 rounded to nearest even (c_bf16 1). */
void engine_gemm_batched_bf16(vfr_engine *e, int nb0, int nb1, int M, int N, int K, float alpha,
                              const uint16_t *A, engine_strides sa, const uint16_t *B,
                              engine_strides sb, void *C, engine_strides sc, int c_bf16);

/* ---- convolutions ------------------------------------------------------------------
 * 2-D convolutions on activations in the engine's blocked layout: (B, ceil(C/cb), H, W, cb),
 * cb = engine_conv_block(e) channels innermost (padding channels of the last block zero), or
 * planar (B, C, H, W) for an input marked so. y = act(conv(x, w) + bias [+ y]): with residual,
 * y holds the shortcut on entry and the sum comes before the ReLU. The backend picks the
 * algorithm (Winograd for 3x3 stride-1 where it has one) and reorders the weights once per
 * layout its kernels need, at the first run of each batch size. */
typedef struct engine_conv engine_conv;

typedef struct engine_conv_shape {
  int cin, cout, k, stride, pad; /* square kernel k x k, symmetric zero padding */
  int h, w;                      /* input size; output (h + 2 pad - k) / stride + 1 */
  int planar_input;              /* 1: x is (B, cin, h, w) */
  int relu;                      /* 1: ReLU last */
  int residual;                  /* 1: add y's previous contents before the ReLU */
} engine_conv_shape;

/* The channel block cb of the layout above (16 with AVX-512, else 8). */
int engine_conv_block(const vfr_engine *e);

/* A convolution of shape s with weights w (cout, cin, k, k) and bias b (cout), both the
 * caller's and read until engine_conv_free. Returns VFR_OK or an error naming the cause. */
int engine_conv_create(vfr_engine *e, const engine_conv_shape *s, const float *w, const float *b,
                       engine_conv **out, vfr_error *err);
/* y = the convolution of B images x, layouts as above. Errors: the backend refusing the
 * shape at this batch size, memory. */
int engine_conv_forward(vfr_engine *e, engine_conv *c, int B, const float *x, float *y,
                        vfr_error *err);
void engine_conv_free(engine_conv *c);

#endif
