/* The vfr_image struct: allocation, copies and crops (Pillow's crop semantics). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

/* Pixel buffers larger than this are refused whatever the caller's pixel limit. */
#define IMAGE_MAX_BYTES ((size_t)1 << 40)

int vfr_image_alloc(vfr_image *img, int width, int height, int channels, vfr_error *err) {
  memset(img, 0, sizeof *img);
  if (width <= 0 || height <= 0)
    return vfr_fail(err, VFR_EINVAL, "image: size %dx%d is not positive", width, height);
  if (channels != 1 && channels != 3 && channels != 4)
    return vfr_fail(err, VFR_EINVAL, "image: %d channels (want 1, 3 or 4)", channels);
  size_t stride = (size_t)width * (size_t)channels;
  if (stride > IMAGE_MAX_BYTES / (size_t)height)
    return vfr_fail(err, VFR_ELIMIT, "image: %dx%dx%d is too large", width, height, channels);
  uint8_t *data = calloc((size_t)height, stride);
  if (!data)
    return vfr_fail(err, VFR_ENOMEM, "image: out of memory for %dx%dx%d", width, height,
                    channels);
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->stride = stride;
  img->data = data;
  return VFR_OK;
}

void vfr_image_free(vfr_image *img) {
  if (!img) return;
  free(img->data);
  memset(img, 0, sizeof *img);
}

int vfr_image_check(const vfr_image *img, const char *what, vfr_error *err) {
  if (!img || !img->data || img->width <= 0 || img->height <= 0)
    return vfr_fail(err, VFR_EINVAL, "%s: empty image", what);
  if (img->channels != 1 && img->channels != 3 && img->channels != 4)
    return vfr_fail(err, VFR_EINVAL, "%s: %d channels (want 1, 3 or 4)", what, img->channels);
  if (img->stride < (size_t)img->width * (size_t)img->channels)
    return vfr_fail(err, VFR_EINVAL, "%s: stride %zu is shorter than a row", what, img->stride);
  return VFR_OK;
}

int vfr_image_check_size(long long width, long long height, long long max_pixels,
                         const char *name, vfr_error *err) {
  if (width <= 0 || height <= 0)
    return vfr_fail(err, VFR_EFORMAT, "%s: image size %lldx%lld is not positive", name, width,
                    height);
  /* width, height < 2^32 here for every format we read, so the product fits. */
  if (width > INT32_MAX || height > INT32_MAX || width * height > max_pixels)
    return vfr_fail(err, VFR_ELIMIT, "%s: image of %lldx%lld pixels exceeds the limit of %lld",
                    name, width, height, max_pixels);
  return VFR_OK;
}

int vfr_crop(const vfr_image *in, int x, int y, int width, int height, vfr_image *out,
             vfr_error *err) {
  int rc = vfr_image_check(in, "crop", err);
  if (rc) return rc;
  if (x < 0 || y < 0 || width <= 0 || height <= 0 || x > in->width - width ||
      y > in->height - height)
    return vfr_fail(err, VFR_EINVAL, "crop: box (%d, %d, %d x %d) is not inside the %dx%d image",
                    x, y, width, height, in->width, in->height);
  vfr_image res;
  rc = vfr_image_alloc(&res, width, height, in->channels, err);
  if (rc) return rc;
  size_t c = (size_t)in->channels;
  for (int r = 0; r < height; r++)
    memcpy(res.data + (size_t)r * res.stride, in->data + (size_t)(y + r) * in->stride + x * c,
           (size_t)width * c);
  *out = res;
  return VFR_OK;
}

int vfr_center_crop(const vfr_image *in, int width, int height, vfr_image *out, vfr_error *err) {
  int rc = vfr_image_check(in, "center crop", err);
  if (rc) return rc;
  if (width <= 0 || height <= 0 || width > in->width || height > in->height)
    return vfr_fail(err, VFR_EINVAL, "center crop: %dx%d does not fit in the %dx%d image", width,
                    height, in->width, in->height);
  return vfr_crop(in, (in->width - width) / 2, (in->height - height) / 2, width, height, out, err);
}

int vfr_image_copy(const vfr_image *src, vfr_image *dst, vfr_error *err) {
  if (src && !src->data && src->width == 0 && src->height == 0) { /* the empty image */
    memset(dst, 0, sizeof *dst);
    return VFR_OK;
  }
  return vfr_crop(src, 0, 0, src ? src->width : 0, src ? src->height : 0, dst, err);
}
