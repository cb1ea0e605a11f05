/* Dense features: the token outputs of an image tower, for dense tasks such as depth.
 *
 *   vfr_token_info ti; vfr_model_get_token_info(m, &ti);
 *   float *tok = malloc(sizeof(float) * n * ti.num_tokens * k * ti.dim);
 *   vfr_model_embed_tokens(m, images, n, k, 1, tok, &err);    // (n, T, k*D)
 *
 * ViTs: tokens in the model's order: CLS, then the registers (DINOv2 with registers), then
 * the patches row by row (grid input_height/patch_size x input_width/patch_size). Each
 * token holds the outputs of the last k blocks side by side, the earliest first. With
 * final_norm each output goes through the tower's final layernorm (DINOv2's layernorm,
 * as get_intermediate_layers(norm=True); CLIP's post_layernorm); without it they are the
 * raw residual stream (Hugging Face hidden_states).
 *
 * ResNets (CLIP's ModifiedResNet): the feature map of the last stage (layer4, after its
 * ReLU), before the attention pool: token 0 is its mean over the positions (the token the
 * attention pool prepends, without the positional embedding), then the positions row by
 * row; D = 32 x the stem width (layer4's channels). There is one such map: k must be 1.
 * A ResNet has no final norm: final_norm changes nothing. */
#ifndef VFROBUST_TOKENS_H
#define VFROBUST_TOKENS_H

#include "vfrobust/error.h"
#include "vfrobust/image.h"
#include "vfrobust/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of the dense features. */
typedef struct vfr_token_info {
  int num_tokens;     /* T = prefix + grid_h * grid_w */
  int prefix;         /* tokens before the grid: CLS + registers (ResNets: 1, the mean) */
  int grid_h, grid_w; /* the spatial grid, row by row after the prefix */
  int dim;            /* D: the width of one layer's token (ViTs: hidden_size) */
  int max_layers;     /* the largest last_k (ViTs: num_layers; ResNets: 1) */
} vfr_token_info;

VFR_API void vfr_model_get_token_info(const vfr_model *model, vfr_token_info *out);

/* pixels (B, 3, input_height, input_width) preprocessed; out (B, T, last_k * D).
 * 1 <= last_k <= max_layers (vfr_token_info). */
VFR_API int vfr_model_tokens_pixels(vfr_model *model, const float *pixels, int B, int last_k,
                            int final_norm, float *out, vfr_error *err);

/* The model's preprocessing, then the tokens: out (n, T, last_k * D). */
VFR_API int vfr_model_embed_tokens(vfr_model *model, const vfr_image *images, int n, int last_k,
                           int final_norm, float *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
