/* The shared parts of the HTML pages (see page.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/files.h"
#include "report/page.h"

int page_write(const char *path, const strbuf *b, vfr_error *err) {
  if (b->failed) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  char tmp[4200];
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  if (b->n && fwrite(b->s, 1, b->n, f) != b->n) {
    vfr_atomic_abort(f, tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", path, strerror(errno));
  }
  return vfr_atomic_commit(f, tmp, path, err);
}

int page_figures_dir(const char *dir, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/figures", dir);
  if (mkdir(path, 0755) && errno != EEXIST)
    return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", path, strerror(errno));
  return VFR_OK;
}

int page_add_figure(strbuf *page, const char *dir, const char *name, const strbuf *svg, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/figures/%s.svg", dir, name);
  int rc = page_write(path, svg, err);
  if (rc) return rc;
  sb_printf(page, "<figure class=\"plot\" id=\"fig-%s\">", name);
  if (svg->s) sb_puts(page, svg->s);
  sb_puts(page, "</figure>\n");
  return VFR_OK;
}

void page_begin(strbuf *b, const char *title) {
  sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
  sb_escape(b, title);
  sb_puts(b, "</title>\n<style>body{font-family:sans-serif;margin:1.5em 2em;max-width:1400px;color:#222}"
             "h1{margin-bottom:0.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:0.2em}"
             "p.meta{color:#555;margin-top:0}"
             "table{border-collapse:collapse;margin:0.8em 0;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:2px 7px;text-align:right;font-variant-numeric:tabular-nums}"
             "th{background:#f3f3f3}td:first-child,table.settings td,table.skipped td{text-align:left}"
             "table.settings th,table.skipped th{text-align:left}th.group{text-align:center}th.group,th.first,td.first{border-left:2px solid #888}"
             "tr:nth-child(even) td{background:#fafafa}"
             ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px;vertical-align:baseline}"
             ".grid{display:flex;flex-wrap:wrap;gap:8px}.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}"
             "figure{margin:0}img.samples{image-rendering:pixelated;max-width:100%}p.footer{color:#777}"
             "</style></head><body>\n");
}

void page_end(strbuf *b) {
  sb_puts(b, "<p class=\"footer\">Written by vfrobust ");
  sb_puts(b, vfr_version());
  sb_puts(b, ".</p>\n</body></html>\n");
}

void page_swatch(strbuf *b, const char *color) {
  sb_printf(b, "<span class=\"swatch\" style=\"background:%s\"></span>", color);
}

void page_base64(strbuf *b, const unsigned char *p, size_t n) {
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
