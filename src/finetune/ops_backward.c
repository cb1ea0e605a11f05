/* Backward passes of the transformer kernels (see ops_backward.h for shapes).
 *
 * Kernels that sum over rows into a per-column gradient (a bias, a layernorm weight, a
 * layer scale) split the COLUMNS among the threads: each thread walks every row over its
 * own column slice, so no two threads write the same gradient element and the sums do not
 * depend on the thread count. The matrix products are the engine's: deterministic for a
 * given thread count, not across thread counts. */
#include "finetune/ops_backward.h"

#include <math.h>
#include <stddef.h>

#include "model/ops.h"

#define OMP_THREADS(t) ((t) > 0 ? (t) : omp_default_threads())

#ifdef _OPENMP
#include <omp.h>
static int omp_default_threads(void) { return omp_get_max_threads(); }
#else
static int omp_default_threads(void) { return 1; }
static int omp_get_num_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif

/* This thread's slice [*c0, *c1) of C columns, inside a parallel region. */
static void column_slice(int C, int *c0, int *c1) {
  int n = omp_get_num_threads(), t = omp_get_thread_num();
  int chunk = (C + n - 1) / n;
  *c0 = t * chunk < C ? t * chunk : C;
  *c1 = *c0 + chunk < C ? *c0 + chunk : C;
}

/* ---- layernorm ------------------------------------------------------------------------ */

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean, const float *rstd,
                        int N, int C, int threads) {
  int nt = OMP_THREADS(threads);
  if (dinp) {
    /* dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight. */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float m = mean[n], rs = rstd[n];
      double g_mean = 0.0, gx_mean = 0.0;
      for (int c = 0; c < C; c++) {
        float g = dy[c] * weight[c];
        g_mean += g;
        gx_mean += (double)g * ((x[c] - m) * rs);
      }
      float gm = (float)(g_mean / C), gxm = (float)(gx_mean / C);
      for (int c = 0; c < C; c++) {
        float xhat = (x[c] - m) * rs;
        dx[c] += rs * (dy[c] * weight[c] - gm - xhat * gxm);
      }
    }
  }
  if (!dweight && !dbias) return;
#pragma omp parallel num_threads(nt)
  {
    int c0, c1;
    column_slice(C, &c0, &c1);
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
      float m = mean[n], rs = rstd[n];
      for (int c = c0; c < c1; c++) {
        if (dweight) dweight[c] += dy[c] * ((x[c] - m) * rs);
        if (dbias) dbias[c] += dy[c];
      }
    }
  }
}

/* ---- linear layers -------------------------------------------------------------------- */

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC, vfr_engine *eng) {
  int nt = engine_threads(eng);
  engine_epilogue acc = {NULL, 0, NULL, 1};
  /* dinp (N,C) += dout (N,OC) @ weight (OC,C) */
  if (dinp) engine_gemm(eng, 0, 0, N, C, OC, 1.0f, dout, OC, weight, C, dinp, C, &acc);
  /* dweight (OC,C) += dout^T (OC,N) @ inp (N,C) */
  if (dweight) engine_gemm(eng, 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, dweight, C, &acc);
  if (dbias) {
#pragma omp parallel num_threads(nt)
    {
      int o0, o1;
      column_slice(OC, &o0, &o1);
      for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * OC;
        for (int o = o0; o < o1; o++) dbias[o] += dy[o];
      }
    }
  }
}

/* ---- activations ---------------------------------------------------------------------- */

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

float quick_gelu_grad(float x) {
  float s = sigmoidf(1.702f * x);
  return s + 1.702f * x * s * (1.0f - s);
}

float gelu_erf_grad(float x) {
  const float inv_sqrt_2pi = 0.3989422804014327f;
  return 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)) + x * inv_sqrt_2pi * expf(-0.5f * x * x);
}

float gelu_tanh_grad(float x) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  const float a = 0.044715f;
  float t = tanhf(k * (x + a * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * a * x * x);
}

