/* L2-normalisation, cosine similarity and the robustness fine-tuning loss (see loss.h).
 * Rows are short (an embedding), so everything is accumulated in double. */
#include "finetune/loss.h"

#include <math.h>
#include <stddef.h>

static double dot_row(const float *a, const float *b, int C) {
  double s = 0.0;
  for (int c = 0; c < C; c++) s += (double)a[c] * b[c];
  return s;
}

/* max(||a||, eps) */
static double clamped_norm(const float *a, int C) {
  double n = sqrt(dot_row(a, a, C));
  return n > VFR_COS_EPS ? n : VFR_COS_EPS;
}

void l2normalize_forward(float *out, float *norm, const float *inp, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double nr = clamped_norm(x, C);
    for (int c = 0; c < C; c++) o[c] = (float)(x[c] / nr);
    norm[n] = (float)nr;
  }
}

void l2normalize_backward(float *dinp, const float *dout, const float *out, const float *norm,
                          int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *dy = dout + (size_t)n * C, *y = out + (size_t)n * C;
    float *dx = dinp + (size_t)n * C;
    double nr = norm[n];
    /* clamped: out = inp / eps, a plain scaling */
    double d = nr > VFR_COS_EPS ? dot_row(dy, y, C) : 0.0;
    for (int c = 0; c < C; c++) dx[c] += (float)((dy[c] - y[c] * d) / nr);
  }
}

void cosine_forward(float *cos, const float *a, const float *b, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *ar = a + (size_t)n * C, *br = b + (size_t)n * C;
    cos[n] = (float)(dot_row(ar, br, C) / (clamped_norm(ar, C) * clamped_norm(br, C)));
  }
}

/* d cos / d a = b / (|a| |b|) - cos * a / |a|^2, the second term absent when |a| was clamped. */
static void cosine_row_backward(float *da, float *db, double dcos, const float *a, const float *b,
                                int C) {
  double na = clamped_norm(a, C), nb = clamped_norm(b, C);
  double cs = dot_row(a, b, C) / (na * nb);
  double ka = na > VFR_COS_EPS ? cs / (na * na) : 0.0;
  double kb = nb > VFR_COS_EPS ? cs / (nb * nb) : 0.0;
  double inv = 1.0 / (na * nb);
  for (int c = 0; c < C; c++) {
    if (da) da[c] += (float)(dcos * (b[c] * inv - a[c] * ka));
    if (db) db[c] += (float)(dcos * (a[c] * inv - b[c] * kb));
  }
}

void cosine_backward(float *da, float *db, const float *dcos, const float *a, const float *b, int N,
                     int C) {
  for (int n = 0; n < N; n++) {
    size_t row = (size_t)n * C;
    cosine_row_backward(da ? da + row : NULL, db ? db + row : NULL, dcos[n], a + row, b + row, C);
  }
}

double robust_loss(const float *tuned_clean, const float *tuned_pert, const float *frozen_clean,
                   int B, int E, double lambda, float *d_tuned_clean, float *d_tuned_pert,
                   double *l1, double *l2) {
  return robust_loss_views(tuned_clean, tuned_pert, frozen_clean, B, E, lambda, 0,
                           d_tuned_clean, d_tuned_pert, l1, l2);
}

double robust_loss_views(const float *tuned_clean, const float *tuned_pert,
                         const float *frozen_clean, int B, int E, double lambda, int flags,
                         float *d_tuned_clean, float *d_tuned_pert, double *l1, double *l2) {
  int both_views = (flags & ROBUST_L2_BOTH_VIEWS) != 0;
  int stop_clean = (flags & ROBUST_L1_STOP_CLEAN) != 0;
  double s1 = 0.0, s2 = 0.0;
  double g = B > 0 ? -1.0 / B : 0.0; /* d(-mean)/d cos */
  /* both views: L2 is the mean of the two cosines, each weighted 1/2 */
  double g2 = both_views ? 0.5 * g * lambda : g * lambda;
  for (int b = 0; b < B; b++) {
    size_t row = (size_t)b * E;
    const float *tc = tuned_clean + row, *tp = tuned_pert + row, *fc = frozen_clean + row;
    s1 += dot_row(tc, tp, E) / (clamped_norm(tc, E) * clamped_norm(tp, E));
    double c2 = dot_row(fc, tc, E) / (clamped_norm(fc, E) * clamped_norm(tc, E));
    if (both_views)
      c2 = 0.5 * (c2 + dot_row(fc, tp, E) / (clamped_norm(fc, E) * clamped_norm(tp, E)));
    s2 += c2;
    float *dtc = d_tuned_clean ? d_tuned_clean + row : NULL;
    float *dtp = d_tuned_pert ? d_tuned_pert + row : NULL;
    float *dtc1 = stop_clean ? NULL : dtc; /* L1's gradient on the clean view */
    if (dtc1 || dtp) cosine_row_backward(dtc1, dtp, g, tc, tp, E);
    if (dtc) cosine_row_backward(NULL, dtc, g2, fc, tc, E); /* f is frozen */
    if (dtp && both_views) cosine_row_backward(NULL, dtp, g2, fc, tp, E);
  }
  double L1 = B > 0 ? -s1 / B : 0.0, L2 = B > 0 ? -s2 / B : 0.0;
  if (l1) *l1 = L1;
  if (l2) *l2 = L2;
  return L1 + lambda * L2;
}
