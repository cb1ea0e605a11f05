/* `vfrobust downstream --protocol depth`: the test set's study, DINOv2's linear depth
 * protocol on dense features (fitted on the clean train images), the depth metrics of every
 * clean and perturbed test image, the regressions of depth error on DR, and the outputs
 * (docs/depth.md). Features and geometry are in depth_features.c, the outputs in
 * depth_output.c. */
#include "downstream/depth_run.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "downstream/depth_internal.h"
#include "vfrobust/depth.h"
#include "vfrobust/perturb.h"
#include "vfrobust/tokens.h"

/* Ops that move pixels: the depth target would have to move with them. */
static const char *const moving_ops[] = {"rotate", "crop", "flip", "ic_elastic_transform", NULL};

static int moves_pixels(const vfr_op *op) {
  for (int k = 0; op && moving_ops[k]; k++)
    if (!strcmp(op->name, moving_ops[k])) return 1;
  return 0;
}

int ds_depth_check(const vfr_downstream_params *p, vfr_error *err) {
  const vfr_depth_options *o = &p->depth;
  if (!p->train_dir) return vfr_fail(err, VFR_EINVAL, "downstream: the depth protocol needs a train set (--train)");
  if (p->templates_file) return vfr_fail(err, VFR_EINVAL, "%s: templates are for the zeroshot protocol only", p->templates_file);
  if (p->study.perturb_after_preprocess)
    return vfr_fail(err, VFR_EINVAL, "downstream: the depth protocol perturbs the loaded image (no --perturb-after-preprocess)");
  if (!(o->scale > 0) || !(o->max_depth > 0) || !(o->min_depth > 0) || o->min_depth >= o->max_depth)
    return vfr_fail(err, VFR_EINVAL, "downstream: depth needs scale > 0 and 0 < min depth < max depth (%g, %g, %g)",
                    o->scale, o->min_depth, o->max_depth);
  if (o->max_depth * o->scale > 65535)
    return vfr_fail(err, VFR_EINVAL, "downstream: max depth %g x scale %g does not fit a 16-bit PNG", o->max_depth, o->scale);
  if (o->layers < 1 || o->upsample < 1 || o->upsample > 16 || !(o->ridge >= 0) || o->strips < 0)
    return vfr_fail(err, VFR_EINVAL, "downstream: depth needs layers >= 1, upsample 1..16, ridge >= 0");
  vfr_spec *specs = NULL;
  int n = 0;
  int rc = vfr_spec_list_parse(p->study.ops ? p->study.ops : "editing9", &specs, &n, err);
  for (int j = 0; !rc && j < n; j++) {
    const vfr_spec *s = &specs[j];
    int moving = s->kind == VFR_SPEC_CHAIN ? 0 : moves_pixels(s->op);
    for (int k = 0; s->kind == VFR_SPEC_CHAIN && k < s->chain.n; k++) moving |= moves_pixels(s->chain.steps[k].op);
    if (moving)
      rc = vfr_fail(err, VFR_EINVAL,
                    "%s: moves pixels, so the depth target no longer lines up with the image; the depth protocol takes "
                    "photometric ops only (not rotate, crop, flip, ic_elastic_transform)",
                    s->text);
  }
  free(specs);
  return rc;
}

/* ---- the sets --------------------------------------------------------------------------- */

/* Lists an RGB-D set and reads every depth PNG once: the unreadable ones are skipped and
 * recorded. usable[i] is 1 for the pairs kept. */
static int open_set(const char *path, const vfr_depth_options *o, vfr_depth_set *set, int **usable, ds_skips *skips,
                    vfr_error *err) {
  int rc = vfr_depth_set_open(path, o->scale, set, err);
  if (rc) return rc;
  *usable = calloc((size_t)set->count + 1, sizeof **usable);
  if (!*usable) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  int kept = 0;
  for (int i = 0; i < set->count; i++) {
    vfr_depth_map m;
    vfr_error e;
    if (vfr_depth_png_read(set->items[i].depth, set->items[i].scale, &m, &e) == VFR_OK) {
      (*usable)[i] = 1;
      kept++;
      vfr_depth_map_free(&m);
    } else if ((rc = ds_skips_add(skips, set->items[i].depth, e.message, err))) {
      return rc;
    }
  }
  if (!kept) return vfr_fail(err, VFR_EINVAL, "%s: no depth PNG could be read (%s)", path, skips->count ? skips->reason[0] : "");
  return VFR_OK;
}

/* The flat name a test image has in the study: its name with '/' as '_'. */
static void flat_name(const char *name, char *out, size_t size) {
  size_t k = 0;
  for (; name[k] && k + 1 < size; k++) out[k] = name[k] == '/' ? '_' : name[k];
  out[k] = '\0';
}

/* OUT/depth_inputs/: one symbolic link per usable test image, so that the study sees the
 * RGB images alone (never the depth PNGs beside them). */
