/* Supervised training of a CLIP vision tower with a linear head (see
 * include/vfrobust/classify.h): data and augmentation, one optimiser step, the run.
 *
 * The tower comes from the fine-tuning loop's trainer (train_model.c: one float32 allocation
 * in the gradient layout); the head (W (C,E), b (C)) is kept right after it in that
 * allocation, so parameters, AdamW moments and checkpoints are each one array:
 *   params = [tower (g.n) | W | b],  m, v = [tower (g.n) | W | b]. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>


#include "finetune/classify_head.h"
#include "finetune/classify_internal.h"
#include "finetune/init_random.h"
#include "finetune/run_settings.h"
#include "finetune/train_internal.h"
#include "vfrobust/classify.h"

vfr_classify_params vfr_classify_default_params(void) {
  vfr_classify_params p;
  memset(&p, 0, sizeof p);
  p.epochs = 10;
  p.batch = 128;
  p.lr = 1e-3;
  p.lr_min = 1e-5;
  p.weight_decay = 0.05;
  p.beta1 = 0.9;
  p.beta2 = 0.999;
  p.adam_eps = 1e-8;
  p.label_smoothing = 0.1;
  p.pad = 4;
  p.flip = 1;
  return p;
}

typedef struct classifier {
  const vfr_classify_params *o;
  trainer t;
  char model_dir[PATH_LEN]; /* the folder the tower loads from (model_dir or out_dir/init) */
  int C, E;
  float *W, *b;             /* (C,E), (C): params + g.n */
  float *gW;                /* (C*E + C) head gradient; gb = gW + C*E */
  float *m, *v;             /* (g.n + C*E + C) */
  float *logits, *dlogits, *dz; /* (B,C), (B,C), (B,E) */
  int *labels;              /* (B) */
  double *epoch_stats;      /* (epochs, 3): loss sum, correct, images */
} classifier;

/* ---- data ---------------------------------------------------------------------------- */

/* img shifted by (dx, dy) (out(x, y) = img(x + dx, y + dy), zero outside) and mirrored
 * when flip: a zero-padded random crop of the same size. */
static int augment(const vfr_image *img, int dx, int dy, int flip, vfr_image *out,
                   vfr_error *err) {
  int w = img->width, h = img->height, c = img->channels;
  TRY(vfr_image_alloc(out, w, h, c, err));
  for (int y = 0; y < h; y++) {
    uint8_t *row = out->data + (size_t)y * out->stride;
    int sy = y + dy;
    for (int x = 0; x < w; x++) {
      int sx = (flip ? w - 1 - x : x) + dx;
      uint8_t *px = row + (size_t)x * c;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        memset(px, 0, (size_t)c);
        continue;
      }
      memcpy(px, img->data + (size_t)sy * img->stride + (size_t)sx * c, (size_t)c);
    }
  }
  return VFR_OK;
}

/* A 64-bit draw keyed by (seed, step, image, what). */
static uint64_t draw(uint64_t seed, long s, uint64_t image, uint64_t what) {
  return ft_mix64(ft_draw_key(seed, (uint64_t)s, image, 0, what));
}

