/* JPEG through the libjpeg API (libjpeg-turbo), configured as Pillow 9.4 does.
 *
 * libjpeg reports fatal errors through error_exit, which must not return: ours
 * longjmps back to the call that started the work. Warnings are silenced, except
 * "premature end of data", which we turn into an error as Pillow does ("image file
 * is truncated") instead of accepting the grey fill libjpeg invents. */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image_internal.h"

typedef struct jpeg_guard {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  int truncated;
} jpeg_guard;

static void guard_error_exit(j_common_ptr cinfo) {
  jpeg_guard *g = (jpeg_guard *)cinfo->err;
  longjmp(g->jump, 1);
}

static void guard_emit_message(j_common_ptr cinfo, int level) {
  jpeg_guard *g = (jpeg_guard *)cinfo->err;
  if (level < 0 && g->pub.msg_code == JWRN_JPEG_EOF) {
    g->truncated = 1;
    longjmp(g->jump, 1);
  }
}

static void guard_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void guard_init(jpeg_guard *g) {
  jpeg_std_error(&g->pub);
  g->pub.error_exit = guard_error_exit;
  g->pub.emit_message = guard_emit_message;
  g->pub.output_message = guard_output_message;
  g->truncated = 0;
}

static void guard_message(jpeg_guard *g, j_common_ptr cinfo, char *msg) {
  if (g->truncated)
    snprintf(msg, JMSG_LENGTH_MAX, "truncated JPEG data");
  else
    g->pub.format_message(cinfo, msg);
}

/* Pillow reads 4-component JPEGs as Adobe-style inverted CMYK, then converts to RGB
 * with R = (255-K) - C'(255-K)/255 where C' = 255 - stored value. */
static inline uint8_t cmyk_channel(uint8_t stored, uint8_t stored_k) {
  unsigned c = 255u - stored, nk = stored_k; /* nk = 255 - K = stored K */
  unsigned t = c * nk + 128;
  unsigned m = ((t >> 8) + t) >> 8;
  return (uint8_t)(nk - m);
}

int vfr_jpeg_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                    vfr_image *out, vfr_error *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_guard g;
  vfr_image img = {0};
  uint8_t *volatile row = NULL; /* freed on the longjmp path */
  memset(out, 0, sizeof *out);
  memset(&cinfo, 0, sizeof cinfo);
  guard_init(&g);
  cinfo.err = &g.pub;
  if (setjmp(g.jump)) {
    char msg[JMSG_LENGTH_MAX];
    guard_message(&g, (j_common_ptr)&cinfo, msg);
    jpeg_destroy_decompress(&cinfo);
    vfr_image_free(&img);
    free(row);
    return vfr_fail(err, VFR_EFORMAT, "%s: %s", name, msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  int rc = vfr_image_check_size(cinfo.image_width, cinfo.image_height, max_pixels, name, err);
  if (rc) {
    jpeg_destroy_decompress(&cinfo);
    return rc;
  }
  int comps;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; comps = 1; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; comps = 3; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; comps = 4; break;
    default:
      jpeg_destroy_decompress(&cinfo);
      return vfr_fail(err, VFR_EUNSUPPORTED, "%s: unsupported JPEG colour space %d", name,
                      (int)cinfo.jpeg_color_space);
  }
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  if ((int)cinfo.output_components != comps) {
    jpeg_destroy_decompress(&cinfo);
    return vfr_fail(err, VFR_EFORMAT, "%s: JPEG decodes to %d components, expected %d", name,
                    cinfo.output_components, comps);
  }
  if ((rc = vfr_image_alloc(&img, (int)cinfo.output_width, (int)cinfo.output_height, 3, err)) ||
      !(row = malloc((size_t)cinfo.output_width * comps))) {
    jpeg_destroy_decompress(&cinfo);
    vfr_image_free(&img);
    return rc ? rc : vfr_fail(err, VFR_ENOMEM, "%s: out of memory", name);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t *d = img.data + (size_t)cinfo.output_scanline * img.stride;
    JSAMPROW r = comps == 3 ? d : row;
    jpeg_read_scanlines(&cinfo, &r, 1);
    if (comps == 1) {
      for (JDIMENSION x = 0; x < cinfo.output_width; x++, d += 3) d[0] = d[1] = d[2] = row[x];
    } else if (comps == 4) {
      const uint8_t *s = row;
      for (JDIMENSION x = 0; x < cinfo.output_width; x++, d += 3, s += 4) {
        d[0] = cmyk_channel(s[0], s[3]);
        d[1] = cmyk_channel(s[1], s[3]);
        d[2] = cmyk_channel(s[2], s[3]);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  *out = img;
  return VFR_OK;
}

int vfr_jpeg_encode(const vfr_image *img, int quality, uint8_t **buf, size_t *len,
                    vfr_error *err) {
  *buf = NULL;
  *len = 0;
  int rc = vfr_image_check(img, "JPEG encode", err);
  if (rc) return rc;
  if (img->channels == 4)
    return vfr_fail(err, VFR_EINVAL, "JPEG encode: cannot write RGBA as JPEG");
  if (quality < 1 || quality > 100)
    return vfr_fail(err, VFR_EINVAL, "JPEG encode: quality %d is outside 1..100", quality);
  if (img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION)
    return vfr_fail(err, VFR_ELIMIT, "JPEG encode: %dx%d exceeds JPEG's %d pixel sides",
                    img->width, img->height, (int)JPEG_MAX_DIMENSION);
  struct jpeg_compress_struct cinfo;
  jpeg_guard g;
  unsigned char *mem = NULL;
  unsigned long mem_len = 0;
  memset(&cinfo, 0, sizeof cinfo);
  guard_init(&g);
  cinfo.err = &g.pub;
  if (setjmp(g.jump)) {
    char msg[JMSG_LENGTH_MAX];
    guard_message(&g, (j_common_ptr)&cinfo, msg);
    jpeg_destroy_compress(&cinfo);
    free(mem);
    return vfr_fail(err, VFR_EINTERNAL, "JPEG encode: %s", msg);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &mem, &mem_len);
  cinfo.image_width = (JDIMENSION)img->width;
  cinfo.image_height = (JDIMENSION)img->height;
  cinfo.input_components = img->channels;
  cinfo.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  /* Pillow's choices: library defaults (JFIF 1.01 header, density 1:1 with no unit,
   * 2x2 luma sampling for colour, ISLOW DCT, standard Huffman tables), then the IJG
   * quality scaling with baseline-limited tables; no optimisation, no progression. */
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.optimize_coding = FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW r = (JSAMPROW)(img->data + (size_t)cinfo.next_scanline * img->stride);
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *buf = mem;
  *len = (size_t)mem_len;
  return VFR_OK;
}
