/* Downstream tasks on embeddings: a linear probe, k-NN classification (as in DINO), and the
 * regressions that test whether robustness predicts downstream damage (SPEC section 4).
 *
 * Everything here works on plain arrays of embeddings, independent of any model.
 * The maths and the choices are written out in docs/downstream.md. */
#ifndef VFROBUST_DOWNSTREAM_H
#define VFROBUST_DOWNSTREAM_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear probe: multinomial logistic regression with an L2 penalty ----------------
 *
 * For features x_i (d), labels y_i in [0, C) and a regularisation strength c > 0, the fit
 * minimises, over W (C, d) and b (C),
 *     f(W, b) = (1/n) sum_i [ logsumexp_k(W_k.x_i + b_k) - (W_{y_i}.x_i + b_{y_i}) ]
 *               + ||W||^2 / (2 c n)
 * which is scikit-learn's LogisticRegression(multi_class='multinomial', C=c) objective
 * (c * sum of losses + ||W||^2 / 2, intercept not penalised) divided by c n: the same
 * minimiser. The solver is L-BFGS in double precision, started from zero. */

typedef struct vfr_linear_probe_params {
  double c;                   /* > 0: use this c; <= 0: choose c by validation on c_grid */
  const double *c_grid;       /* (c_grid_count) candidates; NULL: 10^-3, 10^-2, ..., 10^3 */
  int c_grid_count;
  double validation_fraction; /* share of each class held out to choose c (default 0.2) */
  uint64_t seed;              /* makes the validation split deterministic (default 0) */
  int standardize;            /* 1: fit on z-scored features (default 1); see below */
  int max_iterations;         /* L-BFGS iterations per fit (default 1000) */
  double gradient_tolerance;  /* stop when max |gradient entry| <= this (default 1e-6) */
  int history;                /* L-BFGS memory, pairs kept (default 10) */
} vfr_linear_probe_params;

VFR_API vfr_linear_probe_params vfr_linear_probe_default_params(void);

/* A fitted probe. logits = W x + b on the features as given: when the fit standardised the
 * features, the mean and scale are folded into W and b (W_kj / scale_j, b_k - sum_j W_kj
 * mean_j / scale_j), so callers never standardise themselves. */
typedef struct vfr_linear_probe {
  int class_count;            /* C */
  int dim;                    /* d */
  double *weight;             /* (C, d) row-major */
  double *bias;               /* (C), centred to sum 0 (softmax ignores a common shift) */
  double c;                   /* the regularisation strength used for the final fit */
  double validation_accuracy; /* of the chosen c on the held-out split; -1 when c was given */
  double objective;           /* f at the solution, in the space the fit ran in */
  double gradient_norm;       /* max |gradient entry| at the solution */
  int iterations;             /* L-BFGS iterations of the final fit */
  int converged;              /* 1 when the gradient tolerance was met */
} vfr_linear_probe;

/* Fits a probe. features is (n, d) row-major; labels is (n), each in [0, class_count).
 * class_count <= 0 means max(label) + 1. Non-finite features, labels out of range and a
 * validation split that leaves no training or no validation sample are errors (VFR_EINVAL).
 * Not converging within max_iterations is not an error: see probe->converged.
 * On success the caller frees the probe with vfr_linear_probe_free. */
VFR_API int vfr_linear_probe_fit(const float *features, const int *labels, int n, int d, int class_count,
                         const vfr_linear_probe_params *params, vfr_linear_probe *probe,
                         vfr_error *err);
VFR_API void vfr_linear_probe_free(vfr_linear_probe *probe);

/* Class probabilities (softmax of the logits): features (n, d), probabilities (n, C). */
VFR_API int vfr_linear_probe_predict_proba(const vfr_linear_probe *probe, const float *features, int n,
                                   int d, double *probabilities, vfr_error *err);
/* Predicted classes (argmax of the logits, ties to the lowest index): predicted (n). */
VFR_API int vfr_linear_probe_predict(const vfr_linear_probe *probe, const float *features, int n, int d,
                             int *predicted, vfr_error *err);

/* The objective f(W, b) above for given weight (C, d) and bias (C) on features (n, d),
 * labels (n): lets tests compare solutions found by different solvers. No standardisation. */
VFR_API int vfr_linear_probe_objective(const float *features, const int *labels, int n, int d,
                               int class_count, const double *weight, const double *bias, double c,
                               double *objective, vfr_error *err);

/* ---- k-nearest neighbours, weighted as in DINO ---------------------------------------
 *
 * Features are L2-normalised; similarity is the cosine. For each query the k most similar
 * training samples vote with weight exp(similarity / temperature); a class's score is the
 * sum of its voters' weights; the prediction is the class with the highest score, ties to
 * the lowest class index. Equal similarities rank the lower training index first. When
 * there are fewer than k training samples all of them vote. Exact: brute force, in double. */

typedef struct vfr_knn_params {
  int k;              /* neighbours (default 20) */
  double temperature; /* T in exp(sim / T) (default 0.07) */
} vfr_knn_params;

VFR_API vfr_knn_params vfr_knn_default_params(void);

/* train is (n_train, d) with train_labels (n_train) in [0, class_count); query is
 * (n_query, d); predicted is (n_query); scores (n_query, class_count) may be NULL.
 * Zero-norm or non-finite rows are errors. */
VFR_API int vfr_knn_classify(const float *train, const int *train_labels, int n_train, int d,
                     int class_count, const float *query, int n_query,
                     const vfr_knn_params *params, int *predicted, double *scores, vfr_error *err);