/* Entry i of the head's initial weights: a standard normal (Box-Muller on two draws). */
static double head_normal(uint64_t seed, size_t i) {
  double u1 = ((double)(ft_mix64(ft_draw_key(seed, 31, i, 0, 1)) >> 11) + 0.5) * 0x1.0p-53;
  double u2 = (double)(ft_mix64(ft_draw_key(seed, 31, i, 0, 2)) >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef struct prepare_job {
  trainer *t;
  const vfr_dataset *ds;
  const int *idx;
  long s;
  int pad, flip;
  uint64_t seed;
  float *pix;
} prepare_job;

/* Image i of a prepare_job: loaded, augmented with step s's draws (s >= 0), preprocessed. */
static int prepare_one(void *user, int i, vfr_error *e) {
  const prepare_job *j = user;
  size_t per = (size_t)3 * j->t->d.H * j->t->d.W;
  vfr_image img = {0}, aug = {0};
  const char *file = j->ds->items[j->idx[i]].path;
  int rc = vfr_image_load(file, NULL, &img, e);
  const vfr_image *use = &img;
  if (!rc && j->s >= 0 && (j->pad > 0 || j->flip)) {
    uint64_t k = (uint64_t)j->idx[i], span = 2 * (uint64_t)j->pad + 1;
    int dx = j->pad ? (int)(draw(j->seed, j->s, k, 21) % span) - j->pad : 0;
    int dy = j->pad ? (int)(draw(j->seed, j->s, k, 22) % span) - j->pad : 0;
    int fl = j->flip ? (int)(draw(j->seed, j->s, k, 23) & 1) : 0;
    rc = augment(&img, dx, dy, fl, &aug, e);
    use = &aug;
  }
  if (!rc) rc = vfr_model_preprocess(j->t->model, use, file, j->pix + (size_t)i * per, e);
  vfr_image_free(&img);
  vfr_image_free(&aug);
  return rc;
}

/* Preprocessed views of images idx[0..n) into pix (n,3,H,W): augmented with step s's draws
 * when s >= 0, as they are when s < 0. */
static int cl_prepare(trainer *t, const vfr_dataset *ds, const int *idx, int n, long s, int pad,
                      int flip, uint64_t seed, float *pix, vfr_error *err) {
  prepare_job j = {t, ds, idx, s, pad, flip, seed, pix};
  return ft_each_image(n, t->d.threads, prepare_one, &j, err);
}

/* ---- one step -------------------------------------------------------------------------- */

static int train_step(classifier *c, long s, double *hist, vfr_error *err) {
  trainer *t = &c->t;
  const vfr_classify_params *o = c->o;
  const int *idx;
  int n;
  ft_step_images(t, s, &idx, &n);
  int E = c->E, C = c->C;
  vit_grads_zero(&t->g);
  memset(c->gW, 0, ((size_t)C * E + C) * sizeof(float));
  TRY(cl_prepare(t, &t->data, idx, n, s, o->pad, o->flip, o->seed, t->pix, err));
  for (int i = 0; i < n; i++) c->labels[i] = t->data.items[idx[i]].label;
  if (vit_train_acts_reserve(&t->tacts, &t->d, n) != 0)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the training activations of %d "
                    "images", o->out_dir, n);
  vit_forward_train(t->out, t->pix, &t->p, &t->d, &t->tacts, n);
  head_forward(c->logits, t->out, c->W, c->b, n, E, C, t->d.engine);
  int right;
  double loss = cross_entropy(c->logits, c->labels, n, C, o->label_smoothing, 1.0, c->dlogits,
                              &right);
  head_backward(c->dz, c->gW, c->gW + (size_t)C * E, c->dlogits, t->out, c->W, n, E, C,
                t->d.engine);
  vit_backward(&t->g, c->dz, &t->p, &t->d, &t->tacts, n, 0);
  double lr;
  TRY(ft_trainer_optimizer_step(t, s, &lr, err));
  hist[0] = loss;
  hist[1] = (double)right / n;
  hist[2] = n;
  hist[3] = lr;
  if (!isfinite(loss))
    return vfr_fail(err, VFR_EINVAL, "%s: the loss is not finite at step %ld (lower --lr?)",
                    o->data_path, s + 1);
  return VFR_OK;
}

/* ---- the run ------------------------------------------------------------------------- */

static int check_params(const vfr_classify_params *o, vfr_error *err) {
  if (!o->model_dir || !o->data_path || !o->out_dir)
    return vfr_fail(err, VFR_EINVAL, "train: model, data and output folder are required");
  if (o->epochs < 1 || o->epochs > 100000)
    return vfr_fail(err, VFR_EINVAL, "train: epochs %d is not in 1..100000", o->epochs);
  if (o->batch < 1 || o->batch > 65536)
    return vfr_fail(err, VFR_EINVAL, "train: batch %d is not in 1..65536", o->batch);
  TRY(ft_check_optimizer("train", o->lr, o->lr_min, o->weight_decay, o->beta1, o->beta2,
                         o->adam_eps, err));
  if (!(o->label_smoothing >= 0 && o->label_smoothing < 1))
    return vfr_fail(err, VFR_EINVAL, "train: label smoothing %g is not in [0, 1)",
                    o->label_smoothing);
  if (o->pad < 0 || o->pad > 4096 || o->warmup < 0 || o->checkpoint_every < 0 || o->limit < 0 ||
      o->per_class < 0 || o->test_limit < 0 || o->stop_after < 0)
    return vfr_fail(err, VFR_EINVAL, "train: pad, warmup, checkpoint interval, limits and "
                    "stop step must not be negative (pad at most 4096)");
  return VFR_OK;
}


/* Non-zero when the caller's callback cancels the run. */
static int report(const classifier *c, const char *phase, long step, const double *h,
                  double rate, double test_acc) {
  if (!c->o->progress) return 0;
  vfr_classify_progress pr;
  memset(&pr, 0, sizeof pr);
  pr.step = step;
  pr.total = c->t.total;
  pr.epoch = c->t.steps_per_epoch > 0 ? (int)((step - 1) / c->t.steps_per_epoch) + 1 : 0;
  if (h) {
    pr.loss = h[0];
    pr.accuracy = h[1];
    pr.lr = h[3];
  }
  pr.steps_per_s = rate;
  pr.eta_s = rate > 0 ? (double)(c->t.total - step) / rate : 0;
  pr.test_accuracy = test_acc;
  pr.phase = phase;
  return c->o->progress(c->o->progress_user, &pr);
}

static int cancelled(const vfr_classify_params *o, long step, vfr_error *err) {
  return vfr_fail(err, VFR_ECANCELED, "%s: cancelled after step %ld (resume continues)", o->out_dir,
                  step);
}

/* The tower's folder: model_dir when it has weights, else a seeded random one in
 * out_dir/init (written once; a resumed run finds it). */
static int tower_folder(classifier *c, vfr_error *err) {
  const vfr_classify_params *o = c->o;
  char w[PATH_LEN + 32];
  struct stat sb;
  snprintf(w, sizeof w, "%s/model.safetensors", o->model_dir);
  if (stat(w, &sb) == 0) {
    snprintf(c->model_dir, sizeof c->model_dir, "%s", o->model_dir);
    return VFR_OK;
  }
  snprintf(c->model_dir, sizeof c->model_dir, "%s/init", o->out_dir);
  snprintf(w, sizeof w, "%s/model.safetensors", c->model_dir);
  if (o->resume && stat(w, &sb) == 0) return VFR_OK;
  if (mkdir(c->model_dir, 0777) != 0 && errno != EEXIST)
    return vfr_fail(err, VFR_EIO, "%s: cannot create the folder (%s)", c->model_dir,
                    strerror(errno));
  return ft_init_clip_random(o->model_dir, c->model_dir, o->seed, c->t.data.class_names,
                             c->t.data.class_count, err);
}

static int setup(classifier *c, vfr_error *err) {
  const vfr_classify_params *o = c->o;
  trainer *t = &c->t;
  if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
    return vfr_fail(err, VFR_EIO, "%s: cannot create the folder (%s)", o->out_dir,
                    strerror(errno));
  TRY(vfr_dataset_open(o->data_path, &t->data, err));
  vfr_dataset_limit_seeded(&t->data, o->per_class, o->limit, o->seed);
  if (t->data.count < 1 || t->data.class_count < 2)
    return vfr_fail(err, VFR_EFORMAT, "%s: supervised training needs labelled images of at "
                    "least two classes", o->data_path);
  for (int i = 0; i < t->data.count; i++)
    if (t->data.items[i].label < 0)
      return vfr_fail(err, VFR_EFORMAT, "%s: %s has no label", o->data_path,
                      t->data.items[i].name);
  TRY(tower_folder(c, err));
  t->cfg.model_dir = c->model_dir;
  c->C = t->data.class_count;
  t->cfg.check_tag = (uint64_t)c->C; /* a checkpoint of other classes is refused */
  t->head_classes = c->C;
  TRY(ft_load_model(t, err));
  if (!t->d.clip)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: supervised training is for CLIP vision towers",
                    c->model_dir);
  c->E = t->d.E;
  c->W = t->params + t->g.n;
  c->b = c->W + (size_t)c->C * c->E;
  for (size_t i = 0; i < (size_t)c->C * c->E; i++) /* N(0, 0.02^2) */
    c->W[i] = (float)(0.02 * head_normal(o->seed, i));
  const vfr_tensor_info *hw = vfr_safetensors_find(t->st, "classifier_head.weight");
  if (hw) { /* continue from a trained head of the same classes */
    float *wv, *bv, *own_w = NULL, *own_b = NULL;
    int64_t sw[2] = {c->C, c->E}, sb[1] = {c->C};
    TRY(vfr_safetensors_get_f32(t->st, "classifier_head.weight", 2, sw, (const float **)&wv,
                                &own_w, err));
    int rc = vfr_safetensors_get_f32(t->st, "classifier_head.bias", 1, sb, (const float **)&bv,
                                     &own_b, err);
    if (!rc) {
      memcpy(c->W, wv, (size_t)c->C * c->E * sizeof(float));
      memcpy(c->b, bv, (size_t)c->C * sizeof(float));
    }
    free(own_w);
    free(own_b);
    TRY(rc);
  }
  ft_trainer_count_steps(t);
  TRY(ft_trainer_init_optimizer(t, err));
  c->gW = t->head_grad;
  int B = o->batch < t->data.count ? o->batch : t->data.count;
  t->micro = B;
  size_t per = (size_t)3 * t->d.H * t->d.W;
  t->order = malloc((size_t)t->data.count * sizeof *t->order);
  t->order_epoch = -1;
  t->pix = malloc((size_t)B * per * sizeof(float));
  t->out = malloc((size_t)B * c->E * sizeof(float));
  c->logits = malloc((size_t)B * c->C * sizeof(float));
  c->dlogits = malloc((size_t)B * c->C * sizeof(float));
  c->dz = malloc((size_t)B * c->E * sizeof(float));
  c->labels = malloc((size_t)B * sizeof(int));
  if (!t->order || !t->pix || !t->out || !c->logits || !c->dlogits || !c->dz || !c->labels)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", o->out_dir);
  return VFR_OK;
}

