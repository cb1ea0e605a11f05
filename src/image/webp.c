/* WebP through libwebp: decoding to RGB8 (alpha dropped, as Pillow's convert('RGB')),
 * lossy encoding with libwebp's default configuration at a given quality. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

#include "image/image_internal.h"

int vfr_webp_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
                    vfr_image *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  WebPBitstreamFeatures f;
  VP8StatusCode st = WebPGetFeatures(buf, len, &f);
  if (st == VP8_STATUS_NOT_ENOUGH_DATA)
    return vfr_fail(err, VFR_EFORMAT, "%s: truncated WebP data", name);
  if (st != VP8_STATUS_OK)
    return vfr_fail(err, VFR_EFORMAT, "%s: corrupt WebP header (libwebp status %d)", name,
                    (int)st);
  if (f.has_animation)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: animated WebP is not supported", name);
  int rc = vfr_image_check_size(f.width, f.height, max_pixels, name, err);
  if (rc) return rc;
  vfr_image img;
  if ((rc = vfr_image_alloc(&img, f.width, f.height, 3, err))) return rc;
  if (!WebPDecodeRGBInto(buf, len, img.data, img.stride * (size_t)img.height, (int)img.stride)) {
    vfr_image_free(&img);
    /* distinguish a short file from corrupt content, as far as libwebp lets us */
    WebPDecoderConfig cfg;
    int short_data = WebPInitDecoderConfig(&cfg) &&
                     WebPDecode(buf, len, &cfg) == VP8_STATUS_NOT_ENOUGH_DATA;
    WebPFreeDecBuffer(&cfg.output);
    return vfr_fail(err, VFR_EFORMAT, "%s: %s", name,
                    short_data ? "truncated WebP data" : "corrupt WebP data");
  }
  *out = img;
  return VFR_OK;
}

int vfr_webp_encode(const vfr_image *img, float quality, uint8_t **buf, size_t *len,
                    vfr_error *err) {
  *buf = NULL;
  *len = 0;
  int rc = vfr_image_check(img, "WebP encode", err);
  if (rc) return rc;
  if (!(quality >= 0.0f && quality <= 100.0f))
    return vfr_fail(err, VFR_EINVAL, "WebP encode: quality %g is outside 0..100", quality);
  if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
    return vfr_fail(err, VFR_ELIMIT, "WebP encode: %dx%d exceeds WebP's %d pixel sides",
                    img->width, img->height, WEBP_MAX_DIMENSION);
  vfr_image rgb = {0};
  const vfr_image *src = img;
  if (img->channels == 1) {
    if ((rc = vfr_image_gray_to_rgb(img, &rgb, err))) return rc;
    src = &rgb;
  }
  WebPConfig config;
  WebPPicture pic;
  WebPMemoryWriter writer;
  if (!WebPConfigInit(&config) || !WebPPictureInit(&pic)) {
    vfr_image_free(&rgb);
    return vfr_fail(err, VFR_EINTERNAL, "WebP encode: libwebp version mismatch");
  }
  config.quality = quality;
  pic.width = src->width;
  pic.height = src->height;
  int ok = src->channels == 4
               ? WebPPictureImportRGBA(&pic, src->data, (int)src->stride)
               : WebPPictureImportRGB(&pic, src->data, (int)src->stride);
  vfr_image_free(&rgb);
  if (!ok) {
    WebPPictureFree(&pic);
    return vfr_fail(err, VFR_ENOMEM, "WebP encode: out of memory");
  }
  WebPMemoryWriterInit(&writer);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &writer;
  ok = WebPEncode(&config, &pic);
  int code = pic.error_code;
  WebPPictureFree(&pic);
  if (!ok) {
    WebPMemoryWriterClear(&writer);
    return vfr_fail(err, code == VP8_ENC_ERROR_OUT_OF_MEMORY ? VFR_ENOMEM : VFR_EINTERNAL,
                    "WebP encode: libwebp error %d", code);
  }
  *buf = writer.mem;
  *len = writer.size;
  return VFR_OK;
}
