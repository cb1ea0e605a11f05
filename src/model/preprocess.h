/* Image preprocessing as Hugging Face's CLIPImageProcessor / BitImageProcessor. */
#ifndef VFR_MODEL_PREPROCESS_H
#define VFR_MODEL_PREPROCESS_H

#include "model/config.h"
#include "vfrobust/image.h"

/* The (height, width) an image of w x h gets from "resize the short side to s":
 * the short side becomes s, the long side int(s * long / short). */
void preprocess_resize_size(int w, int h, int s, int *out_w, int *out_h);

/* rgb (L, RGB or RGBA) -> the 8-bit H x W RGB crop the processor normalises: resize
 * (config's PIL filter; skipped when the size is already right), center crop with zero
 * padding where the image is smaller. *out must be empty. */
int preprocess_crop(const vfr_preprocess_config *cfg, const vfr_image *rgb, int H, int W,
                    const char *name, vfr_image *out, vfr_error *err);

/* crop (RGB, H x W) -> pixels (3,H,W): rescale and normalise as the processor does. */
int preprocess_normalize(const vfr_preprocess_config *cfg, const vfr_image *crop, float *pixels,
                         const char *name, vfr_error *err);

/* rgb (L, RGB or RGBA) -> pixels (3,H,W): preprocess_crop then preprocess_normalize, as
 * the processor computes it (rescale in float64 then float32; normalise in float32).
 * `name` appears in errors. */
int preprocess_image(const vfr_preprocess_config *cfg, const vfr_image *rgb, float *pixels, int H,
                     int W, const char *name, vfr_error *err);

#endif
