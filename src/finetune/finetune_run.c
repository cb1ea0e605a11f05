/* The robustness fine-tuning loop (SPEC section 5; see include/vfrobust/finetune.h and
 * docs/finetune.md section 7): the random draws, data, one optimiser step, and the run.
 *
 * The tuned vision tower f' lives in one float32 allocation laid out exactly like its
 * gradients (vit_grads), so the trainable part -- blocks first_layer..L-1, the final
 * layernorm and the projection, plus the embeddings when everything trains -- is one
 * contiguous tail of both and AdamW runs on it in one call (train_model.c builds it).
 * Both views of a micro-batch (clean x and perturbed P x) go through f' as one batch of 2n,
 * so one backward collects both gradients. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "finetune/loss.h"
#include "finetune/run_settings.h"
#include "finetune/train_internal.h"

vfr_finetune_params vfr_finetune_default_params(void) {
  vfr_finetune_params p;
  memset(&p, 0, sizeof p);
  p.eval_limit = 100;
  p.eval_levels = 5;
  p.lambda = 1.0;
  p.epochs = 1;
  p.batch = 16;
  p.accum = 1;
  p.lr = 0.0;     /* resolved at setup: FT_LR_WIDTH / hidden width */
  p.lr_min = 0.0;
  p.weight_decay = 0.01;
  p.beta1 = 0.9;
  p.beta2 = 0.999;
  p.adam_eps = 1e-8;
  p.warmup = -1;  /* resolved at setup: a tenth of the steps, rounded up */
  return p;
}

/* ---- deterministic draws ------------------------------------------------------------- */

static double uniform01(uint64_t k) { return (double)(ft_mix64(k) >> 11) * 0x1.0p-53; }

/* The perturbation of image `idx` at step `step`: a spec drawn from the list, then a level
 * drawn uniformly from its domain (integer parameters rounded, halves away from zero; each
 * integer of a discrete domain equally likely). */
void ft_draw_perturbation(const trainer *t, long step, int idx, vfr_chain *chain,
                              uint64_t *noise_seed, int *spec_index) {
  uint64_t s = t->cfg.seed;
  int k = (int)(ft_mix64(ft_draw_key(s, (uint64_t)step, (uint64_t)idx, 0, 1)) % (uint64_t)t->n_specs);
  const vfr_spec *sp = &t->specs[k];
  *spec_index = k;
  *noise_seed = ft_mix64(ft_draw_key(s, (uint64_t)step, (uint64_t)idx, 0, 3));
  if (sp->kind != VFR_SPEC_DOMAIN) {
    *chain = sp->chain;
    return;
  }
  double u = uniform01(ft_draw_key(s, (uint64_t)step, (uint64_t)idx, 0, 2));
  double v = sp->lo + u * (sp->hi - sp->lo);
  if (sp->op->integer) v = round(v);
  if (sp->op->discrete) { /* each integer of the domain equally likely (severity 1..5) */
    double span = floor(fabs(sp->hi - sp->lo)) + 1.0, j = floor(u * span);
    v = sp->lo + (sp->hi >= sp->lo ? j : -j);
  }
  chain->n = 1;
  chain->steps[0].op = sp->op;
  chain->steps[0].value = v;
}

/* ---- data ---------------------------------------------------------------------------- */

/* Loads images idx[0..n) and writes the preprocessed clean views into pix[0..n) and, when
 * step >= 0, the perturbed views of that step into pix[n..2n). pix is (2n,3,H,W). */

typedef struct views_job {
  trainer *t;
  const int *idx;
  int n;
  long step;
  float *pix;
} views_job;

