/* The trainer's optimisation: what trains and its AdamW moments, the warmup + cosine
 * schedule, one AdamW step of everything that trains, checkpoints and resume, and the step
 * loop; one implementation for fine-tuning and supervised training (see train_internal.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/big_alloc.h"
#include "finetune/pos_embed_backward.h"
#include "finetune/train_internal.h"
#include "model/pos_embed.h"

void ft_trainer_count_steps(trainer *t) {
  t->steps_per_epoch = (t->data.count + t->cfg.batch - 1) / t->cfg.batch;
  t->total = t->steps_per_epoch * t->cfg.epochs;
}

/* Floats of the linear head after the tower: (C,E) weights then (C) biases. */
static size_t head_floats(const trainer *t) {
  return (size_t)t->head_classes * ((size_t)t->d.E + 1);
}

int ft_trainer_init_optimizer(trainer *t, vfr_error *err) {
  const vit_dims *d = &t->d;
  int nb = t->cfg.train_blocks;
  t->first_layer = nb <= 0 || nb >= d->L ? 0 : d->L - nb;
  t->train_off =
      t->first_layer == 0 ? 0 : (size_t)(t->g.layers[t->first_layer].ln1_w - t->g.memory);
  /* the tower's tail, DINOv2's table when the embeddings train, the head */
  t->n_train = t->g.n + (t->first_layer == 0 ? t->n_table : 0) - t->train_off + head_floats(t);
  t->m = vfr_big_calloc(t->n_train, sizeof(float));
  t->v = vfr_big_calloc(t->n_train, sizeof(float));
  t->dtable = calloc(t->n_table + 1, sizeof(float));
  t->head_grad = calloc(head_floats(t) + 1, sizeof(float));
  t->history = calloc((size_t)t->total * FT_HISTORY_FIELDS, sizeof(double));
  if (!t->m || !t->v || !t->dtable || !t->head_grad || !t->history)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", t->cfg.out_dir);
  return VFR_OK;
}

double ft_trainer_lr(const trainer *t, long s) {
  return lr_warmup_cosine(s, t->total, t->cfg.warmup, t->cfg.lr, t->cfg.lr_min);
}

/* AdamW step s + 1 of params[off, off + n) from grad (n); the moments are at off - train_off. */
static void adamw_range(trainer *t, long s, double lr, size_t off, const float *grad, size_t n) {
  adamw_step(t->params + off, grad, t->m + (off - t->train_off), t->v + (off - t->train_off), n,
             lr, &t->cfg.adam, s + 1, t->d.threads);
}

int ft_trainer_optimizer_step(trainer *t, long s, double *lr_out, vfr_error *err) {
  double lr = ft_trainer_lr(t, s);
  const vit_dims *d = &t->d;
  size_t head = head_floats(t);
  if (t->n_table == 0 || t->first_layer > 0) {
    adamw_range(t, s, lr, t->train_off, t->g.memory + t->train_off, t->g.n - t->train_off);
  } else {
    /* DINOv2 with the embeddings training: the resampled slot is not a parameter; its
     * gradient goes back through the resampling to the table (kept at params + g.n, its
     * gradient in t->dtable), and the slot is resampled again from the updated table. */
    size_t pos = (size_t)(t->g.pos - t->g.memory), npos = (size_t)(1 + d->GH * d->GW) * d->D;
    memset(t->dtable, 0, t->n_table * sizeof(float));
    if (dinov2_pos_embed_backward(t->dtable, t->g.pos, t->table_tmp, t->table_rows, d->D, d->H,
                                  d->W, d->P, t->aa) != 0)
      return vfr_fail(err, VFR_EINTERNAL, "%s: position table backward failed",
                      t->cfg.model_dir);
    adamw_range(t, s, lr, 0, t->g.memory, pos);
    adamw_range(t, s, lr, pos + npos, t->g.memory + pos + npos, t->g.n - pos - npos);
    adamw_range(t, s, lr, t->g.n, t->dtable, t->n_table);
    dinov2_pos_embed(t->params + pos, t->params + t->g.n, t->table_tmp, t->table_rows, d->D, d->H,
                     d->W, d->P, t->aa);
  }
  if (head > 0) adamw_range(t, s, lr, t->g.n + t->n_table, t->head_grad, head);
  *lr_out = lr;
  return VFR_OK;
}

/* The checkpoint header of this run at `step`. */
static ft_checkpoint header(const trainer *t, long step) {
  ft_checkpoint ck = {t->g.n + t->n_table + head_floats(t), t->n_train, (uint64_t)t->first_layer,
                      t->cfg.seed, (uint64_t)t->cfg.batch, t->cfg.check_tag,
                      (uint64_t)t->cfg.epochs, (uint64_t)t->data.count, (uint64_t)step};
  return ck;
}

static void checkpoint_path(const trainer *t, char *path, size_t size) {
  snprintf(path, size, "%s/checkpoint.bin", t->cfg.out_dir);
}

int ft_trainer_resume(trainer *t, const ft_setting *s, int n, vfr_error *err) {
  char path[PATH_LEN];
  checkpoint_path(t, path, sizeof path);
  struct stat sb;
  int resuming = t->cfg.resume && stat(path, &sb) == 0;
  ft_checkpoint ck = header(t, 0);
  if (resuming)
    TRY(ft_checkpoint_load(path, &ck, t->params, t->m, t->v, t->history, (uint64_t)t->total,
                           err));
  TRY(ft_settings_check(t->cfg.out_dir, s, n, resuming, err));
  t->start = (long)ck.step;
  return VFR_OK;
}

int ft_trainer_save_checkpoint(trainer *t, long step, vfr_error *err) {
  char path[PATH_LEN];
  checkpoint_path(t, path, sizeof path);
  ft_checkpoint ck = header(t, step);
  return ft_checkpoint_save(path, &ck, t->params, t->m, t->v, t->history, err);
}

int ft_trainer_loop(trainer *t, ft_step_fn step, ft_after_step_fn after_step, void *client,
                    long *done, int *cancel, double *seconds, vfr_error *err) {
  const trainer_config *c = &t->cfg;
  long start = t->start, s = start;
  double t0 = ft_now_s();
  int rc = VFR_OK, stop = 0;
  for (; s < t->total && !stop; s++) {
    if (c->stop_after > 0 && s >= c->stop_after) break;
    double *h = t->history + (size_t)s * FT_HISTORY_FIELDS;
    rc = step(client, s, h, err);
    if (rc) break;
    double rate = (double)(s + 1 - start) / (ft_now_s() - t0 + 1e-12);
    stop = after_step(client, s + 1, h, rate);
    int epoch_end = c->checkpoint_epochs && (s + 1) % t->steps_per_epoch == 0;
    if (((c->checkpoint_every > 0 && (s + 1) % c->checkpoint_every == 0) || epoch_end) &&
        s + 1 < t->total) {
      rc = ft_trainer_save_checkpoint(t, s + 1, err);
      if (rc) break;
    }
  }
  *seconds = ft_now_s() - t0;
  if (rc == VFR_OK) rc = ft_trainer_save_checkpoint(t, s, err);
  *done = s;
  *cancel = stop;
  return rc;
}
