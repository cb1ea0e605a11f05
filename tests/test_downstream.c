/* Downstream edge cases: the L-BFGS solver on Rosenbrock, the probe with one class, constant
 * features and bad input, k-NN with fewer samples than k and with ties, the regressions on
 * hand-computed cases and degenerate input. (Agreement with scikit-learn, NumPy and SciPy on
 * real data is tests/ref_downstream_sklearn.py.) */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downstream/lbfgs.h"
#include "vfrobust.h"
#include <unistd.h>
#include "vfr_check.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* ---- L-BFGS ------------------------------------------------------------------------- */

/* sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, minimum 0 at all ones */
static double rosenbrock(const double *x, double *g, void *context) {
  int n = *(const int *)context;
  double f = 0.0;
  for (int i = 0; i < n; i++) g[i] = 0.0;
  for (int i = 0; i + 1 < n; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
    f += 100.0 * a * a + b * b;
    g[i] += -400.0 * a * x[i] - 2.0 * b;
    g[i + 1] += 200.0 * a;
  }
  return f;
}

static void test_lbfgs(void) {
  for (int n = 2; n <= 20; n += 9) {
    double x[20];
    for (int i = 0; i < n; i++) x[i] = i % 2 ? 1.0 : -1.2;
    vfr_lbfgs_params p = {.max_iterations = 2000, .gradient_tolerance = 1e-10, .history = 10};
    vfr_lbfgs_result r;
    vfr_error e;
    CHECK(vfr_lbfgs_minimize(n, x, rosenbrock, &n, &p, &r, &e) == 0, "%s", e.message);
    double worst = 0.0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(x[i] - 1.0));
    printf("  rosenbrock n=%d: %d iterations, %d evaluations, f %.1e, |g| %.1e, max |x-1| %.1e\n", n,
           r.iterations, r.evaluations, r.value, r.gradient_norm, worst);
    CHECK(r.converged && r.gradient_norm <= 1e-10, "rosenbrock converges");
    CHECK(worst < 1e-8, "rosenbrock minimum at ones");
  }
  vfr_lbfgs_params bad = {.max_iterations = 10, .gradient_tolerance = 1e-6, .history = 0};
  double x[2] = {0, 0};
  vfr_lbfgs_result r;
  vfr_error e;
  int n = 2;
  CHECK(vfr_lbfgs_minimize(2, x, rosenbrock, &n, &bad, &r, &e) == VFR_EINVAL, "history 0 rejected");
}

/* ---- linear probe ------------------------------------------------------------------- */

