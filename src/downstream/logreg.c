/* Linear probe: multinomial logistic regression with an L2 penalty, fitted by L-BFGS.
 *
 * Objective (see include/vfrobust/downstream.h and docs/downstream.md):
 *   f(W, b) = (1/n) sum_i [ logsumexp_k(z_ik) - z_{i,y_i} ] + ||W||^2 / (2 c n),  z = X W^T + b
 * Gradient, with P = softmax(z) and Y the one-hot labels:
 *   df/dW = (P - Y)^T X / n + W / (c n),   df/db = column sums of (P - Y) / n.
 * The GEMMs go through cblas in double precision. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/splitmix.h"
#include "downstream/lbfgs.h"
#include "vfrobust/downstream.h"

enum { PREDICT_BLOCK_ROWS = 1024 };

vfr_linear_probe_params vfr_linear_probe_default_params(void) {
  vfr_linear_probe_params p = {
      .c = 0.0,
      .c_grid = NULL,
      .c_grid_count = 0,
      .validation_fraction = 0.2,
      .seed = 0,
      .standardize = 1,
      .max_iterations = 1000,
      .gradient_tolerance = 1e-6,
      .history = 10,
  };
  return p;
}

static const double DEFAULT_C_GRID[] = {1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3};

/* ---- objective ----------------------------------------------------------------------- */

typedef struct logreg_problem {
  const double *x; /* (n, d) */
  const int *y;    /* (n) */
  int n, d, classes;
  double c;
  double *logits;  /* (n, classes) scratch */
} logreg_problem;

/* theta is [W (classes, d) row-major, b (classes)]; grad has the same layout. */
static double logreg_value_and_gradient(const double *theta, double *grad, void *context) {
  const logreg_problem *pb = context;
  const int n = pb->n, d = pb->d, k = pb->classes;
  const double *w = theta, *b = theta + (size_t)k * d;
  double *z = pb->logits;
  // z (n, k) = x (n, d) . w^T (d, k)
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, d, 1.0, pb->x, d, w, d, 0.0, z, k);
  double loss = 0.0;
  double *gb = grad + (size_t)k * d;
  for (int j = 0; j < k; j++) gb[j] = 0.0;
  for (int i = 0; i < n; i++) {
    double *zi = z + (size_t)i * k;
    double mx = -INFINITY;
    for (int j = 0; j < k; j++) {
      zi[j] += b[j];
      mx = fmax(mx, zi[j]);
    }
    double sum = 0.0;
    for (int j = 0; j < k; j++) sum += exp(zi[j] - mx);
    double lse = mx + log(sum);
    loss += lse - zi[pb->y[i]];
    // zi becomes (p - onehot) / n, the gradient of the mean loss with respect to the logits
    for (int j = 0; j < k; j++) zi[j] = exp(zi[j] - lse) / n;
    zi[pb->y[i]] -= 1.0 / n;
    for (int j = 0; j < k; j++) gb[j] += zi[j];
  }
  const double lambda = 1.0 / (pb->c * n);
  double wsq = 0.0;
  for (size_t t = 0; t < (size_t)k * d; t++) {
    wsq += w[t] * w[t];
    grad[t] = lambda * w[t];
  }
  // grad_w (k, d) += z^T (k, n) . x (n, d)
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, d, n, 1.0, z, k, pb->x, d, 1.0, grad, d);
  return loss / n + 0.5 * lambda * wsq;
}

/* ---- checks -------------------------------------------------------------------------- */

static int check_features(const float *x, int n, int d, const char *what, vfr_error *err) {
  if (!x) return vfr_fail(err, VFR_EINVAL, "%s: missing array", what);
  for (size_t t = 0; t < (size_t)n * d; t++)
    if (!isfinite(x[t]))
      return vfr_fail(err, VFR_EINVAL, "%s: non-finite value at row %zu, column %zu", what,
                      t / (size_t)d, t % (size_t)d);
  return VFR_OK;
}

static int check_labels(const int *y, int n, int classes, vfr_error *err) {
  if (!y) return vfr_fail(err, VFR_EINVAL, "labels: missing array");
  for (int i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= classes)
      return vfr_fail(err, VFR_EINVAL, "labels: label %d at row %d is outside [0, %d)", y[i], i,
                      classes);
  return VFR_OK;
}

