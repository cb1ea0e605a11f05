/* Transformer kernels: layernorm, linear layers through the engine (or the bf16 kernel of
 * gemm_bf16.c), activations, attention, softmax, residuals and patch extraction. Shapes
 * are documented in ops.h. */
#include "model/ops.h"
#include "model/gemm_amx.h"
#include "model/vec_math.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* OpenMP's num_threads clause wants a positive count; 0 means "let OpenMP choose". */
#define OMP_THREADS(t) ((t) > 0 ? (t) : omp_default_threads())

#ifdef _OPENMP
#include <omp.h>
static int omp_default_threads(void) { return omp_get_max_threads(); }
#else
static int omp_default_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif

/* Built for AVX-512 and AVX2 too (chosen at load time; no FMA: ISO C does not contract);
 * static, so that GCC exports no dispatcher. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VFR_OPS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VFR_OPS_CLONES
#endif

/* One row of layernorm: o (C) = (x - mean) * rstd * weight + bias. The sums are double
 * lanes added in any order (omp simd), so they vectorise. */
VFR_OPS_CLONES static void layernorm_row(float *o, float *mean, float *rstd, const float *x,
                                         const float *weight, const float *bias, int C,
                                         float eps) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < C; c++) sum += x[c];
  double mu = sum / C;
  double var = 0.0;
#pragma omp simd reduction(+ : var)
  for (int c = 0; c < C; c++) {
    double d = x[c] - mu;
    var += d * d;
  }
  var /= C;
  float rs = (float)(1.0 / sqrt(var + (double)eps));
  float m = (float)mu;
#pragma omp simd
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * rs * weight[c] + bias[c];
  if (mean) *mean = m;
  if (rstd) *rstd = rs;
}

void layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int N, int C, float eps,
                             int threads) {
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++)
    layernorm_row(out + (size_t)n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL,
                  inp + (size_t)n * C, weight, bias, C, eps);
}

void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                       int C, float eps, int threads) {
  layernorm_forward_train(out, NULL, NULL, inp, weight, bias, N, C, eps, threads);
}

void layernorm_forward_bf16(uint16_t *out, float *tmp, const float *inp, const float *weight,
                            const float *bias, int N, int C, float eps, int threads) {
  vm_isa isa = vm_isa_best();
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) {
    float *row = tmp + (size_t)n * C;
    layernorm_row(row, NULL, NULL, inp + (size_t)n * C, weight, bias, C, eps);
    vm_bf16_row(isa, out + (size_t)n * C, row, C);
  }
}

void matmul_nobias_forward(float *out, const float *inp, const float *weight, int N, int C, int OC,
                           vfr_engine *eng) {
  engine_linear(eng, out, inp, weight, N, C, OC, NULL);
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, vfr_engine *eng) {
  engine_epilogue ep = {bias, 0, NULL, 0};
  engine_linear(eng, out, inp, weight, N, C, OC, &ep);
}

/* A static copy the swiglu loop inlines (the exported functions below cannot be inlined in
 * a shared library: they could be interposed). */
VFR_VECTOR_MATH static inline float silu_inl(float x) { return x / (1.0f + vm_expf(-x)); }

/* quick_gelu and gelu_erf run the operations of the vec_math row kernels, so they are
 * bit-identical to the fused epilogues (the backward recomputes through them). */
float quick_gelu(float x) { return vm_quick_gelu1(x); }

float gelu_erf(float x) { return vm_gelu_erf1(x); }

float gelu_tanh(float x) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

float silu(float x) { return silu_inl(x); }

float activation_apply(vfr_activation act, float x) {
  switch (act) {
  case VFR_ACT_GELU: return gelu_erf(x);
  case VFR_ACT_GELU_TANH: return gelu_tanh(x);
  case VFR_ACT_RELU: return x > 0 ? x : 0;
  case VFR_ACT_QUICK_GELU:
  default: return quick_gelu(x);
  }
}

