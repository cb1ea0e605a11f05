/* The CLIP text tower (Hugging Face CLIPTextModelWithProjection / CLIPModel.get_text_features):
 * token + position embeddings, pre-LN transformer blocks with causal self-attention,
 * final_layer_norm, the hidden state at the end-of-text token, times text_projection. */
#ifndef VFR_MODEL_CLIP_TEXT_H
#define VFR_MODEL_CLIP_TEXT_H

#include <stdint.h>

#include "model/config.h"
#include "model/safetensors.h"
#include "vfrobust/error.h"

typedef struct vfr_clip_text vfr_clip_text; /* opaque; read-only after load */

/* Loads the text tower from dir/config.json (model_type "clip") and dir/model.safetensors, or
 * from an OpenCLIP folder (open_clip_config.json, open_clip_model.safetensors).
 * Every tensor's shape is checked against the config (errors name file, tensor, shapes). */
int vfr_clip_text_load(const char *dir, vfr_clip_text **out, vfr_error *err);

/* The same from a config already read and a file already open (st must outlive the tower);
 * the tensor names are those of the config's family. */
int vfr_clip_text_from(const vfr_model_config *cfg, const vfr_safetensors *st, vfr_clip_text **out,
                       vfr_error *err);

void vfr_clip_text_free(vfr_clip_text *m);

/* The width of text_embeds (projection_dim). */
int vfr_clip_text_dim(const vfr_clip_text *m);

/* text_embeds of B token sequences of length T (1 <= T <= max_position_embeddings):
 * ids is (B,T) token ids in [0, vocab_size), out is (B,projection_dim); raw, not normalised.
 * The pooled position per row is the first eos_token_id, or (configs with eos_token_id 2,
 * as saved with the original checkpoints) the position of the largest id; padding after it
 * does not change the result. threads <= 0 lets OpenMP choose. */
int vfr_clip_text_forward(const vfr_clip_text *m, const int32_t *ids, int B, int T, float *out,
                          int threads, vfr_error *err);

#endif
