/* SVG plots (see svg.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/svg.h"

static void sb_reserve(strbuf *b, size_t extra) {
  if (b->failed || b->n + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + extra + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->failed = 1;
    return;
  }
  b->s = s;
  b->cap = cap;
}

void sb_printf(strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) return;
  sb_reserve(b, (size_t)need);
  if (b->failed) return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->n, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)need;
}

void sb_puts(strbuf *b, const char *s) {
  size_t n = strlen(s);
  sb_reserve(b, n);
  if (b->failed) return;
  memcpy(b->s + b->n, s, n + 1);
  b->n += n;
}

void sb_escape(strbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': sb_puts(b, "&amp;"); break;
      case '<': sb_puts(b, "&lt;"); break;
      case '>': sb_puts(b, "&gt;"); break;
      case '"': sb_puts(b, "&quot;"); break;
      default: {
        char c[2] = {*s, 0};
        sb_puts(b, c);
      }
    }
  }
}

void sb_free(strbuf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

const char *svg_color(int i) {
  static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[((i % 10) + 10) % 10];
}

static double px(const svg_plot *p, double x) {
  double span = p->x1 - p->x0;
  return p->left + (span > 0 ? (x - p->x0) / span : 0.5) * (p->width - p->left - p->right);
}

static double py(const svg_plot *p, double y) {
  double span = p->y1 - p->y0;
  return p->height - p->bottom - (span > 0 ? (y - p->y0) / span : 0.5) * (p->height - p->top - p->bottom);
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks. */
static double nice_step(double span, int n) {
  if (!(span > 0)) return 1;
  double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void svg_begin(strbuf *b, const svg_plot *p) {
  sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", p->width, p->height, p->width, p->height);
  sb_printf(b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", p->width, p->height);
  if (p->title) {
    sb_printf(b, "<text class=\"title\" x=\"%d\" y=\"14\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">", p->width / 2);
    sb_escape(b, p->title);
    sb_puts(b, "</text>\n");
  }
  double xa = px(p, p->x0), xb = px(p, p->x1), ya = py(p, p->y0), yb = py(p, p->y1);
  sb_printf(b, "<path class=\"axes\" d=\"M%.1f %.1fV%.1fH%.1f\" stroke=\"#333\" fill=\"none\"/>\n", xa, yb, ya, xb);
  double sx = nice_step(p->x1 - p->x0, 5), sy = nice_step(p->y1 - p->y0, 5);
  if (p->integer_y && sy < 1) sy = 1;
  if (p->xticks && p->nxticks > 0) {
    /* a short mark at every given tick (an op's levels, e.g. 0.5, 0.6111, ...), and labels at
     * round values: the step of about 5 ticks, from the first level when that is a multiple of
     * a tenth of the step (10, 30, 50 .. for 10..100), else from a multiple of the step */
    for (int i = 0; i < p->nxticks; i++) {
      double x = px(p, p->xticks[i]);
      sb_printf(b, "<line class=\"level\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                x, ya, x, ya + 3);
    }
    double lo = p->xticks[0], hi = p->xticks[0];
    for (int i = 1; i < p->nxticks; i++) {
      lo = fmin(lo, p->xticks[i]);
      hi = fmax(hi, p->xticks[i]);
    }
    double st = nice_step(hi - lo, 5), tenth = lo / (st / 10);
    double start = fabs(tenth - nearbyint(tenth)) < 1e-6 ? lo : ceil(lo / st - 1e-9) * st;
    if (!(hi > lo)) start = lo, st = 1;
    for (int k = 0; k <= 1000; k++) {
      double t = start + k * st;
      if (t > hi + 1e-9 * st) break;
      double r = nearbyint(t / (st / 10)) * (st / 10); /* 0.30000000000000004 -> 0.3 */
      if (fabs(r) < 1e-12 * st) r = 0;
      double x = px(p, r);
      sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                   "<text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                x, ya, x, ya + 5, x, ya + 16, r);
      if (!(hi > lo)) break;
    }
  } else {
    for (double t = ceil(p->x0 / sx) * sx; t <= p->x1 + 1e-9 * sx; t += sx) {
      double x = px(p, t);
      sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                   "<text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x, ya, x, ya + 4, x, ya + 16,
                fabs(t) < 1e-12 * sx ? 0.0 : t);
    }
  }
  for (double t = ceil(p->y0 / sy) * sy; !p->no_yticks && t <= p->y1 + 1e-9 * sy; t += sy) {
    double y = py(p, t);
    sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", xa, y, xb, y, xa - 4, y + 4, fabs(t) < 1e-12 * sy ? 0.0 : t);
  }
  if (p->xlabel) {
    sb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (xa + xb) / 2, p->height - 4);
    sb_escape(b, p->xlabel);
    sb_puts(b, "</text>\n");
  }
  if (p->ylabel) {
    sb_printf(b, "<text transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">", (ya + yb) / 2);
    sb_escape(b, p->ylabel);
    sb_puts(b, "</text>\n");
  }
}

void svg_end(strbuf *b) { sb_puts(b, "</svg>\n"); }

void svg_line(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, const char *color) {
  svg_path(b, p, x, y, n, color);
  svg_points(b, p, x, y, n, 2.5, color);
}

void svg_path(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, const char *color) {
  int started = 0;
  sb_printf(b, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", color);
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]) || !isfinite(y[i])) continue;
    sb_printf(b, "%s%.1f %.1f", started ? "L" : "M", px(p, x[i]), py(p, y[i]));
    started = 1;
  }
  sb_puts(b, "\"/>\n");
}

