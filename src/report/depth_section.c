/* The depth section of report.html: error per level, error against DR, and the strips of
 * input, truth and prediction. */
#include "report/depth_section.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/page.h"

static double jnum(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : "";
}

static void cell(strbuf *b, double v) {
  if (isfinite(v)) sb_printf(b, "<td>%.4f</td>", v);
  else sb_puts(b, "<td>&ndash;</td>");
}

static void metrics_row(strbuf *b, const char *what, const char *level, json_t *m) {
  sb_puts(b, "<tr><td>");
  sb_escape(b, what);
  sb_puts(b, "</td><td>");
  sb_escape(b, level);
  sb_puts(b, "</td>");
  static const char *const keys[] = {"rmse", "abs_rel", "log10", "delta1", "delta2", "delta3"};
  for (int k = 0; k < 6; k++) cell(b, jnum(m, keys[k]));
  sb_puts(b, "</tr>");
}

/* RMSE against the level, one line per op. */
static int plot_levels(strbuf *b, const char *dir, json_t *d, vfr_error *err) {
  json_t *levels = json_object_get(d, "per_level"), *per_op = json_object_get(d, "per_op");
  size_t n = json_array_size(levels), nops = json_array_size(per_op);
  if (!n || !nops) return VFR_OK;
  double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
  if (!x || !y) {
    free(x);
    free(y);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  double ymax = jnum(json_object_get(d, "constant_baseline"), "rmse");
  if (!isfinite(ymax)) ymax = 0;
  for (size_t i = 0; i < n; i++) {
    double v = jnum(json_array_get(levels, i), "rmse");
    if (v > ymax) ymax = v;
  }
  /* each op against its level index (ops have different parameter scales) */
  int max_m = 1;
  for (size_t j = 0; j < nops; j++) {
    int m = (int)jnum(json_array_get(per_op, j), "levels");
    if (m > max_m) max_m = m;
  }
  svg_plot p = {0, max_m > 1 ? max_m - 1 : 1, 0, ymax * 1.1 + 1e-9, 520, 320, 56, 16, 28, 34,
                "RMSE of the depth head per level (dashed: constant depth)", "level (index, weakest to strongest)",
                "RMSE (m)", NULL, 0, 0, 0, 0};
  strbuf svg = {0};
  svg_begin(&svg, &p);
  double base = jnum(json_object_get(d, "constant_baseline"), "rmse");
  if (isfinite(base)) {
    svg_segment(&svg, &p, p.x0, base, p.x1, base, "#999");
    svg_legend(&svg, &p, (int)nops, "constant depth", "#999", 1);
  }
  for (size_t j = 0, i = 0; j < nops; j++) {
    const char *name = jstr(json_array_get(per_op, j), "op");
    int levels_j = (int)jnum(json_array_get(per_op, j), "levels"), m = 0;
    for (; m < levels_j && i < n; m++, i++) {
      x[m] = m;
      y[m] = jnum(json_array_get(levels, i), "rmse");
    }
    svg_line(&svg, &p, x, y, m, svg_color((int)j));
    svg_legend(&svg, &p, (int)j, name, svg_color((int)j), 0);
  }
  svg_end(&svg);
  int rc = page_add_figure(b, dir, "depth-rmse-per-level", &svg, err);
  sb_free(&svg);
  free(x);
  free(y);
  return rc;
}

/* RMSE against DR: the bins of the per-image regression and its fit. */
static int plot_dr(strbuf *b, const char *dir, json_t *d, vfr_error *err) {
  json_t *pi = json_object_get(json_object_get(d, "regression"), "per_image");
  json_t *bins = json_object_get(pi, "bins");
  size_t n = json_array_size(bins);
  if (!n) return VFR_OK;
  double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
  if (!x || !y) {
    free(x);
    free(y);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  double xmax = 1e-6, ymax = 1e-6;
  for (size_t i = 0; i < n; i++) {
    x[i] = jnum(json_array_get(bins, i), "mean_dr");
    y[i] = jnum(json_array_get(bins, i), "rmse");
    if (x[i] > xmax) xmax = x[i];
    if (y[i] > ymax) ymax = y[i];
  }
  json_t *raw = json_object_get(pi, "raw");
  char title[160];
  snprintf(title, sizeof title, "RMSE vs per-image DR, bins (R\xc2\xb2 %.3f; points R\xc2\xb2 %.3f)",
           jnum(pi, "r2"), jnum(raw, "r2"));
  svg_plot p = {0, xmax * 1.15, 0, ymax * 1.2, 520, 320, 56, 16, 28, 34, title, "Divergence Radius (bin mean)",
                "RMSE (m)", NULL, 0, 0, 0, 0};
  strbuf svg = {0};
  svg_begin(&svg, &p);
  double slope = jnum(pi, "slope"), icpt = jnum(pi, "intercept");
  if (isfinite(slope) && isfinite(icpt)) {
    svg_segment(&svg, &p, p.x0, icpt + slope * p.x0, p.x1, icpt + slope * p.x1, "#555");
    char text[96];
    snprintf(text, sizeof text, "fit: y = %.3f x %s %.3f", slope, icpt < 0 ? "-" : "+", fabs(icpt));
    svg_legend(&svg, &p, 0, text, "#555", 1);
  }
  svg_points(&svg, &p, x, y, (int)n, 4, svg_color(0));
  svg_end(&svg);
  int rc = page_add_figure(b, dir, "depth-rmse-vs-dr", &svg, err);
  sb_free(&svg);
  free(x);
  free(y);
  return rc;
}

static int strips(strbuf *b, const char *dir, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/depth_strips.png", dir);
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
  unsigned w = n >= 24 && !memcmp(p, "\x89PNG", 4) ? (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19] : 0;
  sb_puts(b, "<p>Test images (rows): the true depth, then input and predicted depth for the clean image and for "
             "every op's strongest level (near is yellow, far is blue, grey has no depth).</p>\n"
             "<img class=\"samples\" alt=\"depth strips\" ");
  if (w > 0 && w <= 800) sb_printf(b, "style=\"width:%upx\" ", 2 * w);
  sb_puts(b, "src=\"data:image/png;base64,");
  page_base64(b, p, n);
  sb_puts(b, "\">\n");
  free(p);
  return VFR_OK;
}

int report_section_depth(strbuf *b, const char *dir, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/depth.json", dir);
  if (access(path, R_OK) != 0) return VFR_OK;
  json_error_t je;
  json_t *d = json_load_file(path, 0, &je);
  if (!d) return vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  if (!json_is_object(d)) {
    json_decref(d);
    return vfr_fail(err, VFR_EFORMAT, "%s: not a JSON object", path);
  }
  json_t *clean = json_object_get(d, "clean"), *base = json_object_get(d, "constant_baseline");
  json_t *across = json_object_get(json_object_get(d, "regression"), "across_ops");
  sb_printf(b, "<h2>Downstream: depth</h2>\n<p>A linear head on the model's patch tokens (with the CLS token), "
               "fitted in closed form on the clean train images: clean RMSE %.4f m against %.4f m for the constant "
               "depth %.3f m. Across ops, the RMSE increase is fitted linearly in the op's mean DR: R&sup2; = %.3f.</p>\n",
            jnum(clean, "rmse"), jnum(base, "rmse"), jnum(base, "depth"), jnum(across, "r2"));
  sb_puts(b, "<div class=\"row\"><table class=\"downstream\"><tr><th>op</th><th>level</th><th>RMSE</th>"
             "<th>AbsRel</th><th>log10</th><th>&delta;1</th><th>&delta;2</th><th>&delta;3</th></tr>");
  metrics_row(b, "clean", "", clean);
  metrics_row(b, "constant depth", "", base);
  json_t *levels = json_object_get(d, "per_level");
  for (size_t i = 0; i < json_array_size(levels); i++) {
    json_t *o = json_array_get(levels, i);
    metrics_row(b, jstr(o, "op"), jstr(o, "level_text"), o);
  }
  sb_puts(b, "</table>\n");
  int rc = plot_levels(b, dir, d, err);
  if (!rc) rc = plot_dr(b, dir, d, err);
  sb_puts(b, "</div>\n");
  if (!rc) rc = strips(b, dir, err);
  json_t *skipped = json_object_get(d, "skipped");
  if (!rc && json_array_size(skipped) > 0) {
    sb_printf(b, "<p>%zu depth files skipped:</p>\n<ul>", json_array_size(skipped));
    for (size_t i = 0; i < json_array_size(skipped); i++) {
      sb_puts(b, "<li>");
      sb_escape(b, jstr(json_array_get(skipped, i), "file"));
      sb_puts(b, ": ");
      sb_escape(b, jstr(json_array_get(skipped, i), "reason"));
      sb_puts(b, "</li>");
    }
    sb_puts(b, "</ul>\n");
  }
  json_decref(d);
  return rc;
}