/* ---- one fit on a subset of rows ------------------------------------------------------ */

/* Fits on rows idx (m) of x (n, d) with strength c and writes the model in raw feature space:
 * w (classes, d), b (classes). Standardises with the subset's own mean and scale when asked.
 * theta (classes * d + classes) is the starting point in the space of the fit (zeros, or the
 * solution for another c on the same rows: a warm start) and receives the solution. */
static int fit_subset(const float *x, const int *y, int d, int classes, const int *idx, int m,
                      double c, const vfr_linear_probe_params *p, double *theta, double *w,
                      double *b, vfr_lbfgs_result *res, vfr_error *err) {
  size_t nparam = (size_t)classes * d + classes;
  double *xs = malloc(sizeof(double) * (size_t)m * d);
  int *ys = malloc(sizeof(int) * (size_t)m);
  double *logits = malloc(sizeof(double) * (size_t)m * classes);
  double *mean = calloc((size_t)d, sizeof(double)), *scale = malloc(sizeof(double) * (size_t)d);
  int rc = VFR_OK;
  if (!xs || !ys || !logits || !mean || !scale) {
    rc = vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory for %d x %d features", m, d);
    goto done;
  }
  for (int i = 0; i < m; i++) {
    ys[i] = y[idx[i]];
    const float *src = x + (size_t)idx[i] * d;
    double *dst = xs + (size_t)i * d;
    for (int j = 0; j < d; j++) dst[j] = src[j];
  }
  for (int j = 0; j < d; j++) scale[j] = 1.0;
  if (p->standardize) {
    // mean and population standard deviation per feature (two passes); a constant
    // feature keeps scale 1, as scikit-learn's StandardScaler does
    for (int i = 0; i < m; i++)
      for (int j = 0; j < d; j++) mean[j] += xs[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= m;
    double *var = calloc((size_t)d, sizeof(double));
    if (!var) {
      rc = vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory");
      goto done;
    }
    for (int i = 0; i < m; i++)
      for (int j = 0; j < d; j++) {
        double t = xs[(size_t)i * d + j] - mean[j];
        var[j] += t * t;
      }
    for (int j = 0; j < d; j++) {
      double sd = sqrt(var[j] / m);
      scale[j] = sd > 0.0 ? sd : 1.0;
    }
    free(var);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < d; j++) xs[(size_t)i * d + j] = (xs[(size_t)i * d + j] - mean[j]) / scale[j];
  }
  logreg_problem pb = {.x = xs, .y = ys, .n = m, .d = d, .classes = classes, .c = c, .logits = logits};
  vfr_lbfgs_params lp = {.max_iterations = p->max_iterations,
                         .gradient_tolerance = p->gradient_tolerance,
                         .history = p->history};
  rc = vfr_lbfgs_minimize((int)nparam, theta, logreg_value_and_gradient, &pb, &lp, res, err);
  if (rc) goto done;
  // fold the standardisation into the model: W_kj / scale_j and b_k - sum_j W_kj mean_j / scale_j;
  // then centre b (softmax is unchanged by a common shift)
  double bmean = 0.0;
  for (int k = 0; k < classes; k++) {
    double bk = theta[(size_t)classes * d + k];
    for (int j = 0; j < d; j++) {
      double wkj = theta[(size_t)k * d + j] / scale[j];
      w[(size_t)k * d + j] = wkj;
      bk -= wkj * mean[j];
    }
    b[k] = bk;
    bmean += bk;
  }
  bmean /= classes;
  for (int k = 0; k < classes; k++) b[k] -= bmean;
done:
  free(xs);
  free(ys);
  free(logits);
  free(mean);
  free(scale);
  return rc;
}

/* ---- logits, prediction ---------------------------------------------------------------- */