/* Image i of a views_job: its clean view and, for step >= 0, its perturbed view. */
static int prepare_view(void *user, int i, vfr_error *e) {
  const views_job *j = user;
  trainer *t = j->t;
  size_t per = (size_t)3 * t->d.H * t->d.W;
  vfr_image img = {0}, pert = {0};
  const char *file = t->data.items[j->idx[i]].path;
  int rc = vfr_image_load(file, NULL, &img, e);
  if (!rc) rc = vfr_model_preprocess(t->model, &img, file, j->pix + (size_t)i * per, e);
  if (!rc && j->step >= 0) {
    vfr_chain chain;
    uint64_t seed;
    int k;
    ft_draw_perturbation(t, j->step, j->idx[i], &chain, &seed, &k);
    rc = vfr_perturb_apply(&img, &chain, seed, &pert, e);
    if (!rc)
      rc = vfr_model_preprocess(t->model, &pert, file, j->pix + (size_t)(j->n + i) * per, e);
  }
  vfr_image_free(&img);
  vfr_image_free(&pert);
  return rc;
}

int ft_prepare_views(trainer *t, const int *idx, int n, long step, float *pix,
                         vfr_error *err) {
  views_job j = {t, idx, n, step, pix};
  return ft_each_image(n, t->d.threads, prepare_view, &j, err);
}

/* Plain forward pass of n inputs (n,3,H,W) with parameters p; out is (n,E). */
int ft_forward(trainer *t, const vit_params *p, const float *pix, int n, float *out,
                   vfr_error *err) {
  if (vit_acts_reserve(&t->facts, &t->d, n) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the activations", t->cfg.model_dir);
  vit_forward(out, pix, p, &t->d, &t->facts, n);
  return VFR_OK;
}

/* t->fcache = f(x) for every training image, in dataset order and fixed chunks, so that
 * the values do not depend on which step first needed them (a resumed run sees the same
 * bits as an uninterrupted one). */
static int frozen_embeddings(trainer *t, vfr_error *err) {
  size_t E = (size_t)t->d.E;
  int n = t->data.count;
  for (int i = 0; i < n; i++) t->order[i] = i;
  t->order_epoch = -1;
  for (int start = 0; start < n; start += t->micro) {
    int nm = n - start < t->micro ? n - start : t->micro;
    TRY(ft_prepare_views(t, t->order + start, nm, -1, t->pix, err));
    TRY(ft_forward(t, &t->p0, t->pix, nm, t->fcache + (size_t)start * E, err));
  }
  return VFR_OK;
}

/* ---- one optimiser step ---------------------------------------------------------------- */

static int train_step(trainer *t, long s, double *hist, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  const int *idx;
  int n;
  ft_step_images(t, s, &idx, &n);
  size_t E = (size_t)t->d.E;
  vit_grads_zero(&t->g);
  double loss = 0, l1 = 0, l2 = 0;
  int accum = o->accum < n ? o->accum : n;
  for (int k = 0; k < accum; k++) {
    /* micro-batch k: images [k*n/accum, (k+1)*n/accum) */
    int a = (int)((long)k * n / accum), b = (int)((long)(k + 1) * n / accum), nm = b - a;
    if (nm <= 0) continue;
    TRY(ft_prepare_views(t, idx + a, nm, s, t->pix, err));
    for (int i = 0; i < nm; i++)
      memcpy(t->fx + (size_t)i * E, t->fcache + (size_t)idx[a + i] * E, E * sizeof(float));
    if (vit_train_acts_reserve(&t->tacts, &t->d, 2 * nm) != 0)
      return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the training activations of "
                      "%d images", o->model_dir, 2 * nm);
    vit_forward_train(t->out, t->pix, &t->p, &t->d, &t->tacts, 2 * nm);
    memset(t->dout, 0, (size_t)2 * nm * E * sizeof(float));
    double m1, m2;
    double L = robust_loss_views(t->out, t->out + nm * E, t->fx, nm, (int)E, o->lambda,
                                 (o->l2_both_views ? ROBUST_L2_BOTH_VIEWS : 0) |
                                     (o->l1_stop_clean ? ROBUST_L1_STOP_CLEAN : 0),
                                 t->dout, t->dout + nm * E, &m1, &m2);
    /* The step's loss is the mean over all n images: weight this micro-batch by nm / n. */
    double w = (double)nm / n;
    for (size_t i = 0; i < (size_t)2 * nm * E; i++) t->dout[i] = (float)(t->dout[i] * w);
    loss += w * L;
    l1 += w * m1;
    l2 += w * m2;
    vit_backward(&t->g, t->dout, &t->p, &t->d, &t->tacts, 2 * nm, t->first_layer);
  }
  double lr;
  TRY(ft_trainer_optimizer_step(t, s, &lr, err));
  hist[0] = loss;
  hist[1] = l1;
  hist[2] = l2;
  hist[3] = lr;
  if (!isfinite(loss))
    return vfr_fail(err, VFR_EINVAL, "%s: the loss is not finite at step %ld (lower --lr?)",
                    o->data_path, s + 1);
  return VFR_OK;
}
/* ---- the run ------------------------------------------------------------------------- */


