/* Perturbations: the catalog of image operations P(x, k), bit-identical to Pillow 9.4
 * where Pillow defines them, a registry of their names and domains, the SPEC parser
 * (`jpeg:50`, `gaussian_blur:0..3`, `jpeg:q=50+brightness:f=1.2`) and chains.
 *
 * Every op takes an RGB image (channels == 3) and writes a new RGB image of the same
 * size into *out, which must be empty (a zeroed struct) and is left empty on failure;
 * the caller releases it with vfr_image_free. `in` is never modified. The maths and the
 * exact Pillow semantics of each op are in docs/perturbations.md. */
#ifndef VFROBUST_PERTURB_H
#define VFROBUST_PERTURB_H

#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the ops ------------------------------------------------------------------ */

/* ImageEnhance.Brightness(in).enhance(factor): blend of black and in. */
VFR_API int vfr_brightness(const vfr_image *in, double factor, vfr_image *out, vfr_error *err);
/* ImageEnhance.Contrast: blend of the constant int(mean(L) + 0.5) and in. */
VFR_API int vfr_contrast(const vfr_image *in, double factor, vfr_image *out, vfr_error *err);
/* ImageEnhance.Color: blend of L (replicated to RGB) and in. */
VFR_API int vfr_saturation(const vfr_image *in, double factor, vfr_image *out, vfr_error *err);
/* ImageEnhance.Sharpness: blend of the SMOOTH-filtered image and in. */
VFR_API int vfr_sharpness(const vfr_image *in, double factor, vfr_image *out, vfr_error *err);
/* ImageFilter.GaussianBlur(radius=sigma): three box blurs per axis. sigma in 0..1000. */
VFR_API int vfr_gaussian_blur(const vfr_image *in, double sigma, vfr_image *out, vfr_error *err);
/* out = clamp(round(x + 255*sigma*n), 0, 255), n standard normal drawn from the counter-
 * based generator keyed by (seed, channel-value index): the bytes depend on nothing but
 * (in, sigma, seed) -- not on the thread count. sigma in 0..100. */
VFR_API int vfr_gaussian_noise(const vfr_image *in, double sigma, uint64_t seed, vfr_image *out,
                       vfr_error *err);
/* torchvision adjust_hue (PIL path): HSV via Pillow, H += uint8(int(shift*255)) mod 256.
 * shift in -0.5..0.5. */
VFR_API int vfr_hue(const vfr_image *in, double shift, vfr_image *out, vfr_error *err);
/* torchvision adjust_gamma (PIL path), gain 1: LUT int(255.999 * (i/255)^gamma).
 * 0 < gamma <= 100. */
VFR_API int vfr_gamma(const vfr_image *in, double gamma, vfr_image *out, vfr_error *err);
/* ImageOps.posterize(in, bits): keeps the top `bits` bits of each value. bits in 1..8. */
VFR_API int vfr_posterize(const vfr_image *in, int bits, vfr_image *out, vfr_error *err);
/* Image.transpose(FLIP_LEFT_RIGHT). */
VFR_API int vfr_flip(const vfr_image *in, vfr_image *out, vfr_error *err);
/* Image.rotate(degrees, resample, expand=False), counter-clockwise, black fill; any finite
 * angle.
 * filter: VFR_FILTER_NEAREST, VFR_FILTER_BILINEAR or VFR_FILTER_BICUBIC. */
VFR_API int vfr_rotate(const vfr_image *in, double degrees, vfr_filter filter, vfr_image *out,
               vfr_error *err);
/* Centre crop keeping area fraction `area` (0 < area <= 1), resized back BICUBIC.
 * Sides: cw = max(1, floor(w*sqrt(area) + 0.5)), likewise ch; offsets floor((w-cw)/2). */
VFR_API int vfr_crop_area(const vfr_image *in, double area, vfr_image *out, vfr_error *err);
/* Resize BICUBIC to (max(1, floor(w*s + 0.5)), max(1, floor(h*s + 0.5))) and back.
 * 0 < s <= 16. */