/* ---- regression: does robustness predict downstream damage? ---------------------------- */

/* Least squares y = intercept + slope x, with r2 = pearson_r^2 (true for a simple linear
 * fit with an intercept). When all y are equal pearson_r and r2 are 0 (scipy's
 * linregress convention). */
typedef struct vfr_linear_fit {
  double slope;
  double intercept;
  double r2;
  double pearson_r;
  int n; /* points fitted */
} vfr_linear_fit;

/* Fits y (n) against x (n). Fewer than 2 points, all x equal, or a non-finite value is
 * VFR_EINVAL. */
VFR_API int vfr_linear_fit_compute(const double *x, const double *y, int n, vfr_linear_fit *fit,
                           vfr_error *err);

/* One bin of images, ordered by divergence radius. */
typedef struct vfr_dr_bin {
  double dr_min;   /* smallest DR in the bin */
  double dr_max;   /* largest DR in the bin */
  double mean_dr;  /* mean DR of its images */
  double accuracy; /* fraction of its images classified correctly */
  int count;       /* images in the bin */
} vfr_dr_bin;

/* Per-image prediction analysis. Images are sorted by DR (ties by index) and cut into
 * bin_count bins of equal count (bin j holds sorted positions [j n / B, (j+1) n / B),
 * integer division, so sizes differ by at most one); with fewer images than bins each
 * image is a bin. `binned` fits accuracy against mean DR over the bins (what downstream.json
 * reports as per_image slope, intercept, r2, pearson_r); `raw` fits correct (0 or 1)
 * against DR over the images. */
typedef struct vfr_per_image_regression {
  vfr_linear_fit binned;
  vfr_linear_fit raw;
  int bin_count;      /* bins used */
  vfr_dr_bin *bins;   /* (bin_count), owned; free with vfr_per_image_regression_free */
} vfr_per_image_regression;

/* dr (n) divergence radii, correct (n) 0 or 1. bin_count <= 0 means 10. */
VFR_API int vfr_per_image_regression_compute(const double *dr, const int *correct, int n, int bin_count,
                                     vfr_per_image_regression *out, vfr_error *err);
VFR_API void vfr_per_image_regression_free(vfr_per_image_regression *r);

/* Across (op, domain) pairs: accuracy_drop = intercept + slope * mean_dr, and the
 * leave-one-op-out error: for each op, fit on the pairs of all other ops and predict the
 * drops of that op's pairs; the mean absolute error over all such predictions. An op whose
 * complement cannot be fitted (fewer than 2 pairs or all mean_dr equal) is skipped and
 * counted in loo_skipped_ops; loo_mae is NaN when nothing could be predicted. */
typedef struct vfr_across_ops_regression {
  vfr_linear_fit fit;
  double loo_mae;
  int loo_predictions; /* held-out pairs predicted */
  int loo_skipped_ops; /* ops left out of the leave-one-op-out error */
} vfr_across_ops_regression;

/* op (n_pairs) an op identifier per pair (any ints: equal ids are the same op);
 * mean_dr (n_pairs) and accuracy_drop (n_pairs) per pair. */
VFR_API int vfr_across_ops_regression_compute(const int *op, const double *mean_dr,
                                      const double *accuracy_drop, int n_pairs,
                                      vfr_across_ops_regression *out, vfr_error *err);

/* ---- downstream.json (SPEC section 8) ------------------------------------------------- */

/* Accuracy on the test images perturbed at one level of one op. */
typedef struct vfr_level_accuracy {
  const char *op;  /* op name, e.g. "jpeg" */
  double level;    /* the parameter value */
  double accuracy; /* fraction in [0, 1] */
  int n;           /* images classified */
} vfr_level_accuracy;

/* One (op, domain) pair of the across-ops analysis. */
typedef struct vfr_op_drop {
  const char *op;       /* op name */
  const char *domain;   /* the domain as written in a SPEC, e.g. "10..100" */
  double mean_dr;       /* mean divergence radius over the images */
  double accuracy_drop; /* clean accuracy minus mean accuracy over the domain's levels */
} vfr_op_drop;

/* Everything downstream.json holds; the regressions may be NULL (written as null). */
typedef struct vfr_downstream_report {
  const char *protocol; /* "linear", "knn" or "zeroshot" */
  double clean_accuracy;
  const vfr_level_accuracy *per_level; /* (per_level_count) */
  int per_level_count;
  const vfr_op_drop *per_op;           /* (per_op_count) */
  int per_op_count;
  const vfr_per_image_regression *per_image;
  const vfr_across_ops_regression *across_ops;
} vfr_downstream_report;

/* Writes the report as JSON to path (through a temporary file renamed into place):
 * {protocol, clean_accuracy, per_level: [{op, level, accuracy, n}],
 *  per_op: [{op, domain, mean_dr, accuracy_drop}],
 *  regression: {per_image: {slope, intercept, r2, pearson_r, n_bins,
 *                           bins: [{dr_min, dr_max, mean_dr, accuracy, n}],
 *                           raw: {slope, intercept, r2, pearson_r, n}},
 *               across_ops: {slope, intercept, r2, pearson_r, n, leave_one_op_out_mae,
 *                            leave_one_op_out_predictions, leave_one_op_out_skipped_ops}}}.
 * Non-finite numbers are written as null. */
VFR_API int vfr_downstream_report_write_json(const char *path, const vfr_downstream_report *report,
                                     vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
