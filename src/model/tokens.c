/* Dense features from images: preprocessing, then vfr_model_tokens_pixels (tokens.h). */
#include "vfrobust/tokens.h"

#include <stdio.h>
#include <stdlib.h>

/* Images preprocessed per forward pass. */
#define TOKEN_BATCH 8

int vfr_model_embed_tokens(vfr_model *m, const vfr_image *images, int n, int last_k, int final_norm, float *out,
                           vfr_error *err) {
  if (!m) return vfr_fail(err, VFR_EINVAL, "model: no model given");
  if (n < 0 || (n > 0 && (!images || !out))) return vfr_fail(err, VFR_EINVAL, "tokens: bad image list");
  vfr_model_info info;
  vfr_model_get_info(m, &info);
  vfr_token_info ti;
  vfr_model_get_token_info(m, &ti);
  const size_t per_image = (size_t)3 * info.input_height * info.input_width;
  const size_t per_out = (size_t)ti.num_tokens * last_k * ti.dim;
  float *pixels = n ? malloc(sizeof(float) * per_image * TOKEN_BATCH) : NULL;
  if (n && !pixels) return vfr_fail(err, VFR_ENOMEM, "tokens: out of memory");
  int rc = VFR_OK;
  for (int start = 0; start < n && !rc; start += TOKEN_BATCH) {
    int B = n - start < TOKEN_BATCH ? n - start : TOKEN_BATCH;
    for (int i = 0; i < B && !rc; i++) {
      char name[32];
      snprintf(name, sizeof name, "image %d", start + i);
      rc = vfr_model_preprocess(m, &images[start + i], name, pixels + (size_t)i * per_image, err);
    }
    if (!rc) rc = vfr_model_tokens_pixels(m, pixels, B, last_k, final_norm, out + (size_t)start * per_out, err);
  }
  free(pixels);
  return rc;
}