void svg_bars(strbuf *b, const svg_plot *p, const long *counts, int bins, const char *color) {
  double w = (p->x1 - p->x0) / bins;
  for (int i = 0; i < bins; i++) {
    double xa = px(p, p->x0 + i * w), xb = px(p, p->x0 + (i + 1) * w), ya = py(p, (double)counts[i]), y0 = py(p, p->y0);
    sb_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", xa, ya,
              xb - xa > 1 ? xb - xa - 1 : xb - xa, y0 - ya, color);
  }
}

void svg_hbars(strbuf *b, const svg_plot *p, const char *const *labels, const double *value, const double *lo,
               const double *hi, int n, const char *const *colors) {
  for (int i = 0; i < n; i++) {
    double ya = py(p, n - i - 0.2), yb = py(p, n - i - 0.8), ym = (ya + yb) / 2, xa = px(p, p->x0);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", xa - 4, ym + 4);
    sb_escape(b, labels[i]);
    sb_puts(b, "</text>\n");
    if (isfinite(value[i]))
      sb_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", xa, ya,
                px(p, value[i]) - xa, yb - ya, colors[i]);
    if (isfinite(lo[i]) && isfinite(hi[i]))
      sb_printf(b, "<path class=\"whisker\" stroke=\"#333\" fill=\"none\" d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\"/>\n",
                px(p, lo[i]), ym, px(p, hi[i]), px(p, lo[i]), ym - 3, ym + 3, px(p, hi[i]), ym - 3, ym + 3);
  }
}

void svg_points(strbuf *b, const svg_plot *p, const double *x, const double *y, int n, double r, const char *color) {
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]) || !isfinite(y[i])) continue;
    sb_printf(b, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", px(p, x[i]), py(p, y[i]), r, color);
  }
}

void svg_legend(strbuf *b, const svg_plot *p, int row, const char *label, const char *color, int dashed) {
  int x = p->legend_left ? p->left + 14 : p->width - p->right - 150, y = p->top + 10 + 14 * row;
  if (dashed)
    sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\" "
                 "stroke-dasharray=\"4 3\"/>", x - 6, y - 4, x + 10, y - 4, color);
  else
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", x, y - 9, color);
  sb_printf(b, "<text class=\"legend\" x=\"%d\" y=\"%d\">", x + 14, y);
  sb_escape(b, label);
  sb_puts(b, "</text>\n");
}

