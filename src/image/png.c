/* PNG through libpng: decoding to RGB8 as Pillow 9.4's open + convert('RGB'), and
 * lossless encoding.
 *
 * Pillow's readings that we reproduce: 16-bit channels keep their high byte, except
 * 16-bit grey without alpha, which Pillow opens as 32-bit integers ("I") and then
 * clamps to 0..255 when converting; 1/2/4-bit grey is scaled to 0..255; palettes are
 * looked up with transparency ignored, and an index past the palette's end reads as
 * the grey ramp Pillow starts every palette from; alpha and tRNS are dropped; gamma,
 * sRGB and ICC chunks are ignored; CRCs are checked for the header chunks only.
 * Decoding uses libpng's progressive reader, which, like Pillow, inflates whatever
 * image data is present: a file is "truncated PNG data" when it ends before the last
 * row, and decodes when only what follows the image data is missing. libpng errors
 * longjmp back here. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

typedef struct png_state {
  const uint8_t *buf; /* encode: the output */
  size_t pos, cap;
  char message[200];
  /* decode */
  const char *name;
  long long max_pixels;
  vfr_error *err;
  int limit_hit;
  png_uint_32 width, height;
  int palette, gray16, channels;
  size_t rowbytes;
  uint8_t *pixels;              /* (height, rowbytes) as libpng delivers them */
  size_t rows_seen, rows_total; /* row callbacks so far / in all */
} png_state;

static void on_error(png_structp png, png_const_charp msg) {
  png_state *s = png_get_error_ptr(png);
  if (s && !s->message[0]) snprintf(s->message, sizeof s->message, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

/* How many row callbacks the progressive reader makes: one per row, and with Adam7 one
 * per row of the image for each of the seven passes that is not empty. */
static size_t rows_to_decode(png_uint_32 w, png_uint_32 h, int interlace) {
  if (interlace == PNG_INTERLACE_NONE) return h;
  static const png_uint_32 x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  size_t passes = 0;
  for (int p = 0; p < 7; p++) passes += w > x0[p] && h > y0[p];
  return passes * h;
}

/* Header read: check the size, choose the transforms, allocate. */
static void on_info(png_structp png, png_infop info) {
  png_state *st = png_get_progressive_ptr(png);
  png_uint_32 w, h;
  int depth, color, interlace;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
  if (vfr_image_check_size(w, h, st->max_pixels, st->name, st->err)) {
    st->limit_hit = 1;
    png_error(png, "size limit");
  }
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
  st->width = w;
  st->height = h;
  st->palette = color == PNG_COLOR_TYPE_PALETTE;
  st->gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (st->palette) {
    png_set_packing(png); /* one index per byte */
  } else {
    if (!st->gray16) png_set_strip_16(png); /* keeps the high byte */
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  st->channels = png_get_channels(png, info);
  st->rowbytes = png_get_rowbytes(png, info);
  const int expect = (st->palette || color == PNG_COLOR_TYPE_GRAY ||
                      color == PNG_COLOR_TYPE_GRAY_ALPHA) ? 1 : 3;
  if (st->channels != expect || st->rowbytes != (size_t)w * st->channels * (st->gray16 ? 2 : 1))
    png_error(png, "unexpected PNG layout after transforms");
  st->pixels = calloc(h, st->rowbytes);
  if (!st->pixels) png_error(png, "out of memory");
  st->rows_total = rows_to_decode(w, h, interlace);
}

static void on_row(png_structp png, png_bytep new_row, png_uint_32 row, int pass) {
  (void)pass;
  png_state *st = png_get_progressive_ptr(png);
  st->rows_seen++;
  if (!new_row || row >= st->height || !st->pixels) return; /* NULL: unchanged this pass */
  png_progressive_combine_row(png, st->pixels + row * st->rowbytes, new_row);
}

static void on_end(png_structp png, png_infop info) {
  (void)png;
  (void)info;
}

/* Decoded rows (in the layout st describes) -> RGB8 as Pillow's convert('RGB'). */
static void rows_to_rgb(png_structp png, png_infop info, const png_state *st, vfr_image *img) {
  uint8_t lut[256][3]; /* palette, with the grey ramp past its end */
  if (st->palette) {
    for (int i = 0; i < 256; i++) lut[i][0] = lut[i][1] = lut[i][2] = (uint8_t)i;
    png_colorp pal = NULL;
    int n = 0;
    if (png_get_PLTE(png, info, &pal, &n) && pal)
      for (int i = 0; i < n && i < 256; i++) {
        lut[i][0] = pal[i].red;
        lut[i][1] = pal[i].green;
        lut[i][2] = pal[i].blue;
      }
  }
  for (png_uint_32 y = 0; y < st->height; y++) {
    const uint8_t *s = st->pixels + y * st->rowbytes;
    uint8_t *d = img->data + (size_t)y * img->stride;
    if (st->palette) {
      for (png_uint_32 x = 0; x < st->width; x++, d += 3) memcpy(d, lut[s[x]], 3);
    } else if (st->gray16) {
      for (png_uint_32 x = 0; x < st->width; x++, d += 3) {
        unsigned v = (unsigned)s[2 * x] << 8 | s[2 * x + 1];
        d[0] = d[1] = d[2] = (uint8_t)(v > 255 ? 255 : v);
      }
    } else if (st->channels == 1) {
      for (png_uint_32 x = 0; x < st->width; x++, d += 3) d[0] = d[1] = d[2] = s[x];
    } else {
      memcpy(d, s, (size_t)st->width * 3);
    }
  }
}

int vfr_png_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                   vfr_image *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  png_state st = {.name = name, .max_pixels = max_pixels, .err = err};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", name);
  }
  int failed = 0;
  if (setjmp(png_jmpbuf(png))) {
    failed = 1;
  } else {
    png_set_progressive_read_fn(png, &st, on_info, on_row, on_end);
    png_process_data(png, info, (png_bytep)buf, len);
  }
  /* Like Pillow, an error after the last row (a cut or damaged tail) still gives the image. */
  int rc = VFR_OK;
  if (st.limit_hit) {
    rc = VFR_ELIMIT; /* message already set */
  } else if (!st.pixels || st.rows_total == 0 || st.rows_seen < st.rows_total) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: %s", name,
                  failed && st.message[0] ? st.message : "truncated PNG data");
  } else if ((rc = vfr_image_alloc(out, (int)st.width, (int)st.height, 3, err)) == VFR_OK) {
    rows_to_rgb(png, info, &st, out);
  }
  png_destroy_read_struct(&png, &info, NULL);
  free(st.pixels);
  return rc;
}

