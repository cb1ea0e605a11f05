/* Image preprocessing with the semantics of Hugging Face's CLIPImageProcessor and
 * BitImageProcessor (DINOv2): Pillow resize of the uint8 image so its short side is
 * shortest_edge, center crop (zero padding where the image is smaller than the crop, as
 * the processor's center_crop does), then rescale and normalise into a planar float image.
 * OpenCLIP folders use open_clip's torchvision transform instead (cfg->crop_round,
 * squash, rescale_divide): Resize then CenterCrop (offsets rounded), ToTensor, Normalize. */
#include "model/preprocess.h"

#include <stdint.h>
#include <string.h>

void preprocess_resize_size(int w, int h, int s, int *out_w, int *out_h) {
  int shorter = w <= h ? w : h, longer = w <= h ? h : w;
  /* Python's int(s * long / short): exact product, correctly rounded division, truncated. */
  int new_long = (int)((double)((int64_t)s * longer) / (double)shorter);
  if (w <= h) *out_w = s, *out_h = new_long;
  else *out_w = new_long, *out_h = s;
}

/* PIL's resample constants as in preprocessor_config.json. */
static int pil_filter(int resample, vfr_filter *f) {
  switch (resample) {
  case 0: *f = VFR_FILTER_NEAREST; return 0;
  case 1: *f = VFR_FILTER_LANCZOS; return 0;
  case 2: *f = VFR_FILTER_BILINEAR; return 0;
  case 3: *f = VFR_FILTER_BICUBIC; return 0;
  case 4: *f = VFR_FILTER_BOX; return 0;
  case 5: *f = VFR_FILTER_HAMMING; return 0;
  default: return -1;
  }
}

/* RGB copy of an L, RGB or RGBA image (Pillow's convert('RGB'): gray replicated, alpha
 * dropped). */
static int to_rgb(const vfr_image *in, vfr_image *out, const char *name, vfr_error *err) {
  if (in->channels == 1) return vfr_image_gray_to_rgb(in, out, err);
  if (in->channels != 3 && in->channels != 4)
    return vfr_fail(err, VFR_EINVAL, "%s: images must have 1, 3 or 4 channels, not %d", name,
                    in->channels);
  int rc = vfr_image_alloc(out, in->width, in->height, 3, err);
  if (rc) return rc;
  for (int y = 0; y < in->height; y++) {
    const uint8_t *s = in->data + (size_t)y * in->stride;
    uint8_t *d = out->data + (size_t)y * out->stride;
    for (int x = 0; x < in->width; x++)
      for (int c = 0; c < 3; c++) d[3 * x + c] = s[in->channels * x + c];
  }
  return VFR_OK;
}

/* round(n / 2) for n >= 0 with ties to even, as Python's round. */
static int round_half_even_half(int n) {
  int q = n / 2;
  if (n % 2 && q % 2) q++; /* q + 0.5 rounds to the even one of q, q + 1 */
  return q;
}

