/* Dense features: the token outputs of a ViT's last blocks, for dense tasks such as depth.
 *
 *   vfr_model_info info; vfr_model_get_info(m, &info);
 *   float *tok = malloc(sizeof(float) * n * info.num_tokens * k * info.hidden_size);
 *   vfr_model_embed_tokens(m, images, n, k, 1, tok, &err);    // (n, T, k*D)
 *
 * Tokens are in the model's order: CLS, then the registers (DINOv2 with registers), then
 * the patches row by row (grid input_height/patch_size x input_width/patch_size). Each
 * token holds the outputs of the last k blocks side by side, the earliest first. With
 * final_norm each output goes through the tower's final layernorm (DINOv2's layernorm,
 * as get_intermediate_layers(norm=True); CLIP's post_layernorm); without it they are the
 * raw residual stream (Hugging Face hidden_states). */
#ifndef VFROBUST_TOKENS_H
#define VFROBUST_TOKENS_H

#include "vfrobust/error.h"
#include "vfrobust/image.h"
#include "vfrobust/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pixels (B, 3, input_height, input_width) preprocessed; out (B, T, last_k * D).
 * 1 <= last_k <= num_layers. */
VFR_API int vfr_model_tokens_pixels(vfr_model *model, const float *pixels, int B, int last_k,
                            int final_norm, float *out, vfr_error *err);

/* The model's preprocessing, then the tokens: out (n, T, last_k * D). */
VFR_API int vfr_model_embed_tokens(vfr_model *model, const vfr_image *images, int n, int last_k,
                           int final_norm, float *out, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