void activation_row(float *r, const float *bias, int n, int act, vm_isa isa) {
  switch (act) {
  case 0: vm_bias_row(isa, r, bias, n); break;
  case VFR_ACT_RELU:
    for (int c = 0; c < n; c++) {
      float t = bias ? r[c] + bias[c] : r[c];
      r[c] = t > 0 ? t : 0;
    }
    break;
  case VFR_ACT_GELU: vm_bias_gelu_erf_row(isa, r, bias, n); break;
  case VFR_ACT_GELU_TANH:
    if (bias)
      for (int c = 0; c < n; c++) r[c] = gelu_tanh(r[c] + bias[c]);
    else
      for (int c = 0; c < n; c++) r[c] = gelu_tanh(r[c]);
    break;
  case VFR_ACT_QUICK_GELU:
  default: vm_bias_quick_gelu_row(isa, r, bias, n); break;
  }
}

/* o = silu(x1 + b1) * (x2 + b2) over one row of n. */
VFR_VECTOR_MATH static void swiglu_row(float *o, const float *x1, const float *x2, const float *b1,
                                       const float *b2, int n) {
#pragma omp simd
  for (int c = 0; c < n; c++) o[c] = silu_inl(x1[c] + b1[c]) * (x2[c] + b2[c]);
}

void bias_activation_forward(float *inout, const float *bias, int N, int C, vfr_activation act,
                             int threads) {
  vm_isa isa = vm_isa_best();
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) activation_row(inout + (size_t)n * C, bias, C, (int)act, isa);
}

void swiglu_forward(float *out, const float *inp, const float *bias, int N, int H, int threads) {
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) {
    const float *x1 = inp + (size_t)n * 2 * H;
    swiglu_row(out + (size_t)n * H, x1, x1 + H, bias, bias + H, H);
  }
}

void residual_forward(float *x, const float *y, const float *bias, const float *scale, int N, int C,
                      int threads) {
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) {
    float *xr = x + (size_t)n * C;
    const float *yr = y + (size_t)n * C;
    if (scale)
      for (int c = 0; c < C; c++) xr[c] += (yr[c] + bias[c]) * scale[c];
    else
      for (int c = 0; c < C; c++) xr[c] += yr[c] + bias[c];
  }
}

void softmax_forward(float *x, int N, int C, int threads) {
  vm_isa isa = vm_isa_best();
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) vm_softmax_row(isa, x + (size_t)n * C, C);
}

/* ---- linear layers on the engine ----------------------------------------------- */

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC, int act, vfr_engine *eng) {
  engine_epilogue ep = {bias, 0, NULL, 0};
  engine_linear(eng, out, inp, weight, N, C, OC, &ep);
  if (!act) return;
  /* our activation, not the engine's: bit-identical to the scalar functions the training
   * forward applies and its backward differentiates */
  vm_isa isa = vm_isa_best();
#pragma omp parallel for num_threads(engine_threads(eng)) schedule(static)
  for (int n = 0; n < N; n++) activation_row(out + (size_t)n * OC, NULL, OC, act, isa);
}

void linear_qkv_forward(float *q, float *k, float *v, const float *inp, const float *wq,
                        const float *bq, const float *wk, const float *bk, const float *wv,
                        const float *bv, int N, int C, int OC, vfr_engine *eng) {
  matmul_forward(q, inp, wq, bq, N, C, OC, eng);
  matmul_forward(k, inp, wk, bk, N, C, OC, eng);
  matmul_forward(v, inp, wv, bv, N, C, OC, eng);
}

void linear_residual_forward(float *x, const float *inp, const float *weight, const float *bias,
                             const float *scale, int N, int C, int OC, vfr_engine *eng) {
  engine_epilogue ep = {bias, 0, scale, 1};
  engine_linear(eng, x, inp, weight, N, C, OC, &ep);
}

