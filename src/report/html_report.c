/* report.html: tables and plots of a study folder (see include/vfrobust/report.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/depth_section.h"
#include "report/finetune_section.h"
#include "report/page.h"
#include "report/study_json.h"
#include "report/svg.h"
#include "study/csv.h"
#include "vfrobust/report.h"

static double num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* The colour of an op: its position in summary.json's per_op (`hint` first, then by name),
 * so that an op has one colour in every plot and table. */
static const char *op_color(json_t *summary, const char *op, int hint) {
  json_t *per_op = json_object_get(summary, "per_op");
  if (hint >= 0 && !strcmp(str(json_array_get(per_op, (size_t)hint), "op"), op)) return svg_color(hint);
  size_t i;
  json_t *o;
  json_array_foreach(per_op, i, o) if (!strcmp(str(o, "op"), op)) return svg_color((int)i);
  return svg_color(hint >= 0 ? hint : 7);
}

/* v with printf format spec (one %f-style conversion) into buf, or "n/a" when v is not finite
 * (a regression written as null). */
static const char *fmt(char *buf, size_t size, const char *spec, double v) {
  if (!isfinite(v)) return "n/a";
  snprintf(buf, size, spec, v);
  return buf;
}

static void stats_row(strbuf *b, json_t *st) {
  const char *keys[] = {"mean", "std", "median", "p10", "p90"};
  for (int i = 0; i < 5; i++) {
    double v = num(st, keys[i]);
    const char *cls = i == 0 ? " class=\"first\"" : "";
    if (isfinite(v)) sb_printf(b, "<td%s>%.4f</td>", cls, v);
    else sb_printf(b, "<td%s>-</td>", cls);
  }
}

