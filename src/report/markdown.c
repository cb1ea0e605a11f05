/* The study's per-op table as Markdown (see include/vfrobust/report.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/svg.h"
#include "vfrobust/report.h"
#include "report/study_json.h"

static double field(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *text(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* A number with `digits` decimals, or an en dash when absent. */
static void cell(strbuf *b, double v, int digits, double scale) {
  if (isnan(v)) sb_puts(b, " – |");
  else sb_printf(b, " %.*f |", digits, v * scale);
}

/* Pipes and line breaks would break a Markdown table cell. */
static void md_text(strbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|') sb_puts(b, "\\|");
    else if (*s == '\n' || *s == '\r') sb_puts(b, " ");
    else sb_printf(b, "%c", *s);
  }
}

int vfr_report_markdown(const char *dir, char **out, vfr_error *err) {
  *out = NULL;
  int rc;
  json_t *summary = vfr_study_json_load(dir, "summary.json", 1, err, &rc);
  if (rc) return rc;
  json_t *down = vfr_study_json_load(dir, "downstream.json", 0, err, &rc);
  if (rc) {
    json_decref(summary);
    return rc;
  }
  strbuf b = {0};
  json_t *images = json_object_get(summary, "images");
  sb_puts(&b, "Model `");
  md_text(&b, text(summary, "model"));
  char levels[96];
  vfr_study_levels_text(summary, levels, sizeof levels);
  sb_printf(&b, "`, %d images, levels per op %s", (int)field(images, "used"), levels);
  if (down) {
    sb_puts(&b, "; downstream: ");
    md_text(&b, text(down, "protocol"));
    sb_printf(&b, ", clean accuracy %.4f", field(down, "clean_accuracy"));
  }
  sb_puts(&b, ".\n\n| op | domain | mean DR | median DR | p90 DR | mean R_cs |");
  if (down) sb_puts(&b, " accuracy drop (points) |");
  sb_puts(&b, "\n|---|---|---:|---:|---:|---:|");
  if (down) sb_puts(&b, "---:|");
  sb_puts(&b, "\n");
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(summary, "per_op"), i, o) {
    json_t *dr = json_object_get(o, "dr");
    sb_puts(&b, "| ");
    md_text(&b, text(o, "op"));
    sb_puts(&b, " | ");
    md_text(&b, text(o, "domain"));
    sb_puts(&b, " |");
    cell(&b, field(dr, "mean"), 4, 1);
    cell(&b, field(dr, "median"), 4, 1);
    cell(&b, field(dr, "p90"), 4, 1);
    cell(&b, field(json_object_get(o, "r_cs"), "mean"), 4, 1);
    if (down) {
      double drop = NAN;
      size_t k;
      json_t *d;
      json_array_foreach(json_object_get(down, "per_op"), k, d) if (!strcmp(text(d, "op"), text(o, "op")))
        drop = field(d, "accuracy_drop");
      cell(&b, drop, 2, 100);
    }
    sb_puts(&b, "\n");
  }
  if (down) {
    json_t *across = json_object_get(json_object_get(down, "regression"), "across_ops");
    sb_printf(&b, "\nAccuracy drop fitted linearly in mean DR across the ops: slope %.4f, R² %.3f, "
                  "leave-one-op-out mean absolute error %.4f.\n",
              field(across, "slope"), field(across, "r2"), field(across, "leave_one_op_out_mae"));
  }
  json_decref(summary);
  json_decref(down);
  if (b.failed) {
    sb_free(&b);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  }
  *out = b.s;
  return VFR_OK;
}
