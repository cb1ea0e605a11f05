/* k-NN classification weighted as in DINO: cosine similarity, the k most similar training
 * samples vote with weight exp(sim / T).
 *
 * Exact brute force: similarities of a block of queries against a block of training rows come
 * from one dgemm on L2-normalised double copies, so only two blocks are ever held in double
 * (memory stays O(block * d) whatever the training set's size), and the k best are kept per
 * query in a sorted list. Double precision keeps the ranking faithful to the exact cosine
 * (float32 products would reorder neighbours whose similarities differ by ~1e-7). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/downstream.h"

enum { QUERY_BLOCK = 256, TRAIN_BLOCK = 2048 };

vfr_knn_params vfr_knn_default_params(void) {
  vfr_knn_params p = {.k = 20, .temperature = 0.07};
  return p;
}

/* The inverse L2 norm of each row of x (n, d) into inv_norm (n); zero or non-finite rows fail. */
static int inverse_norms(const float *x, int n, int d, const char *what, double *inv_norm,
                         vfr_error *err) {
  for (int i = 0; i < n; i++) {
    const float *r = x + (size_t)i * d;
    double s = 0.0;
    for (int j = 0; j < d; j++) {
      if (!isfinite(r[j]))
        return vfr_fail(err, VFR_EINVAL, "%s: non-finite value at row %d, column %d", what, i, j);
      s += (double)r[j] * r[j];
    }
    if (!(s > 0.0)) return vfr_fail(err, VFR_EINVAL, "%s: row %d has zero norm", what, i);
    inv_norm[i] = 1.0 / sqrt(s);
  }
  return VFR_OK;
}

/* out (rows, d) = x[first .. first+rows) scaled by inv_norm, in double. */
static void normalised_block(const float *x, const double *inv_norm, int first, int rows, int d,
                             double *out) {
  for (int i = 0; i < rows; i++) {
    const float *r = x + (size_t)(first + i) * d;
    double s = inv_norm[first + i];
    double *o = out + (size_t)i * d;
    for (int j = 0; j < d; j++) o[j] = r[j] * s;
  }
}

/* Offers candidate (sim, index) to the sorted top list (count entries, capacity k). Indices
 * arrive in increasing order, so an equal similarity never displaces an earlier index. */
static void offer(double *top_sim, int *top_idx, int *count, int k, double sim, int index) {
  int c = *count;
  if (c == k && !(sim > top_sim[k - 1])) return;
  int pos = c < k ? c : k - 1;
  while (pos > 0 && sim > top_sim[pos - 1]) {
    top_sim[pos] = top_sim[pos - 1];
    top_idx[pos] = top_idx[pos - 1];
    pos--;
  }
  top_sim[pos] = sim;
  top_idx[pos] = index;
  if (c < k) *count = c + 1;
}

int vfr_knn_classify(const float *train, const int *train_labels, int n_train, int d,
                     int class_count, const float *query, int n_query,
                     const vfr_knn_params *params, int *predicted, double *scores, vfr_error *err) {
  vfr_knn_params p = params ? *params : vfr_knn_default_params();
  if (n_train <= 0 || d <= 0 || n_query < 0 || class_count <= 0)
    return vfr_fail(err, VFR_EINVAL,
                    "knn: need training rows, a dimension and classes (n_train %d, d %d, classes %d, n_query %d)",
                    n_train, d, class_count, n_query);
  if (p.k <= 0) return vfr_fail(err, VFR_EINVAL, "knn: k must be positive, got %d", p.k);
  // exp(sim / T) must stay finite for sim <= 1: T >= 1/700
  if (!(p.temperature >= 1.0 / 700.0) || !isfinite(p.temperature))
    return vfr_fail(err, VFR_EINVAL, "knn: temperature must be a number >= 1/700, got %g", p.temperature);
  if (!train || !train_labels || (n_query > 0 && (!query || !predicted)))
    return vfr_fail(err, VFR_EINVAL, "knn: missing array");
  for (int i = 0; i < n_train; i++)
    if (train_labels[i] < 0 || train_labels[i] >= class_count)
      return vfr_fail(err, VFR_EINVAL, "train labels: label %d at row %d is outside [0, %d)",
                      train_labels[i], i, class_count);
  if (n_query == 0) return VFR_OK;
  const int k = p.k < n_train ? p.k : n_train;
  const int qb = n_query < QUERY_BLOCK ? n_query : QUERY_BLOCK;
  const int tb = n_train < TRAIN_BLOCK ? n_train : TRAIN_BLOCK;

  double *inv_train = malloc(sizeof(double) * (size_t)n_train);
  double *inv_query = malloc(sizeof(double) * (size_t)n_query);
  double *qbuf = malloc(sizeof(double) * (size_t)qb * d);
  double *tbuf = malloc(sizeof(double) * (size_t)tb * d);
  double *sim = malloc(sizeof(double) * (size_t)qb * tb);
  double *top_sim = malloc(sizeof(double) * (size_t)qb * k);
  int *top_idx = malloc(sizeof(int) * (size_t)qb * k);
  int *top_count = malloc(sizeof(int) * (size_t)qb);
  double *class_score = malloc(sizeof(double) * (size_t)qb * class_count);
  int rc = VFR_OK;
  if (!inv_train || !inv_query || !qbuf || !tbuf || !sim || !top_sim || !top_idx || !top_count ||
      !class_score) {
    rc = vfr_fail(err, VFR_ENOMEM, "knn: out of memory");
    goto done;
  }
  rc = inverse_norms(train, n_train, d, "train", inv_train, err);
  if (!rc) rc = inverse_norms(query, n_query, d, "query", inv_query, err);
  if (rc) goto done;

  for (int q0 = 0; q0 < n_query; q0 += qb) {
    const int qn = n_query - q0 < qb ? n_query - q0 : qb;
    normalised_block(query, inv_query, q0, qn, d, qbuf);
    memset(top_count, 0, sizeof(int) * (size_t)qn);
    for (int t0 = 0; t0 < n_train; t0 += tb) {
      const int tn = n_train - t0 < tb ? n_train - t0 : tb;
      normalised_block(train, inv_train, t0, tn, d, tbuf);
      // sim (qn, tn) = qbuf (qn, d) . tbuf^T (d, tn)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, tn, d, 1.0, qbuf, d, tbuf, d, 0.0,
                  sim, tn);
#pragma omp parallel for schedule(static)
      for (int i = 0; i < qn; i++) {
        const double *si = sim + (size_t)i * tn;
        for (int j = 0; j < tn; j++)
          offer(top_sim + (size_t)i * k, top_idx + (size_t)i * k, top_count + i, k, si[j], t0 + j);
      }
    }
    for (int i = 0; i < qn; i++) {
      double *cs = class_score + (size_t)i * class_count;
      for (int c = 0; c < class_count; c++) cs[c] = 0.0;
      // votes in rank order, most similar first
      for (int r = 0; r < k; r++)
        cs[train_labels[top_idx[(size_t)i * k + r]]] += exp(top_sim[(size_t)i * k + r] / p.temperature);
      int best = 0;
      for (int c = 1; c < class_count; c++)
        if (cs[c] > cs[best]) best = c;
      predicted[q0 + i] = best;
      if (scores) memcpy(scores + (size_t)(q0 + i) * class_count, cs, sizeof(double) * class_count);
    }
  }
done:
  free(inv_train);
  free(inv_query);
  free(qbuf);
  free(tbuf);
  free(sim);
  free(top_sim);
  free(top_idx);
  free(top_count);
  free(class_score);
  return rc;
}
