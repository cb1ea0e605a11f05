/* Phase 1 of a study: perturb and embed every image of this process's shard, one atomic
 * result file per image (see include/vfrobust/study.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "study/plan.h"
#include "study/result_file.h"
#include "study/study_internal.h"
#include "vfrobust/image.h"
#include "vfrobust/model.h"

/* Full-resolution variants of one image in flight at once: as many as threads, within
 * STUDY_VARIANT_BUDGET bytes counting STUDY_VARIANT_COPIES image-sized buffers each (the
 * variant and an op's working copies), and never fewer than one. */
#define STUDY_VARIANT_BUDGET ((size_t)256 << 20)
#define STUDY_VARIANT_COPIES 3

vfr_eval_params vfr_eval_default_params(void) {
  vfr_eval_params p;
  memset(&p, 0, sizeof p);
  p.ops = "editing9";
  p.levels = 10;
  p.batch = 32;
  p.shards = 1;
  return p;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Embeds imgs (nb) into the rows `rows_of` of r->embeddings. The model refusing an image
 * (its size, its content) makes the image skipped; anything else stops the study. */
static int embed_batch(vfr_model *model, const vfr_image *imgs, const int *rows_of, int nb, int dim,
                       int prepared, float *tmp /* (nb, dim) */, vfr_image_result *r, vfr_error *err) {
  vfr_error merr;
  int st = prepared ? vfr_model_embed_prepared(model, imgs, nb, tmp, &merr)
                    : vfr_model_embed_images(model, imgs, nb, tmp, &merr);
  if (st == VFR_EINVAL || st == VFR_ELIMIT || st == VFR_EFORMAT) {
    r->status = st;
    r->message = strdup(merr.message);
    return r->message ? VFR_OK : vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  if (st) return vfr_fail(err, st, "%s", merr.message);
  for (int b = 0; b < nb; b++)
    memcpy(r->embeddings + (size_t)rows_of[b] * dim, tmp + (size_t)b * dim, sizeof(float) * (size_t)dim);
  return VFR_OK;
}

/* Builds every variant of one image (row 0 the clean image, then each op's levels),
 * embeds them, and fills r. Identity levels reuse the clean embedding. A failure to
 * read or perturb the image makes it skipped (r->status), not a failed study. */
static int compute_image(const vfr_eval_params *p, const study_context *ctx, vfr_model *model,
                         int dim, int index, vfr_image_result *r, vfr_error *err) {
  const study_plan *plan = &ctx->plan;
  const vfr_dataset_item *item = &ctx->dataset.items[index];
  memset(r, 0, sizeof *r);
  r->id = vfr_image_identity_of(item->path);
  if (!(r->name = strdup(item->name))) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  vfr_image loaded = {0}, base = {0}, clean_crop = {0};
  vfr_error ierr;
  int st = vfr_image_load(item->path, NULL, &loaded, &ierr);
  if (!st && p->perturb_after_preprocess) {
    st = vfr_model_prepare_image(model, &loaded, item->path, &base, &ierr);
    vfr_image_free(&loaded);
  } else if (!st) {
    base = loaded;
  }
  if (st) {
    r->status = st;
    r->message = strdup(ierr.message);
    return r->message ? VFR_OK : vfr_fail(err, VFR_ENOMEM, "out of memory");
  }

  int rows = plan->rows;
  vfr_image *variants = calloc((size_t)rows, sizeof *variants);
  int *source = malloc(sizeof(int) * (size_t)rows); /* row whose embedding this row reuses */
  int *perturb_status = calloc((size_t)rows, sizeof(int));
  vfr_error *perturb_err = calloc((size_t)rows, sizeof *perturb_err);
  r->embeddings = malloc(sizeof(float) * (size_t)rows * (size_t)dim);
  int rc = VFR_OK;
  if (!variants || !source || !perturb_status || !perturb_err || !r->embeddings) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", item->path);
    goto done;
  }
  source[0] = 0;
  for (int j = 0; j < plan->op_count; j++)
    for (int k = 0; k < plan->ops[j].m; k++)
      source[plan->ops[j].first_row + k] = plan->ops[j].identity[k] ? 0 : plan->ops[j].first_row + k;

  /* Perturbations are independent: one per thread, with a bounded number in flight. Unless
   * perturbations apply after preprocessing, each variant is reduced at once to the
   * model-sized crop its embedding is computed from (the model's own preprocessing, exactly)
   * and its full-resolution copy freed: memory holds the image, a few full-size variants
   * and one small crop per row, never every variant at full resolution. */
  int in_flight = 1;
  {
    size_t full = (size_t)base.height * base.stride;
    size_t per = full * STUDY_VARIANT_COPIES + 1;
    int most = omp_get_max_threads();
    in_flight = per >= STUDY_VARIANT_BUDGET ? 1 : (int)(STUDY_VARIANT_BUDGET / per);
    if (in_flight > most) in_flight = most;
    if (in_flight < 1) in_flight = 1;
  }
  if (!p->perturb_after_preprocess) {
    st = vfr_model_prepare_image(model, &base, item->path, &clean_crop, &ierr);
    if (st == VFR_ENOMEM) {
      rc = vfr_fail(err, st, "%s", ierr.message);
      goto done;
    }
    if (st) {
      r->status = st;
      r->message = strdup(ierr.message);
      goto done;
    }
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(in_flight)
  for (int row = 1; row < rows; row++) {
    if (source[row] != row) continue;
    vfr_image full = {0};
    int s = study_plan_apply(plan, row, &base, item->name, p->seed, &full, &perturb_err[row]);
    if (!s && !p->perturb_after_preprocess) {
      s = vfr_model_prepare_image(model, &full, item->path, &variants[row], &perturb_err[row]);
      vfr_image_free(&full);
    } else if (!s) {
      variants[row] = full;
    }
    perturb_status[row] = s;
  }
  for (int row = 1; row < rows; row++)
    if (perturb_status[row]) {
      r->status = perturb_status[row];
      r->message = strdup(perturb_err[row].message);
      goto done;
    }

  /* Embed the distinct variants (now all model-sized) in batches. */
  vfr_image *batch = malloc(sizeof *batch * (size_t)p->batch); /* shallow copies */
  int *batch_rows = malloc(sizeof(int) * (size_t)p->batch);
  float *batch_out = malloc(sizeof(float) * (size_t)p->batch * (size_t)dim);
  if (!batch || !batch_rows || !batch_out) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", item->path);
  int nb = 0;
  const vfr_image *clean = p->perturb_after_preprocess ? &base : &clean_crop;
  for (int row = 0; row < rows && !rc && !r->status; row++) {
    if (source[row] != row) continue;
    batch[nb] = row == 0 ? *clean : variants[row];
    batch_rows[nb++] = row;
    if (nb == p->batch) {
      rc = embed_batch(model, batch, batch_rows, nb, dim, 1, batch_out, r, err);
      nb = 0;
    }
  }
  if (!rc && !r->status && nb > 0) rc = embed_batch(model, batch, batch_rows, nb, dim, 1, batch_out, r, err);
  free(batch_out);
  free(batch);
  free(batch_rows);
  if (!rc && !r->status)
    for (int row = 1; row < rows; row++)
      if (source[row] != row) memcpy(r->embeddings + (size_t)row * dim, r->embeddings + (size_t)source[row] * dim, sizeof(float) * (size_t)dim);

done:
  if (!rc && r->status) {
    free(r->embeddings);
    r->embeddings = NULL;
    if (!r->message) rc = vfr_fail(err, VFR_ENOMEM, "out of memory");
  } else if (!rc) {
    r->rows = (uint32_t)rows;
    r->dim = (uint32_t)dim;
  }
  if (variants)
    for (int row = 0; row < rows; row++) vfr_image_free(&variants[row]);
  free(variants);
  free(source);
  free(perturb_status);
  free(perturb_err);
  vfr_image_free(&clean_crop);
  vfr_image_free(&base);
  return rc;
}

int vfr_eval_compute(const vfr_eval_params *p, vfr_error *err) {
  if (p->batch < 1 || p->batch > 4096) return vfr_fail(err, VFR_EINVAL, "--batch %d: must be 1..4096", p->batch);
  if (p->shards < 1 || p->shard < 0 || p->shard >= p->shards)
    return vfr_fail(err, VFR_EINVAL, "shard %d of %d is not valid", p->shard, p->shards);
  study_context ctx;
  int rc = study_context_open(p, &ctx, err);
  if (rc) return rc;
  vfr_model_params mp = vfr_model_default_params();
  if (p->threads > 0) mp.threads = p->threads;
  mp.precision = (vfr_precision)p->precision;
  vfr_model *model = NULL;
  rc = vfr_model_load(p->model_dir, &mp, &model, err);
  if (rc) {
    study_context_close(&ctx);
    return rc;
  }
  vfr_model_info info;
  vfr_model_get_info(model, &info);
  int dim = info.embed_dim;

  vfr_progress pr = {0};
  for (int i = p->shard; i < ctx.dataset.count; i += p->shards) pr.total++;
  double t0 = now_s();
  int computed = 0;
  for (int i = p->shard; i < ctx.dataset.count && !rc; i += p->shards) {
    vfr_image_result r;
    vfr_error rerr;
    const vfr_dataset_item *item = &ctx.dataset.items[i];
    int got = p->resume ? vfr_result_read(ctx.work_dir, ctx.fingerprint, item->name, vfr_image_identity_of(item->path),
                                          &r, &rerr)
                        : VFR_EIO;
    if (got == VFR_OK) {
      pr.resumed++;
      if (r.status) pr.skipped++;
      vfr_result_free(&r);
    } else {
      if (got == VFR_EIO) pr.added++;
      else pr.changed++;
      rc = compute_image(p, &ctx, model, dim, i, &r, err);
      if (!rc) rc = vfr_result_write(ctx.work_dir, ctx.fingerprint, &r, err);
      if (!rc && r.status) pr.skipped++;
      vfr_result_free(&r);
      computed++;
    }
    pr.done++;
    pr.elapsed_s = now_s() - t0;
    pr.rate = pr.elapsed_s > 0 ? computed / pr.elapsed_s : 0;
    pr.eta_s = pr.rate > 0 ? (pr.total - pr.done) / pr.rate : -1;
    pr.current = ctx.dataset.items[i].name;
    if (p->progress && !rc && p->progress(p->progress_user, &pr))
      rc = vfr_fail(err, VFR_ECANCELED, "%s: cancelled after %d of %d images", p->out_dir, pr.done,
                    pr.total);
  }
  vfr_model_free(model);
  study_context_close(&ctx);
  return rc;
}
