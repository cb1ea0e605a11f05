/* What every HTML page of vfrobust shares: the stylesheet, figures written beside the page,
 * whole-file writes. Internal to src/report/ and src/compare/. */
#ifndef VFR_REPORT_PAGE_H
#define VFR_REPORT_PAGE_H

#include "report/svg.h"
#include "vfrobust/error.h"

/* Writes b to path whole or not at all (temporary file, fsync, rename). */
int page_write(const char *path, const strbuf *b, vfr_error *err);
/* Creates DIR/figures (it may exist). */
int page_figures_dir(const char *dir, vfr_error *err);
/* Inlines svg into the page as <figure id="fig-NAME"> and writes it to DIR/figures/NAME.svg. */
int page_add_figure(strbuf *page, const char *dir, const char *name, const strbuf *svg, vfr_error *err);
/* <!DOCTYPE html> ... <body>: title (escaped) and the shared stylesheet. */
void page_begin(strbuf *b, const char *title);
/* The footer line and </body></html>. */
void page_end(strbuf *b);
/* Appends the base64 of p (n bytes), for data: URLs. */
void page_base64(strbuf *b, const unsigned char *p, size_t n);

/* A coloured square before a table cell's text. */
void page_swatch(strbuf *b, const char *color);

#endif
