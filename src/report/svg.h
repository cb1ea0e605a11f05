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
} svg_plot;

/* Opens an <svg> with axes, ticks and labels. */
void svg_begin(strbuf *b, const svg_plot *p);
void svg_end(strbuf *b);
/* A polyline through (x[i], y[i]), i < n, skipping non-finite points; with dots. */
void svg_line(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, const char *color);
/* A filled band between lo[i] and hi[i] over x[i] (an error band). */
void svg_band(strbuf *b, const svg_plot *p, const double *x, const double *lo, const double *hi, int n,
              const char *color);
/* Bars of a histogram: counts (bins) over [x0, x1] equally divided. */
void svg_bars(strbuf *b, const svg_plot *p, const long *counts, int bins, const char *color);
/* Points (x[i], y[i]) of radius r. */
void svg_points(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, double r, const char *color);
/* A legend entry at row `row` of the top-right corner. */
void svg_legend(strbuf *b, const svg_plot *p, int row, const char *label, const char *color);

/* The i-th colour of a fixed palette of 10. */
const char *svg_color(int i);

#endif