int preprocess_crop(const vfr_preprocess_config *cfg, const vfr_image *rgb, int H, int W,
                    const char *name, vfr_image *out, vfr_error *err) {
  if (!rgb || !rgb->data || rgb->width <= 0 || rgb->height <= 0)
    return vfr_fail(err, VFR_EINVAL, "%s: empty image", name);
  vfr_image conv = {0}, resized = {0};
  const vfr_image *cur = rgb;
  int rc = VFR_OK;
  if (rgb->channels != 3) {
    if ((rc = to_rgb(rgb, &conv, name, err))) goto done;
    cur = &conv;
  }
  if (cfg->do_resize) {
    vfr_filter f;
    if (pil_filter(cfg->resample, &f) != 0) {
      rc = vfr_fail(err, VFR_EUNSUPPORTED, "%s: resample filter %d is not supported", name,
                    cfg->resample);
      goto done;
    }
    int nw = W, nh = H;
    if (!cfg->squash) preprocess_resize_size(cur->width, cur->height, cfg->shortest_edge, &nw, &nh);
    if (nw < 1 || nh < 1) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: image %dx%d is too narrow to resize", name, cur->width,
                    cur->height);
      goto done;
    }
    if (nw != cur->width || nh != cur->height) {
      if ((rc = vfr_resize(cur, nw, nh, f, &resized, err))) goto done;
      cur = &resized;
    }
  }
  /* Center crop to H x W: offsets floor((size - crop) / 2); where the image is smaller
   * than the crop the processor first pads it with zeros, centred with
   * ceil((crop - size) / 2) before it. */
  if ((rc = vfr_image_alloc(out, W, H, 3, err))) goto done;
  int off_y, off_x;
  if (cfg->crop_round) {
    /* torchvision's center_crop: pad floor((crop - size) / 2) before; offsets
     * int(round((size - crop) / 2.0)), Python's round (half to even) */
    off_y = cur->height >= H ? round_half_even_half(cur->height - H) : -((H - cur->height) / 2);
    off_x = cur->width >= W ? round_half_even_half(cur->width - W) : -((W - cur->width) / 2);
  } else {
    off_y = cur->height >= H ? (cur->height - H) / 2 : -((H - cur->height + 1) / 2);
    off_x = cur->width >= W ? (cur->width - W) / 2 : -((W - cur->width + 1) / 2);
  }
  for (int y = 0; y < H; y++) {
    int sy = y + off_y;
    if (sy < 0 || sy >= cur->height) continue; /* stays zero */
    const uint8_t *row = cur->data + (size_t)sy * cur->stride;
    uint8_t *dst = out->data + (size_t)y * out->stride;
    int x0 = off_x < 0 ? -off_x : 0, x1 = cur->width - off_x < W ? cur->width - off_x : W;
    if (x1 > x0) memcpy(dst + 3 * x0, row + 3 * (x0 + off_x), (size_t)3 * (x1 - x0));
  }
done:
  vfr_image_free(&conv);
  vfr_image_free(&resized);
  return rc;
}

int preprocess_normalize(const vfr_preprocess_config *cfg, const vfr_image *crop, float *pixels,
                         const char *name, vfr_error *err) {
  if (!crop || !crop->data || crop->channels != 3)
    return vfr_fail(err, VFR_EINVAL, "%s: the crop must be an RGB image", name);
  int H = crop->height, W = crop->width;
  /* The processor rescales in float64 and stores float32, then normalises in float32.
   * The config holds the factor as a float; 1/255 is recovered exactly in double. */
  double scale = cfg->do_rescale ? (double)cfg->rescale_factor : 1.0;
  if (cfg->do_rescale && cfg->rescale_factor == (float)(1.0 / 255.0)) scale = 1.0 / 255.0;
  for (int c = 0; c < 3; c++) {
    float mean = cfg->do_normalize ? cfg->mean[c] : 0.0f;
    float std = cfg->do_normalize ? cfg->std[c] : 1.0f;
    float *plane = pixels + (size_t)c * H * W;
    for (int y = 0; y < H; y++) {
      const uint8_t *row = crop->data + (size_t)y * crop->stride;
      for (int x = 0; x < W; x++) {
        float v = cfg->rescale_divide ? (float)row[3 * x + c] / 255.0f
                                      : (float)((double)row[3 * x + c] * scale);
        plane[(size_t)y * W + x] = cfg->do_normalize ? (v - mean) / std : v;
      }
    }
  }
  return VFR_OK;
}

int preprocess_image(const vfr_preprocess_config *cfg, const vfr_image *rgb, float *pixels, int H,
                     int W, const char *name, vfr_error *err) {
  vfr_image crop = {0};
  int rc = preprocess_crop(cfg, rgb, H, W, name, &crop, err);
  if (!rc) rc = preprocess_normalize(cfg, &crop, pixels, name, err);
  vfr_image_free(&crop);
  return rc;
}