static int link_inputs(const char *out_dir, const vfr_depth_set *set, const int *usable, char *dir, size_t size,
                       vfr_error *err) {
  snprintf(dir, size, "%s/depth_inputs", out_dir);
  if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", out_dir, strerror(errno));
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", dir, strerror(errno));
  /* links of an earlier run's images go: the study must see this set alone */
  DIR *d = opendir(dir);
  if (!d) return vfr_fail(err, VFR_EIO, "%s: cannot list (%s)", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    char old[5400];
    struct stat st;
    snprintf(old, sizeof old, "%s/%s", dir, e->d_name);
    if (lstat(old, &st) == 0 && S_ISLNK(st.st_mode)) unlink(old);
  }
  closedir(d);
  for (int i = 0; i < set->count; i++) {
    if (!usable[i]) continue;
    char flat[1024], link[5400], target[PATH_MAX];
    flat_name(set->items[i].name, flat, sizeof flat);
    snprintf(link, sizeof link, "%s/%s", dir, flat);
    if (!realpath(set->items[i].image, target))
      return vfr_fail(err, VFR_EIO, "%s: cannot resolve (%s)", set->items[i].image, strerror(errno));
    if (symlink(target, link) != 0) return vfr_fail(err, VFR_EIO, "%s: cannot link (%s)", link, strerror(errno));
  }
  return VFR_OK;
}

/* ---- the head ------------------------------------------------------------------------------ */

static int fit_head(const vfr_downstream_params *p, ds_features *fx, const vfr_depth_set *train, const int *usable,
                    ds_skips *skips, vfr_depth_head *head, double *mean_depth, int *used, vfr_error *err) {
  vfr_depth_fit *fit = NULL;
  int rc = vfr_depth_fit_begin(fx->dim, &fit, err);
  float *x = NULL, *y = NULL;
  double depth_sum = 0;
  int64_t depth_n = 0;
  *used = 0;
  if (!rc) {
    x = malloc(sizeof(float) * (size_t)fx->pixels * fx->dim);
    y = malloc(sizeof(float) * (size_t)fx->pixels);
    if (!x || !y) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->train_dir);
  }
  for (int i = 0; !rc && i < train->count; i++) {
    if (!usable[i]) continue;
    const vfr_depth_item *it = &train->items[i];
    vfr_image img = {0};
    vfr_depth_map truth = {0};
    vfr_error e;
    int st = vfr_image_load(it->image, NULL, &img, &e);
    if (!st) st = vfr_depth_png_read(it->depth, it->scale, &truth, &e);
    if (!st) st = ds_features_compute(fx, &img, it->name, &e);
    if (!st) st = ds_target_grid(fx, &truth, &img, &p->depth, y, &e);
    if (st == VFR_ENOMEM) {
      rc = vfr_fail(err, st, "%s", e.message);
    } else if (st) { /* an unreadable image or a size mismatch: skipped and listed */
      rc = ds_skips_add(skips, it->name, e.message, err);
    } else {
      /* the valid target pixels only */
      int64_t m = 0;
      for (int64_t k = 0; k < fx->pixels; k++)
        if (y[k] > 0) {
          memcpy(x + m * fx->dim, fx->grid + k * fx->dim, sizeof(float) * (size_t)fx->dim);
          y[m++] = y[k];
          depth_sum += y[k];
        }
      depth_n += m;
      rc = vfr_depth_fit_add(fit, x, y, m, err);
      if (!rc && m > 0) (*used)++;
    }
    vfr_image_free(&img);
    vfr_depth_map_free(&truth);
  }
  if (!rc && !*used) rc = vfr_fail(err, VFR_EINVAL, "%s: no train image with valid depth could be used", p->train_dir);
  if (!rc) rc = vfr_depth_fit_solve(fit, p->depth.ridge, head, err);
  *mean_depth = depth_n ? depth_sum / depth_n : NAN;
  vfr_depth_fit_free(fit);
  free(x);
  free(y);
  return rc;
}

/* ---- the test images ----------------------------------------------------------------------- */

typedef struct flat_entry {
  char name[1024];
  int item;
} flat_entry;

static int cmp_flat(const void *a, const void *b) { return strcmp(((const flat_entry *)a)->name, ((const flat_entry *)b)->name); }