static int check_params(const vfr_finetune_params *o, vfr_error *err) {
  if (!o->model_dir || !o->data_path || !o->ops || !o->out_dir)
    return vfr_fail(err, VFR_EINVAL, "finetune: model, data, ops and output folder are required");
  if (o->epochs < 1 || o->epochs > 100000)
    return vfr_fail(err, VFR_EINVAL, "finetune: epochs %d is not in 1..100000", o->epochs);
  if (o->batch < 1 || o->batch > 65536)
    return vfr_fail(err, VFR_EINVAL, "finetune: batch %d is not in 1..65536", o->batch);
  if (o->accum < 1 || o->accum > o->batch)
    return vfr_fail(err, VFR_EINVAL, "finetune: accum %d is not in 1..batch (%d)", o->accum,
                    o->batch);
  /* lr 0 (the default) is resolved at setup, where the resolved value is checked */
  TRY(ft_check_optimizer("finetune", o->lr > 0 ? o->lr : o->lr_min, o->lr_min, o->weight_decay,
                         o->beta1, o->beta2, o->adam_eps, err));
  if (!isfinite(o->lambda) || o->lambda < 0)
    return vfr_fail(err, VFR_EINVAL, "finetune: lambda %g is not >= 0", o->lambda);
  if (o->warmup < -1 || o->checkpoint_every < 0 || o->limit < 0 || o->per_class < 0 ||
      o->stop_after < 0)
    return vfr_fail(err, VFR_EINVAL, "finetune: warmup, checkpoint interval, limits and "
                    "stop step must not be negative");
  if (o->eval_path && (o->eval_limit < 0 || o->eval_levels < 1 ||
                       o->eval_levels > MAX_EVAL_LEVELS))
    return vfr_fail(err, VFR_EINVAL, "finetune: evaluation levels %d are not in 1..%d",
                    o->eval_levels, MAX_EVAL_LEVELS);
  return VFR_OK;
}

/* Non-zero when the caller's callback cancels the run. */
static int report(const trainer *t, const char *phase, long step, const double *h,
                  double rate) {
  if (!t->o->progress) return 0;
  vfr_finetune_progress pr;
  memset(&pr, 0, sizeof pr);
  pr.step = step;
  pr.total = t->total;
  if (h) {
    pr.loss = h[0];
    pr.l1 = h[1];
    pr.l2 = h[2];
    pr.lr = h[3];
  }
  pr.steps_per_s = rate;
  pr.eta_s = rate > 0 ? (double)(t->total - step) / rate : 0;
  pr.phase = phase;
  return t->o->progress(t->o->progress_user, &pr);
}

static int cancelled(const trainer *t, long step, vfr_error *err) {
  return vfr_fail(err, VFR_ECANCELED, "%s: cancelled after step %ld (resume continues)",
                  t->o->out_dir, step);
}