/* logits (n, classes) = x (n, d) . w^T + b, converting x to double a block of rows at a time. */
static int compute_logits(const double *w, const double *b, int classes, const float *x, int n,
                          int d, double *logits, vfr_error *err) {
  int rows = n < PREDICT_BLOCK_ROWS ? n : PREDICT_BLOCK_ROWS;
  double *xb = malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1) * d);
  if (!xb) return vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory");
  for (int r0 = 0; r0 < n; r0 += rows) {
    int r = n - r0 < rows ? n - r0 : rows;
    for (size_t t = 0; t < (size_t)r * d; t++) xb[t] = x[(size_t)r0 * d + t];
    double *z = logits + (size_t)r0 * classes;
    for (int i = 0; i < r; i++) memcpy(z + (size_t)i * classes, b, sizeof(double) * classes);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, classes, d, 1.0, xb, d, w, d, 1.0, z,
                classes);
  }
  free(xb);
  return VFR_OK;
}

static int argmax_row(const double *z, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (z[j] > z[best]) best = j;
  return best;
}

static int check_probe(const vfr_linear_probe *probe, const float *x, int n, int d,
                       vfr_error *err) {
  if (!probe || !probe->weight || !probe->bias || probe->class_count <= 0)
    return vfr_fail(err, VFR_EINVAL, "linear probe: not fitted");
  if (n < 0) return vfr_fail(err, VFR_EINVAL, "features: negative row count %d", n);
  if (d != probe->dim)
    return vfr_fail(err, VFR_EINVAL, "features: dimension %d, the probe was fitted on %d", d,
                    probe->dim);
  return check_features(x, n, d, "features", err);
}

int vfr_linear_probe_predict_proba(const vfr_linear_probe *probe, const float *features, int n,
                                   int d, double *probabilities, vfr_error *err) {
  int rc = check_probe(probe, features, n, d, err);
  if (rc) return rc;
  if (!probabilities) return vfr_fail(err, VFR_EINVAL, "probabilities: missing array");
  const int k = probe->class_count;
  rc = compute_logits(probe->weight, probe->bias, k, features, n, d, probabilities, err);
  if (rc) return rc;
  for (int i = 0; i < n; i++) {
    double *z = probabilities + (size_t)i * k;
    double mx = z[argmax_row(z, k)], sum = 0.0;
    for (int j = 0; j < k; j++) sum += (z[j] = exp(z[j] - mx));
    for (int j = 0; j < k; j++) z[j] /= sum;
  }
  return VFR_OK;
}

int vfr_linear_probe_predict(const vfr_linear_probe *probe, const float *features, int n, int d,
                             int *predicted, vfr_error *err) {
  int rc = check_probe(probe, features, n, d, err);
  if (rc) return rc;
  if (!predicted) return vfr_fail(err, VFR_EINVAL, "predicted: missing array");
  const int k = probe->class_count;
  double *z = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * k);
  if (!z) return vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory for %d predictions", n);
  rc = compute_logits(probe->weight, probe->bias, k, features, n, d, z, err);
  if (!rc)
    for (int i = 0; i < n; i++) predicted[i] = argmax_row(z + (size_t)i * k, k);
  free(z);
  return rc;
}

/* ---- validation split and model selection --------------------------------------------- */

/* Stratified split: for each class in turn, its rows (in order) are shuffled (Fisher-Yates,
 * splitmix64 seeded with `seed`) and the first round(fraction * count) are held out, keeping
 * at least one row of each class for training. is_validation (n) gets 0 or 1. */
static int split_rows(const int *y, int n, int classes, double fraction, uint64_t seed,
                      unsigned char *is_validation, vfr_error *err) {
  int *rows = malloc(sizeof(int) * (size_t)n);
  if (!rows) return vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory");
  uint64_t state = seed;
  memset(is_validation, 0, (size_t)n);
  for (int k = 0; k < classes; k++) {
    int cnt = 0;
    for (int i = 0; i < n; i++)
      if (y[i] == k) rows[cnt++] = i;
    for (int i = cnt - 1; i > 0; i--) {
      int j = (int)(vfr_splitmix_next(&state) % (uint64_t)(i + 1));
      int t = rows[i];
      rows[i] = rows[j], rows[j] = t;
    }
    int held = (int)floor(fraction * cnt + 0.5);
    if (held > cnt - 1) held = cnt - 1;
    for (int i = 0; i < held; i++) is_validation[rows[i]] = 1;
  }
  free(rows);
  return VFR_OK;
}

