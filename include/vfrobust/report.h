/* The HTML report of a study folder. */
#ifndef VFROBUST_REPORT_H
#define VFROBUST_REPORT_H

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads DIR/summary.json and DIR/curves.csv (written by eval) and, when present,
 * DIR/downstream.json (written by downstream) and DIR/samples.png, and writes one
 * self-contained DIR/report.html (inline SVG plots, the sample grid inlined as a data
 * URI) plus each figure as DIR/figures/<name>.svg. */
VFR_API int vfr_report_build(const char *dir, vfr_error *err);

/* The per-op table of the study in DIR as Markdown text (*out, NUL-terminated: vfr_free it):
 * a line naming the model, images, levels and (with DIR/downstream.json) the protocol and
 * clean accuracy, then one row per op of summary.json: op, domain, mean / median / p90 DR,
 * mean R_cs and, with downstream.json, the accuracy drop in percentage points, then the
 * across-ops fit of drop on mean DR. */
VFR_API int vfr_report_markdown(const char *dir, char **out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
