/* Depth maps as single-channel PNG files (16-bit, or 8-bit on reading) through libpng;
 * libpng errors longjmp back here. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfrobust/depth.h"
#include "core/files.h"

typedef struct png_msg {
  char text[200];
} png_msg;

static void on_error(png_structp png, png_const_charp msg) {
  png_msg *m = png_get_error_ptr(png);
  if (m && !m->text[0]) snprintf(m->text, sizeof m->text, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

void vfr_depth_map_free(vfr_depth_map *map) {
  if (!map) return;
  free(map->depth);
  memset(map, 0, sizeof *map);
}

int vfr_depth_png_read(const char *path, double scale, vfr_depth_map *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  if (!(scale > 0)) return vfr_fail(err, VFR_EINVAL, "%s: depth scale %g must be positive", path, scale);
  struct stat st;
  if (stat(path, &st) != 0) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return vfr_fail(err, VFR_EIO, "%s: not a regular file", path);
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  unsigned char sig[8];
  if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
    fclose(f);
    return vfr_fail(err, VFR_EFORMAT, "%s: not a PNG file", path);
  }
  png_msg msg = {{0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &msg, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  uint16_t *volatile rows16 = NULL;
  float *volatile depth = NULL;
  if (!png || !info) {
    png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
    fclose(f);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  volatile int rc = VFR_OK;
  if (setjmp(png_jmpbuf(png))) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: bad depth PNG (%s)", path, msg.text[0] ? msg.text : "libpng error");
  } else {
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w, h;
    int bits, color, interlace;
    png_get_IHDR(png, info, &w, &h, &bits, &color, &interlace, NULL, NULL);
    if (color != PNG_COLOR_TYPE_GRAY || (bits != 16 && bits != 8)) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s: a depth PNG must be 8- or 16-bit grey (this is colour type %d, %d bits)",
                    path, color, bits);
    } else if (w == 0 || h == 0 || (uint64_t)w * h > (1u << 28)) {
      rc = vfr_fail(err, VFR_ELIMIT, "%s: depth map of %ux%u pixels", path, (unsigned)w, (unsigned)h);
    } else {
      if (bits == 16) png_set_swap(png); /* host order (little-endian) */
      else png_set_expand_gray_1_2_4_to_8(png);
      if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
      png_read_update_info(png, info);
      size_t rowbytes = png_get_rowbytes(png, info);
      rows16 = malloc(rowbytes * h);
      depth = malloc(sizeof(float) * (size_t)w * h);
      png_bytep *rows = malloc(sizeof(png_bytep) * h);
      if (!rows16 || !depth || !rows) {
        free(rows);
        rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
      } else {
        for (png_uint_32 y = 0; y < h; y++) rows[y] = (png_bytep)rows16 + y * rowbytes;
        png_read_image(png, rows);
        free(rows);
        for (png_uint_32 y = 0; y < h; y++)
          for (png_uint_32 x = 0; x < w; x++) {
            const unsigned char *r = (const unsigned char *)rows16 + y * rowbytes;
            unsigned v = bits == 16 ? (unsigned)((const uint16_t *)(const void *)r)[x] : r[x];
            depth[(size_t)y * w + x] = (float)(v / scale);
          }
        out->width = (int)w;
        out->height = (int)h;
      }
    }
  }
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  free(rows16);
  if (rc) {
    free(depth);
    memset(out, 0, sizeof *out);
    return rc;
  }
  out->depth = depth;
  return VFR_OK;
}

int vfr_depth_png_write(const char *path, const vfr_depth_map *map, double scale, vfr_error *err) {
  if (!map || !map->depth || map->width < 1 || map->height < 1)
    return vfr_fail(err, VFR_EINVAL, "%s: empty depth map", path);
  if (!(scale > 0)) return vfr_fail(err, VFR_EINVAL, "%s: depth scale %g must be positive", path, scale);
  char tmp[4200];
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  png_msg msg = {{0}};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &msg, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  unsigned char *volatile row = malloc((size_t)map->width * 2);
  volatile int rc = VFR_OK;
  if (!png || !info || !row) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  } else if (setjmp(png_jmpbuf(png))) {
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", path, msg.text);
  } else {
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)map->width, (png_uint_32)map->height, 16, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < map->height; y++) {
      for (int x = 0; x < map->width; x++) {
        double v = map->depth[(size_t)y * map->width + x] * scale;
        long q = v > 0 ? (long)(v + 0.5) : 0;
        if (q > 65535) q = 65535;
        row[2 * x] = (unsigned char)(q >> 8); /* PNG is big-endian */
        row[2 * x + 1] = (unsigned char)(q & 0xff);
      }
      png_write_row(png, row);
    }
    png_write_end(png, NULL);
  }
  png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
  free(row);
  if (rc) {
    vfr_atomic_abort(f, tmp);
    return rc;
  }
  return vfr_atomic_commit(f, tmp, path, err);
}
