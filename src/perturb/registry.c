/* The catalog: one row per op with its parameter, domains, identity, presets and
 * reference, written with designated initializers (an unnamed field is 0). The presets
 * (`editing9`, `imagenet-c`, `imagenet-c-all`) come from each row's `presets` bits, in
 * `preset_rank` order, not from the rows' positions. */
#include <math.h>
#include <string.h>

#include "perturb/ic_ops.h"
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

/* The ImageNet-C ops take the severity as their value. */
#define IC_ADAPTER(op)                                                                     \
  static int ap_ic_##op(const vfr_image *in, double v, uint64_t s, vfr_image *out,         \
                        vfr_error *err) {                                                  \
    return vfr_ic_##op(in, (int)llround(v), s, out, err);                                  \
  }
IC_ADAPTER(gaussian_noise)
IC_ADAPTER(shot_noise)
IC_ADAPTER(impulse_noise)
IC_ADAPTER(speckle_noise)
IC_ADAPTER(brightness)
IC_ADAPTER(contrast)
IC_ADAPTER(saturate)
IC_ADAPTER(jpeg_compression)
IC_ADAPTER(pixelate)
IC_ADAPTER(defocus_blur)
IC_ADAPTER(glass_blur)
IC_ADAPTER(motion_blur)
IC_ADAPTER(zoom_blur)
IC_ADAPTER(gaussian_blur)
IC_ADAPTER(snow)
IC_ADAPTER(frost)
IC_ADAPTER(fog)
IC_ADAPTER(elastic_transform)
IC_ADAPTER(spatter)

/* The severity parameter of every ImageNet-C row: 1..5, 0 the unchanged image. */
#define IC_SEVERITY                                                                        \
  .param = "severity", .param_desc = "severity", .lo = 1, .hi = 5, .min = 0, .max = 5,     \
  .has_identity = 1, .identity = 0, .integer = 1, .discrete = 1