static void teardown(classifier *c) {
  free(c->logits);
  free(c->dlogits);
  free(c->dz);
  free(c->labels);
  ft_trainer_free(&c->t);
}

static int step_fn(void *client, long s, double *hist, vfr_error *err) {
  return train_step(client, s, hist, err);
}

static int after_step(void *client, long done, const double *hist, double rate) {
  return report(client, "train", done, hist, rate, 0);
}

static int run(classifier *c, vfr_error *err) {
  const vfr_classify_params *o = c->o;
  trainer *t = &c->t;
  TRY(setup(c, err));
  /* Everything the trained weights and train.json depend on. */
  char model[PATH_LEN], data[PATH_LEN], test[PATH_LEN], data_fp[17];
  ft_settings_path(o->model_dir, model, sizeof model);
  ft_settings_path(o->data_path, data, sizeof data);
  ft_settings_path(o->test_path, test, sizeof test);
  ft_settings_data(&t->data, data_fp);
  const ft_setting settings[] = {
      FT_TEXT("--model", model), FT_TEXT("--data", data), FT_TEXT("--data (its images)", data_fp),
      FT_NUM("--limit", o->limit), FT_NUM("--per-class", o->per_class), FT_TEXT("--test", test),
      FT_NUM("--test-limit", o->test_limit), FT_NUM("--epochs", o->epochs), FT_NUM("--batch", o->batch),
      FT_NUM("--lr", o->lr), FT_NUM("--lr-min", o->lr_min), FT_NUM("--wd", o->weight_decay),
      FT_NUM("--beta1", o->beta1), FT_NUM("--beta2", o->beta2), FT_NUM("--adam-eps", o->adam_eps),
      FT_NUM("--warmup", o->warmup), FT_NUM("--label-smoothing", o->label_smoothing), FT_NUM("--pad", o->pad),
      FT_TEXT("--no-flip", o->flip ? "no" : "yes"), FT_NUM("--seed", (double)o->seed)};
  TRY(ft_trainer_resume(t, settings, (int)(sizeof settings / sizeof settings[0]), err));
  long s;
  int cancel;
  double train_seconds;
  int rc = ft_trainer_loop(t, step_fn, after_step, c, &s, &cancel, &train_seconds, err);
  if (!rc && cancel) return cancelled(o, s, err);
  if (rc || s < t->total) return rc;
  if (report(c, "save", s, NULL, 0, 0)) return cancelled(o, s, err);
  vfr_tensor_out head[2] = {{"classifier_head.weight", 2, {c->C, c->E}, c->W},
                            {"classifier_head.bias", 1, {c->C}, c->b}};
  TRY(ft_save_model(t, head, 2, err));
  /* the copied config.json names the classes (a tower folder with weights may not) */
  TRY(ft_write_class_config(c->model_dir, o->out_dir, t->data.class_names, t->data.class_count,
                            err));
  if (!o->test_path)
    return cl_write_report(o, &t->data, t->history, t->total, t->steps_per_epoch,
                           train_seconds, NULL, err);
  if (report(c, "test", s, NULL, 0, 0)) return cancelled(o, s, err);
  vfr_classify_result r;
  vfr_classify_eval_params ep = vfr_classify_eval_default_params();
  ep.model_dir = o->out_dir;
  ep.data_path = o->test_path;
  ep.limit = o->test_limit;
  ep.batch = o->batch;
  ep.threads = o->threads;
  TRY(vfr_classify_eval(&ep, &r, err));
  if (report(c, "test", s, NULL, 0, r.accuracy)) {
    vfr_classify_result_free(&r);
    return cancelled(o, s, err);
  }
  rc = cl_write_report(o, &t->data, t->history, t->total, t->steps_per_epoch,
                           train_seconds, &r, err);
  vfr_classify_result_free(&r);
  return rc;
}

int vfr_classify_train(const vfr_classify_params *p, vfr_error *err) {
  if (!p) return vfr_fail(err, VFR_EINVAL, "train: no parameters");
  TRY(check_params(p, err));
  classifier c;
  memset(&c, 0, sizeof c);
  c.o = p;
  trainer_config *tc = &c.t.cfg; /* model_dir: the tower's folder, set at setup */
  tc->data_path = p->data_path;
  tc->out_dir = p->out_dir;
  tc->threads = p->threads;
  tc->batch = p->batch;
  tc->epochs = p->epochs;
  tc->seed = p->seed;
  tc->train_blocks = 0; /* everything */
  tc->lr = p->lr;
  tc->lr_min = p->lr_min;
  tc->warmup = p->warmup;
  tc->adam = (adamw_params){p->beta1, p->beta2, p->adam_eps, p->weight_decay};
  tc->checkpoint_every = p->checkpoint_every;
  tc->checkpoint_epochs = 1;
  tc->resume = p->resume;
  tc->stop_after = p->stop_after;
  int rc = run(&c, err);
  teardown(&c);
  return rc;
}
