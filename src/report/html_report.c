/* report.html: tables and plots of a study folder (see include/vfrobust/report.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/svg.h"
#include "study/csv.h"
#include "vfrobust/report.h"

static int write_text(const char *path, const strbuf *b, vfr_error *err) {
  if (b->failed) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  int bad = fwrite(b->s, 1, b->n, f) != b->n;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    unlink(tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", path, strerror(errno));
  }
  return VFR_OK;
}

static void base64(strbuf *b, const unsigned char *p, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char q[5] = {0};
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    q[0] = t[v >> 18 & 63];
    q[1] = t[v >> 12 & 63];
    q[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
    q[3] = i + 2 < n ? t[v & 63] : '=';
    sb_puts(b, q);
  }
}

static double num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A figure: inlined into the page and written to DIR/figures/<name>.svg. */
static int add_figure(strbuf *page, const char *dir, const char *name, const strbuf *svg, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/figures/%s.svg", dir, name);
  int rc = write_text(path, svg, err);
  if (rc) return rc;
  sb_printf(page, "<figure class=\"plot\" id=\"fig-%s\">", name);
  if (svg->s) sb_puts(page, svg->s);
  sb_puts(page, "</figure>\n");
  return VFR_OK;
}

static void stats_row(strbuf *b, json_t *st) {
  const char *keys[] = {"mean", "std", "median", "p10", "p90"};
  for (int i = 0; i < 5; i++) {
    double v = num(st, keys[i]);
    if (isfinite(v)) sb_printf(b, "<td>%.4g</td>", v);
    else sb_puts(b, "<td>-</td>");
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
  sb_printf(b, "<tr><th>levels</th><td>%.0f</td></tr><tr><th>seed</th><td>%.0f</td></tr>", num(summary, "levels"),
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
  sb_puts(b, "<h2>Robustness per op</h2>\n<table class=\"summary\"><tr><th>op</th><th>domain</th><th>n</th>"
             "<th colspan=5>DR: mean, std, median, p10, p90</th><th colspan=5>R_cs</th><th colspan=5>R_ed</th></tr>\n");
  size_t i;
  json_t *op;
  json_array_foreach(json_object_get(summary, "per_op"), i, op) {
    sb_puts(b, "<tr><td>");
    sb_escape(b, json_string_value(json_object_get(op, "op")) ? json_string_value(json_object_get(op, "op")) : "");
    sb_puts(b, "</td><td>");
    sb_escape(b, json_string_value(json_object_get(op, "domain")) ? json_string_value(json_object_get(op, "domain")) : "");
    sb_printf(b, "</td><td>%.0f</td>", num(op, "n"));
    stats_row(b, json_object_get(op, "dr"));
    stats_row(b, json_object_get(op, "r_cs"));
    stats_row(b, json_object_get(op, "r_ed"));
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</table>\n");
  return VFR_OK;
}

/* One robustness curve per op (levels differ per op), from curves.csv. */
static int section_curves(strbuf *b, const char *dir, vfr_error *err) {
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
    int start = r;
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
      if (!isfinite(x[k])) x[k] = k; /* a chain: levels by position */
      if (isfinite(y[k]) && y[k] - (isfinite(s[k]) ? s[k] : 0) < ymin) ymin = y[k] - (isfinite(s[k]) ? s[k] : 0);
      if (x[k] < xmin) xmin = x[k];
      if (x[k] > xmax) xmax = x[k];
    }
    if (xmin == xmax) { xmin -= 0.5; xmax += 0.5; }
    if (ymin > 0.99) ymin = 0.99;
    svg_plot p = {xmin, xmax, floor(ymin * 100) / 100, 1.0, 320, 220, 48, 12, 24, 32, op, "level", "mean cosine"};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    double *lo = malloc(sizeof(double) * (size_t)m), *hi = malloc(sizeof(double) * (size_t)m);
    if (lo && hi) {
      for (int k = 0; k < m; k++) {
        lo[k] = y[k] - s[k];
        hi[k] = fmin(1.0, y[k] + s[k]);
      }
      svg_band(&svg, &p, x, lo, hi, m, svg_color(fig));
    }
    free(lo);
    free(hi);
    svg_line(&svg, &p, x, y, m, svg_color(fig));
    svg_end(&svg);
    char name[128];
    snprintf(name, sizeof name, "curve-%d", fig);
    rc = add_figure(b, dir, name, &svg, err);
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
  sb_puts(b, "<h2>Divergence Radius distributions</h2>\n<div class=\"grid\">\n");
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
    const char *name = json_string_value(json_object_get(op, "op"));
    svg_plot p = {0, (double)shown / bins, 0, (double)top, 320, 220, 48, 12, 24, 32, name ? name : "", "Divergence Radius", "images"};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    svg_bars(&svg, &p, c, shown, svg_color((int)i));
    svg_end(&svg);
    char fig[64];
    snprintf(fig, sizeof fig, "dr-hist-%d", (int)i);
    rc = add_figure(b, dir, fig, &svg, err);
    sb_free(&svg);
    free(c);
    if (rc) break;
  }
  sb_puts(b, "</div>\n");
  return rc;
}

static int section_downstream(strbuf *b, const char *dir, vfr_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/downstream.json", dir);
  if (access(path, R_OK) != 0) return VFR_OK;
  json_error_t je;
  json_t *d = json_load_file(path, 0, &je);
  if (!d) return vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  int rc = VFR_OK;
  const char *protocol = json_string_value(json_object_get(d, "protocol"));
  sb_printf(b, "<h2>Downstream: %s</h2>\n<p>Clean accuracy: %.4f</p>\n", protocol ? protocol : "?",
            num(d, "clean_accuracy"));
  json_t *per_op = json_object_get(d, "per_op");
  json_t *reg = json_object_get(d, "regression");
  json_t *across = json_object_get(reg, "across_ops");
  size_t n = json_array_size(per_op);
  if (n > 0) {
    double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
    if (!x || !y) { free(x); free(y); json_decref(d); return vfr_fail(err, VFR_ENOMEM, "out of memory"); }
    double xmax = 1e-6, ymin = 0, ymax = 1e-6;
    sb_puts(b, "<table class=\"downstream\"><tr><th>op</th><th>domain</th><th>mean DR</th><th>accuracy drop</th></tr>");
    for (size_t i = 0; i < n; i++) {
      json_t *o = json_array_get(per_op, i);
      x[i] = num(o, "mean_dr");
      y[i] = num(o, "accuracy_drop");
      if (x[i] > xmax) xmax = x[i];
      if (y[i] > ymax) ymax = y[i];
      if (y[i] < ymin) ymin = y[i];
      sb_puts(b, "<tr><td>");
      sb_escape(b, json_string_value(json_object_get(o, "op")) ? json_string_value(json_object_get(o, "op")) : "");
      sb_puts(b, "</td><td>");
      sb_escape(b, json_string_value(json_object_get(o, "domain")) ? json_string_value(json_object_get(o, "domain")) : "");
      sb_printf(b, "</td><td>%.4g</td><td>%.4g</td></tr>", x[i], y[i]);
    }
    sb_puts(b, "</table>\n");
    double slope = num(across, "slope"), icpt = num(across, "intercept"), r2 = num(across, "r2");
    char title[128];
    snprintf(title, sizeof title, "accuracy drop vs mean DR (R\xc2\xb2 = %.3f)", r2);
    svg_plot p = {0, xmax * 1.1, ymin, ymax * 1.1, 480, 300, 56, 16, 24, 32, title, "mean Divergence Radius", "accuracy drop"};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    svg_points(&svg, &p, x, y, (int)n, 4, svg_color(0));
    if (isfinite(slope) && isfinite(icpt)) {
      double lx[2] = {0, p.x1}, ly[2] = {icpt, icpt + slope * p.x1};
      sb_puts(&svg, "<g class=\"fit\">");
      svg_line(&svg, &p, lx, ly, 2, svg_color(3));
      sb_puts(&svg, "</g>");
    }
    svg_end(&svg);
    rc = add_figure(b, dir, "dr-vs-accuracy-drop", &svg, err);
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
    snprintf(title, sizeof title, "accuracy vs DR, binned (R\xc2\xb2 = %.3f, r = %.3f)", num(pi, "r2"), num(pi, "pearson_r"));
    svg_plot p = {0, xmax * 1.1, 0, 1, 480, 300, 56, 16, 24, 32, title, "Divergence Radius (bin mean)", "accuracy"};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    svg_points(&svg, &p, x, y, (int)nb, 4, svg_color(0));
    if (isfinite(slope) && isfinite(icpt)) {
      double lx[2] = {0, p.x1}, ly[2] = {icpt, icpt + slope * p.x1};
      sb_puts(&svg, "<g class=\"fit\">");
      svg_line(&svg, &p, lx, ly, 2, svg_color(3));
      sb_puts(&svg, "</g>");
    }
    svg_end(&svg);
    rc = add_figure(b, dir, "dr-vs-accuracy-per-image", &svg, err);
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
  sb_puts(b, "<h2>Samples</h2>\n<p>One image under every op (rows) at every level (columns; the first column is the "
             "clean image).</p>\n<img class=\"samples\" alt=\"sample grid\" src=\"data:image/png;base64,");
  base64(b, p, n);
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
  snprintf(path, sizeof path, "%s/figures", dir);
  if (mkdir(path, 0755) && errno != EEXIST) {
    json_decref(summary);
    return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", path, strerror(errno));
  }
  strbuf b = {0};
  const char *model = json_string_value(json_object_get(summary, "model"));
  sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vfrobust report: ");
  sb_escape(&b, model ? model : "");
  sb_puts(&b, "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
              "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
              "th{background:#f3f3f3}td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:8px}"
              "figure{margin:0}img.samples{image-rendering:pixelated;max-width:100%}</style></head><body>\n");
  sb_puts(&b, "<h1>Robustness report: ");
  sb_escape(&b, model ? model : "");
  sb_puts(&b, "</h1>\n");
  int rc = section_summary(&b, summary);
  if (!rc) rc = section_curves(&b, dir, err);
  if (!rc) rc = section_distributions(&b, dir, summary, err);
  if (!rc) rc = section_downstream(&b, dir, err);
  if (!rc) rc = section_samples(&b, dir, err);
  sb_puts(&b, "<p class=\"footer\">Written by vfrobust ");
  sb_puts(&b, vfr_version());
  sb_puts(&b, ".</p>\n</body></html>\n");
  if (!rc) {
    snprintf(path, sizeof path, "%s/report.html", dir);
    rc = write_text(path, &b, err);
  }
  sb_free(&b);
  json_decref(summary);
  return rc;
}
