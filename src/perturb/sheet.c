/* A contact sheet: one image under several ops at several levels, as a labelled grid.
 *
 * Layout (all in pixels, GAP = 4): a label column of width label_w on the left holding
 * each row's op name; then m cells of tw x th, GAP apart; under each cell a text line
 * (TEXT_H) with its level value. Text uses a built-in 3x5 font drawn at 2x. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

#define SHEET_GAP 4
#define SHEET_MAX_LEVELS 64
#define FONT_SCALE 2
#define GLYPH_ADVANCE (4 * FONT_SCALE)   /* 3 columns + 1 of spacing */
#define TEXT_H (6 * FONT_SCALE + 2)      /* 5 rows + spacing */
#define LABEL_MAX_CHARS 16

/* 3x5 glyphs: five rows, top first, bit 2 = left column. */
typedef struct glyph {
  char c;
  uint8_t rows[5];
} glyph;

static const glyph font[] = {
    {'a', {2, 5, 7, 5, 5}}, {'b', {6, 5, 6, 5, 6}}, {'c', {3, 4, 4, 4, 3}}, {'d', {6, 5, 5, 5, 6}},
    {'e', {7, 4, 6, 4, 7}}, {'f', {7, 4, 6, 4, 4}}, {'g', {3, 4, 5, 5, 3}}, {'h', {5, 5, 7, 5, 5}},
    {'i', {7, 2, 2, 2, 7}}, {'j', {1, 1, 1, 5, 2}}, {'k', {5, 5, 6, 5, 5}}, {'l', {4, 4, 4, 4, 7}},
    {'m', {5, 7, 7, 5, 5}}, {'n', {6, 5, 5, 5, 5}}, {'o', {2, 5, 5, 5, 2}}, {'p', {6, 5, 6, 4, 4}},
    {'q', {2, 5, 5, 6, 3}}, {'r', {6, 5, 6, 5, 5}}, {'s', {3, 4, 2, 1, 6}}, {'t', {7, 2, 2, 2, 2}},
    {'u', {5, 5, 5, 5, 7}}, {'v', {5, 5, 5, 5, 2}}, {'w', {5, 5, 7, 7, 5}}, {'x', {5, 5, 2, 5, 5}},
    {'y', {5, 5, 2, 2, 2}}, {'z', {7, 1, 2, 4, 7}}, {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}},
    {'2', {6, 1, 2, 4, 7}}, {'3', {6, 1, 2, 1, 6}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 6, 1, 6}},
    {'6', {3, 4, 7, 5, 7}}, {'7', {7, 1, 2, 2, 2}}, {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 6}},
    {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}}, {'_', {0, 0, 0, 0, 7}}, {':', {0, 2, 0, 2, 0}},
    {'=', {0, 7, 0, 7, 0}}, {'+', {0, 2, 7, 2, 0}},
};

static const glyph *find_glyph(char c) {
  c = (char)tolower((unsigned char)c);
  for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
    if (font[i].c == c) return &font[i];
  return NULL; /* blank */
}

/* Draws text in dark grey with its top-left corner at (x, y), clipped to max_w pixels. */
static void draw_text(vfr_image *img, int x, int y, const char *text, int max_w) {
  for (int k = 0; text[k] && (k + 1) * GLYPH_ADVANCE <= max_w + FONT_SCALE; k++) {
    const glyph *g = find_glyph(text[k]);
    if (!g) continue;
    for (int r = 0; r < 5; r++)
      for (int c = 0; c < 3; c++) {
        if (!(g->rows[r] >> (2 - c) & 1)) continue;
        for (int dy = 0; dy < FONT_SCALE; dy++)
          for (int dx = 0; dx < FONT_SCALE; dx++) {
            int px = x + k * GLYPH_ADVANCE + c * FONT_SCALE + dx, py = y + r * FONT_SCALE + dy;
            if (px >= 0 && px < img->width && py >= 0 && py < img->height)
              memset(img->data + (size_t)py * img->stride + 3 * (size_t)px, 40, 3);
          }
      }
  }
}

