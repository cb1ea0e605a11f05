/* Image preprocessing as Hugging Face's CLIPImageProcessor / BitImageProcessor. */
#ifndef VFR_MODEL_PREPROCESS_H
#define VFR_MODEL_PREPROCESS_H

#include "model/config.h"
#include "vfrobust/image.h"

/* The (height, width) an image of w x h gets from "resize the short side to s":
 * the short side becomes s, the long side int(s * long / short). */
void preprocess_resize_size(int w, int h, int s, int *out_w, int *out_h);

/* rgb (L, RGB or RGBA) -> pixels (3,H,W): resize (config's PIL filter), center crop to
 * crop_height x crop_width == H x W (zero-padded when smaller), rescale, normalise, as the
 * processor computes it (rescale in float64 then float32; normalise in float32).
 * `name` appears in errors. */
int preprocess_image(const vfr_preprocess_config *cfg, const vfr_image *rgb, float *pixels, int H,
                     int W, const char *name, vfr_error *err);

#endif
