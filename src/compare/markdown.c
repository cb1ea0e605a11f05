/* The comparison as Markdown tables (see include/vfrobust/compare.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/compare_internal.h"
#include "report/svg.h"

void compare_op_name(const vfr_compare *c, int i, char *buf, size_t size) {
  int shared = 0;
  for (int j = 0; j < c->n_ops; j++) shared |= j != i && !strcmp(c->ops[j].op, c->ops[i].op);
  if (shared) snprintf(buf, size, "%s:%s", c->ops[i].op, c->ops[i].domain);
  else snprintf(buf, size, "%s", c->ops[i].op);
}

int compare_any_downstream(const vfr_compare *c) {
  for (int m = 0; m < c->n_models; m++)
    if (c->models[m].has_downstream) return 1;
  return 0;
}

/* Pipes and line breaks would break a Markdown table cell. */
static void md_text(strbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|') sb_puts(b, "\\|");
    else if (*s == '\n' || *s == '\r') sb_puts(b, " ");
    else sb_printf(b, "%c", *s);
  }
}

static void cell(strbuf *b, double v, int digits, double scale) {
  if (!isfinite(v)) sb_puts(b, " – |");
  else sb_printf(b, " %.*f |", digits, v * scale);
}

static void header(strbuf *b, const vfr_compare *c) {
  char name[256];
  sb_puts(b, "| model |");
  for (int i = 0; i < c->n_ops; i++) {
    compare_op_name(c, i, name, sizeof name);
    sb_puts(b, " ");
    md_text(b, name);
    sb_puts(b, " |");
  }
  sb_puts(b, "\n|---|");
  for (int i = 0; i < c->n_ops; i++) sb_puts(b, "---:|");
  sb_puts(b, "\n");
}

/* One table: a row per model of values[m][i] (scaled, `digits` decimals); with two models a
 * last row of the change from the first to the second: relative in percent, or (for the
 * accuracy drop) in points. */
static void table(strbuf *b, const vfr_compare *c, const char *caption, int which, int digits, double scale) {
  sb_printf(b, "\n%s\n\n", caption);
  header(b, c);
  for (int m = 0; m < c->n_models; m++) {
    sb_puts(b, "| ");
    md_text(b, c->models[m].label);
    sb_puts(b, " |");
    for (int i = 0; i < c->n_ops; i++) cell(b, compare_value(&c->models[m], which, i), digits, scale);
    sb_puts(b, "\n");
  }
  if (c->n_models == 2) {
    sb_puts(b, which == COMPARE_DROP ? "| change (points) |" : "| change (%) |");
    for (int i = 0; i < c->n_ops; i++) {
      double a = compare_value(&c->models[0], which, i), z = compare_value(&c->models[1], which, i);
      if (which == COMPARE_DROP) cell(b, z - a, 2, 100);
      else cell(b, a != 0 ? (z - a) / a : NAN, 1, 100);
    }
    sb_puts(b, "\n");
  }
}

double compare_value(const vfr_compare_model *m, int which, int op) {
  switch (which) {
    case COMPARE_DR: return m->mean_dr[op];
    case COMPARE_RCS: return m->mean_rcs[op];
    default: return m->accuracy_drop[op];
  }
}

int vfr_compare_markdown(const vfr_compare *c, char **out, vfr_error *err) {
  *out = NULL;
  strbuf b = {0};
  int down = compare_any_downstream(c);
  sb_printf(&b, "%d studies, %d ops:", c->n_models, c->n_ops);
  for (int i = 0; i < c->n_ops; i++) {
    sb_puts(&b, i ? ", " : " ");
    md_text(&b, c->ops[i].op);
    sb_printf(&b, " (%s, %d levels)", c->ops[i].domain, c->ops[i].n_levels);
  }
  sb_puts(&b, ".\n\n| model | study | images |");
  if (down) sb_puts(&b, " downstream | clean accuracy |");
  sb_puts(&b, "\n|---|---|---:|");
  if (down) sb_puts(&b, "---|---:|");
  sb_puts(&b, "\n");
  for (int m = 0; m < c->n_models; m++) {
    const vfr_compare_model *mo = &c->models[m];
    sb_puts(&b, "| ");
    md_text(&b, mo->label);
    sb_puts(&b, " | `");
    md_text(&b, mo->dir);
    sb_printf(&b, "` | %d |", mo->images);
    if (down) {
      sb_puts(&b, " ");
      md_text(&b, mo->has_downstream ? mo->protocol : "–");
      sb_puts(&b, " |");
      cell(&b, mo->clean_accuracy, 4, 1);
    }
    sb_puts(&b, "\n");
  }
  table(&b, c, "Mean Divergence Radius (DR) per op:", COMPARE_DR, 4, 1);
  table(&b, c, "Mean R_cs per op:", COMPARE_RCS, 4, 1);
  if (down)
    table(&b, c, "Accuracy drop per op (percentage points: clean accuracy minus the mean accuracy over the "
                 "op's levels):", COMPARE_DROP, 2, 100);
  if (b.failed) {
    sb_free(&b);
    return vfr_fail(err, VFR_ENOMEM, "compare: out of memory");
  }
  *out = b.s;
  return VFR_OK;
}