/* Every row of every test image: prediction, metrics, PNG. */
static int evaluate(const vfr_downstream_params *p, ds_features *fx, const vfr_depth_head *head, vfr_study *study,
                    const vfr_depth_set *test, const int *usable, ds_results *res, ds_skips *skips, vfr_error *err) {
  vfr_study_info info;
  vfr_study_get_info(study, &info);
  flat_entry *flat = calloc((size_t)test->count + 1, sizeof *flat);
  int nflat = 0, rc = VFR_OK;
  if (!flat) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  for (int i = 0; i < test->count; i++)
    if (usable[i]) {
      flat_name(test->items[i].name, flat[nflat].name, sizeof flat[nflat].name);
      flat[nflat++].item = i;
    }
  qsort(flat, (size_t)nflat, sizeof *flat, cmp_flat);
  rc = ds_results_init(res, info.images, info.rows, info.op_count, err);
  for (int i = 0; !rc && i < info.images; i++) {
    flat_entry key;
    snprintf(key.name, sizeof key.name, "%s", vfr_study_image_name(study, i));
    const flat_entry *hitp = bsearch(&key, flat, (size_t)nflat, sizeof *flat, cmp_flat);
    if (!hitp) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s: study image %s is not in the test set", p->study.out_dir, key.name);
      break;
    }
    const vfr_depth_item *it = &test->items[hitp->item];
    vfr_image img = {0};
    vfr_depth_map truth = {0};
    vfr_error e;
    int st = vfr_image_load(it->image, NULL, &img, &e);
    if (!st) st = vfr_depth_png_read(it->depth, it->scale, &truth, &e);
    if (!st) st = ds_target_crop(fx, &truth, &img, &p->depth, res->truth, &e);
    if (st) {
      rc = ds_skips_add(skips, it->name, e.message, err);
      vfr_image_free(&img);
      vfr_depth_map_free(&truth);
      continue;
    }
    const int u = res->used;
    res->item[u] = i;
    for (int j = 0; j < info.op_count; j++) res->dr[(size_t)u * info.op_count + j] = vfr_study_dr(study, i, j);
    for (int row = 0; !rc && row < info.rows; row++) {
      vfr_image variant = {0};
      const vfr_image *in = &img;
      if (row > 0) {
        rc = vfr_study_variant(study, i, row, &img, &variant, err);
        in = &variant;
      }
      if (!rc) rc = ds_features_compute(fx, in, it->name, err);
      if (!rc) rc = ds_predict_crop(fx, head, &p->depth, res->pred, err);
      if (!rc)
        rc = vfr_depth_metrics_compute(res->pred, res->truth, NULL, fx->crop_pixels, p->depth.min_depth,
                                       p->depth.max_depth, &res->metrics[(size_t)u * info.rows + row], err);
      if (!rc) rc = ds_write_prediction(p, fx, study, i, row, res->pred, res->truth, err);
      if (!rc && u < p->depth.strips) rc = ds_strip_add(res, fx, u, row, in, res->truth, res->pred, err);
      vfr_image_free(&variant);
    }
    if (!rc && u < p->depth.strips) rc = ds_strip_truth(res, fx, u, res->truth, err);
    /* the constant-depth baseline on the clean image */
    if (!rc) {
      for (int64_t k = 0; k < fx->crop_pixels; k++) res->pred[k] = (float)res->baseline_depth;
      rc = vfr_depth_metrics_compute(res->pred, res->truth, NULL, fx->crop_pixels, p->depth.min_depth, p->depth.max_depth,
                                     &res->baseline[u], err);
    }
    if (!rc) res->used++;
    vfr_image_free(&img);
    vfr_depth_map_free(&truth);
  }
  free(flat);
  if (!rc && !res->used) rc = vfr_fail(err, VFR_EINVAL, "%s: no test image with depth could be evaluated", p->study.data);
  return rc;
}

int ds_depth_run(const vfr_downstream_params *p, vfr_downstream_summary *summary, vfr_error *err) {
  vfr_depth_set train = {0}, test = {0};
  int *train_ok = NULL, *test_ok = NULL;
  ds_skips skips = {0};
  vfr_study *study = NULL;
  ds_features fx;
  memset(&fx, 0, sizeof fx);
  vfr_depth_head head = {0};
  ds_results res;
  memset(&res, 0, sizeof res);
  vfr_study_session session = {-1, 0, 0, NULL, 0};
  char inputs[4200];
  int rc = ds_features_check(p, err);
  if (!rc) rc = open_set(p->study.data, &p->depth, &test, &test_ok, &skips, err);
  if (!rc) rc = open_set(p->train_dir, &p->depth, &train, &train_ok, &skips, err);
  if (!rc) rc = link_inputs(p->study.out_dir, &test, test_ok, inputs, sizeof inputs, err);
  vfr_eval_params study_params = p->study;
  study_params.data = inputs;
  if (!rc) rc = vfr_study_begin(&study_params, &session, err);
  if (!rc) rc = vfr_eval_compute(&study_params, err);
  if (!rc) rc = vfr_eval_merge(&study_params, err);
  if (!rc) rc = vfr_study_open(p->study.out_dir, &study, err);
  if (!rc) rc = ds_features_open(&fx, p, err);
  int train_used = 0;
  if (!rc) rc = fit_head(p, &fx, &train, train_ok, &skips, &head, &res.baseline_depth, &train_used, err);
  if (!rc) rc = ds_strip_begin(&res, &fx, p->depth.strips, study, err);
  if (!rc) rc = evaluate(p, &fx, &head, study, &test, test_ok, &res, &skips, err);
  if (!rc) rc = ds_depth_write(p, study, &fx, &head, &res, &skips, train_used, summary, err);
  summary->train_used = train_used;
  summary->skipped_depth = skips.count;
  ds_results_free(&res);
  vfr_depth_head_free(&head);
  ds_features_close(&fx);
  vfr_study_close(study);
  vfr_study_end(&session);
  ds_skips_free(&skips);
  free(train_ok);
  free(test_ok);
  vfr_depth_set_free(&train);
  vfr_depth_set_free(&test);
  return rc;
}
