/* The trainer core and its two clients. Core: trainer.c (draws, shuffles, the per-image loop,
 * optimiser checks), train_model.c (the tuned and frozen copies), train_output.c (the saved
 * Hugging Face folder), checkpoint.c; it reads trainer_config. Clients: fine-tuning
 * (finetune_run.c: perturbations, steps, the run; train_eval.c robustness and utility before
 * and after; finetune.json in train_output.c) and supervised training (supervised_run.c). */
#ifndef VFR_FINETUNE_TRAIN_INTERNAL_H
#define VFR_FINETUNE_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/try.h"
#include "finetune/adamw.h"
#include "finetune/checkpoint.h"
#include "finetune/run_settings.h"
#include "finetune/vit_backward.h"
#include "model/safetensors.h"
#include "model/vit.h"
#include "study/plan.h"
#include "vfrobust/dataset.h"
#include "vfrobust/finetune.h"
#include "vfrobust/model.h"
#include "vfrobust/perturb.h"

#define TRY VFR_TRY

enum { NAME_LEN = 128, PATH_LEN = 1200, MAX_EVAL_LEVELS = 64 };

/* One vision tensor: its Hugging Face name and shape, where f' keeps it (a field of the
 * vit_params being tuned) and where its gradient lives (which fixes its offset). */
typedef struct tensor_slot {
  char name[NAME_LEN];
  int ndim;
  int64_t shape[4];
  const float **param;  /* its field of trainer.p (f') */
  const float **param0; /* its field of trainer.p0 (f) */
  float **grad;         /* its field of trainer.g */
  int table;            /* DINOv2's trained position table: trained through the resampling */
  size_t count;
} tensor_slot;

/* The default peak learning rate is this over the tower's width D (Adam's step for a
 * width-D matrix scales as 1/D): 3.1e-4 at D = 64, 1.6e-4 at 128, 2.6e-5 at 768. */
#define FT_LR_WIDTH 0.02

/* What the trainer core reads (model copies, per-image loop, shuffles, AdamW, the schedule,
 * checkpoints, the step loop, saving); each client fills it: fine-tuning (finetune_run.c)
 * and supervised training (supervised_run.c). */
typedef struct trainer_config {
  const char *model_dir; /* the folder the tower loads from */
  const char *data_path; /* the training images */
  const char *out_dir;   /* the output folder (checkpoint.bin, run_settings.json) */
  int threads;           /* 0: OpenMP's default */
  int batch;             /* images per optimiser step */
  int epochs;            /* passes over the data */
  uint64_t seed;         /* of every draw (ft_draw_key) */
  int train_blocks;      /* last N blocks train (<= 0 or >= L: everything, embeddings too) */
  double lr, lr_min;     /* peak and final learning rate of the schedule */
  long warmup;           /* linear warmup steps, then a half cosine to lr_min */
  adamw_params adam;     /* betas, eps, weight decay */
  int checkpoint_every;  /* also every N steps (0: only at the end) */
  int checkpoint_epochs; /* also at the end of every epoch */
  int resume;            /* continue from out_dir/checkpoint.bin when it exists */
  long stop_after;       /* end after this many steps in all (0: never) */
  uint64_t check_tag;    /* a checkpoint with another value is refused (accum, classes) */
} trainer_config;

typedef struct trainer {
  trainer_config cfg;
  const vfr_finetune_params *o; /* fine-tuning only: &opts */
  vfr_finetune_params opts;     /* fine-tuning: the caller's settings, defaults resolved */
  vfr_model *model; /* the original folder: preprocessing */
  vfr_safetensors *st;
  vit_dims d;
  vit_params p, p0;           /* f' (tuned) and f (frozen), both carved like g */
  vit_layer_params *layers, *layers0;
  vit_grads g;
  float *params, *params0;    /* (g.n + n_table) each; DINOv2's position table at g.n */
  size_t n_table;             /* DINOv2: floats of the trained position table, else 0 */
  int head_classes;           /* set before ft_load_model: room for a linear head of this
                                 many classes, (C,E) weights then (C) biases, at
                                 params + g.n + n_table (0: none) */
  int table_rows, aa;         /* its rows (1 + G*G) and antialias flag */
  float *table_tmp;           /* dinov2_pos_embed scratch */
  float *dtable;              /* (n_table) gradient of the table */
  float *m, *v;               /* (n_train) AdamW moments */
  float *head_grad;           /* (head_classes * (E + 1)) gradient of the linear head */
  size_t train_off, n_train;  /* trainable tail [train_off, g.n + n_table); m, v index
                                 params - train_off (the resampled pos slice stays unused) */
  int first_layer;
  tensor_slot *slots;
  int n_slots;
  vfr_dataset data, eval;
  vfr_spec *specs, *eval_specs; /* trained ops; ops of the evaluation */
  int n_specs, n_eval_specs;
  study_plan eval_plan;       /* the evaluation as a study plans it: its rows, levels and
                                 identity levels (n_eval_specs ops) */
  long steps_per_epoch, total;
  long start;                 /* first step of this process (a resumed run's checkpoint) */
  int *order;                 /* (data.count) this epoch's shuffled indices */
  long order_epoch;
  float *fcache;              /* (data.count, E) f(x) of each training image */
  double *history;            /* (total, FT_HISTORY_FIELDS) */
  vit_train_acts tacts;
  vit_acts facts;
  float *pix;                 /* (2*micro, 3,H,W) */
  float *out, *dout, *fx;     /* (2*micro, E), (2*micro, E), (micro, E) */
  int micro;                  /* largest micro-batch */
} trainer;