VFR_API int vfr_rescale(const vfr_image *in, double scale, vfr_image *out, vfr_error *err);
/* Resize BOX to (max(1, floor(c*w)), max(1, floor(c*h))), then NEAREST back. 0 < c <= 1. */
VFR_API int vfr_pixelate(const vfr_image *in, double factor, vfr_image *out, vfr_error *err);
/* JPEG round trip: vfr_jpeg_encode at quality 1..100 (Pillow's save), then decode. */
VFR_API int vfr_jpeg_roundtrip(const vfr_image *in, int quality, vfr_image *out, vfr_error *err);
/* WebP round trip: lossy, libwebp's default config at quality 0..100, then decode. */
VFR_API int vfr_webp_roundtrip(const vfr_image *in, double quality, vfr_image *out, vfr_error *err);

/* ---- the registry ------------------------------------------------------------- */

/* The presets a LIST may name, as bits of vfr_op.presets ("all" is every row). */
enum {
  VFR_PRESET_EDITING9 = 1u << 0,          /* `editing9`: the SPEC's nine default ops */
  VFR_PRESET_IMAGENET_C = 1u << 1,        /* `imagenet-c`: ImageNet-C's 15 corruptions */
  VFR_PRESET_IMAGENET_C_EXTRA = 1u << 2   /* with these, `imagenet-c-all` (19): the 4 extras */
};

/* One op of the catalog: its name, its one parameter and the parameter's domains.
 * Rows are written with designated initializers; an unnamed field is 0. */
typedef struct vfr_op {
  const char *name;        /* the CLI's name: "jpeg", "gaussian_blur", ... */
  const char *param;       /* the parameter's short name, for `name:param=value`: "q";
                              NULL for an op without a parameter (flip) */
  const char *param_desc;  /* "quality", "factor", "sigma (px)", ... */
  double lo, hi;           /* the default domain K */
  double min, max;         /* the valid values (inclusive unless min_open) */
  int min_open;            /* 1: min itself is not valid (sigma > 0 etc.) */
  int has_identity;        /* 1 if `identity` is the no-op value */
  double identity;
  int identity_lossy;      /* 1: `identity` is only nominal, the op still changes pixels there
                              (hue: Pillow's 8-bit HSV round trip), so a study computes that
                              level instead of reusing the clean embedding */
  int integer;             /* 1: the parameter is an integer (levels are rounded) */
  int discrete;            /* 1 (integer ops only): a domain's levels are distinct integers:
                              min(m, |hi - lo| + 1) of them, evenly spaced and rounded, so
                              m >= 5 gives every severity 1..5 */
  int uses_seed;           /* 1: the output depends on the seed */
  unsigned presets;        /* the VFR_PRESET_* bits of the presets that list this op */
  int preset_rank;         /* its place in them: editing9 the SPEC's order (1..9), ImageNet-C
                              the reference's corruption number + 1 (1..19) */
  const char *reference;   /* the reference semantics, e.g. "PIL ImageEnhance.Brightness" */
  /* Applies the op at `value` (already validated by the spec parser or checked here). */
  int (*apply)(const vfr_image *in, double value, uint64_t seed, vfr_image *out,
               vfr_error *err);
} vfr_op;

VFR_API int vfr_op_count(void);
VFR_API const vfr_op *vfr_op_at(int i);        /* NULL when i is out of range */
VFR_API const vfr_op *vfr_op_find(const char *name); /* NULL when unknown */
/* Checks that value is valid for op; the message names the op and its range. */
VFR_API int vfr_op_check_value(const vfr_op *op, double value, vfr_error *err);
/* Applies op at value after vfr_op_check_value. */
VFR_API int vfr_op_apply(const vfr_op *op, const vfr_image *in, double value, uint64_t seed,
                 vfr_image *out, vfr_error *err);

/* The presets: "editing9", "imagenet-c", "imagenet-c-all", "all" (i in 0..count-1). */
VFR_API int vfr_preset_count(void);
VFR_API const char *vfr_preset_name(int i);   /* NULL when i is out of range */
/* The ops of preset `name` in the preset's order (by preset_rank, then catalog order;
 * "all": the catalog order) into ops (capacity, may be NULL when capacity is 0).
 * Returns the number of ops the preset has (more than capacity: only capacity are
 * written), or -1 when name is no preset. */
VFR_API int vfr_preset_ops(const char *name, const vfr_op **ops, int capacity);

/* ---- specs and chains ----------------------------------------------------------- */