static int section_summary(strbuf *b, json_t *summary) {
  json_t *images = json_object_get(summary, "images");
  sb_puts(b, "<h2>Study</h2>\n<table class=\"settings\">");
  const char *keys[] = {"model", "model_dir", "data", "ops"};
  for (int i = 0; i < 4; i++) {
    json_t *v = json_object_get(summary, keys[i]);
    sb_printf(b, "<tr><th>%s</th><td>", keys[i]);
    sb_escape(b, json_is_string(v) ? json_string_value(v) : "");
    sb_puts(b, "</td></tr>");
  }
  char levels[96];
  vfr_study_levels_text(summary, levels, sizeof levels);
  sb_printf(b, "<tr><th>levels per op</th><td>%s</td></tr><tr><th>seed</th><td>%.0f</td></tr>", levels,
            num(summary, "seed"));
  sb_printf(b, "<tr><th>perturbations applied</th><td>%s</td></tr>",
            json_is_true(json_object_get(summary, "perturb_after_preprocess")) ? "after preprocessing (to the model-sized crop)"
                                                                              : "before preprocessing (to the image as loaded)");
  sb_printf(b, "<tr><th>images</th><td>%.0f used of %.0f (%.0f skipped)</td></tr></table>\n", num(images, "used"),
            num(images, "total"), num(images, "skipped"));
  json_t *skipped = json_object_get(images, "skipped_files");
  if (json_array_size(skipped) > 0) {
    sb_puts(b, "<h3>Skipped images</h3><table class=\"skipped\"><tr><th>file</th><th>reason</th></tr>");
    size_t i;
    json_t *s;
    json_array_foreach(skipped, i, s) {
      sb_puts(b, "<tr><td>");
      sb_escape(b, json_string_value(json_object_get(s, "file")) ? json_string_value(json_object_get(s, "file")) : "");
      sb_puts(b, "</td><td>");
      sb_escape(b, json_string_value(json_object_get(s, "reason")) ? json_string_value(json_object_get(s, "reason")) : "");
      sb_puts(b, "</td></tr>");
    }
    sb_puts(b, "</table>\n");
  }
  sb_puts(b, "<h2>Robustness per op</h2>\n<p>Per image: the Divergence Radius (DR) of its clean and perturbed "
             "embeddings, and R_cs, R_ed; statistics over the images used (n).</p>\n"
             "<table class=\"summary\"><tr><th rowspan=2>op</th><th rowspan=2>domain</th><th rowspan=2>levels</th>"
             "<th rowspan=2>n</th>"
             "<th colspan=5 class=\"group\">DR</th><th colspan=5 class=\"group\">R_cs</th>"
             "<th colspan=5 class=\"group\">R_ed</th></tr>\n<tr>");
  for (int g = 0; g < 3; g++)
    sb_puts(b, "<th class=\"first\">mean</th><th>std</th><th>median</th><th>p10</th><th>p90</th>");
  sb_puts(b, "</tr>\n");
  size_t i;
  json_t *op;
  json_array_foreach(json_object_get(summary, "per_op"), i, op) {
    sb_puts(b, "<tr><td>");
    page_swatch(b, svg_color((int)i));
    sb_escape(b, str(op, "op"));
    sb_puts(b, "</td><td>");
    sb_escape(b, json_string_value(json_object_get(op, "domain")) ? json_string_value(json_object_get(op, "domain")) : "");
    sb_printf(b, "</td><td>%d</td><td>%.0f</td>", vfr_study_op_level_count(op), num(op, "n"));
    stats_row(b, json_object_get(op, "dr"));
    stats_row(b, json_object_get(op, "r_cs"));
    stats_row(b, json_object_get(op, "r_ed"));
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</table>\n");
  return VFR_OK;
}

/* The ops side by side: mean DR per op with its p10..p90 range, in the study's order. */
static int section_overview(strbuf *b, const char *dir, json_t *summary, vfr_error *err) {
  json_t *per_op = json_object_get(summary, "per_op");
  size_t n = json_array_size(per_op);
  if (n == 0) return VFR_OK;
  double *v = malloc(sizeof(double) * n * 3);
  const char **labels = malloc(sizeof(char *) * n), **colors = malloc(sizeof(char *) * n);
  if (!v || !labels || !colors) {
    free(v);
    free(labels);
    free(colors);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  double *lo = v + n, *hi = v + 2 * n, top = 1e-6;
  for (size_t i = 0; i < n; i++) {
    json_t *dr = json_object_get(json_array_get(per_op, i), "dr");
    v[i] = num(dr, "mean");
    lo[i] = num(dr, "p10");
    hi[i] = num(dr, "p90");
    if (isfinite(hi[i]) && hi[i] > top) top = hi[i];
    if (isfinite(v[i]) && v[i] > top) top = v[i];
    labels[i] = str(json_array_get(per_op, i), "op");
    colors[i] = svg_color((int)i);
  }
  svg_plot p = {0, fmin(1.0, top * 1.1), 0, (double)n, 520, 40 + 22 * (int)n, 110, 20, 24, 34,
                "mean Divergence Radius per op (whiskers: p10 to p90)", "Divergence Radius", NULL, NULL, 0, 0, 0, 1};
  strbuf svg = {0};
  svg_begin(&svg, &p);
  svg_hbars(&svg, &p, labels, v, lo, hi, (int)n, colors);
  svg_end(&svg);
  sb_puts(b, "<p>The ops side by side (a larger DR: the embedding moves further under the op, less robust).</p>\n");
  int rc = page_add_figure(b, dir, "dr-overview", &svg, err);
  sb_free(&svg);
  free(v);
  free(labels);
  free(colors);
  return rc;
}

/* One robustness curve per op (levels differ per op), from curves.csv. */
static int section_curves(strbuf *b, const char *dir, json_t *summary, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/curves.csv", dir);
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  sb_puts(b, "<h2>Robustness curves</h2>\n<p>Mean cosine similarity between clean and perturbed embeddings, per level "
             "(shaded: &plusmn; one standard deviation over images).</p>\n<div class=\"grid\">\n");
  int r = 1;
  int fig = 0;
  while (r < csv.row_count && !rc) {
    if (csv.rows[r].count < 6) { r++; continue; }
    const char *op = csv.rows[r].fields[1];
    int start = r, chain = 0;
    while (r < csv.row_count && csv.rows[r].count >= 6 && !strcmp(csv.rows[r].fields[1], op)) r++;
    int m = r - start;
    double *x = malloc(sizeof(double) * (size_t)m), *y = malloc(sizeof(double) * (size_t)m),
           *s = malloc(sizeof(double) * (size_t)m);
    if (!x || !y || !s) { free(x); free(y); free(s); rc = vfr_fail(err, VFR_ENOMEM, "out of memory"); break; }
    double ymin = 1, xmin = INFINITY, xmax = -INFINITY;
    for (int k = 0; k < m; k++) {
      char **f = csv.rows[start + k].fields;
      x[k] = strtod(f[2], NULL);
      y[k] = f[3][0] ? strtod(f[3], NULL) : NAN;
      s[k] = f[4][0] ? strtod(f[4], NULL) : NAN;
      if (!isfinite(x[k]) || !f[2][0] || strchr(f[2], ':')) { x[k] = k; chain = 1; } /* a chain: by position */
      if (isfinite(y[k]) && y[k] - (isfinite(s[k]) ? s[k] : 0) < ymin) ymin = y[k] - (isfinite(s[k]) ? s[k] : 0);
      if (x[k] < xmin) xmin = x[k];
      if (x[k] > xmax) xmax = x[k];
    }
    if (xmin == xmax) { xmin -= 0.5; xmax += 0.5; }
    if (ymin > 0.99) ymin = 0.99;
    const char *color = op_color(summary, op, fig);
    const char *domain = str(json_array_get(json_object_get(summary, "per_op"), (size_t)fig), "domain");
    char title[256];
    if (domain[0] && !strcmp(str(json_array_get(json_object_get(summary, "per_op"), (size_t)fig), "op"), op))
      snprintf(title, sizeof title, "%s (%s)", op, domain);
    else
      snprintf(title, sizeof title, "%s", op);
    svg_plot p = {xmin, xmax, floor(ymin * 100) / 100, 1.0, 320, 220, 52, 14, 24, 34, title,
                  chain ? "level (position in the chain)" : "level", "mean cosine",
                  chain ? NULL : x, chain ? 0 : m, 0, 0, 0};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    double *lo = malloc(sizeof(double) * (size_t)m), *hi = malloc(sizeof(double) * (size_t)m);
    if (lo && hi) {
      for (int k = 0; k < m; k++) {
        lo[k] = y[k] - s[k];
        hi[k] = fmin(1.0, y[k] + s[k]);
      }
      svg_band(&svg, &p, x, lo, hi, m, color);
    }
    free(lo);
    free(hi);
    svg_line(&svg, &p, x, y, m, color);
    svg_end(&svg);
    char name[128];
    snprintf(name, sizeof name, "curve-%d", fig);
    rc = page_add_figure(b, dir, name, &svg, err);
    sb_free(&svg);
    free(x);
    free(y);
    free(s);
    fig++;
  }
  sb_puts(b, "</div>\n");
  vfr_csv_free(&csv);
  return rc;
}

static int section_distributions(strbuf *b, const char *dir, json_t *summary, vfr_error *err) {
  sb_puts(b, "<h2>Divergence Radius distributions</h2>\n<p>Histogram of the per-image DR (summary.json's equal-width "
             "bins on [0, 1], shown up to the largest occupied bin); dashed: the mean.</p>\n<div class=\"grid\">\n");
  size_t i;
  json_t *op;
  int rc = VFR_OK;
  json_array_foreach(json_object_get(summary, "per_op"), i, op) {
    json_t *counts = json_object_get(json_object_get(json_object_get(op, "dr"), "histogram"), "counts");
    int bins = (int)json_array_size(counts);
    if (bins == 0) continue;
    long *c = malloc(sizeof(long) * (size_t)bins);
    if (!c) return vfr_fail(err, VFR_ENOMEM, "out of memory");
    long top = 1;
    for (int k = 0; k < bins; k++) {
      c[k] = (long)json_integer_value(json_array_get(counts, (size_t)k));
      if (c[k] > top) top = c[k];
    }
    /* zoom to the occupied part of [0, 1] */
    int last = 0;
    for (int k = 0; k < bins; k++) if (c[k]) last = k;
    int shown = last + 1 < 4 ? 4 : last + 1;
    if (shown > bins) shown = bins;
    char title[256], mean_label[64];
    snprintf(title, sizeof title, "%s (%s)", str(op, "op"), str(op, "domain"));
    svg_plot p = {0, (double)shown / bins, 0, ceil(top * 1.2), 320, 220, 52, 14, 24, 34, title, "Divergence Radius",
                  "images", NULL, 0, 1, 0, 0};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    svg_bars(&svg, &p, c, shown, svg_color((int)i));
    double mean = num(json_object_get(op, "dr"), "mean");
    snprintf(mean_label, sizeof mean_label, "mean %.3f", mean);
    svg_vline(&svg, &p, mean, mean_label, "#333");
    svg_end(&svg);
    char fig[64];
    snprintf(fig, sizeof fig, "dr-hist-%d", (int)i);
    rc = page_add_figure(b, dir, fig, &svg, err);
    sb_free(&svg);
    free(c);
    if (rc) break;
  }
  sb_puts(b, "</div>\n");
  return rc;
}

/* The fitted line's legend entry: "fit: y = a x + b". */
static void fit_legend(strbuf *svg, const svg_plot *p, int row, double slope, double icpt) {
  char text[96];
  snprintf(text, sizeof text, "fit: y = %.3f x %s %.3f", slope, icpt < 0 ? "-" : "+", fabs(icpt));
  svg_legend(svg, p, row, text, "#555", 1);
}

static int section_downstream(strbuf *b, const char *dir, json_t *summary, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/downstream.json", dir);
  if (access(path, R_OK) != 0) return VFR_OK;
  json_error_t je;
  json_t *d = json_load_file(path, 0, &je);
  if (!d) return vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  int rc = VFR_OK;
  json_t *per_op = json_object_get(d, "per_op");
  json_t *reg = json_object_get(d, "regression");
  json_t *across = json_object_get(reg, "across_ops");
  sb_puts(b, "<h2>Downstream: ");
  sb_escape(b, json_is_string(json_object_get(d, "protocol")) ? str(d, "protocol") : "?");
  char f1[32], f2[32], f3[32];
  sb_printf(b, "</h2>\n<p>Clean accuracy %s. Across ops, the accuracy drop is fitted linearly in the op's mean "
               "DR: R&sup2; = %s, leave-one-op-out mean absolute error %s.</p>\n",
            fmt(f1, sizeof f1, "%.4f", num(d, "clean_accuracy")), fmt(f2, sizeof f2, "%.3f", num(across, "r2")),
            fmt(f3, sizeof f3, "%.4f", num(across, "leave_one_op_out_mae")));
  size_t n = json_array_size(per_op);
  if (n > 0) {
    double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
    if (!x || !y) { free(x); free(y); json_decref(d); return vfr_fail(err, VFR_ENOMEM, "out of memory"); }
    double xmax = 1e-6, ymin = 0, ymax = 1e-6;
    sb_puts(b, "<div class=\"row\"><table class=\"downstream\"><tr><th>op</th><th>domain</th><th>mean DR</th>"
               "<th>accuracy drop</th></tr>");
    for (size_t i = 0; i < n; i++) {
      json_t *o = json_array_get(per_op, i);
      x[i] = num(o, "mean_dr");
      y[i] = num(o, "accuracy_drop");
      if (x[i] > xmax) xmax = x[i];
      if (y[i] > ymax) ymax = y[i];
      if (y[i] < ymin) ymin = y[i];
      sb_puts(b, "<tr><td>");
      page_swatch(b, op_color(summary, str(o, "op"), (int)i));
      sb_escape(b, str(o, "op"));
      sb_puts(b, "</td><td>");
      sb_escape(b, str(o, "domain"));
      sb_printf(b, "</td><td>%.4f</td><td>%.4f</td></tr>", x[i], y[i]);
    }
    sb_puts(b, "</table>\n");
    double slope = num(across, "slope"), icpt = num(across, "intercept"), r2 = num(across, "r2");
    char title[128];
    snprintf(title, sizeof title, "accuracy drop vs mean DR, one point per op (R\xc2\xb2 = %s)",
             fmt(f1, sizeof f1, "%.3f", r2));
    svg_plot p = {0, xmax * 1.15, ymin < 0 ? ymin * 1.1 : 0, ymax * 1.1, 520, 320, 56, 16, 28, 34, title,
                  "mean Divergence Radius", "accuracy drop", NULL, 0, 0, slope > 0, 0};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    if (isfinite(slope) && isfinite(icpt)) {
      svg_segment(&svg, &p, p.x0, icpt + slope * p.x0, p.x1, icpt + slope * p.x1, "#555");
      fit_legend(&svg, &p, 0, slope, icpt);
    }
    const char **names = malloc(sizeof(char *) * n), **colors = malloc(sizeof(char *) * n);
    if (names && colors) {
      for (size_t i = 0; i < n; i++) {
        names[i] = str(json_array_get(per_op, i), "op");
        colors[i] = op_color(summary, names[i], (int)i);
        svg_points(&svg, &p, x + i, y + i, 1, 4, colors[i]);
      }
      svg_point_labels(&svg, &p, x, y, (int)n, names, colors);
    } else {
      svg.failed = 1;
    }
    free(names);
    free(colors);
    svg_end(&svg);
    rc = page_add_figure(b, dir, "dr-vs-accuracy-drop", &svg, err);
    sb_puts(b, "</div>\n");
    sb_free(&svg);
    free(x);
    free(y);
  }
  json_t *pi = json_object_get(reg, "per_image");
  json_t *bins = json_object_get(pi, "bins");
  size_t nb = json_array_size(bins);
  if (!rc && nb > 0) {
    double *x = malloc(sizeof(double) * nb), *y = malloc(sizeof(double) * nb);
    if (!x || !y) { free(x); free(y); json_decref(d); return vfr_fail(err, VFR_ENOMEM, "out of memory"); }
    double xmax = 1e-6;
    for (size_t i = 0; i < nb; i++) {
      json_t *o = json_array_get(bins, i);
      x[i] = num(o, "mean_dr");
      y[i] = num(o, "accuracy");
      if (x[i] > xmax) xmax = x[i];
    }
    double slope = num(pi, "slope"), icpt = num(pi, "intercept");
    char title[128];
    snprintf(title, sizeof title, "accuracy vs per-image DR, binned (R\xc2\xb2 = %s, r = %s)",
             fmt(f1, sizeof f1, "%.3f", num(pi, "r2")), fmt(f2, sizeof f2, "%.3f", num(pi, "pearson_r")));
    svg_plot p = {0, xmax * 1.15, 0, 1, 520, 320, 56, 16, 28, 34, title, "Divergence Radius (bin mean)",
                  "accuracy", NULL, 0, 0, 0, 0};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    if (isfinite(slope) && isfinite(icpt)) {
      svg_segment(&svg, &p, p.x0, icpt + slope * p.x0, p.x1, icpt + slope * p.x1, "#555");
      fit_legend(&svg, &p, 0, slope, icpt);
    }
    svg_legend(&svg, &p, 1, "bin (label: images)", svg_color(0), 0);
    svg_points(&svg, &p, x, y, (int)nb, 4, svg_color(0));
    for (size_t i = 0; i < nb; i++) {
      char count[32];
      snprintf(count, sizeof count, "%.0f", num(json_array_get(bins, i), "n"));
      svg_label(&svg, &p, x[i], y[i], -4, 8, count, "#555");
    }
    svg_end(&svg);
    sb_puts(b, "<p>Per image and level: correctness of each perturbed image against the image's DR, sorted by DR "
               "into equal-count bins; each point is a bin's accuracy at its mean DR, the line the fit over the "
               "bins.</p>\n");
    rc = page_add_figure(b, dir, "dr-vs-accuracy-per-image", &svg, err);
    sb_free(&svg);
    free(x);
    free(y);
  }
  json_decref(d);
  return rc;
}

static int section_samples(strbuf *b, const char *dir, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/samples.png", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return VFR_OK;
  struct stat st;
  if (fstat(fileno(f), &st) || st.st_size > (64 << 20)) {
    fclose(f);
    return vfr_fail(err, VFR_ELIMIT, "%s: too large to inline", path);
  }
  unsigned char *p = malloc((size_t)st.st_size + 1);
  size_t n = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (!p) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  /* shown at twice its size when that fits: the PNG's width is in its IHDR chunk */
  unsigned w = n >= 24 && !memcmp(p, "\x89PNG", 4) ? (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19] : 0;
  sb_puts(b, "<h2>Samples</h2>\n<p>The first image used under every op (rows) at each of its levels (columns, "
             "the level written under each image).</p>\n<img class=\"samples\" alt=\"sample grid\" ");
  if (w > 0 && w <= 640) sb_printf(b, "style=\"width:%upx\" ", 2 * w);
  sb_puts(b, "src=\"data:image/png;base64,");
  page_base64(b, p, n);
  sb_puts(b, "\">\n");
  free(p);
  return VFR_OK;
}

int vfr_report_build(const char *dir, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/summary.json", dir);
  json_error_t je;
  json_t *summary = json_load_file(path, 0, &je);
  if (!summary) {
    if (access(path, F_OK) != 0) return vfr_fail(err, VFR_EIO, "%s: not found (run `vfrobust eval` first)", path);
    return vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  }
  int rc = page_figures_dir(dir, err);
  if (rc) {
    json_decref(summary);
    return rc;
  }
  strbuf b = {0};
  const char *model = json_string_value(json_object_get(summary, "model"));
  char title[512];
  snprintf(title, sizeof title, "vfrobust report: %s", model ? model : "");
  page_begin(&b, title);
  sb_puts(&b, "<h1>Robustness report: ");
  sb_escape(&b, model ? model : "");
  sb_puts(&b, "</h1>\n<p class=\"meta\">data ");
  sb_escape(&b, str(summary, "data"));
  sb_puts(&b, " &middot; ops ");
  sb_escape(&b, str(summary, "ops"));
  json_t *images = json_object_get(summary, "images");
  char levels[96];
  vfr_study_levels_text(summary, levels, sizeof levels);
  sb_printf(&b, " &middot; levels per op %s &middot; seed %.0f &middot; %.0f images used, %.0f skipped</p>\n",
            levels, num(summary, "seed"), num(images, "used"), num(images, "skipped"));
  rc = section_summary(&b, summary);
  if (!rc) rc = section_overview(&b, dir, summary, err);
  if (!rc) rc = section_curves(&b, dir, summary, err);
  if (!rc) rc = section_distributions(&b, dir, summary, err);
  if (!rc) rc = section_downstream(&b, dir, summary, err);
  if (!rc) rc = report_section_depth(&b, dir, err);
  if (!rc) rc = report_section_finetune(&b, dir, str(summary, "model_dir"), err);
  if (!rc) rc = section_samples(&b, dir, err);
  page_end(&b);
  if (!rc) {
    snprintf(path, sizeof path, "%s/report.html", dir);
    rc = page_write(path, &b, err);
  }
  sb_free(&b);
  json_decref(summary);
  return rc;
}
