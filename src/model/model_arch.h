/* The architecture interface a loaded model holds: its image tower, whatever it is (a ViT,
 * a ModifiedResNet), behind a few functions. model.c does the rest (configs,
 * preprocessing, batching) the same way for every tower. */
#ifndef VFR_MODEL_ARCH_H
#define VFR_MODEL_ARCH_H

#include "model/config.h"
#include "model/engine.h"
#include "model/family.h"
#include "vfrobust/model.h"
#include "vfrobust/tokens.h"

typedef struct model_arch {
  /* out (B, E) from pixels (B, 3, H, W); B >= 1 */
  int (*embed)(void *tower, const float *pixels, int B, float *out, vfr_error *err);
  /* out (B, T, last_k*D): the token outputs of the last last_k blocks (vit_forward_tokens),
   * a ResNet's last feature map; NULL for a tower without a token grid (refused) */
  int (*tokens)(void *tower, const float *pixels, int B, int last_k, int final_norm, float *out,
                vfr_error *err);
  /* the tower's part of vfr_model_info (shapes, flops) */
  void (*info)(const void *tower, vfr_model_info *out);
  void (*free)(void *tower);
} model_arch;

/* What a tower is built from (owned by the model, outliving the tower). */
typedef struct tower_source {
  const char *dir;
  const vfr_model_params *params;
  const vfr_model_config *config;
  const vfr_preprocess_config *pre;
  const model_family *family;
  fam_store *store;      /* binds tensors of the weights file */
  vfr_engine *engine;
} tower_source;

/* The tower built, with its input size and embedding width, and the shape its tokens
 * function returns; left zero (num_tokens 0) by a ViT, whose shape model.c derives from
 * info: CLS and registers, then the input/patch_size grid, hidden_size wide, up to
 * num_layers layers. */
typedef struct tower {
  const model_arch *arch;
  void *self;
  int H, W, E;
  vfr_token_info tokens;
} tower;

int vit_tower_create(const tower_source *src, tower *out, vfr_error *err);
int resnet_tower_create(const tower_source *src, tower *out, vfr_error *err);

#endif