/* The row's label: the op name for a domain, the canonical text otherwise. */
static const char *row_label(const vfr_spec *s) {
  return s->kind == VFR_SPEC_DOMAIN ? s->op->name : s->text;
}

int vfr_contact_sheet(const vfr_image *in, const vfr_spec *specs, int n_specs, int m,
                      int cell_px, uint64_t seed, vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "contact sheet", err);
  if (rc) return rc;
  if (!specs || n_specs < 1 || n_specs > 256)
    return vfr_fail(err, VFR_EINVAL, "contact sheet: %d ops (want 1..256)", n_specs);
  if (m < 1 || m > SHEET_MAX_LEVELS)
    return vfr_fail(err, VFR_EINVAL, "contact sheet: %d levels (want 1..%d)", m, SHEET_MAX_LEVELS);
  if (cell_px < 8 || cell_px > 4096)
    return vfr_fail(err, VFR_EINVAL, "contact sheet: cell size %d px (want 8..4096)", cell_px);
  int w = in->width, h = in->height, longest = w > h ? w : h;
  double s = longest > cell_px ? (double)cell_px / longest : 1.0;
  int tw = (int)floor(w * s + 0.5), th = (int)floor(h * s + 0.5);
  if (tw < 1) tw = 1;
  if (th < 1) th = 1;
  size_t longest_label = 0;
  for (int r = 0; r < n_specs; r++) {
    size_t n = strlen(row_label(&specs[r]));
    if (n > longest_label) longest_label = n;
  }
  if (longest_label > LABEL_MAX_CHARS) longest_label = LABEL_MAX_CHARS;
  int label_w = SHEET_GAP + (int)longest_label * GLYPH_ADVANCE;
  int row_h = th + TEXT_H;
  vfr_image sheet;
  rc = vfr_image_alloc(&sheet, label_w + m * tw + (m + 1) * SHEET_GAP,
                       n_specs * row_h + (n_specs + 1) * SHEET_GAP, 3, err);
  if (rc) return rc;
  memset(sheet.data, 255, sheet.stride * (size_t)sheet.height);
  vfr_chain levels[SHEET_MAX_LEVELS];
  double values[SHEET_MAX_LEVELS];
  for (int r = 0; r < n_specs && rc == VFR_OK; r++) {
    int n_levels = 0, y0 = SHEET_GAP + r * (row_h + SHEET_GAP);
    rc = vfr_spec_levels(&specs[r], m, levels, values, SHEET_MAX_LEVELS, &n_levels, err);
    if (rc == VFR_OK)
      draw_text(&sheet, SHEET_GAP, y0 + (th - 5 * FONT_SCALE) / 2, row_label(&specs[r]),
                label_w - SHEET_GAP);
    for (int j = 0; j < n_levels && rc == VFR_OK; j++) {
      vfr_image cell = {0}, thumb = {0};
      rc = vfr_perturb_apply(in, &levels[j], seed, &cell, err);
      if (rc == VFR_OK) {
        if (tw == w && th == h) {
          thumb = cell;
          cell = (vfr_image){0};
        } else {
          rc = vfr_resize(&cell, tw, th, VFR_FILTER_BICUBIC, &thumb, err);
        }
      }
      if (rc == VFR_OK) {
        int x0 = label_w + SHEET_GAP + j * (tw + SHEET_GAP);
        for (int y = 0; y < th; y++)
          memcpy(sheet.data + (size_t)(y0 + y) * sheet.stride + 3 * (size_t)x0,
                 thumb.data + (size_t)y * thumb.stride, (size_t)tw * 3);
        if (specs[r].kind == VFR_SPEC_DOMAIN) {
          char text[32];
          snprintf(text, sizeof text, "%.4g", values[j]);
          draw_text(&sheet, x0, y0 + th + 2, text, tw);
        }
      }
      vfr_image_free(&cell);
      vfr_image_free(&thumb);
    }
  }
  if (rc) {
    vfr_image_free(&sheet);
    return rc;
  }
  *out = sheet;
  return VFR_OK;
}