void svg_segment(strbuf *b, const svg_plot *p, double xa, double ya, double xb, double yb, const char *color) {
  /* clip the parameter range t in [0, 1] to y0 <= y <= y1 */
  double t0 = 0, t1 = 1, dy = yb - ya;
  if (!isfinite(xa) || !isfinite(ya) || !isfinite(xb) || !isfinite(yb)) return;
  if (dy != 0) {
    double ta = (p->y0 - ya) / dy, tb = (p->y1 - ya) / dy;
    if (ta > tb) { double t = ta; ta = tb; tb = t; }
    if (ta > t0) t0 = ta;
    if (tb < t1) t1 = tb;
  } else if (ya < p->y0 || ya > p->y1) {
    return;
  }
  if (t0 >= t1) return;
  sb_printf(b, "<path class=\"fit\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\" "
               "d=\"M%.1f %.1fL%.1f %.1f\"/>\n", color, px(p, xa + t0 * (xb - xa)), py(p, ya + t0 * dy),
            px(p, xa + t1 * (xb - xa)), py(p, ya + t1 * dy));
}

void svg_vline(strbuf *b, const svg_plot *p, double x, const char *label, const char *color) {
  if (!isfinite(x) || x < p->x0 || x > p->x1) return;
  double X = px(p, x);
  sb_printf(b, "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n", X, py(p, p->y0), X, py(p, p->y1), color);
  if (label) {
    int right = X > (p->left + p->width - p->right) / 2.0;
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\" stroke=\"white\" stroke-width=\"3\" "
                 "paint-order=\"stroke\">", right ? X - 3 : X + 3,
              py(p, p->y1) + 10, right ? "end" : "start", color);
    sb_escape(b, label);
    sb_puts(b, "</text>\n");
  }
}

void svg_label(strbuf *b, const svg_plot *p, double x, double y, int dx, int dy, const char *text, const char *color) {
  if (!isfinite(x) || !isfinite(y)) return;
  sb_printf(b, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"10\" stroke=\"white\" "
               "stroke-width=\"3\" paint-order=\"stroke\">", px(p, x) + dx, py(p, y) - dy, color);
  sb_escape(b, text);
  sb_puts(b, "</text>\n");
}

void svg_band(strbuf *b, const svg_plot *p, const double *x, const double *lo, const double *hi, int n,
              const char *color) {
  int started = 0;
  sb_printf(b, "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" d=\"", color);
  for (int i = 0; i < n; i++) /* the upper edge forward, */
    if (isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i])) {
      sb_printf(b, "%s%.1f %.1f", started ? "L" : "M", px(p, x[i]), py(p, hi[i]));
      started = 1;
    }
  for (int i = n - 1; i >= 0; i--) /* the lower edge back */
    if (isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i])) sb_printf(b, "L%.1f %.1f", px(p, x[i]), py(p, lo[i]));
  sb_puts(b, started ? "Z\"/>\n" : "\"/>\n");
}

/* A label's box in pixels, estimated from its length (about 6 px a character at 10 px). */
typedef struct label_box {
  double x0, y0, x1, y1;
} label_box;

static int boxes_overlap(const label_box *a, const label_box *b) {
  return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

int svg_point_labels(strbuf *b, const svg_plot *p, const double *x, const double *y, int n,
                     const char *const *text, const char *const *colors) {
  label_box *placed = malloc(sizeof(label_box) * (size_t)(n > 0 ? n : 1));
  if (!placed) {
    b->failed = 1;
    return 0;
  }
  int count = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]) || !isfinite(y[i])) continue;
    double X = px(p, x[i]), Y = py(p, y[i]), w = 6.0 * (double)strlen(text[i]), h = 11;
    /* candidate baselines: right, left, above, below the point */
    const double cx[4] = {X + 6, X - 6 - w, X - w / 2, X - w / 2};
    const double cy[4] = {Y + 3, Y + 3, Y - 7, Y + 14};
    for (int k = 0; k < 4; k++) {
      label_box box = {cx[k], cy[k] - h + 2, cx[k] + w, cy[k] + 2};
      int ok = box.x0 >= 0 && box.x1 <= p->width && box.y0 >= p->top && box.y1 <= p->height - p->bottom;
      for (int j = 0; ok && j < count; j++) ok = !boxes_overlap(&box, &placed[j]);
      if (!ok) continue;
      placed[count++] = box;
      sb_printf(b, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"10\" stroke=\"white\" "
                   "stroke-width=\"3\" paint-order=\"stroke\">", cx[k], cy[k], colors[i]);
      sb_escape(b, text[i]);
      sb_puts(b, "</text>\n");
      break;
    }
  }
  free(placed);
  return count;
}