static int setup(trainer *t, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  TRY(vfr_spec_list_parse(o->ops, &t->specs, &t->n_specs, err));
  if (t->n_specs < 1) return vfr_fail(err, VFR_EINVAL, "%s: no ops given", o->ops);
  TRY(ft_load_model(t, err));
  TRY(vfr_dataset_open(o->data_path, &t->data, err));
  vfr_dataset_limit_seeded(&t->data, o->per_class, o->limit, o->seed);
  if (t->data.count < 1) return vfr_fail(err, VFR_EINVAL, "%s: no images", o->data_path);
  if (o->eval_path) {
    TRY(vfr_spec_list_parse(o->eval_ops ? o->eval_ops : o->ops, &t->eval_specs,
                            &t->n_eval_specs, err));
    if (t->n_eval_specs < 1) return vfr_fail(err, VFR_EINVAL, "%s: no ops given", o->eval_ops);
    TRY(study_plan_make(o->eval_ops ? o->eval_ops : o->ops, o->eval_levels, &t->eval_plan, err));
    if (t->eval_plan.op_count != t->n_eval_specs)
      return vfr_fail(err, VFR_EINTERNAL, "%s: %d ops planned, %d parsed", o->eval_ops ? o->eval_ops : o->ops,
                      t->eval_plan.op_count, t->n_eval_specs);
    TRY(vfr_dataset_open(o->eval_path, &t->eval, err));
    vfr_dataset_limit_seeded(&t->eval, o->eval_per_class, o->eval_limit, o->seed);
  }
  const vit_dims *d = &t->d;
  ft_trainer_count_steps(t);
  /* The defaults that depend on the model and the data (docs/finetune.md section 8). */
  if (t->opts.lr == 0) t->opts.lr = FT_LR_WIDTH / d->D;
  if (t->opts.warmup < 0) t->opts.warmup = (int)((t->total + 9) / 10);
  TRY(ft_check_optimizer("finetune", o->lr, o->lr_min, o->weight_decay, o->beta1, o->beta2,
                         o->adam_eps, err));
  t->cfg.lr = o->lr;
  t->cfg.warmup = o->warmup;
  TRY(ft_trainer_init_optimizer(t, err));
  int micro = (o->batch + o->accum - 1) / o->accum;
  if (micro > t->data.count) micro = t->data.count;
  t->micro = micro;
  size_t per = (size_t)3 * d->H * d->W, E = (size_t)d->E;
  t->order = malloc((size_t)t->data.count * sizeof *t->order);
  t->order_epoch = -1;
  t->fcache = malloc((size_t)t->data.count * E * sizeof(float));
  t->pix = malloc((size_t)2 * micro * per * sizeof(float)); /* both views */
  t->out = malloc((size_t)2 * micro * E * sizeof(float));
  t->dout = malloc((size_t)2 * micro * E * sizeof(float));
  t->fx = malloc((size_t)micro * E * sizeof(float));
  if (!t->order || !t->fcache || !t->pix || !t->out || !t->dout || !t->fx)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->out_dir);
  if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
    return vfr_fail(err, VFR_EIO, "%s: cannot create the folder (%s)", o->out_dir,
                    strerror(errno));
  return VFR_OK;
}


static int step_fn(void *client, long s, double *hist, vfr_error *err) {
  return train_step(client, s, hist, err);
}

static int after_step(void *client, long done, const double *hist, double rate) {
  return report(client, "train", done, hist, rate);
}

