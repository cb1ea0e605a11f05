/* Images: a plain 8-bit struct, decoders/encoders, and Pillow-exact geometry. */
#ifndef VFROBUST_IMAGE_H
#define VFROBUST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An 8-bit image, rows top to bottom, channels interleaved.
 * channels: 1 (L), 3 (RGB) or 4 (RGBA). data holds height rows of `stride` bytes
 * (stride >= width*channels). Images made by vfr_image_alloc own their data and are
 * released with vfr_image_free. A zeroed struct is the empty image. */
typedef struct vfr_image {
  int width, height, channels;
  size_t stride;
  uint8_t *data;
} vfr_image;

/* Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS). */
#define VFR_DEFAULT_MAX_PIXELS 89478485LL

/* Allocates a zero-filled width x height x channels image (stride = width*channels). */
VFR_API int vfr_image_alloc(vfr_image *img, int width, int height, int channels, vfr_error *err);
VFR_API void vfr_image_free(vfr_image *img);
VFR_API int vfr_image_copy(const vfr_image *src, vfr_image *dst, vfr_error *err);

/* ---- decoding ----------------------------------------------------------------
 * The format is sniffed from the content, never from the file name. Every decoded
 * image is converted to RGB8 exactly as Pillow's Image.open(f).convert('RGB')
 * would (palette expanded, alpha dropped, 16-bit reduced, gray replicated). */
typedef enum vfr_format {
  VFR_FORMAT_UNKNOWN = 0,
  VFR_FORMAT_JPEG,
  VFR_FORMAT_PNG,
  VFR_FORMAT_WEBP
} vfr_format;

typedef struct vfr_decode_params {
  long long max_pixels; /* refuse larger images (VFR_ELIMIT); default VFR_DEFAULT_MAX_PIXELS */
} vfr_decode_params;

VFR_API vfr_decode_params vfr_decode_default_params(void);

VFR_API vfr_format vfr_sniff_format(const void *buf, size_t len);

/* `name` is used in error messages ("photo.jpg: truncated JPEG data"). params may be NULL. */
VFR_API int vfr_image_decode(const void *buf, size_t len, const char *name,
                     const vfr_decode_params *params, vfr_image *out, vfr_error *err);
VFR_API int vfr_image_load(const char *path, const vfr_decode_params *params, vfr_image *out,
                   vfr_error *err);

/* ---- encoding ----------------------------------------------------------------
 * Encoders allocate *buf; the caller releases it with vfr_free. Input must be L or RGB
 * (RGBA for PNG/WebP too). */

/* Byte-identical to Pillow's img.save(f, "JPEG", quality=q): libjpeg-turbo,
 * jpeg_set_quality(q, TRUE), 4:2:0 for RGB, ISLOW DCT, no optimize, JFIF header. q in 1..100. */
VFR_API int vfr_jpeg_encode(const vfr_image *img, int quality, uint8_t **buf, size_t *len, vfr_error *err);
/* Lossless PNG. */
VFR_API int vfr_png_encode(const vfr_image *img, uint8_t **buf, size_t *len, vfr_error *err);
/* Lossy WebP with libwebp's default config at quality q in 0..100. */
VFR_API int vfr_webp_encode(const vfr_image *img, float quality, uint8_t **buf, size_t *len,
                    vfr_error *err);
/* Writes by the path's extension: .png, .jpg/.jpeg (quality), .webp (quality). */
VFR_API int vfr_image_save(const vfr_image *img, const char *path, int quality, vfr_error *err);

/* ---- Pillow-exact conversions and geometry ------------------------------------ */

/* convert('L'): L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. in: RGB or RGBA; out: L. */
VFR_API int vfr_image_to_gray(const vfr_image *in, vfr_image *out, vfr_error *err);
/* L replicated to RGB (convert('RGB') of an L image). in: L; out: RGB. */
VFR_API int vfr_image_gray_to_rgb(const vfr_image *in, vfr_image *out, vfr_error *err);

typedef enum vfr_filter {
  VFR_FILTER_NEAREST = 0,
  VFR_FILTER_BOX,
  VFR_FILTER_BILINEAR,
  VFR_FILTER_HAMMING,
  VFR_FILTER_BICUBIC,
  VFR_FILTER_LANCZOS
} vfr_filter;

/* img.resize((width, height), filter) as Pillow 9.4 does it: separable, horizontal pass
 * first, 22-bit fixed-point coefficients, uint8 between passes, support scaled by the
 * downscale factor (antialiasing). Works for 1, 3 and 4 channels. */
VFR_API int vfr_resize(const vfr_image *in, int width, int height, vfr_filter filter, vfr_image *out,
               vfr_error *err);

/* img.crop((x, y, x + width, y + height)); the box must lie inside the image. */
VFR_API int vfr_crop(const vfr_image *in, int x, int y, int width, int height, vfr_image *out,
             vfr_error *err);

/* Centred crop to width x height: offsets floor((H-height)/2), floor((W-width)/2). */
VFR_API int vfr_center_crop(const vfr_image *in, int width, int height, vfr_image *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