static void write_mem(png_structp png, png_bytep data, png_size_t n) {
  png_state *s = png_get_io_ptr(png);
  if (n > s->cap - s->pos) {
    size_t cap = s->cap ? s->cap : 4096;
    while (n > cap - s->pos) {
      if (cap > SIZE_MAX / 2) png_error(png, "PNG output too large");
      cap *= 2;
    }
    uint8_t *b = realloc((void *)s->buf, cap);
    if (!b) png_error(png, "out of memory");
    s->buf = b;
    s->cap = cap;
  }
  memcpy((uint8_t *)s->buf + s->pos, data, n);
  s->pos += n;
}

static void flush_mem(png_structp png) { (void)png; }

int vfr_png_encode(const vfr_image *img, uint8_t **buf, size_t *len, vfr_error *err) {
  *buf = NULL;
  *len = 0;
  int rc = vfr_image_check(img, "PNG encode", err);
  if (rc) return rc;
  png_state st = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return vfr_fail(err, VFR_ENOMEM, "PNG encode: out of memory");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free((void *)st.buf);
    return vfr_fail(err, VFR_EINTERNAL, "PNG encode: %s", st.message);
  }
  png_set_write_fn(png, &st, write_mem, flush_mem);
  /* zlib level 2 with libpng's adaptive row filters: on perturb-set's 224x224 variants
   * 2.4x less CPU than zlib's default level 6 for files 8% larger (docs/python.md);
   * the pixels are the same at any level */
  png_set_compression_level(png, 2);
  int color = img->channels == 1   ? PNG_COLOR_TYPE_GRAY
              : img->channels == 3 ? PNG_COLOR_TYPE_RGB
                                   : PNG_COLOR_TYPE_RGBA;
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, color,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < img->height; y++)
    png_write_row(png, (png_const_bytep)(img->data + (size_t)y * img->stride));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  *buf = (uint8_t *)st.buf;
  *len = st.pos;
  return VFR_OK;
}