static const vfr_op catalog[] = {
    {.name = "jpeg",
     .param = "q",
     .param_desc = "quality",
     .lo = 10, .hi = 100, .min = 1, .max = 100,
     .integer = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 1,
     .reference = "PIL Image.save(format='JPEG', quality=q), libjpeg-turbo; decoded back",
     .apply = ap_jpeg},
    {.name = "brightness",
     .param = "f",
     .param_desc = "factor",
     .lo = 0.5, .hi = 1.5, .min = 0, .max = 100,
     .has_identity = 1, .identity = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 2,
     .reference = "PIL ImageEnhance.Brightness(img).enhance(f)",
     .apply = ap_brightness},
    {.name = "contrast",
     .param = "f",
     .param_desc = "factor",
     .lo = 0.5, .hi = 1.5, .min = 0, .max = 100,
     .has_identity = 1, .identity = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 3,
     .reference = "PIL ImageEnhance.Contrast(img).enhance(f)",
     .apply = ap_contrast},
    {.name = "saturation",
     .param = "f",
     .param_desc = "factor",
     .lo = 0.0, .hi = 2.0, .min = 0, .max = 100,
     .has_identity = 1, .identity = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 4,
     .reference = "PIL ImageEnhance.Color(img).enhance(f)",
     .apply = ap_saturation},
    {.name = "sharpness",
     .param = "f",
     .param_desc = "factor",
     .lo = 0.0, .hi = 3.0, .min = 0, .max = 100,
     .has_identity = 1, .identity = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 5,
     .reference = "PIL ImageEnhance.Sharpness(img).enhance(f)",
     .apply = ap_sharpness},
    {.name = "hue",
     .param = "h",
     .param_desc = "shift",
     .lo = -0.1, .hi = 0.1, .min = -0.5, .max = 0.5,
     .has_identity = 1, .identity = 0, .identity_lossy = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 6,
     .reference = "torchvision adjust_hue(img, h), PIL path",
     .apply = ap_hue},
    {.name = "gaussian_blur",
     .param = "sigma",
     .param_desc = "sigma (px)",
     .lo = 0, .hi = 3, .min = 0, .max = 1000,
     .has_identity = 1, .identity = 0,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 7,
     .reference = "PIL ImageFilter.GaussianBlur(radius=sigma)",
     .apply = ap_blur},
    {.name = "gaussian_noise",
     .param = "sigma",
     .param_desc = "sigma (of 0..1 range)",
     .lo = 0, .hi = 0.1, .min = 0, .max = 10,
     .has_identity = 1, .identity = 0, .uses_seed = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 8,
     .reference = "clip(round(x + 255*sigma*N(0,1))), seeded SplitMix64 Box-Muller",
     .apply = ap_noise},
    {.name = "rescale",
     .param = "s",
     .param_desc = "scale",
     .lo = 0.25, .hi = 1, .min = 0, .max = 16,
     .min_open = 1, .has_identity = 1, .identity = 1,
     .presets = VFR_PRESET_EDITING9, .preset_rank = 9,
     .reference = "PIL resize to round(s*size) and back, BICUBIC",
     .apply = ap_rescale},
    {.name = "gamma",
     .param = "g",
     .param_desc = "gamma",
     .lo = 0.5, .hi = 2.0, .min = 0, .max = 100,
     .min_open = 1, .has_identity = 1, .identity = 1,
     .reference = "torchvision adjust_gamma(img, g, gain=1), PIL path",
     .apply = ap_gamma},
    {.name = "posterize",
     .param = "bits",
     .param_desc = "bits",
     .lo = 2, .hi = 8, .min = 1, .max = 8,
     .has_identity = 1, .identity = 8, .integer = 1,
     .reference = "PIL ImageOps.posterize(img, bits)",
     .apply = ap_posterize},
    {.name = "rotate",
     .param = "deg",
     .param_desc = "angle (degrees)",
     .lo = -30, .hi = 30, .min = -360, .max = 360,
     .has_identity = 1, .identity = 0,
     .reference = "PIL Image.rotate(deg, BILINEAR), same size, black fill",
     .apply = ap_rotate},
    {.name = "crop",
     .param = "a",
     .param_desc = "area fraction",
     .lo = 0.5, .hi = 1, .min = 0, .max = 1,
     .min_open = 1, .has_identity = 1, .identity = 1,
     .reference = "centre crop of area a (sides * sqrt(a)), PIL resize back BICUBIC",
     .apply = ap_crop},
    {.name = "flip",
     .param = NULL,
     .param_desc = "(none)",
     .lo = 1, .hi = 1, .min = 1, .max = 1,
     .integer = 1,
     .reference = "PIL Image.transpose(FLIP_LEFT_RIGHT)",
     .apply = ap_flip},
    {.name = "webp",
     .param = "q",
     .param_desc = "quality",
     .lo = 10, .hi = 100, .min = 0, .max = 100,
     .integer = 1,
     .reference = "PIL Image.save(format='WEBP', quality=q), libwebp; decoded back",
     .apply = ap_webp},
    {.name = "pixelate",
     .param = "c",
     .param_desc = "factor",
     .lo = 0.25, .hi = 1, .min = 0, .max = 1,
     .min_open = 1, .has_identity = 1, .identity = 1,
     .reference = "PIL resize to floor(c*size) BOX, back NEAREST",
     .apply = ap_pixelate},
    /* ImageNet-C (imagecorruptions' corrupt(x, NAME, severity) after np.random.seed(S)):
     * preset_rank is the reference's corruption number + 1; imagenet-c lists ranks 1..15,
     * imagenet-c-all 1..19. */
    {.name = "ic_gaussian_noise", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 1,
     .reference = "imagecorruptions gaussian_noise: clip(x + N(0, c)), legacy RandomState",
     .apply = ap_ic_gaussian_noise},
    {.name = "ic_shot_noise", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 2,
     .reference = "imagecorruptions shot_noise: clip(poisson(x*c) / c), legacy RandomState",
     .apply = ap_ic_shot_noise},
    {.name = "ic_impulse_noise", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 3,
     .reference = "imagecorruptions impulse_noise: skimage random_noise(s&p, amount=c, seed=S)",
     .apply = ap_ic_impulse_noise},
    {.name = "ic_defocus_blur", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 4,
     .reference = "imagecorruptions defocus_blur: cv2.filter2D with the anti-aliased disk",
     .apply = ap_ic_defocus_blur},
    {.name = "ic_glass_blur", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 5,
     .reference = "ImageNet-C glass_blur: gaussian, legacy randint pixel moves, gaussian",
     .apply = ap_ic_glass_blur},
    {.name = "ic_motion_blur", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 6,
     .reference = "imagecorruptions motion_blur: shifted Gaussian taps, angle U(-45, 45)",
     .apply = ap_ic_motion_blur},
    {.name = "ic_zoom_blur", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 7,
     .reference = "imagecorruptions zoom_blur: mean of scipy.ndimage.zoom(order=1) crops",
     .apply = ap_ic_zoom_blur},
    {.name = "ic_snow", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 8,
     .reference = "imagecorruptions snow: zoomed normal layer, motion-blurred, over a lightened image",
     .apply = ap_ic_snow},
    {.name = "ic_frost", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 9,
     .reference = "imagecorruptions frost: blend with a cv2 INTER_CUBIC frost crop (embedded)",
     .apply = ap_ic_frost},
    {.name = "ic_fog", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 10,
     .reference = "imagecorruptions fog: plasma fractal (diamond-square), legacy uniform",
     .apply = ap_ic_fog},
    {.name = "ic_brightness", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 11,
     .reference = "imagecorruptions brightness: skimage HSV, V = clip(V + c)",
     .apply = ap_ic_brightness},
    {.name = "ic_contrast", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 12,
     .reference = "imagecorruptions contrast: (x - mean) * c + mean, per channel",
     .apply = ap_ic_contrast},
    {.name = "ic_elastic_transform", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 13,
     .reference = "imagecorruptions elastic_transform: smoothed U fields, map_coordinates order 1",
     .apply = ap_ic_elastic_transform},
    {.name = "ic_pixelate", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 14,
     .reference = "imagecorruptions pixelate: PIL resize int(c*size) BOX, back NEAREST",
     .apply = ap_ic_pixelate},
    {.name = "ic_jpeg_compression", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C, .preset_rank = 15,
     .reference = "imagecorruptions jpeg_compression: PIL save(JPEG, quality=q), decoded",
     .apply = ap_ic_jpeg_compression},
    {.name = "ic_speckle_noise", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C_EXTRA, .preset_rank = 16,
     .reference = "imagecorruptions speckle_noise: clip(x + x*N(0, c)), legacy RandomState",
     .apply = ap_ic_speckle_noise},
    {.name = "ic_gaussian_blur", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C_EXTRA, .preset_rank = 17,
     .reference = "imagecorruptions gaussian_blur: skimage gaussian (mode nearest, truncate 4)",
     .apply = ap_ic_gaussian_blur},
    {.name = "ic_spatter", IC_SEVERITY, .uses_seed = 1,
     .presets = VFR_PRESET_IMAGENET_C_EXTRA, .preset_rank = 18,
     .reference = "imagecorruptions spatter: water (Canny/distance mask) or mud blots",
     .apply = ap_ic_spatter},
    {.name = "ic_saturate", IC_SEVERITY,
     .presets = VFR_PRESET_IMAGENET_C_EXTRA, .preset_rank = 19,
     .reference = "imagecorruptions saturate: skimage HSV, S = clip(S*c0 + c1)",
     .apply = ap_ic_saturate},
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

/* ---- presets --------------------------------------------------------------------- */

typedef struct preset {
  const char *name;
  unsigned bits; /* 0: every row, in catalog order */
} preset;

static const preset presets[] = {
    {"editing9", VFR_PRESET_EDITING9},
    {"imagenet-c", VFR_PRESET_IMAGENET_C},
    {"imagenet-c-all", VFR_PRESET_IMAGENET_C | VFR_PRESET_IMAGENET_C_EXTRA},
    {"all", 0},
};
enum { preset_count = sizeof presets / sizeof presets[0] };

int vfr_preset_count(void) { return preset_count; }

const char *vfr_preset_name(int i) { return i >= 0 && i < preset_count ? presets[i].name : NULL; }

int vfr_preset_ops(const char *name, const vfr_op **ops, int capacity) {
  const preset *p = NULL;
  for (int i = 0; name && i < preset_count; i++)
    if (!strcmp(presets[i].name, name)) p = &presets[i];
  if (!p) return -1;
  int n = 0;
  if (!p->bits) {
    for (int i = 0; i < catalog_size; i++, n++)
      if (n < capacity) ops[n] = &catalog[i];
    return n;
  }
  /* by rank, ties in catalog order: repeatedly take the next larger rank (the catalog is
   * small, so a quadratic scan is simpler than a sort of pointers) */
  int last = -1;
  for (;;) {
    int next = -1;
    for (int i = 0; i < catalog_size; i++)
      if ((catalog[i].presets & p->bits) && catalog[i].preset_rank > last &&
          (next < 0 || catalog[i].preset_rank < next))
        next = catalog[i].preset_rank;
    if (next < 0) return n;
    for (int i = 0; i < catalog_size; i++)
      if ((catalog[i].presets & p->bits) && catalog[i].preset_rank == next) {
        if (n < capacity) ops[n] = &catalog[i];
        n++;
      }
    last = next;
  }
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
