/* The report's fine-tuning section: when the studied model is the output of `vfrobust
 * finetune` (its folder holds finetune.json), the run's loss curve per step and its
 * before/after evaluation per op. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/finetune_section.h"
#include "report/page.h"

static double num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static void cell(strbuf *b, double v, const char *spec) {
  if (isfinite(v)) sb_printf(b, spec, v);
  else sb_puts(b, "<td>&ndash;</td>");
}

/* loss, L1 and L2 against the step (steps: finetune.json's "steps", n >= 1). */
static int loss_figure(strbuf *b, const char *dir, json_t *steps, vfr_error *err) {
  size_t n = json_array_size(steps);
  double *x = malloc(sizeof(double) * n * 4);
  if (!x) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  double *y[3] = {x + n, x + 2 * n, x + 3 * n}, lo = INFINITY, hi = -INFINITY;
  const char *keys[3] = {"loss", "l1", "l2"};
  for (size_t i = 0; i < n; i++) {
    x[i] = (double)(i + 1);
    for (int k = 0; k < 3; k++) {
      y[k][i] = num(json_array_get(steps, i), keys[k]);
      if (isfinite(y[k][i])) {
        lo = fmin(lo, y[k][i]);
        hi = fmax(hi, y[k][i]);
      }
    }
  }
  if (!(hi >= lo)) lo = -1, hi = 0;
  double pad = (hi - lo) * 0.08 + 1e-6;
  svg_plot p = {1, n > 1 ? (double)n : 2, lo - pad, hi + pad * 4, 520, 280, 60, 16, 24, 34,
                "fine-tuning loss per step", "step", "loss", NULL, 0, 0, 0, 0};
  strbuf svg = {0};
  svg_begin(&svg, &p);
  const char *names[3] = {"L = L1 + \xce\xbb L2", "L1 (clean vs perturbed)", "L2 (tuned vs original)"};
  for (int k = 0; k < 3; k++) {
    svg_path(&svg, &p, x, y[k], (int)n, svg_color(k));
    svg_legend(&svg, &p, k, names[k], svg_color(k), 0);
  }
  svg_end(&svg);
  int rc = page_add_figure(b, dir, "finetune-loss", &svg, err);
  sb_free(&svg);
  free(x);
  return rc;
}

static void eval_table(strbuf *b, json_t *ev) {
  json_t *before = json_object_get(ev, "before"), *after = json_object_get(ev, "after");
  json_t *dr0 = json_object_get(before, "mean_dr"), *dr1 = json_object_get(after, "mean_dr");
  sb_printf(b, "<p>Evaluation of the run on %.0f held-out images, %.0f levels per op domain: mean DR "
               "of the original model f and the tuned f&prime;.</p>\n",
            num(ev, "images"), num(ev, "levels"));
  sb_puts(b, "<table class=\"finetune\"><tr><th>op</th><th>mean DR before</th><th>mean DR after</th>"
             "<th>change</th></tr>");
  const char *key;
  json_t *v;
  json_object_foreach(dr0, key, v) {
    double a = json_number_value(v), c = num(dr1, key);
    sb_puts(b, "<tr><td>");
    sb_escape(b, key);
    sb_puts(b, "</td>");
    cell(b, a, "<td>%.4f</td>");
    cell(b, c, "<td>%.4f</td>");
    cell(b, a > 0 ? 100 * (c - a) / a : NAN, "<td>%+.1f%%</td>");
    sb_puts(b, "</tr>");
  }
  sb_puts(b, "</table>\n");
  double k0 = num(before, "knn_accuracy"), k1 = num(after, "knn_accuracy");
  json_t *cc = json_object_get(ev, "clean_cosine_to_original");
  sb_puts(b, "<p>");
  if (isfinite(k0) && isfinite(k1))
    sb_printf(b, "Clean k-NN accuracy %.4f before, %.4f after. ", k0, k1);
  if (isfinite(num(cc, "mean")))
    sb_printf(b, "Clean cosine of f&prime;(x) to f(x): mean %.4f, min %.4f.", num(cc, "mean"), num(cc, "min"));
  sb_puts(b, "</p>\n");
}

int report_section_finetune(strbuf *b, const char *dir, const char *model_dir, vfr_error *err) {
  if (!model_dir || !*model_dir) return VFR_OK;
  char path[4096];
  snprintf(path, sizeof path, "%s/finetune.json", model_dir);
  if (access(path, R_OK) != 0) return VFR_OK; /* not a tuned model */
  json_error_t je;
  json_t *ft = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je); /* 64-bit noise seeds */
  if (!ft) return vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  json_t *st = json_object_get(ft, "settings"), *steps = json_object_get(ft, "steps");
  json_t *ops = json_object_get(ft, "ops");
  sb_puts(b, "<h2>Fine-tuning</h2>\n<p>The model was tuned from ");
  sb_escape(b, json_string_value(json_object_get(ft, "model")) ? json_string_value(json_object_get(ft, "model")) : "?");
  sb_puts(b, " on ");
  for (size_t i = 0; i < json_array_size(ops); i++) {
    if (i) sb_puts(b, ", ");
    const char *s = json_string_value(json_array_get(ops, i));
    sb_escape(b, s ? s : "?");
  }
  sb_printf(b, ": %.0f steps of %.0f images (%.0f epochs over %.0f), &lambda; %g, peak lr %.3g, warmup %.0f "
               "steps, %.0f s.</p>\n",
            num(st, "steps"), num(st, "batch"), num(st, "epochs"), num(st, "images"), num(st, "lambda"),
            num(st, "lr"), num(st, "warmup"), num(ft, "train_seconds"));
  int rc = VFR_OK;
  if (json_array_size(steps) > 0) rc = loss_figure(b, dir, steps, err);
  json_t *ev = json_object_get(ft, "evaluation");
  if (!rc && json_is_object(ev)) eval_table(b, ev);
  json_decref(ft);
  return rc;
}