static int run(trainer *t, vfr_error *err) {
  const vfr_finetune_params *o = t->o;
  TRY(setup(t, err));
  /* Everything the tuned weights and finetune.json depend on. */
  char model[PATH_LEN], data[PATH_LEN], eval[PATH_LEN], data_fp[17], eval_fp[17] = "";
  ft_settings_path(o->model_dir, model, sizeof model);
  ft_settings_path(o->data_path, data, sizeof data);
  ft_settings_path(o->eval_path, eval, sizeof eval);
  ft_settings_data(&t->data, data_fp);
  if (o->eval_path) ft_settings_data(&t->eval, eval_fp);
  const ft_setting settings[] = {
      FT_TEXT("--model", model), FT_TEXT("--data", data), FT_TEXT("--data (its images)", data_fp),
      FT_NUM("--limit", o->limit), FT_NUM("--per-class", o->per_class), FT_TEXT("--ops", o->ops),
      FT_NUM("--lambda", o->lambda), FT_NUM("--l2-both-views", o->l2_both_views),
      FT_NUM("--l1-stop-clean", o->l1_stop_clean),
      FT_NUM("--epochs", o->epochs), FT_NUM("--train-blocks", o->train_blocks),
      FT_NUM("--batch", o->batch), FT_NUM("--accum", o->accum), FT_NUM("--lr", o->lr), FT_NUM("--lr-min", o->lr_min),
      FT_NUM("--wd", o->weight_decay), FT_NUM("--beta1", o->beta1), FT_NUM("--beta2", o->beta2),
      FT_NUM("--adam-eps", o->adam_eps), FT_NUM("--warmup", o->warmup), FT_NUM("--seed", (double)o->seed),
      FT_TEXT("--eval-data", eval), FT_TEXT("--eval-data (its images)", eval_fp), FT_NUM("--eval-limit", o->eval_limit),
      FT_NUM("--eval-per-class", o->eval_per_class), FT_NUM("--eval-levels", o->eval_levels),
      FT_TEXT("--eval-ops", o->eval_ops ? o->eval_ops : o->ops)};
  TRY(ft_trainer_resume(t, settings, (int)(sizeof settings / sizeof settings[0]), err));
  long start = t->start;
  if (report(t, "frozen-embeddings", start, NULL, 0)) return cancelled(t, start, err);
  TRY(frozen_embeddings(t, err));
  eval_result before = {0}, after = {0};
  int rc = VFR_OK;
  if (o->eval_path && t->eval.count > 0 && (o->stop_after == 0 || o->stop_after >= t->total)) {
    if (report(t, "eval-before", start, NULL, 0)) rc = cancelled(t, start, err);
    else rc = ft_evaluate(t, &t->p0, &before, err);
  }
  long s = start;
  int cancel = 0;
  double train_seconds = 0;
  if (rc == VFR_OK)
    rc = ft_trainer_loop(t, step_fn, after_step, t, &s, &cancel, &train_seconds, err);
  if (rc == VFR_OK && cancel) rc = cancelled(t, s, err);
  if (rc == VFR_OK && s >= t->total) {
    if (before.mean_dr) {
      if (report(t, "eval-after", s, NULL, 0)) rc = cancelled(t, s, err);
      else rc = ft_evaluate(t, &t->p, &after, err);
    }
    if (rc == VFR_OK && report(t, "save", s, NULL, 0)) rc = cancelled(t, s, err);
    if (rc == VFR_OK) rc = ft_save_model(t, NULL, 0, err);
    if (rc == VFR_OK)
      rc = ft_write_report(t, before.mean_dr ? &before : NULL, after.mean_dr ? &after : NULL,
                        train_seconds, err);
  }
  ft_eval_result_free(&before);
  ft_eval_result_free(&after);
  return rc;
}

int vfr_finetune_run(const vfr_finetune_params *p, vfr_error *err) {
  if (!p) return vfr_fail(err, VFR_EINVAL, "finetune: no parameters");
  TRY(check_params(p, err));
  trainer t;
  memset(&t, 0, sizeof t);
  t.opts = *p;
  t.o = &t.opts;
  t.cfg.model_dir = p->model_dir;
  t.cfg.data_path = p->data_path;
  t.cfg.out_dir = p->out_dir;
  t.cfg.threads = p->threads;
  t.cfg.batch = p->batch;
  t.cfg.epochs = p->epochs;
  t.cfg.seed = p->seed;
  t.cfg.train_blocks = p->train_blocks;
  t.cfg.lr = p->lr; /* lr and warmup resolved at setup */
  t.cfg.lr_min = p->lr_min;
  t.cfg.warmup = p->warmup;
  t.cfg.adam = (adamw_params){p->beta1, p->beta2, p->adam_eps, p->weight_decay};
  t.cfg.checkpoint_every = p->checkpoint_every;
  t.cfg.resume = p->resume;
  t.cfg.stop_after = p->stop_after;
  t.cfg.check_tag = (uint64_t)p->accum;
  int rc = run(&t, err);
  ft_trainer_free(&t);
  return rc;
}

