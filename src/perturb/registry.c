/* The catalog: one row per op with its parameter, domains, identity and reference.
 * The first nine rows are the default study set (`editing9`), in the SPEC's order. */
#include <math.h>
#include <string.h>

#include "perturb/perturb_internal.h"

/* Adapters from the registry's uniform signature to each op's own. */
static int ap_jpeg(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_jpeg_roundtrip(in, (int)llround(v), out, err);
}
static int ap_brightness(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_brightness(in, v, out, err);
}
static int ap_contrast(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_contrast(in, v, out, err);
}
static int ap_saturation(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_saturation(in, v, out, err);
}
static int ap_sharpness(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_sharpness(in, v, out, err);
}
static int ap_hue(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_hue(in, v, out, err);
}
static int ap_blur(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_gaussian_blur(in, v, out, err);
}
static int ap_noise(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  return vfr_gaussian_noise(in, v, s, out, err);
}
static int ap_rescale(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_rescale(in, v, out, err);
}
static int ap_gamma(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_gamma(in, v, out, err);
}
static int ap_posterize(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_posterize(in, (int)llround(v), out, err);
}
static int ap_rotate(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_rotate(in, v, VFR_FILTER_BILINEAR, out, err);
}
static int ap_crop(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_crop_area(in, v, out, err);
}
static int ap_flip(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  (void)v;
  return vfr_flip(in, out, err);
}
static int ap_webp(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_webp_roundtrip(in, v, out, err);
}
static int ap_pixelate(const vfr_image *in, double v, uint64_t s, vfr_image *out, vfr_error *err) {
  (void)s;
  return vfr_pixelate(in, v, out, err);
}

/* name, param, param_desc, lo, hi, min, max, min_open, has_identity, identity, integer,
 * uses_seed, reference, apply */
static const vfr_op catalog[] = {
    {"jpeg", "q", "quality", 10, 100, 1, 100, 0, 0, 0, 1, 0,
     "PIL Image.save(format='JPEG', quality=q), libjpeg-turbo; decoded back", ap_jpeg},
    {"brightness", "f", "factor", 0.5, 1.5, 0, 100, 0, 1, 1, 0, 0,
     "PIL ImageEnhance.Brightness(img).enhance(f)", ap_brightness},
    {"contrast", "f", "factor", 0.5, 1.5, 0, 100, 0, 1, 1, 0, 0,
     "PIL ImageEnhance.Contrast(img).enhance(f)", ap_contrast},
    {"saturation", "f", "factor", 0.0, 2.0, 0, 100, 0, 1, 1, 0, 0,
     "PIL ImageEnhance.Color(img).enhance(f)", ap_saturation},
    {"sharpness", "f", "factor", 0.0, 3.0, 0, 100, 0, 1, 1, 0, 0,
     "PIL ImageEnhance.Sharpness(img).enhance(f)", ap_sharpness},
    {"hue", "h", "shift", -0.1, 0.1, -0.5, 0.5, 0, 1, 0, 0, 0,
     "torchvision adjust_hue(img, h), PIL path", ap_hue},
    {"gaussian_blur", "sigma", "sigma (px)", 0, 3, 0, 1000, 0, 1, 0, 0, 0,
     "PIL ImageFilter.GaussianBlur(radius=sigma)", ap_blur},
    {"gaussian_noise", "sigma", "sigma (of 0..1 range)", 0, 0.1, 0, 10, 0, 1, 0, 0, 1,
     "clip(round(x + 255*sigma*N(0,1))), seeded SplitMix64 Box-Muller", ap_noise},
    {"rescale", "s", "scale", 0.25, 1, 0, 16, 1, 1, 1, 0, 0,
     "PIL resize to round(s*size) and back, BICUBIC", ap_rescale},
    {"gamma", "g", "gamma", 0.5, 2.0, 0, 100, 1, 1, 1, 0, 0,
     "torchvision adjust_gamma(img, g, gain=1), PIL path", ap_gamma},
    {"posterize", "bits", "bits", 2, 8, 1, 8, 0, 1, 8, 1, 0, "PIL ImageOps.posterize(img, bits)",
     ap_posterize},
    {"rotate", "deg", "angle (degrees)", -30, 30, -360, 360, 0, 1, 0, 0, 0,
     "PIL Image.rotate(deg, BILINEAR), same size, black fill", ap_rotate},
    {"crop", "a", "area fraction", 0.5, 1, 0, 1, 1, 1, 1, 0, 0,
     "centre crop of area a (sides * sqrt(a)), PIL resize back BICUBIC", ap_crop},
    {"flip", NULL, "(none)", 1, 1, 1, 1, 0, 0, 0, 1, 0, "PIL Image.transpose(FLIP_LEFT_RIGHT)",
     ap_flip},
    {"webp", "q", "quality", 10, 100, 0, 100, 0, 0, 0, 1, 0,
     "PIL Image.save(format='WEBP', quality=q), libwebp; decoded back", ap_webp},
    {"pixelate", "c", "factor", 0.25, 1, 0, 1, 1, 1, 1, 0, 0,
     "PIL resize to floor(c*size) BOX, back NEAREST", ap_pixelate},
};
enum { catalog_size = sizeof catalog / sizeof catalog[0] };

int vfr_op_count(void) { return catalog_size; }

const vfr_op *vfr_op_at(int i) { return i >= 0 && i < catalog_size ? &catalog[i] : NULL; }

const vfr_op *vfr_op_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < catalog_size; i++)
    if (!strcmp(catalog[i].name, name)) return &catalog[i];
  return NULL;
}

int vfr_op_check_value(const vfr_op *op, double value, vfr_error *err) {
  if (!op) return vfr_fail(err, VFR_EINVAL, "perturbation: no op given");
  const char *param = op->param ? op->param : "value";
  int ok = isfinite(value) && value <= op->max &&
           (op->min_open ? value > op->min : value >= op->min);
  if (!ok)
    return vfr_fail(err, VFR_EINVAL, "%s: %s=%g is outside the valid range %s%g..%g", op->name,
                    param, value, op->min_open ? ">" : "", op->min, op->max);
  if (op->integer && value != floor(value))
    return vfr_fail(err, VFR_EINVAL, "%s: %s=%g is not an integer (valid: %g..%g)", op->name, param,
                    value, op->min, op->max);
  return VFR_OK;
}

int vfr_op_apply(const vfr_op *op, const vfr_image *in, double value, uint64_t seed,
                 vfr_image *out, vfr_error *err) {
  int rc = vfr_op_check_value(op, value, err);
  if (rc) return rc;
  return op->apply(in, value, seed, out, err);
}
