/* A small SVG plot writer: axes with ticks, lines, bars and points, into a growing string.
 * Deterministic output (fixed number formatting), no external dependencies. */
#ifndef VFR_REPORT_SVG_H
#define VFR_REPORT_SVG_H

#include <stddef.h>

/* A growable text buffer. */
typedef struct strbuf {
  char *s;
  size_t n, cap;
  int failed; /* an allocation failed: the text is incomplete */
} strbuf;

void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sb_puts(strbuf *b, const char *s);
/* Appends s with &, <, >, " escaped for HTML/XML text and attributes. */
void sb_escape(strbuf *b, const char *s);
void sb_free(strbuf *b);

typedef struct svg_plot {
  double x0, x1, y0, y1;   /* data ranges */
  int width, height;       /* pixels */
  int left, right, top, bottom; /* margins */
  const char *title, *xlabel, *ylabel;
  const double *xticks;    /* when set: a mark at each xticks[i], i < nxticks (e.g. an op's
                              levels), labels at round values over their range */
  int nxticks;
  int integer_y;           /* y ticks at whole numbers only (counts) */
  int legend_left;         /* legend in the top-left corner instead of the top-right */
  int no_yticks;           /* no numeric y ticks (a category axis, see svg_hbars) */
} svg_plot;

/* Opens an <svg> with axes, ticks and labels. */
void svg_begin(strbuf *b, const svg_plot *p);
void svg_end(strbuf *b);
/* A polyline through (x[i], y[i]), i < n, skipping non-finite points; with dots. */
void svg_line(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, const char *color);
/* The same polyline without dots (a long series, e.g. a loss per step). */
void svg_path(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, const char *color);
/* A dashed straight line from (xa, ya) to (xb, yb), clipped to the plot's y range (a fitted line). */
void svg_segment(strbuf *b, const svg_plot *p, double xa, double ya, double xb, double yb, const char *color);
/* A dashed vertical marker at x over the whole plot height, labelled at the top. */
void svg_vline(strbuf *b, const svg_plot *p, double x, const char *label, const char *color);
/* Text at data point (x, y), shifted right by dx pixels and up by dy pixels. */
void svg_label(strbuf *b, const svg_plot *p, double x, double y, int dx, int dy, const char *text, const char *color);
/* Labels text[i] beside points (x[i], y[i]), i < n, in colors[i]: each goes right of, left of,
 * above or below its point, wherever it overlaps no label placed before; when none fits it is
 * left out (a table or legend names the points). Returns how many were placed. */
int svg_point_labels(strbuf *b, const svg_plot *p, const double *x, const double *y, int n,
                     const char *const *text, const char *const *colors);
/* A filled band between lo[i] and hi[i] over x[i] (an error band). */
void svg_band(strbuf *b, const svg_plot *p, const double *x, const double *lo, const double *hi, int n,
              const char *color);
/* Bars of a histogram: counts (bins) over [x0, x1] equally divided. */
void svg_bars(strbuf *b, const svg_plot *p, const long *counts, int bins, const char *color);
/* Horizontal bars, one per category i < n from top to bottom: a bar from x0 to value[i] with a
 * whisker from lo[i] to hi[i] (skipped when not finite), labels[i] left of the axis. Meant for a
 * plot with y0 = 0, y1 = n and no_yticks set. */
void svg_hbars(strbuf *b, const svg_plot *p, const char *const *labels, const double *value, const double *lo,
               const double *hi, int n, const char *const *colors);
/* Points (x[i], y[i]) of radius r. */
void svg_points(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, double r, const char *color);
/* A legend entry at row `row` of the top-right corner: a swatch, or a dashed line when dashed. */
void svg_legend(strbuf *b, const svg_plot *p, int row, const char *label, const char *color, int dashed);

/* A whole heat map (its own <svg>): nr rows by nc columns, value v[r * nc + c] printed in its
 * cell with `digits` decimals, shaded white (lo) to dark red (hi); a non-finite value is a grey
 * cell with a dash. Row labels left, column labels on top, the colour scale below. */
void svg_heatmap(strbuf *b, const char *title, const char *const *rows, int nr, const char *const *cols, int nc,
                 const double *v, double lo, double hi, int digits);

/* The i-th colour of a fixed palette of 10. */
const char *svg_color(int i);

#endif