typedef struct eval_result {
  double *mean_dr;   /* (n_eval_specs) */
  float *clean;      /* (eval.count, E) clean embeddings */
  int n;
  double knn_accuracy; /* clean k-NN accuracy (SPEC section 4), -1 without labels */
} eval_result;

/* Deterministic draws: a hash of (seed, a, b, c, what); every random choice is one. */
uint64_t ft_mix64(uint64_t x);
uint64_t ft_draw_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t what);
/* The perturbation of image idx at step `step` (chain, noise seed, index of the spec). */
void ft_draw_perturbation(const trainer *t, long step, int idx, vfr_chain *chain,
                          uint64_t *noise_seed, int *spec_index);
/* The images of step s: *idx points at n dataset indices (reshuffles t->order as needed). */
void ft_step_images(trainer *t, long s, const int **idx, int *n);

/* Frees everything t holds (fields never allocated are NULL). */
void ft_trainer_free(trainer *t);
/* Seconds on the monotonic clock. */
double ft_now_s(void);
/* The AdamW settings shared by the training loops: 0 <= lr_min <= lr < 1, weight decay in
 * [0, 1000), betas in [0, 1), eps > 0; otherwise VFR_EINVAL with a line naming cmd. */
int ft_check_optimizer(const char *cmd, double lr, double lr_min, double weight_decay,
                       double beta1, double beta2, double eps, vfr_error *err);

/* Loads the original model, fills t->d and builds f' (t->p) and f (t->p0). */
int ft_load_model(trainer *t, vfr_error *err);

/* ---- the optimiser, schedule, checkpoints and step loop (trainer_optim.c) ---- */

/* t->steps_per_epoch = ceil(images / batch), t->total = that times the epochs. */
void ft_trainer_count_steps(trainer *t);
/* After ft_load_model and ft_trainer_count_steps: the trained part (first_layer, train_off,
 * n_train from cfg.train_blocks, the head after the tower), AdamW's zeroed moments, the
 * gradient of the head and of DINOv2's table, and the step history. */
int ft_trainer_init_optimizer(trainer *t, vfr_error *err);
/* The learning rate of step s: lr_warmup_cosine with the config's lr, lr_min, warmup. */
double ft_trainer_lr(const trainer *t, long s);
/* One AdamW step (number s + 1) at ft_trainer_lr(s) of everything that trains, from the
 * gradients in t->g (and t->head_grad): the tower's tail, the head; DINOv2's table through
 * its resampling when the embeddings train. *lr receives the rate. */
int ft_trainer_optimizer_step(trainer *t, long s, double *lr, vfr_error *err);
/* With cfg.resume and out_dir/checkpoint.bin present: loads it (parameters, moments,
 * history; refused when made with another layout or settings), then checks (resuming) or
 * stores (a new run) the n settings s in out_dir/run_settings.json; t->start = the step to
 * go on from (0 for a new run). */
int ft_trainer_resume(trainer *t, const ft_setting *s, int n, vfr_error *err);
/* out_dir/checkpoint.bin after `step` steps. */
int ft_trainer_save_checkpoint(trainer *t, long step, vfr_error *err);

/* One optimiser step s of a client, its loss terms into hist (FT_HISTORY_FIELDS). */
typedef int (*ft_step_fn)(void *client, long s, double *hist, vfr_error *err);
/* Called after step `done` (1-based) with its history and the rate; non-zero cancels. */
typedef int (*ft_after_step_fn)(void *client, long done, const double *hist, double rate);
/* Steps t->start.. up to t->total (or cfg.stop_after), checkpointing every
 * cfg.checkpoint_every steps and at epoch ends (cfg.checkpoint_epochs) and once more at the
 * end; *done = steps done in all, *cancel = whether after_step cancelled, *seconds = the
 * steps' wall time. */
int ft_trainer_loop(trainer *t, ft_step_fn step, ft_after_step_fn after_step, void *client,
                    long *done, int *cancel, double *seconds, vfr_error *err);

/* Runs fn(user, i, &e) for i in 0..n-1 on `threads` OpenMP threads; returns VFR_OK, or the
 * error of the lowest i that failed (the same one whatever the schedule). */
int ft_each_image(int n, int threads, int (*fn)(void *user, int i, vfr_error *e), void *user,
                  vfr_error *err);
/* Clean views of images idx[0..n) into pix[0..n) and, for step >= 0, that step's perturbed
 * views into pix[n..2n); pix is (2n,3,H,W). */
int ft_prepare_views(trainer *t, const int *idx, int n, long step, float *pix, vfr_error *err);
/* Plain forward of n inputs (n,3,H,W) with parameters p; out is (n,E). */
int ft_forward(trainer *t, const vit_params *p, const float *pix, int n, float *out,
               vfr_error *err);

/* Mean DR per eval spec, clean embeddings and k-NN accuracy with parameters p; the variants
 * are the study's (t->eval_plan, study_plan_apply with the run's seed and the image's
 * name), so the DR with f is `vfrobust eval`'s on the same images, ops, levels and seed. */
int ft_evaluate(trainer *t, const vit_params *p, eval_result *r, vfr_error *err);
void ft_eval_result_free(eval_result *r);

/* out_dir/model.safetensors and the copied configuration and tokenizer files; the n_extra
 * tensors of extra (may be NULL) are written too, replacing any of the same name. */
int ft_save_model(trainer *t, const vfr_tensor_out *extra, int n_extra, vfr_error *err);
/* out_dir/finetune.json; before and after may be NULL (no evaluation). */
int ft_write_report(trainer *t, const eval_result *before, const eval_result *after,
                    double train_seconds, vfr_error *err);

#endif