/* Mean cross-entropy and accuracy of (w, b) on rows idx (m). */
static int evaluate_subset(const float *x, const int *y, int d, int classes, const int *idx, int m,
                           const double *w, const double *b, double *accuracy, double *loss,
                           vfr_error *err) {
  float *xs = malloc(sizeof(float) * (size_t)m * d);
  double *z = malloc(sizeof(double) * (size_t)m * classes);
  if (!xs || !z) {
    free(xs);
    free(z);
    return vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory");
  }
  for (int i = 0; i < m; i++) memcpy(xs + (size_t)i * d, x + (size_t)idx[i] * d, sizeof(float) * d);
  int rc = compute_logits(w, b, classes, xs, m, d, z, err);
  if (!rc) {
    int correct = 0;
    double total = 0.0;
    for (int i = 0; i < m; i++) {
      const double *zi = z + (size_t)i * classes;
      int best = argmax_row(zi, classes);
      double sum = 0.0;
      for (int j = 0; j < classes; j++) sum += exp(zi[j] - zi[best]);
      total += zi[best] + log(sum) - zi[y[idx[i]]];
      correct += best == y[idx[i]];
    }
    *accuracy = (double)correct / m;
    *loss = total / m;
  }
  free(xs);
  free(z);
  return rc;
}

int vfr_linear_probe_fit(const float *features, const int *labels, int n, int d, int class_count,
                         const vfr_linear_probe_params *params, vfr_linear_probe *probe,
                         vfr_error *err) {
  if (!probe) return vfr_fail(err, VFR_EINVAL, "linear probe: missing output");
  memset(probe, 0, sizeof *probe);
  vfr_linear_probe_params p = params ? *params : vfr_linear_probe_default_params();
  if (n <= 0 || d <= 0)
    return vfr_fail(err, VFR_EINVAL, "features: need at least one row and one column, got %d x %d", n, d);
  if ((size_t)n * (size_t)d > ((size_t)1 << 34))
    return vfr_fail(err, VFR_ELIMIT, "features: %d x %d is too large", n, d);
  if (p.max_iterations < 0 || p.history <= 0 || !(p.gradient_tolerance >= 0.0))
    return vfr_fail(err, VFR_EINVAL, "linear probe: max_iterations, history or tolerance invalid");
  if (!isfinite(p.c))
    return vfr_fail(err, VFR_EINVAL, "linear probe: c is not finite");
  int rc = check_features(features, n, d, "features", err);
  if (rc) return rc;
  if (!labels) return vfr_fail(err, VFR_EINVAL, "labels: missing array");
  if (class_count <= 0) {
    class_count = 0;
    for (int i = 0; i < n; i++)
      if (labels[i] + 1 > class_count) class_count = labels[i] + 1;
    if (class_count <= 0) class_count = 1;
  }
  rc = check_labels(labels, n, class_count, err);
  if (rc) return rc;

  const double *grid = p.c_grid ? p.c_grid : DEFAULT_C_GRID;
  int grid_count = p.c_grid ? p.c_grid_count : (int)(sizeof DEFAULT_C_GRID / sizeof *DEFAULT_C_GRID);
  if (p.c <= 0.0) {
    if (grid_count <= 0) return vfr_fail(err, VFR_EINVAL, "linear probe: empty grid of c values");
    for (int g = 0; g < grid_count; g++)
      if (!(grid[g] > 0.0) || !isfinite(grid[g]))
        return vfr_fail(err, VFR_EINVAL, "linear probe: grid value %g is not a positive number", grid[g]);
    if (!(p.validation_fraction > 0.0 && p.validation_fraction < 1.0))
      return vfr_fail(err, VFR_EINVAL, "linear probe: validation fraction %g is outside (0, 1)",
                      p.validation_fraction);
  }

  const int k = class_count;
  double *w = malloc(sizeof(double) * (size_t)k * d), *b = malloc(sizeof(double) * (size_t)k);
  int *idx = malloc(sizeof(int) * (size_t)n);
  unsigned char *is_val = malloc((size_t)n);
  size_t nparam = (size_t)k * d + k;
  double *theta = calloc(nparam, sizeof(double));
  if (!w || !b || !idx || !is_val || !theta) {
    rc = vfr_fail(err, VFR_ENOMEM, "linear probe: out of memory");
    goto fail;
  }
  vfr_lbfgs_result res;
  double chosen = p.c, chosen_accuracy = -1.0;
  if (p.c <= 0.0) {
    rc = split_rows(labels, n, k, p.validation_fraction, p.seed, is_val, err);
    if (rc) goto fail;
    int ntrain = 0, nval = 0;
    for (int i = 0; i < n; i++)
      if (!is_val[i]) idx[ntrain++] = i;
    for (int i = 0; i < n; i++)
      if (is_val[i]) idx[ntrain + nval++] = i;
    if (nval == 0) {
      rc = vfr_fail(err, VFR_EINVAL,
                    "linear probe: %d samples leave no validation split to choose c; pass a fixed c", n);
      goto fail;
    }
    double best_loss = INFINITY;
    // each grid value starts from the previous one's solution (same rows, same scaling)
    for (int g = 0; g < grid_count; g++) {
      rc = fit_subset(features, labels, d, k, idx, ntrain, grid[g], &p, theta, w, b, &res, err);
      if (rc) goto fail;
      double acc = 0.0, loss = 0.0;
      rc = evaluate_subset(features, labels, d, k, idx + ntrain, nval, w, b, &acc, &loss, err);
      if (rc) goto fail;
      // highest accuracy; ties to the lower validation cross-entropy, then the earlier value
      if (acc > chosen_accuracy || (acc == chosen_accuracy && loss < best_loss)) {
        chosen_accuracy = acc, best_loss = loss, chosen = grid[g];
      }
    }
  }
  for (int i = 0; i < n; i++) idx[i] = i;
  memset(theta, 0, sizeof(double) * nparam);
  rc = fit_subset(features, labels, d, k, idx, n, chosen, &p, theta, w, b, &res, err);
  if (rc) goto fail;
  free(idx);
  free(is_val);
  free(theta);
  probe->class_count = k;
  probe->dim = d;
  probe->weight = w;
  probe->bias = b;
  probe->c = chosen;
  probe->validation_accuracy = chosen_accuracy;
  probe->objective = res.value;
  probe->gradient_norm = res.gradient_norm;
  probe->iterations = res.iterations;
  probe->converged = res.converged;
  return VFR_OK;
fail:
  free(w);
  free(b);
  free(idx);
  free(is_val);
  free(theta);
  return rc;
}

