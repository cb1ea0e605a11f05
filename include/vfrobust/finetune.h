/* Robustness fine-tuning (SPEC section 5): the training loop behind `vfrobust finetune`.
 *
 *   vfr_finetune_params p = vfr_finetune_default_params();
 *   p.model_dir = "clip-vit-base-patch16"; p.data_path = "cifar10/train";
 *   p.ops = "jpeg"; p.out_dir = "tuned";
 *   if (vfr_finetune_run(&p, &err)) ... err.message ...
 *
 * f is the frozen original model, f' a float32 copy of its vision tower that is tuned with
 *   L = L1 + lambda * L2,  L1 = -mean_x cos(f'(x), f'(P(x,k))),  L2 = -mean_x cos(f(x), f'(x))
 * where every image of every step gets its own perturbation: a spec drawn uniformly from the
 * list `ops`, then (for a domain) a level drawn uniformly from it (integer parameters rounded,
 * halves away from zero). Draws, shuffles and noise seeds are pure functions of (seed, epoch,
 * step, image), so a run is reproducible and a resumed run continues exactly.
 * Optimiser: AdamW with linear warmup then a half cosine to lr_min; batches of `batch` images
 * split into `accum` micro-batches (the gradient is that of the whole batch's mean loss).
 *
 * Output folder out_dir: model.safetensors (every tensor of the original file, F32, Hugging
 * Face names, the vision tower's replaced by the tuned values), config.json,
 * preprocessor_config.json and tokenizer files copied, finetune.json (settings, per-step
 * loss / L1 / L2 / learning rate, the drawn images and levels, and the evaluation before and
 * after: mean DR per op of eval_ops, clean k-NN accuracy (SPEC section 4) when both image
 * sets are labelled, clean cosine between f and f'), and checkpoint.bin (kept for --resume).
 * CLIP vision towers and DINOv2 (with or without registers, MLP or SwiGLU): for DINOv2 the
 * trained position table itself is tuned, its gradient taken back through the resampling to
 * the input resolution. */
#ifndef VFROBUST_FINETUNE_H
#define VFROBUST_FINETUNE_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_finetune_progress {
  long step;        /* steps done (1-based after the first) */
  long total;       /* steps of the whole run */
  double loss, l1, l2, lr; /* of the step just done */
  double steps_per_s;      /* over this process's steps */
  double eta_s;            /* seconds left at that rate */
  const char *phase;       /* "frozen-embeddings", "eval-before", "train", "eval-after",
                              "save" */
} vfr_finetune_progress;

/* The API's callback shape (vfr_progress_fn in vfrobust/study.h): 0 goes on, non-zero cancels. */
typedef int (*vfr_finetune_progress_fn)(void *user, const vfr_finetune_progress *p);

typedef struct vfr_finetune_params {
  const char *model_dir;  /* Hugging Face CLIP or DINOv2 folder */
  const char *data_path;  /* training images: ImageFolder, flat folder or CSV */
  const char *ops;        /* LIST of SPECs (a mixture when several) */
  const char *out_dir;    /* created if absent */
  const char *eval_path;  /* held-out images for before/after, or NULL (no evaluation) */
  int eval_limit;         /* at most this many evaluation images (default 100) */
  int eval_per_class;     /* and at most this many per class (0: no such limit) */
  int eval_levels;        /* levels per op domain for the DR (default 5) */
  const char *eval_ops;   /* LIST whose robustness is reported (NULL: ops); e.g. "editing9" */
  int limit;              /* at most this many training images (0: all) */
  int per_class;          /* and at most this many per class (0: no such limit) */
  double lambda;          /* weight of L2 (default 1) */
  int l2_both_views;      /* 1: L2 on both views, -mean (cos(f(x), f'(x)) + cos(f(x), f'(Px))) / 2
                             (default 0: SPEC's L2 on the clean view) */
  int l1_stop_clean;      /* 1: L1's gradient reaches only f'(Px); f'(x) is its target, moved
                             by L2 alone (default 0: L1 moves both views) */
  int epochs;             /* default 1 */
  int train_blocks;       /* last N blocks train (plus final layernorm and CLIP's projection);
                             <= 0 or >= layers: everything trains (default 0) */
  int batch;              /* images per optimiser step (default 16) */
  int accum;              /* micro-batches per step, 1..batch (default 1) */
  double lr, lr_min;      /* peak and final learning rate (default lr 0: 0.02 / the tower's
                             width, e.g. 3.1e-4 at 64, 2.6e-5 at 768; lr_min 0) */
  double weight_decay;    /* default 0.01 */
  double beta1, beta2, adam_eps; /* default 0.9, 0.999, 1e-8 */
  int warmup;             /* warmup steps (default -1: a tenth of all steps, rounded up) */
  uint64_t seed;          /* default 0 */
  int threads;            /* compute threads (0: OpenMP's default) */
  int checkpoint_every;   /* write out_dir/checkpoint.bin every N steps (0: only at the end) */
  int resume;             /* continue from out_dir/checkpoint.bin */
  long stop_after;        /* stop (with a checkpoint) once this many steps are done; 0: never */
  /* Called after every step and phase change; may be NULL. Non-zero cancels (VFR_ECANCELED,
   * after a checkpoint: resume continues). */
  vfr_finetune_progress_fn progress;
  void *progress_user;
} vfr_finetune_params;

VFR_API vfr_finetune_params vfr_finetune_default_params(void);

/* Runs the fine-tuning described by p (see above). Returns VFR_OK or an error code with a
 * one-line message naming the file or option at fault. */
VFR_API int vfr_finetune_run(const vfr_finetune_params *p, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