/* The sequential shade of t in [0, 1]: white to a dark red. */
static void shade(double t, int rgb[3]) {
  static const int lo[3] = {255, 255, 255}, mid[3] = {252, 146, 114}, hi[3] = {165, 15, 21};
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  const int *a = t < 0.5 ? lo : mid, *c = t < 0.5 ? mid : hi;
  double u = t < 0.5 ? 2 * t : 2 * t - 1;
  for (int k = 0; k < 3; k++) rgb[k] = (int)lround(a[k] + u * (c[k] - a[k]));
}

void svg_heatmap(strbuf *b, const char *title, const char *const *rows, int nr, const char *const *cols, int nc,
                 const double *v, double lo, double hi, int digits) {
  int cw = 74, ch = 26, left = 20, top = 56;
  size_t longest = 0;
  for (int r = 0; r < nr; r++) if (strlen(rows[r]) > longest) longest = strlen(rows[r]);
  left += (int)(6.5 * (double)(longest < 60 ? longest : 60));
  int width = left + nc * cw + 20, height = top + nr * ch + 44;
  if (width < 360) width = 360;
  sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            width, height, width, height, width, height);
  if (title) {
    sb_printf(b, "<text class=\"title\" x=\"%d\" y=\"14\" text-anchor=\"middle\" font-size=\"13\" "
                 "font-weight=\"bold\">", width / 2);
    sb_escape(b, title);
    sb_puts(b, "</text>\n");
  }
  for (int c = 0; c < nc; c++) {
    sb_printf(b, "<text class=\"col\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", left + c * cw + cw / 2, top - 8);
    sb_escape(b, cols[c]);
    sb_puts(b, "</text>\n");
  }
  double span = hi > lo ? hi - lo : 1;
  for (int r = 0; r < nr; r++) {
    int y = top + r * ch;
    sb_printf(b, "<text class=\"row\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, y + ch / 2 + 4);
    sb_escape(b, rows[r]);
    sb_puts(b, "</text>\n");
    for (int c = 0; c < nc; c++) {
      double x = v[(size_t)r * (size_t)nc + (size_t)c];
      int rgb[3] = {221, 221, 221};
      if (isfinite(x)) shade((x - lo) / span, rgb);
      sb_printf(b, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" "
                   "stroke=\"white\"/>", left + c * cw, y, cw, ch, rgb[0], rgb[1], rgb[2]);
      int dark = rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114 < 128000;
      sb_printf(b, "<text class=\"value\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">",
                left + c * cw + cw / 2, y + ch / 2 + 4, dark ? "white" : "#222");
      if (isfinite(x)) sb_printf(b, "%.*f", digits, x);
      else sb_puts(b, "&#8211;");
      sb_puts(b, "</text>\n");
    }
  }
  /* the colour scale: lo .. hi */
  int y = top + nr * ch + 14, w = nc * cw < 200 ? nc * cw : 200;
  for (int k = 0; k < 20; k++) {
    int rgb[3];
    shade((k + 0.5) / 20, rgb);
    sb_printf(b, "<rect class=\"scale\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"10\" fill=\"#%02x%02x%02x\"/>",
              left + k * w / 20.0, y, w / 20.0 + 0.5, rgb[0], rgb[1], rgb[2]);
  }
  sb_printf(b, "\n<text x=\"%d\" y=\"%d\" text-anchor=\"start\">%.*f</text><text x=\"%d\" y=\"%d\" "
               "text-anchor=\"end\">%.*f</text>\n", left, y + 24, digits, lo, left + w, y + 24, digits, hi);
  svg_end(b);
}