void vfr_linear_probe_free(vfr_linear_probe *probe) {
  if (!probe) return;
  free(probe->weight);
  free(probe->bias);
  memset(probe, 0, sizeof *probe);
}

int vfr_linear_probe_objective(const float *features, const int *labels, int n, int d,
                               int class_count, const double *weight, const double *bias, double c,
                               double *objective, vfr_error *err) {
  if (n <= 0 || d <= 0 || class_count <= 0)
    return vfr_fail(err, VFR_EINVAL, "linear probe objective: empty problem (%d x %d, %d classes)",
                    n, d, class_count);
  if (!weight || !bias || !objective || !(c > 0.0))
    return vfr_fail(err, VFR_EINVAL, "linear probe objective: missing array or c <= 0");
  int rc = check_features(features, n, d, "features", err);
  if (!rc) rc = check_labels(labels, n, class_count, err);
  if (rc) return rc;
  size_t nparam = (size_t)class_count * d + class_count;
  double *xs = malloc(sizeof(double) * (size_t)n * d);
  double *theta = malloc(sizeof(double) * nparam), *grad = malloc(sizeof(double) * nparam);
  double *logits = malloc(sizeof(double) * (size_t)n * class_count);
  if (!xs || !theta || !grad || !logits) {
    rc = vfr_fail(err, VFR_ENOMEM, "linear probe objective: out of memory");
  } else {
    for (size_t t = 0; t < (size_t)n * d; t++) xs[t] = features[t];
    memcpy(theta, weight, sizeof(double) * (size_t)class_count * d);
    memcpy(theta + (size_t)class_count * d, bias, sizeof(double) * class_count);
    logreg_problem pb = {.x = xs, .y = labels, .n = n, .d = d, .classes = class_count, .c = c,
                         .logits = logits};
    *objective = logreg_value_and_gradient(theta, grad, &pb);
  }
  free(xs);
  free(theta);
  free(grad);
  free(logits);
  return rc;
}