#define VFR_CHAIN_MAX 8

/* One op at one value. */
typedef struct vfr_level {
  const vfr_op *op;
  double value;
} vfr_level;

/* Ops applied in order (steps[0] first). */
typedef struct vfr_chain {
  int n;
  vfr_level steps[VFR_CHAIN_MAX];
} vfr_chain;

typedef enum vfr_spec_kind {
  VFR_SPEC_LEVEL = 0,  /* `jpeg:50`: one op at one value (chain.n == 1) */
  VFR_SPEC_DOMAIN = 1, /* `jpeg:10..100` or `jpeg`: one op over lo..hi */
  VFR_SPEC_CHAIN = 2   /* `jpeg:50+brightness:1.2`: a fixed chain of levels */
} vfr_spec_kind;

#define VFR_SPEC_TEXT_MAX 256

/* A parsed SPEC. */
typedef struct vfr_spec {
  vfr_spec_kind kind;
  const vfr_op *op;             /* LEVEL and DOMAIN: the op; CHAIN: NULL */
  double lo, hi;                /* DOMAIN: the domain (lo > hi allowed); LEVEL: the value */
  vfr_chain chain;              /* LEVEL and CHAIN: the levels */
  char text[VFR_SPEC_TEXT_MAX]; /* canonical text, e.g. "jpeg:q=10..100", for file names */
} vfr_spec;

/* Parses one SPEC. Errors (VFR_EINVAL) name the op and its valid range, or list the
 * valid op names for an unknown op. */
VFR_API int vfr_spec_parse(const char *text, vfr_spec *spec, vfr_error *err);

/* The levels of a spec: for DOMAIN, m >= 1 evenly spaced values from lo to hi, end points
 * included (m == 1 gives lo); integer parameters are rounded to the nearest integer,
 * halves away from zero, and repeated values are kept, except for a discrete op
 * (severity), whose domain has min(m, |hi - lo| + 1) distinct levels. LEVEL and CHAIN have one level
 * whatever m is. levels is (capacity); *n_out receives the count; values (capacity, may
 * be NULL) receives each level's value (DOMAIN) or the first step's value. */
VFR_API int vfr_spec_levels(const vfr_spec *spec, int m, vfr_chain *levels, double *values,
                    int capacity, int *n_out, vfr_error *err);

/* Parses a LIST: comma-separated items, each a SPEC or a preset (`editing9`: the nine
 * default ops at their default domains, `imagenet-c`: ImageNet-C's 15 corruptions,
 * `imagenet-c-all`: all 19, `all`: every op of the catalog), e.g.
 * "editing9,rotate:-10..10". *specs is allocated (vfr_free() it); *n receives the count.
 * Bad items fail with VFR_EINVAL. */
VFR_API int vfr_spec_list_parse(const char *list, vfr_spec **specs, int *n, vfr_error *err);

/* Applies a chain in order. Step i uses seed (i == 0) or a seed derived from (seed, i).
 * An empty chain copies the image. */
VFR_API int vfr_perturb_apply(const vfr_image *in, const vfr_chain *chain, uint64_t seed,
                      vfr_image *out, vfr_error *err);

/* ---- contact sheet -------------------------------------------------------------- */

/* A contact sheet: a grid of `in` under each spec (row r = specs[r]) at its levels
 * (column j = level j of vfr_spec_levels(specs[r], m)), each cell a BICUBIC thumbnail
 * tw x th whose longer side is at most cell_px, on white with 4-pixel gaps. Each row is
 * labelled on the left with its op name (up to 16 characters of 8 px, built-in font) and
 * each cell of a domain has its level value written under it (a 14-pixel text line).
 * Size: width 4 + 8*L + m*tw + (m+1)*4 (L = the longest label, at most 16),
 * height n_specs*(th + 14) + (n_specs+1)*4; cell (r, j) has its top-left corner at
 * x = 4 + 8*L + 4 + j*(tw + 4), y = 4 + r*(th + 18). Rows with fewer levels (a single
 * LEVEL or CHAIN) leave the other cells white. specs is (n_specs); the sheet is RGB. */
VFR_API int vfr_contact_sheet(const vfr_image *in, const vfr_spec *specs, int n_specs, int m,
                      int cell_px, uint64_t seed, vfr_image *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