/* ---- bf16 linear layers with fused epilogues ------------------------------------ */

/* The output (N,OC) of a fused linear layer is cut into tiles shared by the team: row
 * blocks of 256 when N is large (so each tile's packed inputs stay small), column chunks
 * >= 64 wide and 16-aligned, about four tiles per thread; one tile when the product is
 * small or the team is one thread. */
typedef struct tiling { int rows, cols, n_row_blocks, n_col_chunks; } tiling;

/* Below this many multiply-adds a product runs on one thread. */
#define GEMM_SPLIT_MIN 2e6

static tiling make_tiling(int N, int C, int OC, int nt) {
  tiling t = {N, OC, 1, 1};
  if (nt <= 1 || (double)N * C * OC < GEMM_SPLIT_MIN) return t;
  if (N > 512) t.rows = 256, t.n_row_blocks = (N + 255) / 256;
  int want = (4 * nt + t.n_row_blocks - 1) / t.n_row_blocks; /* column chunks wanted */
  int chunk = (OC + want - 1) / want;
  chunk = chunk < 64 ? 64 : (chunk + 15) / 16 * 16;
  if (chunk > OC) chunk = OC;
  t.cols = chunk;
  t.n_col_chunks = (OC + chunk - 1) / chunk;
  return t;
}

typedef struct tile { int r0, r1, o0, o1; } tile;

static tile tile_at(const tiling *t, int j, int N, int OC) {
  tile b;
  b.r0 = (j / t->n_col_chunks) * t->rows;
  b.r1 = b.r0 + t->rows < N ? b.r0 + t->rows : N;
  b.o0 = (j % t->n_col_chunks) * t->cols;
  b.o1 = b.o0 + t->cols < OC ? b.o0 + t->cols : OC;
  return b;
}

/* A linear layer's weight as the tiles use it: packed for gemm_bf16, with the layer's
 * input already rounded into abuf (N, bf16_row_width(C)). */
typedef struct lin_weight {
  const bf16_weight *bf16;
  const uint16_t *abuf;
} lin_weight;

/* y[r0:r1, o0:o1] = inp[r0:r1] @ weight[o0:o1]^T, y is (N,OC). */
static void gemm_tile(float *y, const float *inp, lin_weight w, int C, int OC, tile b) {
  (void)inp, (void)C;
  gemm_bf16(y, OC, w.abuf, w.bf16, b.r0, b.r1, b.o0, b.o1);
}

/* abuf (N, bf16_row_width(C)) = bf16(inp (N,C)), rows shared by the team. */
static void round_inputs(uint16_t *abuf, const float *inp, int N, int C, int nt) {
  int n_blocks = (N + 63) / 64;
#pragma omp parallel for num_threads(nt) schedule(static) if (n_blocks > 1)
  for (int j = 0; j < n_blocks; j++)
    bf16_round_rows(abuf, inp, C, j * 64, (j + 1) * 64 < N ? (j + 1) * 64 : N);
}

/* out[tile] = act(out[tile] + bias[cols]) */
static void epilogue_bias_act(float *out, const float *bias, int OC, tile b, int act) {
  vm_isa isa = vm_isa_best();
  for (int n = b.r0; n < b.r1; n++)
    activation_row(out + (size_t)n * OC + b.o0, bias ? bias + b.o0 : NULL, b.o1 - b.o0, act, isa);
}

static void linear_any(float *out, const float *inp, lin_weight w, const float *bias, int N,
                       int C, int OC, int act, int nt) {
  tiling t = make_tiling(N, C, OC, nt);
  int n_tiles = t.n_row_blocks * t.n_col_chunks;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (n_tiles > 1)
  for (int j = 0; j < n_tiles; j++) {
    tile b = tile_at(&t, j, N, OC);
    gemm_tile(out, inp, w, C, OC, b);
    epilogue_bias_act(out, bias, OC, b, act);
  }
}