float silu_grad(float x) {
  float s = sigmoidf(x);
  return s * (1.0f + x * (1.0f - s));
}

float activation_grad(vfr_activation act, float x) {
  switch (act) {
  case VFR_ACT_GELU: return gelu_erf_grad(x);
  case VFR_ACT_GELU_TANH: return gelu_tanh_grad(x);
  case VFR_ACT_QUICK_GELU:
  default: return quick_gelu_grad(x);
  }
}

void bias_activation_forward_train(float *out, const float *inp, const float *bias, int N, int C,
                                   vfr_activation act, int threads) {
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    for (int c = 0; c < C; c++) o[c] = activation_apply(act, x[c] + bias[c]);
  }
}

void bias_activation_backward(float *dinp, float *dbias, const float *dout, const float *inp,
                              const float *bias, int N, int C, vfr_activation act, int threads) {
#pragma omp parallel num_threads(OMP_THREADS(threads))
  {
    int c0, c1;
    column_slice(C, &c0, &c1);
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
      for (int c = c0; c < c1; c++) {
        float g = dy[c] * activation_grad(act, x[c] + bias[c]);
        if (dinp) dinp[(size_t)n * C + c] += g;
        if (dbias) dbias[c] += g;
      }
    }
  }
}

void swiglu_backward(float *dinp, float *dbias, const float *dout, const float *inp,
                     const float *bias, int N, int H, int threads) {
#pragma omp parallel num_threads(OMP_THREADS(threads))
  {
    int c0, c1;
    column_slice(H, &c0, &c1);
    for (int n = 0; n < N; n++) {
      const float *x1 = inp + (size_t)n * 2 * H, *x2 = x1 + H;
      const float *dy = dout + (size_t)n * H;
      for (int c = c0; c < c1; c++) {
        float a = x1[c] + bias[c], g = x2[c] + bias[H + c];
        float da = dy[c] * g * silu_grad(a);
        float dg = dy[c] * silu(a);
        if (dinp) {
          dinp[(size_t)n * 2 * H + c] += da;
          dinp[(size_t)n * 2 * H + H + c] += dg;
        }
        if (dbias) {
          dbias[c] += da;
          dbias[H + c] += dg;
        }
      }
    }
  }
}

/* ---- residual with layer scale -------------------------------------------------------- */

void residual_backward(float *dx, float *dy, float *dbias, float *dscale, const float *dout,
                       const float *y, const float *bias, const float *scale, int N, int C,
                       int threads) {
  if (dx == dout) dx = NULL; /* in place: the identity path is already there */
#pragma omp parallel num_threads(OMP_THREADS(threads))
  {
    int c0, c1;
    column_slice(C, &c0, &c1);
    for (int n = 0; n < N; n++) {
      size_t row = (size_t)n * C;
      for (int c = c0; c < c1; c++) {
        float g = dout[row + c];
        float gs = scale ? g * scale[c] : g;
        if (dx) dx[row + c] += g;
        if (dy) dy[row + c] += gs;
        if (dbias) dbias[c] += gs;
        if (dscale && scale) dscale[c] += g * (y[row + c] + bias[c]);
      }
    }
  }
}

/* ---- softmax and attention ------------------------------------------------------------ */

/* One row: dinp += p * (dp - sum(dp * p)). */
static void softmax_backward_row(float *dinp, const float *dp, const float *p, int C) {
  double dot = 0.0;
  for (int c = 0; c < C; c++) dot += (double)dp[c] * p[c];
  float d = (float)dot;
  for (int c = 0; c < C; c++) dinp[c] += p[c] * (dp[c] - d);
}

void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C, int threads) {
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (int n = 0; n < N; n++)
    softmax_backward_row(dinp + (size_t)n * C, dout + (size_t)n * C, out + (size_t)n * C, C);
}