static void test_probe(void) {
  vfr_error e;
  vfr_linear_probe pr;
  vfr_linear_probe_params p = vfr_linear_probe_default_params();
  CHECK(p.c == 0.0 && p.validation_fraction == 0.2 && p.standardize == 1 && p.history == 10,
        "default params");

  /* one class: all probabilities 1, prediction 0, with a chosen c as well */
  float x1[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  int y1[6] = {0, 0, 0, 0, 0, 0};
  CHECK(vfr_linear_probe_fit(x1, y1, 6, 2, 0, &p, &pr, &e) == 0, "%s", e.message);
  int pred[6] = {9, 9, 9, 9, 9, 9};
  double proba[6];
  CHECK(pr.class_count == 1 && pr.converged, "one class fits");
  CHECK(vfr_linear_probe_predict(&pr, x1, 6, 2, pred, &e) == 0 && pred[0] == 0 && pred[5] == 0,
        "one class predicts 0");
  CHECK(vfr_linear_probe_predict_proba(&pr, x1, 6, 2, proba, &e) == 0 && proba[3] == 1.0,
        "one class probability 1");
  vfr_linear_probe_free(&pr);
  CHECK(pr.weight == NULL, "free clears");

  /* constant features: the probe learns the class frequencies, 3:1 */
  float xc[8 * 3];
  int yc[8] = {0, 1, 1, 1, 1, 0, 1, 1};
  for (int i = 0; i < 8; i++) xc[3 * i] = 2.5f, xc[3 * i + 1] = -1.0f, xc[3 * i + 2] = 0.0f;
  vfr_linear_probe_params pc = p;
  pc.c = 1.0;
  pc.gradient_tolerance = 1e-12;
  for (int standardize = 0; standardize <= 1; standardize++) {
    pc.standardize = standardize;
    CHECK(vfr_linear_probe_fit(xc, yc, 8, 3, 2, &pc, &pr, &e) == 0, "%s", e.message);
    double pp[2 * 8];
    CHECK(vfr_linear_probe_predict_proba(&pr, xc, 1, 3, pp, &e) == 0, "%s", e.message);
    CHECK(near(pp[0], 0.25, 1e-9) && near(pp[1], 0.75, 1e-9), "constant features give class frequencies");
    CHECK(near(pr.bias[0] + pr.bias[1], 0.0, 1e-12), "bias centred");
    if (standardize) CHECK(pr.weight[0] == 0.0 && pr.weight[4] == 0.0, "constant columns get zero weight");
    vfr_linear_probe_free(&pr);
  }

  /* separable two classes on one informative feature next to a constant one */
  float xs[10 * 2];
  int ys[10];
  for (int i = 0; i < 10; i++) xs[2 * i] = (float)i, xs[2 * i + 1] = 7.0f, ys[i] = i >= 5;
  CHECK(vfr_linear_probe_fit(xs, ys, 10, 2, 2, &pc, &pr, &e) == 0, "%s", e.message);
  int ps[10];
  CHECK(vfr_linear_probe_predict(&pr, xs, 10, 2, ps, &e) == 0, "%s", e.message);
  int right = 0;
  for (int i = 0; i < 10; i++) right += ps[i] == ys[i];
  CHECK(right == 10, "separable data classified");
  CHECK(pr.weight[2] > 0 && pr.weight[0] < 0 && pr.weight[1] == 0.0 && pr.weight[3] == 0.0,
        "weights point the right way");
  CHECK(vfr_linear_probe_predict(&pr, xs, 10, 3, ps, &e) == VFR_EINVAL && strstr(e.message, "dimension"),
        "wrong dimension at predict");
  float xbad[2] = {1.0f, NAN};
  CHECK(vfr_linear_probe_predict(&pr, xbad, 1, 2, ps, &e) == VFR_EINVAL && strstr(e.message, "non-finite"),
        "NaN at predict");
  vfr_linear_probe_free(&pr);

  /* determinism of the validation choice */
  vfr_linear_probe a, b;
  float xr[40 * 3];
  int yr[40];
  unsigned s = 12345;
  for (int i = 0; i < 40; i++) {
    yr[i] = i % 3;
    for (int j = 0; j < 3; j++) {
      s = s * 1103515245u + 12345u;
      xr[3 * i + j] = (float)((s >> 16) % 1000) / 500.0f + (j == yr[i] ? 1.0f : 0.0f);
    }
  }
  CHECK(vfr_linear_probe_fit(xr, yr, 40, 3, 3, NULL, &a, &e) == 0, "%s", e.message);
  CHECK(vfr_linear_probe_fit(xr, yr, 40, 3, 3, NULL, &b, &e) == 0, "%s", e.message);
  CHECK(a.c == b.c && !memcmp(a.weight, b.weight, sizeof(double) * 9) && a.validation_accuracy >= 0,
        "same seed, same probe");
  vfr_linear_probe_free(&a);
  vfr_linear_probe_free(&b);

  /* bad input */
  float xn[4] = {1, 2, NAN, 4};
  int yn[2] = {0, 1};
  CHECK(vfr_linear_probe_fit(xn, yn, 2, 2, 2, &pc, &pr, &e) == VFR_EINVAL &&
            strstr(e.message, "row 1, column 0"), "NaN feature named");
  float xok[4] = {1, 2, 3, 4};
  int yo[2] = {0, 2};
  CHECK(vfr_linear_probe_fit(xok, yo, 2, 2, 2, &pc, &pr, &e) == VFR_EINVAL && strstr(e.message, "label 2"),
        "label out of range");
  int yneg[2] = {0, -1};
  CHECK(vfr_linear_probe_fit(xok, yneg, 2, 2, 0, &pc, &pr, &e) == VFR_EINVAL, "negative label");
  CHECK(vfr_linear_probe_fit(xok, yn, 0, 2, 2, &pc, &pr, &e) == VFR_EINVAL, "no rows");
  CHECK(vfr_linear_probe_fit(xok, yn, 2, 2, 2, NULL, &pr, &e) == VFR_EINVAL && strstr(e.message, "validation"),
        "two samples cannot be split for validation");
  vfr_linear_probe_params pg = p;
  double grid[2] = {1.0, -1.0};
  pg.c_grid = grid, pg.c_grid_count = 2;
  CHECK(vfr_linear_probe_fit(xr, yr, 40, 3, 3, &pg, &pr, &e) == VFR_EINVAL && strstr(e.message, "grid"),
        "negative grid value");
  double obj;
  double w[4] = {0}, bb[2] = {0};
  CHECK(vfr_linear_probe_objective(xok, yn, 2, 2, 2, w, bb, 1.0, &obj, &e) == 0 && near(obj, log(2.0), 1e-15),
        "objective at zero is log C");
}

/* ---- k-NN ----------------------------------------------------------------------------- */

static void test_knn(void) {
  vfr_error e;
  vfr_knn_params p = vfr_knn_default_params();
  CHECK(p.k == 20 && p.temperature == 0.07, "default knn params");
  /* three training points, k = 20: all vote */
  float tr[3 * 2] = {1, 0, 0, 1, 1, 1};
  int lab[3] = {0, 1, 1};
  float q[2] = {1, 0.2f};
  int pred;
  double sc[2];
  CHECK(vfr_knn_classify(tr, lab, 3, 2, 2, q, 1, &p, &pred, sc, &e) == 0, "%s", e.message);
  double q1 = 0.2f, qn = sqrt(1 + q1 * q1);
  double s0 = 1 / qn, s1 = q1 / qn, s2 = (1 + q1) / (qn * sqrt(2.0));
  CHECK(near(sc[0], exp(s0 / 0.07), 1e-9 * sc[0]) &&
            near(sc[1], exp(s1 / 0.07) + exp(s2 / 0.07), 1e-9 * sc[1]), "n < k: all vote");
  CHECK(pred == (sc[1] > sc[0]), "argmax");

  /* tied scores go to the lower class; tied similarities to the lower training index */
  float tt[3 * 2] = {1, 1, 1, 1, -1, 0};
  int lt[3] = {1, 0, 0};
  float qq[2] = {2, 2};
  vfr_knn_params p2 = {.k = 2, .temperature = 0.1};
  CHECK(vfr_knn_classify(tt, lt, 3, 2, 2, qq, 1, &p2, &pred, sc, &e) == 0 && pred == 0 && sc[0] == sc[1],
        "equal scores: lowest class");
  vfr_knn_params p1 = {.k = 1, .temperature = 0.1};
  CHECK(vfr_knn_classify(tt, lt, 3, 2, 2, qq, 1, &p1, &pred, NULL, &e) == 0 && pred == 1,
        "equal similarity: lower training index");

  /* bad input */
  float tz[4] = {0, 0, 1, 1};
  int l2[2] = {0, 1};
  CHECK(vfr_knn_classify(tz, l2, 2, 2, 2, q, 1, &p, &pred, NULL, &e) == VFR_EINVAL && strstr(e.message, "zero norm"),
        "zero-norm row");
  float tn[4] = {1, NAN, 1, 1};
  CHECK(vfr_knn_classify(tn, l2, 2, 2, 2, q, 1, &p, &pred, NULL, &e) == VFR_EINVAL && strstr(e.message, "non-finite"),
        "NaN train row");
  float qnan[2] = {INFINITY, 1};
  CHECK(vfr_knn_classify(tr, lab, 3, 2, 2, qnan, 1, &p, &pred, NULL, &e) == VFR_EINVAL && strstr(e.message, "query"),
        "infinite query");
  int l3[3] = {0, 1, 5};
  CHECK(vfr_knn_classify(tr, l3, 3, 2, 2, q, 1, &p, &pred, NULL, &e) == VFR_EINVAL, "label out of range");
  vfr_knn_params pk = {.k = 0, .temperature = 0.07};
  CHECK(vfr_knn_classify(tr, lab, 3, 2, 2, q, 1, &pk, &pred, NULL, &e) == VFR_EINVAL, "k = 0");
  vfr_knn_params pt = {.k = 5, .temperature = 1e-4};
  CHECK(vfr_knn_classify(tr, lab, 3, 2, 2, q, 1, &pt, &pred, NULL, &e) == VFR_EINVAL, "overflowing temperature");
  CHECK(vfr_knn_classify(tr, lab, 3, 2, 2, q, 0, &p, NULL, NULL, &e) == 0, "no queries is fine");
}

/* ---- regressions ---------------------------------------------------------------------- */

static void test_regression(void) {
  vfr_error e;
  vfr_linear_fit f;
  double x[4] = {0, 1, 2, 3}, y[4] = {1, 3, 5, 7};
  CHECK(vfr_linear_fit_compute(x, y, 4, &f, &e) == 0 && near(f.slope, 2, 1e-15) && near(f.intercept, 1, 1e-15) &&
            near(f.pearson_r, 1, 1e-15) && near(f.r2, 1, 1e-15) && f.n == 4, "exact line");
  double y2[4] = {1, 0, 1, 0}; /* r = -2/sqrt(5 * 1) */
  CHECK(vfr_linear_fit_compute(x, y2, 4, &f, &e) == 0 && near(f.slope, -0.2, 1e-15) && near(f.intercept, 0.8, 1e-15) &&
            near(f.pearson_r, -1 / sqrt(5.0), 1e-15) && near(f.r2, 0.2, 1e-15), "hand-computed fit");
  double yc[4] = {0.5, 0.5, 0.5, 0.5};
  CHECK(vfr_linear_fit_compute(x, yc, 4, &f, &e) == 0 && f.slope == 0 && f.intercept == 0.5 && f.pearson_r == 0 &&
            f.r2 == 0, "constant y: r = 0");
  double xc[4] = {2, 2, 2, 2};
  CHECK(vfr_linear_fit_compute(xc, y, 4, &f, &e) == VFR_EINVAL && strstr(e.message, "equal"), "constant x");
  CHECK(vfr_linear_fit_compute(x, y, 1, &f, &e) == VFR_EINVAL, "one point");
  double xn[2] = {0, NAN};
  CHECK(vfr_linear_fit_compute(xn, y, 2, &f, &e) == VFR_EINVAL && strstr(e.message, "non-finite"), "NaN");

  /* per image: 6 images into 3 bins of 2 */
  double dr[6] = {0.5, 0.1, 0.3, 0.2, 0.6, 0.4};
  int correct[6] = {0, 1, 1, 1, 0, 1};
  vfr_per_image_regression r;
  CHECK(vfr_per_image_regression_compute(dr, correct, 6, 3, &r, &e) == 0, "%s", e.message);
  CHECK(r.bin_count == 3 && r.bins[0].count == 2 && near(r.bins[0].mean_dr, 0.15, 1e-15) &&
            r.bins[0].accuracy == 1.0 && near(r.bins[1].mean_dr, 0.35, 1e-15) && r.bins[1].accuracy == 1.0 &&
            near(r.bins[2].mean_dr, 0.55, 1e-15) && r.bins[2].accuracy == 0.0 && r.bins[2].dr_min == 0.5 &&
            r.bins[2].dr_max == 0.6, "bins");
  /* fit over (0.15,1) (0.35,1) (0.55,0): Sxx 0.08, Sxy -0.2, slope -2.5, intercept 2/3 + 2.5 0.35 */
  CHECK(near(r.binned.slope, -2.5, 1e-12) && near(r.binned.intercept, 2.0 / 3 + 0.875, 1e-12) && r.binned.n == 3 &&
            r.raw.n == 6, "binned fit");
  vfr_per_image_regression_free(&r);
  CHECK(vfr_per_image_regression_compute(dr, correct, 6, 50, &r, &e) == 0 && r.bin_count == 6, "more bins than images");
  vfr_per_image_regression_free(&r);
  int bad[6] = {0, 1, 2, 1, 0, 1};
  CHECK(vfr_per_image_regression_compute(dr, bad, 6, 3, &r, &e) == VFR_EINVAL && strstr(e.message, "correct[2]"),
        "correct must be 0 or 1");
  double same[6] = {0.2, 0.2, 0.2, 0.2, 0.2, 0.2};
  CHECK(vfr_per_image_regression_compute(same, correct, 6, 3, &r, &e) == VFR_EINVAL, "all DR equal");
  CHECK(vfr_per_image_regression_compute(dr, correct, 1, 3, &r, &e) == VFR_EINVAL, "one image");

  /* across ops */
  int op[6] = {7, 7, 3, 3, 9, 9};
  double md[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, drop[6] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5};
  vfr_across_ops_regression a;
  CHECK(vfr_across_ops_regression_compute(op, md, drop, 6, &a, &e) == 0 && near(a.fit.slope, 1, 1e-12) &&
            near(a.loo_mae, 0, 1e-12) && a.loo_predictions == 6 && a.loo_skipped_ops == 0, "exact line across ops");
  int one_op[6] = {1, 1, 1, 1, 1, 1};
  CHECK(vfr_across_ops_regression_compute(one_op, md, drop, 6, &a, &e) == 0 && isnan(a.loo_mae) &&
            a.loo_predictions == 0 && a.loo_skipped_ops == 1, "one op: no leave-one-out");
}

/* ---- downstream.json ------------------------------------------------------------------ */

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void test_report_json(void) {
  vfr_error e;
  double dr[8] = {0.1, 0.5, 0.2, 0.7, 0.3, 0.05, 0.6, 0.4};
  int correct[8] = {1, 0, 1, 0, 1, 1, 1, 0};
  vfr_per_image_regression pi;
  CHECK(vfr_per_image_regression_compute(dr, correct, 8, 4, &pi, &e) == 0, "%s", e.message);
  int op[4] = {0, 0, 1, 1};
  double md[4] = {0.1, 0.3, 0.2, 0.5}, drop[4] = {0.05, 0.2, 0.1, 0.4};
  vfr_across_ops_regression ao;
  CHECK(vfr_across_ops_regression_compute(op, md, drop, 4, &ao, &e) == 0, "%s", e.message);
  vfr_level_accuracy levels[2] = {{"jpeg", 10, 0.5, 8}, {"jpeg", 100, 0.875, 8}};
  vfr_op_drop ops[2] = {{"jpeg", "10..100", 0.2, 0.1875}, {"hue", "-0.1..0.1", NAN, 0.0}};
  vfr_downstream_report rep = {.protocol = "linear", .clean_accuracy = 0.9, .per_level = levels,
                               .per_level_count = 2, .per_op = ops, .per_op_count = 2,
                               .per_image = &pi, .across_ops = &ao};
  char dir[] = "/tmp/vfr_downstream_XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return;
  }
  char path[256];
  snprintf(path, sizeof path, "%s/downstream.json", dir);
  CHECK(vfr_downstream_report_write_json(path, &rep, &e) == 0, "%s", e.message);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  CHECK(root != NULL, "downstream.json parses");
  if (root) {
    json_t *reg = json_object_get(root, "regression");
    json_t *pij = json_object_get(reg, "per_image"), *aoj = json_object_get(reg, "across_ops");
    json_t *bins = json_object_get(pij, "bins");
    CHECK(!strcmp(json_string_value(json_object_get(root, "protocol")), "linear") &&
              num(root, "clean_accuracy") == 0.9, "protocol and clean accuracy");
    json_t *l1 = json_array_get(json_object_get(root, "per_level"), 1);
    CHECK(json_array_size(json_object_get(root, "per_level")) == 2 && num(l1, "level") == 100 &&
              num(l1, "accuracy") == 0.875 && json_integer_value(json_object_get(l1, "n")) == 8, "per_level");
    json_t *o1 = json_array_get(json_object_get(root, "per_op"), 1);
    CHECK(json_is_null(json_object_get(o1, "mean_dr")) &&
              !strcmp(json_string_value(json_object_get(o1, "domain")), "-0.1..0.1"), "per_op, NaN as null");
    CHECK(num(pij, "slope") == pi.binned.slope && num(pij, "intercept") == pi.binned.intercept &&
              num(pij, "r2") == pi.binned.r2 && num(pij, "pearson_r") == pi.binned.pearson_r,
          "per_image is the binned fit, exactly");
    CHECK(json_array_size(bins) == 4 && num(json_array_get(bins, 3), "mean_dr") == pi.bins[3].mean_dr &&
              num(json_object_get(pij, "raw"), "slope") == pi.raw.slope, "bins and raw fit");
    CHECK(num(aoj, "slope") == ao.fit.slope && num(aoj, "leave_one_op_out_mae") == ao.loo_mae &&
              json_integer_value(json_object_get(aoj, "leave_one_op_out_predictions")) == 4, "across_ops");
    json_decref(root);
  }
  rep.per_image = NULL;
  rep.across_ops = NULL;
  CHECK(vfr_downstream_report_write_json(path, &rep, &e) == 0, "%s", e.message);
  root = json_load_file(path, 0, &je);
  CHECK(root && json_is_null(json_object_get(json_object_get(root, "regression"), "per_image")),
        "absent regression is null");
  json_decref(root);
  remove(path);
  rmdir(dir);
  char bad[300];
  snprintf(bad, sizeof bad, "%s/no/such/dir/downstream.json", dir);
  CHECK(vfr_downstream_report_write_json(bad, &rep, &e) == VFR_EIO && strstr(e.message, "cannot write"),
        "unwritable path");
  vfr_per_image_regression_free(&pi);
}

int main(void) {
  test_lbfgs();
  test_probe();
  test_knn();
  test_regression();
  test_report_json();
  printf("test_downstream: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