void linear_forward_bf16(float *out, const float *inp, const bf16_weight *weight,
                         const float *bias, uint16_t *abuf, int N, int C, int OC, int act,
                         int threads) {
  int nt = OMP_THREADS(threads);
  round_inputs(abuf, inp, N, C, nt);
  lin_weight w = {weight, abuf};
  linear_any(out, inp, w, bias, N, C, OC, act, nt);
}

static void linear_qkv_any(float *q, float *k, float *v, const float *inp, const lin_weight ws[3],
                           const float *bq, const float *bk, const float *bv, int N, int C,
                           int OC, int nt) {
  tiling t = make_tiling(N, C, OC, nt); /* the same tiles in each of the three outputs */
  int per = t.n_row_blocks * t.n_col_chunks;
  float *outs[3] = {q, k, v};
  const float *bs[3] = {bq, bk, bv};
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (per > 1)
  for (int j = 0; j < 3 * per; j++) {
    int m = j / per;
    tile b = tile_at(&t, j % per, N, OC);
    gemm_tile(outs[m], inp, ws[m], C, OC, b);
    epilogue_bias_act(outs[m], bs[m], OC, b, 0);
  }
}

void linear_qkv_forward_bf16(float *q, float *k, float *v, const float *inp,
                             const bf16_weight *wq, const float *bq, const bf16_weight *wk,
                             const float *bk, const bf16_weight *wv, const float *bv,
                             uint16_t *abuf, int N, int C, int OC, int threads) {
  int nt = OMP_THREADS(threads);
  round_inputs(abuf, inp, N, C, nt); /* once for the three products */
  lin_weight ws[3] = {{wq, abuf}, {wk, abuf}, {wv, abuf}};
  linear_qkv_any(q, k, v, inp, ws, bq, bk, bv, N, C, OC, nt);
}

static void linear_residual_any(float *x, float *y, const float *inp, lin_weight w,
                                const float *bias, const float *scale, int N, int C, int OC,
                                int nt) {
  tiling t = make_tiling(N, C, OC, nt);
  int n_tiles = t.n_row_blocks * t.n_col_chunks;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (n_tiles > 1)
  for (int j = 0; j < n_tiles; j++) {
    tile b = tile_at(&t, j, N, OC);
    gemm_tile(y, inp, w, C, OC, b);
    for (int n = b.r0; n < b.r1; n++) {
      float *xr = x + (size_t)n * OC;
      const float *yr = y + (size_t)n * OC;
      if (scale)
        for (int c = b.o0; c < b.o1; c++) xr[c] += (yr[c] + bias[c]) * scale[c];
      else
        for (int c = b.o0; c < b.o1; c++) xr[c] += yr[c] + bias[c];
    }
  }
}

void linear_residual_forward_bf16(float *x, float *y, const float *inp, const bf16_weight *weight,
                                  const float *bias, const float *scale, uint16_t *abuf, int N,
                                  int C, int OC, int threads) {
  int nt = OMP_THREADS(threads);
  round_inputs(abuf, inp, N, C, nt);
  lin_weight w = {weight, abuf};
  linear_residual_any(x, y, inp, w, bias, scale, N, C, OC, nt);
}

/* Images whose scores one pass holds: the (NH,T,T) scores of each, within
 * ATTENTION_SCRATCH_FLOATS (16 MB), at least one. */
enum { ATTENTION_SCRATCH_FLOATS = 1 << 22 };

static int attention_images(int B, int T, int NH) {
  size_t per = (size_t)NH * T * T;
  size_t n = ATTENTION_SCRATCH_FLOATS / per;
  if (n < 1) n = 1;
  return n < (size_t)B ? (int)n : B;
}

