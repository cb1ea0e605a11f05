/* The comparison's output folder: report.html, figures/, table.md, compare.json
 * (see include/vfrobust/compare.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compare/compare_internal.h"
#include "report/page.h"

/* Model m's colour: its position among the studies given. */
static const char *model_color(int m) { return svg_color(m); }

static void td_value(strbuf *b, double v, int digits, double scale) {
  if (isfinite(v)) sb_printf(b, "<td>%.*f</td>", digits, v * scale);
  else sb_puts(b, "<td>&#8211;</td>");
}

static void section_studies(strbuf *b, const vfr_compare *c) {
  int down = compare_any_downstream(c);
  sb_puts(b, "<h2>Studies</h2>\n<table class=\"settings studies\"><tr><th>model</th><th>study</th><th>model folder</th>"
             "<th>images</th>");
  if (down) sb_puts(b, "<th>downstream</th><th>clean accuracy</th>");
  sb_puts(b, "</tr>\n");
  for (int m = 0; m < c->n_models; m++) {
    const vfr_compare_model *mo = &c->models[m];
    sb_puts(b, "<tr><td>");
    page_swatch(b, model_color(m));
    sb_escape(b, mo->label);
    sb_puts(b, "</td><td>");
    sb_escape(b, mo->dir);
    sb_puts(b, "</td><td>");
    sb_escape(b, mo->model_dir);
    sb_printf(b, "</td><td>%d</td>", mo->images);
    if (down) {
      sb_puts(b, "<td>");
      sb_escape(b, mo->has_downstream ? mo->protocol : "-");
      sb_puts(b, "</td>");
      td_value(b, mo->clean_accuracy, 4, 1);
    }
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</table>\n");
}

/* A table with a row per model and a column per op, and its heat map (figure `fig`, or none). */
static int section_table(strbuf *b, const char *dir, const vfr_compare *c, int which, const char *heading,
                         const char *text, const char *fig, int digits, double scale, vfr_error *err) {
  char name[256];
  sb_printf(b, "<h2>%s</h2>\n<p>%s</p>\n<div class=\"row\"><table class=\"compare\" id=\"table-%s\"><tr><th>model</th>",
            heading, text, fig);
  for (int i = 0; i < c->n_ops; i++) {
    compare_op_name(c, i, name, sizeof name);
    sb_puts(b, "<th>");
    sb_escape(b, name);
    sb_puts(b, "</th>");
  }
  sb_puts(b, "</tr>\n");
  size_t n = (size_t)c->n_models * (size_t)c->n_ops;
  double *v = malloc(sizeof(double) * (n ? n : 1)), lo = INFINITY, hi = -INFINITY;
  const char **rows = malloc(sizeof(char *) * (size_t)c->n_models), **cols = malloc(sizeof(char *) * (size_t)c->n_ops);
  char *names = malloc((size_t)c->n_ops * 256);
  if (!v || !rows || !cols || !names) {
    free(v);
    free(rows);
    free(cols);
    free(names);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  for (int m = 0; m < c->n_models; m++) {
    sb_puts(b, "<tr><td>");
    page_swatch(b, model_color(m));
    sb_escape(b, c->models[m].label);
    sb_puts(b, "</td>");
    rows[m] = c->models[m].label;
    for (int i = 0; i < c->n_ops; i++) {
      double x = compare_value(&c->models[m], which, i) * scale;
      v[(size_t)m * (size_t)c->n_ops + (size_t)i] = x;
      td_value(b, x, digits, 1);
      if (isfinite(x)) {
        lo = fmin(lo, x);
        hi = fmax(hi, x);
      }
    }
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</table>\n");
  for (int i = 0; i < c->n_ops; i++) {
    compare_op_name(c, i, names + (size_t)i * 256, 256);
    cols[i] = names + (size_t)i * 256;
  }
  if (!isfinite(lo)) lo = hi = 0;
  if (lo > 0) lo = 0; /* the scale starts at 0 (a robust model: white) */
  int rc = VFR_OK;
  if (fig) {
    strbuf svg = {0};
    svg_heatmap(&svg, heading, rows, c->n_models, cols, c->n_ops, v, lo, hi, digits);
    rc = page_add_figure(b, dir, fig, &svg, err);
    sb_free(&svg);
  }
  sb_puts(b, "</div>\n");
  free(v);
  free(rows);
  free(cols);
  free(names);
  return rc;
}

/* Each op's robustness curve: mean cosine per level, one line per model. */
static int section_curves(strbuf *b, const char *dir, const vfr_compare *c, vfr_error *err) {
  sb_puts(b, "<h2>Robustness curves</h2>\n<p>Mean cosine similarity between clean and perturbed embeddings per "
             "level, one line per model (colours as in the tables).</p>\n<div class=\"grid\">\n");
  int rc = VFR_OK;
  for (int i = 0; i < c->n_ops && !rc; i++) {
    const vfr_compare_op *op = &c->ops[i];
    double ymin = 1, xmin = op->levels[0], xmax = op->levels[0];
    for (int k = 0; k < op->n_levels; k++) {
      xmin = fmin(xmin, op->levels[k]);
      xmax = fmax(xmax, op->levels[k]);
      for (int m = 0; m < c->n_models; m++) {
        double y = c->models[m].curve[(size_t)i * (size_t)c->max_levels + (size_t)k];
        if (isfinite(y) && y < ymin) ymin = y;
      }
    }
    if (xmin == xmax) {
      xmin -= 0.5;
      xmax += 0.5;
    }
    if (ymin > 0.99) ymin = 0.99;
    char title[256], name[64];
    snprintf(title, sizeof title, "%s (%s)", op->op, op->domain);
    double y0 = floor(ymin * 100) / 100;
    /* room above 1 for the legend (top right) */
    svg_plot p = {xmin, xmax, y0, 1.0 + (1.0 - y0) * 0.09 * c->n_models, 320, 220, 52, 14, 24, 34, title, "level",
                  "mean cosine", op->levels, op->n_levels, 0, 0, 0};
    strbuf svg = {0};
    svg_begin(&svg, &p);
    for (int m = 0; m < c->n_models; m++) {
      svg_line(&svg, &p, op->levels, c->models[m].curve + (size_t)i * (size_t)c->max_levels, op->n_levels,
               model_color(m));
      svg_legend(&svg, &p, m, c->models[m].label, model_color(m), 0);
    }
    svg_end(&svg);
    snprintf(name, sizeof name, "curve-%d", i);
    rc = page_add_figure(b, dir, name, &svg, err);
    sb_free(&svg);
  }
  sb_puts(b, "</div>\n");
  return rc;
}

/* Accuracy drop against mean DR: a point per (model, op), coloured by model. */
static int section_scatter(strbuf *b, const char *dir, const vfr_compare *c, vfr_error *err) {
  double xmax = 1e-6, ymin = 0, ymax = 1e-6;
  int points = 0;
  for (int m = 0; m < c->n_models; m++)
    for (int i = 0; i < c->n_ops; i++) {
      double x = c->models[m].mean_dr[i], y = c->models[m].accuracy_drop[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      points++;
      xmax = fmax(xmax, x);
      ymax = fmax(ymax, y);
      ymin = fmin(ymin, y);
    }
  if (points == 0) return VFR_OK;
  sb_puts(b, "<h2>Accuracy drop against DR</h2>\n<p>One point per model and op: the op's accuracy drop against its "
             "mean DR (colour: the model; label: the op, where labels do not overlap).</p>\n");
  svg_plot p = {0, xmax * 1.15, ymin < 0 ? ymin * 1.1 : 0, ymax * 1.25, 560, 360 + 14 * c->n_models, 56, 16, 28, 34,
                "accuracy drop vs mean DR, one point per model and op", "mean Divergence Radius", "accuracy drop",
                NULL, 0, 0, 1, 0};
  strbuf svg = {0};
  svg_begin(&svg, &p);
  size_t n = (size_t)c->n_models * (size_t)c->n_ops;
  double *x = malloc(sizeof(double) * n * 2);
  const char **names = malloc(sizeof(char *) * n), **colors = malloc(sizeof(char *) * n);
  if (!x || !names || !colors) {
    svg.failed = 1;
  } else {
    double *y = x + n;
    size_t k = 0;
    for (int m = 0; m < c->n_models; m++) {
      svg_legend(&svg, &p, m, c->models[m].label, model_color(m), 0);
      for (int i = 0; i < c->n_ops; i++, k++) {
        x[k] = c->models[m].mean_dr[i];
        y[k] = c->models[m].accuracy_drop[i];
        names[k] = c->ops[i].op;
        colors[k] = model_color(m);
        svg_points(&svg, &p, x + k, y + k, 1, 4, colors[k]);
      }
    }
    svg_point_labels(&svg, &p, x, y, (int)n, names, colors);
  }
  free(x);
  free(names);
  free(colors);
  svg_end(&svg);
  int rc = page_add_figure(b, dir, "dr-vs-accuracy-drop", &svg, err);
  sb_free(&svg);
  return rc;
}

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* compare.json: every value of the tables, at full precision. */
static int write_json(const vfr_compare *c, const char *dir, vfr_error *err) {
  json_t *root = json_object(), *studies = json_array(), *ops = json_array();
  json_t *tables[3] = {json_array(), json_array(), json_array()};
  for (int i = 0; i < c->n_ops; i++) {
    json_t *lv = json_array();
    for (int k = 0; k < c->ops[i].n_levels; k++) json_array_append_new(lv, json_real(c->ops[i].levels[k]));
    json_t *o = json_object();
    json_object_set_new(o, "op", json_string(c->ops[i].op));
    json_object_set_new(o, "domain", json_string(c->ops[i].domain));
    json_object_set_new(o, "levels", lv);
    json_array_append_new(ops, o);
  }
  for (int m = 0; m < c->n_models; m++) {
    const vfr_compare_model *mo = &c->models[m];
    json_t *s = json_object();
    json_object_set_new(s, "study", json_string(mo->dir));
    json_object_set_new(s, "model", json_string(mo->name));
    json_object_set_new(s, "label", json_string(mo->label));
    json_object_set_new(s, "model_dir", json_string(mo->model_dir));
    json_object_set_new(s, "images", json_integer(mo->images));
    json_object_set_new(s, "protocol", mo->has_downstream ? json_string(mo->protocol) : json_null());
    json_object_set_new(s, "clean_accuracy", number_or_null(mo->clean_accuracy));
    json_array_append_new(studies, s);
    for (int t = 0; t < 3; t++) {
      json_t *row = json_array();
      for (int i = 0; i < c->n_ops; i++) json_array_append_new(row, number_or_null(compare_value(mo, t, i)));
      json_array_append_new(tables[t], row);
    }
  }
  json_object_set_new(root, "studies", studies);
  json_object_set_new(root, "ops", ops);
  json_object_set_new(root, "mean_dr", tables[COMPARE_DR]);
  json_object_set_new(root, "mean_r_cs", tables[COMPARE_RCS]);
  json_object_set_new(root, "accuracy_drop", tables[COMPARE_DROP]);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return vfr_fail(err, VFR_ENOMEM, "compare: out of memory");
  strbuf b = {text, strlen(text), strlen(text) + 1, 0};
  sb_puts(&b, "\n");
  char path[4200];
  snprintf(path, sizeof path, "%s/compare.json", dir);
  int rc = page_write(path, &b, err);
  sb_free(&b);
  return rc;
}

int vfr_compare_write(const vfr_compare *c, const char *dir, vfr_error *err) {
  if (mkdir(dir, 0755) && errno != EEXIST) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", dir, strerror(errno));
  int rc = page_figures_dir(dir, err);
  if (rc) return rc;
  strbuf b = {0};
  page_begin(&b, "vfrobust comparison");
  sb_printf(&b, "<h1>Robustness comparison: %d models</h1>\n<p class=\"meta\">ops", c->n_models);
  for (int i = 0; i < c->n_ops; i++) {
    sb_puts(&b, i ? ", " : " ");
    sb_escape(&b, c->ops[i].op);
    sb_printf(&b, " (%s, %d levels)", c->ops[i].domain, c->ops[i].n_levels);
  }
  sb_puts(&b, "</p>\n");
  section_studies(&b, c);
  rc = section_table(&b, dir, c, COMPARE_DR, "Mean Divergence Radius",
                     "Mean over the images of each image's DR under the op (0: the embedding does not move; larger: "
                     "less robust).", "heatmap-dr", 4, 1, err);
  if (!rc)
    rc = section_table(&b, dir, c, COMPARE_RCS, "Mean R_cs", "Mean over the images of R_cs under the op.", NULL, 4, 1,
                       err);
  if (!rc && compare_any_downstream(c))
    rc = section_table(&b, dir, c, COMPARE_DROP, "Accuracy drop (points)",
                       "The downstream protocol's clean accuracy minus its mean accuracy over the op's levels, in "
                       "percentage points.", "heatmap-accuracy-drop", 2, 100, err);
  if (!rc) rc = section_curves(&b, dir, c, err);
  if (!rc) rc = section_scatter(&b, dir, c, err);
  page_end(&b);
  char path[4200];
  if (!rc) {
    snprintf(path, sizeof path, "%s/report.html", dir);
    rc = page_write(path, &b, err);
  }
  sb_free(&b);
  if (!rc) rc = write_json(c, dir, err);
  if (!rc) {
    char *md;
    rc = vfr_compare_markdown(c, &md, err);
    if (!rc) {
      strbuf t = {md, strlen(md), strlen(md) + 1, 0};
      snprintf(path, sizeof path, "%s/table.md", dir);
      rc = page_write(path, &t, err);
      sb_free(&t);
    }
  }
  return rc;
}
