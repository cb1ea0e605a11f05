/* Backward passes of the transformer kernels (see ops_backward.h for shapes).
 *
 * Kernels that sum over rows into a per-column gradient (a bias, a layernorm weight, a
 * layer scale) split the COLUMNS among the threads: each thread walks every row over its
 * own column slice, so no two threads write the same gradient element and the sums do not
 * depend on the thread count. */
#include "finetune/ops_backward.h"

#include <cblas.h>
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

/* Below this many multiply-adds a gemm runs on one thread (as in ops.c). */
#define GEMM_SPLIT_MIN 2e6

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC, int threads) {
  int nt = OMP_THREADS(threads);
  int split = nt > 1 && (double)N * C * OC >= GEMM_SPLIT_MIN;
  if (dinp) {
    /* dinp (N,C) += dout (N,OC) @ weight (OC,C); threads take row slices of dinp. */
    if (!split) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                  1.0f, dinp, C);
    } else {
#pragma omp parallel num_threads(nt)
      {
        int r0, r1;
        column_slice(N, &r0, &r1);
        if (r0 < r1)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, C, OC, 1.0f,
                      dout + (size_t)r0 * OC, OC, weight, C, 1.0f, dinp + (size_t)r0 * C, C);
      }
    }
  }
  if (dweight) {
    /* dweight (OC,C) += dout^T (OC,N) @ inp (N,C); threads take row slices of dweight. */
    if (!split) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                  dweight, C);
    } else {
#pragma omp parallel num_threads(nt)
      {
        int o0, o1;
        column_slice(OC, &o0, &o1);
        if (o0 < o1)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, C, N, 1.0f, dout + o0, OC,
                      inp, C, 1.0f, dweight + (size_t)o0 * C, C);
      }
    }
  }
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

int attention_backward_scratch_floats(int T, int threads) {
  return attention_threads(threads) * 2 * T * T;
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                        const float *q, const float *k, const float *v, int B, int T, int C, int NH,
                        int threads) {
  int hd = C / NH;
  float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for num_threads(attention_threads(threads)) schedule(dynamic)
  for (int bh = 0; bh < B * NH; bh++) {
    int b = bh / NH, h = bh % NH;
    float *p = scratch + (size_t)omp_get_thread_num() * 2 * T * T; /* (T,T) probabilities */
    float *ds = p + (size_t)T * T;                                 /* (T,T) their gradient */
    size_t off = (size_t)b * T * C + (size_t)h * hd; /* head h of batch b; rows C apart */
    /* p = softmax(q_h k_h^T * scale), recomputed as attention_forward does. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q + off, C, k + off, C,
                0.0f, p, T);
    softmax_forward(p, T, T, 1);
    /* dv_h (T,hd) += p^T (T,T) @ dout_h (T,hd) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dout + off, C, 1.0f,
                dv + off, C);
    /* dp (T,T) = dout_h @ v_h^T into ds, then through the softmax in place:
     * ds = p * (dp - rowsum(dp * p)). */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dout + off, C, v + off, C,
                0.0f, ds, T);
    for (int t = 0; t < T; t++) {
      float *row = ds + (size_t)t * T;
      const float *pr = p + (size_t)t * T;
      double dot = 0.0;
      for (int s = 0; s < T; s++) dot += (double)row[s] * pr[s];
      float d = (float)dot;
      for (int s = 0; s < T; s++) row[s] = pr[s] * (row[s] - d);
    }
    /* dq_h += scale * ds @ k_h;  dk_h += scale * ds^T @ q_h */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, ds, T, k + off, C, 1.0f,
                dq + off, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, ds, T, q + off, C, 1.0f,
                dk + off, C);
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