size_t attention_scratch_floats(int B, int T, int NH) {
  return (size_t)attention_images(B, T, NH) * NH * T * T;
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int C, int NH, vfr_engine *eng) {
  int hd = C / NH, chunk = attention_images(B, T, NH);
  float scale = 1.0f / sqrtf((float)hd);
  vm_isa isa = vm_isa_best();
  /* head h of image b: rows T apart by C, starting at b*T*C + h*hd; k_h^T swaps the
   * strides; scores (b,h) are dense (T,T) matrices */
  engine_strides heads = {(int64_t)T * C, hd, C, 1}, heads_t = {(int64_t)T * C, hd, 1, C};
  engine_strides scores = {(int64_t)NH * T * T, (int64_t)T * T, T, 1};
  for (int b0 = 0; b0 < B; b0 += chunk) {
    int nb = B - b0 < chunk ? B - b0 : chunk;
    size_t off = (size_t)b0 * T * C;
    engine_gemm_batched(eng, nb, NH, T, T, hd, scale, q + off, heads, k + off, heads_t, att,
                        scores, 0);
    int rows = nb * NH * T;
#pragma omp parallel for num_threads(engine_threads(eng)) schedule(static)
    for (int r = 0; r < rows; r++) vm_softmax_row(isa, att + (size_t)r * T, T);
    engine_gemm_batched(eng, nb, NH, T, hd, T, 1.0f, att, scores, v + off, heads, out + off,
                        heads, 0);
  }
}

void attention_forward_bf16(uint16_t *out, float *att, uint16_t *p16, const uint16_t *q,
                            const uint16_t *k, const uint16_t *v, int B, int T, int C, int NH,
                            vfr_engine *eng) {
  int hd = C / NH, chunk = attention_images(B, T, NH);
  float scale = 1.0f / sqrtf((float)hd);
  /* on AMX, each (image, head) whole in one thread's L2 (gemm_amx.h) */
  if (engine_has_amx(eng) && amx_cpu_supported() &&
      amx_attention(out, q, k, v, B, T, C, NH, scale, engine_threads(eng), att,
                    attention_scratch_floats(B, T, NH) * sizeof(float)) == 0)
    return;
  vm_isa isa = vm_isa_best();
  engine_strides heads = {(int64_t)T * C, hd, C, 1}, heads_t = {(int64_t)T * C, hd, 1, C};
  engine_strides scores = {(int64_t)NH * T * T, (int64_t)T * T, T, 1};
  for (int b0 = 0; b0 < B; b0 += chunk) {
    int nb = B - b0 < chunk ? B - b0 : chunk;
    size_t off = (size_t)b0 * T * C;
    engine_gemm_batched_bf16(eng, nb, NH, T, T, hd, scale, q + off, heads, k + off, heads_t, att,
                             scores, 0);
    int rows = nb * NH * T;
#pragma omp parallel for num_threads(engine_threads(eng)) schedule(static)
    for (int r = 0; r < rows; r++)
      vm_softmax_row_bf16(isa, att + (size_t)r * T, p16 + (size_t)r * T, T);
    engine_gemm_batched_bf16(eng, nb, NH, T, hd, T, 1.0f, p16, scores, v + off, heads,
                             out + off, heads, 1);
  }
}

void im2patch_forward(float *out, const float *inp, int B, int CH, int H, int W, int P,
                      int threads) {
  int GH = H / P, GW = W / P;
  int K = CH * P * P;
#pragma omp parallel for collapse(2) num_threads(OMP_THREADS(threads)) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int gy = 0; gy < GH; gy++) {
      for (int gx = 0; gx < GW; gx++) {
        float *o = out + ((size_t)b * GH * GW + (size_t)gy * GW + gx) * K;
        for (int c = 0; c < CH; c++) {
          for (int ky = 0; ky < P; ky++) {
            const float *src = inp + (((size_t)b * CH + c) * H + (size_t)gy * P + ky) * W +
                               (size_t)gx * P;
            float *dst = o + ((size_t)c * P + ky) * P;
            for (int kx = 0; kx < P; kx++) dst[kx] = src[kx];
          }
        }
      }
    }
  }
}