size_t attention_backward_scratch_floats(int B, int T, int NH) {
  return 2 * attention_scratch_floats(B, T, NH);
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                        const float *q, const float *k, const float *v, int B, int T, int C, int NH,
                        vfr_engine *eng) {
  int hd = C / NH, nt = engine_threads(eng);
  size_t group = attention_scratch_floats(B, T, NH);
  int chunk = (int)(group / ((size_t)NH * T * T)); /* images per group, as the forward */
  float scale = 1.0f / sqrtf((float)hd);
  float *p = scratch, *ds = scratch + group; /* (nb,NH,T,T) probabilities, their gradient */
  /* heads in place in (B,T,C); transposed heads; dense score matrices and their transpose */
  engine_strides heads = {(int64_t)T * C, hd, C, 1}, heads_t = {(int64_t)T * C, hd, 1, C};
  engine_strides sc = {(int64_t)NH * T * T, (int64_t)T * T, T, 1};
  engine_strides sc_t = {(int64_t)NH * T * T, (int64_t)T * T, 1, T};
  for (int b0 = 0; b0 < B; b0 += chunk) {
    int nb = B - b0 < chunk ? B - b0 : chunk, rows = nb * NH * T;
    size_t off = (size_t)b0 * T * C;
    /* p = softmax(q_h k_h^T * scale), recomputed as attention_forward does */
    engine_gemm_batched(eng, nb, NH, T, T, hd, scale, q + off, heads, k + off, heads_t, p, sc, 0);
    softmax_forward(p, rows, T, nt);
    /* dv_h (T,hd) += p^T (T,T) @ dout_h (T,hd) */
    engine_gemm_batched(eng, nb, NH, T, hd, T, 1.0f, p, sc_t, dout + off, heads, dv + off, heads,
                        1);
    /* dp (T,T) = dout_h @ v_h^T into ds, then through the softmax in place:
     * ds = p * (dp - rowsum(dp * p)). */
    engine_gemm_batched(eng, nb, NH, T, T, hd, 1.0f, dout + off, heads, v + off, heads_t, ds, sc,
                        0);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int r = 0; r < rows; r++) {
      float *row = ds + (size_t)r * T;
      const float *pr = p + (size_t)r * T;
      double dot = 0.0;
      for (int s = 0; s < T; s++) dot += (double)row[s] * pr[s];
      float d = (float)dot;
      for (int s = 0; s < T; s++) row[s] = pr[s] * (row[s] - d);
    }
    /* dq_h += scale * ds @ k_h;  dk_h += scale * ds^T @ q_h */
    engine_gemm_batched(eng, nb, NH, T, hd, T, scale, ds, sc, k + off, heads, dq + off, heads, 1);
    engine_gemm_batched(eng, nb, NH, T, hd, T, scale, ds, sc_t, q + off, heads, dk + off, heads,
                        1);
  }
}

/* ---- embeddings ----------------------------------------------------------------------- */

void embeddings_backward(float *dpatch, float *dcls, float *dregisters, float *dpos,
                         const float *dx, int B, int T, int D, int R, int threads) {
  int G = T - 1 - R;
#pragma omp parallel num_threads(OMP_THREADS(threads))
  {
    int c0, c1;
    column_slice(D, &c0, &c1);
    for (int b = 0; b < B; b++) {
      const float *xb = dx + (size_t)b * T * D;
      for (int c = c0; c < c1; c++) {
        if (dcls) dcls[c] += xb[c];
        if (dpos) dpos[c] += xb[c];
      }
      if (dregisters)
        for (int r = 0; r < R; r++)
          for (int c = c0; c < c1; c++)
            dregisters[(size_t)r * D + c] += xb[(size_t)(1 + r) * D + c];
      for (int t = 0; t < G; t++) {
        const float *src = xb + (size_t)(1 + R + t) * D;
        if (dpos)
          for (int c = c0; c < c1; c++) dpos[(size_t)(1 + t) * D + c] += src[c];
        if (dpatch) {
          float *dst = dpatch + ((size_t)b * G + t) * D;
          for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
      }
    }
  }
}
