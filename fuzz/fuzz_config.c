/* libFuzzer target: config.json and preprocessor_config.json parsing, in memory.
 * Asserts: errors are one line naming the file; an accepted config is sane (sizes in
 * range, heads dividing the width, patch within the image; positive crop and std). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vfr_model_config cfg;
  vfr_error err;
  if (vfr_model_config_parse((const char *)data, size, "config.json", &cfg, &err) == VFR_OK) {
    const vfr_vit_config *v = &cfg.vision;
    if (v->hidden_size < 1 || v->num_heads < 1 || v->hidden_size % v->num_heads ||
        v->patch_size < 1 || v->patch_size > v->image_size || v->intermediate_size < 1 ||
        !(v->layer_norm_eps > 0) || v->num_layers < 1)
      abort();
    if (cfg.text.present && (cfg.text.hidden_size % cfg.text.num_heads || cfg.text.vocab_size < 1))
      abort();
  } else if (strncmp(err.message, "config.json: ", 13) != 0 || strchr(err.message, '\n')) {
    abort();
  }
  for (int family = VFR_FAMILY_CLIP; family <= VFR_FAMILY_DINOV2; family++) {
    vfr_preprocess_config pp;
    if (vfr_preprocess_config_parse((const char *)data, size, "preprocessor_config.json",
                                    (vfr_family)family, &pp, &err) == VFR_OK) {
      if (pp.shortest_edge < 1 || pp.crop_height < 1 || pp.crop_width < 1 || !(pp.std[0] > 0) ||
          !(pp.std[1] > 0) || !(pp.std[2] > 0) || pp.resample < 0 || pp.resample > 5)
        abort();
    } else if (strncmp(err.message, "preprocessor_config.json: ", 26) != 0 ||
               strchr(err.message, '\n')) {
      abort();
    }
  }
  return 0;
}
