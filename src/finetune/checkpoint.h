/* Training state of the fine-tuning loop on disk, for --resume: the tuned parameters, the
 * AdamW moments, the step count and the per-step history. The random draws are pure
 * functions of (seed, epoch, step, image), so the seed and the step are the whole RNG state.
 *
 * File layout (little-endian, as written by this machine): the 8 bytes "VFRFTCK1", the
 * ft_checkpoint header as nine uint64 values, then float32 params (n_params), m (n_train),
 * v (n_train), float64 history (step, FT_HISTORY_FIELDS), and the uint64 byte count of all
 * that precedes it (a truncated file is detected). Written to a temporary file, flushed,
 * fsync'ed and renamed over the old one, so a crash leaves the previous checkpoint intact. */
#ifndef VFR_FINETUNE_CHECKPOINT_H
#define VFR_FINETUNE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"

enum { FT_HISTORY_FIELDS = 4 }; /* loss, l1, l2, lr per step */

typedef struct ft_checkpoint {
  uint64_t n_params;    /* floats of the vision parameters */
  uint64_t n_train;     /* floats that train (the moments' length) */
  uint64_t first_layer; /* first trained block */
  uint64_t seed, batch, accum, epochs, n_images;
  uint64_t step;        /* optimiser steps done */
} ft_checkpoint;

/* params is (n_params), m and v are (n_train), history is (step, FT_HISTORY_FIELDS). */
int ft_checkpoint_save(const char *path, const ft_checkpoint *c, const float *params,
                       const float *m, const float *v, const double *history, vfr_error *err);

/* Reads `path` into the buffers after checking that every header field but the step equals
 * *expect (a checkpoint of other settings is an error naming the field); expect->step
 * receives the step. history must hold (max_steps, FT_HISTORY_FIELDS); a step above
 * max_steps is an error. */
int ft_checkpoint_load(const char *path, ft_checkpoint *expect, float *params, float *m,
                       float *v, double *history, uint64_t max_steps, vfr_error *err);

#endif
