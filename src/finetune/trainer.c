/* The trainer core shared by robustness fine-tuning (finetune_run.c) and supervised training
 * (supervised_run.c): the seeded draws, the per-epoch shuffle and the images of a step, the
 * per-image parallel loop, the optimiser checks, the clock, and freeing a trainer. The model
 * copies are train_model.c, checkpoints checkpoint.c, the saved folder train_output.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/splitmix.h"
#include "finetune/train_internal.h"

uint64_t ft_mix64(uint64_t x) { return vfr_splitmix_at(x, 0); }

/* A hash of (seed, a, b, c, what): every random choice of the run is one of these. */
uint64_t ft_draw_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t what) {
  return ft_mix64(ft_mix64(ft_mix64(ft_mix64(seed ^ 0x5646524654554E45ull) ^ a) ^ b) ^ c) ^ what;
}

/* t->order = the permutation of epoch e (Fisher-Yates on ft_draw_key). */
static void shuffle_epoch(trainer *t, long e) {
  int n = t->data.count;
  for (int i = 0; i < n; i++) t->order[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(ft_mix64(ft_draw_key(t->cfg.seed, (uint64_t)e, (uint64_t)i, 0, 4)) % (uint64_t)(i + 1));
    int tmp = t->order[i];
    t->order[i] = t->order[j];
    t->order[j] = tmp;
  }
  t->order_epoch = e;
}

/* The images of step s: *idx points at n dataset indices. */
void ft_step_images(trainer *t, long s, const int **idx, int *n) {
  long e = s / t->steps_per_epoch, b = s % t->steps_per_epoch;
  if (t->order_epoch != e) shuffle_epoch(t, e);
  long start = b * t->cfg.batch, end = start + t->cfg.batch;
  if (end > t->data.count) end = t->data.count;
  *idx = t->order + start;
  *n = (int)(end - start);
}

int ft_each_image(int n, int threads, int (*fn)(void *user, int i, vfr_error *e), void *user,
                  vfr_error *err) {
  int failed = n;
  vfr_error first;
  vfr_error_clear(&first);
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int i = 0; i < n; i++) {
    vfr_error e;
    vfr_error_clear(&e);
    if (fn(user, i, &e) != VFR_OK) {
#pragma omp critical /* unnamed: a named one would be an exported symbol */
      if (i < failed) {
        failed = i;
        first = e;
      }
    }
  }
  if (failed < n) {
    if (err) *err = first;
    return first.code;
  }
  return VFR_OK;
}

int ft_check_optimizer(const char *cmd, double lr, double lr_min, double weight_decay,
                       double beta1, double beta2, double eps, vfr_error *err) {
  if (!(lr >= 0 && lr < 1) || !(lr_min >= 0 && lr_min <= lr))
    return vfr_fail(err, VFR_EINVAL, "%s: learning rates %g, %g are not 0 <= lr_min <= lr < 1",
                    cmd, lr_min, lr);
  if (!(weight_decay >= 0 && weight_decay < 1e3))
    return vfr_fail(err, VFR_EINVAL, "%s: weight decay %g is not in [0, 1000)", cmd,
                    weight_decay);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0))
    return vfr_fail(err, VFR_EINVAL, "%s: betas %g, %g are not in [0, 1) or adam eps %g <= 0",
                    cmd, beta1, beta2, eps);
  return VFR_OK;
}

double ft_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ft_trainer_free(trainer *t) {
  free(t->order);
  free(t->fcache);
  free(t->history);
  free(t->m);
  free(t->v);
  free(t->head_grad);
  free(t->pix);
  free(t->out);
  free(t->dout);
  free(t->fx);
  vit_train_acts_free(&t->tacts);
  vit_acts_free(&t->facts);
  vit_grads_free(&t->g);
  free(t->params);
  free(t->params0);
  free(t->table_tmp);
  free(t->dtable);
  free(t->layers);
  free(t->layers0);
  free(t->slots);
  free(t->specs);
  free(t->eval_specs);
  study_plan_free(&t->eval_plan);
  vfr_dataset_free(&t->data);
  vfr_dataset_free(&t->eval);
  vfr_safetensors_close(t->st);
  vfr_model_free(t->model);
}
