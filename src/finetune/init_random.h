/* A CLIP vision tower with seeded random weights: the starting point of supervised training
 * from scratch (classify.h). */
#ifndef VFR_FINETUNE_INIT_RANDOM_H
#define VFR_FINETUNE_INIT_RANDOM_H

#include <stdint.h>

#include "vfrobust/error.h"

/* Writes out_dir/model.safetensors (the vision tensors of config_dir/config.json, Hugging
 * Face names, drawn as Hugging Face CLIP's _init_weights with factor 1: class embedding
 * N(0, D^-1/2), patch and position embeddings N(0, r^2) with r the config's
 * initializer_range (default 0.02), q/k/v and fc2 N(0, D^-1/2 (2L)^-1/2), out_proj
 * N(0, D^-1/2), fc1 N(0, (2D)^-1/2), visual projection N(0, D^-1/2), biases 0, layernorms 1
 * and 0; normals from a counter hash of the seed),
 * out_dir/config.json (config_dir's, with id2label and label2id from class_names when
 * class_count > 0) and a copy of preprocessor_config.json. out_dir must exist. */
int ft_init_clip_random(const char *config_dir, const char *out_dir, uint64_t seed,
                        char *const *class_names, int class_count, vfr_error *err);

/* out_dir/config.json: config_dir's, with id2label and label2id from class_names when
 * class_count > 0; and a copy of config_dir/preprocessor_config.json. */
int ft_write_class_config(const char *config_dir, const char *out_dir, char *const *class_names,
                          int class_count, vfr_error *err);

#endif
