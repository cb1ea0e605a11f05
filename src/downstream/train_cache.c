/* The train embeddings of the classification protocols and their cache (train_cache.h). */
#include "downstream/train_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/files.h"
#include "study/csv.h"
#include "study/result_file.h"
#include "vfrobust/image.h"
#include "vfrobust/model.h"
#include "vfrobust/npy.h"

/* Everything that makes cached train embeddings valid: the model files and the list. */
uint64_t ds_train_fingerprint(const char *model_dir, const vfr_dataset *ds) {
  uint64_t h = study_model_fingerprint(vfr_fingerprint(VFR_FINGERPRINT_INIT, "train-v1", 8), model_dir);
  for (int i = 0; i < ds->count; i++) {
    h = vfr_fingerprint(h, ds->items[i].name, strlen(ds->items[i].name) + 1);
    h = vfr_fingerprint(h, &ds->items[i].label, sizeof ds->items[i].label);
  }
  return h;
}

/* Reads the cache when its fingerprint matches; returns 1 when it was used. */
int ds_train_cache_read(const char *out_dir, uint64_t fp, const vfr_dataset *ds, ds_train_set *t) {
  char path[4096];
  snprintf(path, sizeof path, "%s/work/train.fingerprint", out_dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long stored = 0;
  int ok = fscanf(f, "%llx", &stored) == 1 && stored == fp;
  fclose(f);
  if (!ok) return 0;
  snprintf(path, sizeof path, "%s/train_images.csv", out_dir);
  vfr_csv csv;
  if (vfr_csv_read(path, &csv, NULL) != VFR_OK) return 0;
  float *emb = NULL;
  int64_t rows = 0, cols = 0;
  int *item = malloc(sizeof(int) * (size_t)(ds->count + 1));
  int n = 0, next = 0;
  ok = item && csv.row_count >= 1; /* a header, then "row,<image>,<label>" rows */
  /* Each row's image is matched against the list in order. */
  for (int r = 1; ok && r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && row->fields[0][0] == '\0') continue;
    if (row->count < 2) { ok = 0; break; }
    int found = -1;
    for (; next < ds->count; next++)
      if (!strcmp(row->fields[1], ds->items[next].name)) {
        found = next++;
        break;
      }
    if (found < 0 || atoi(row->fields[0]) != n) { ok = 0; break; }
    item[n++] = found;
  }
  vfr_csv_free(&csv);
  snprintf(path, sizeof path, "%s/train_embeddings.npy", out_dir);
  if (ok) ok = vfr_npy_read_f32(path, &emb, &rows, &cols, NULL) == VFR_OK && rows == n && n > 0;
  if (!ok) {
    free(item);
    free(emb);
    return 0;
  }
  t->embeddings = emb;
  t->item = item;
  t->n = n;
  t->d = (int)cols;
  t->skipped = ds->count - n;
  t->resumed = 1;
  return 1;
}

int ds_train_cache_write(const char *out_dir, uint64_t fp, const vfr_dataset *ds, const ds_train_set *t,
                             vfr_error *err) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/train_embeddings.npy", out_dir);
  int rc = vfr_npy_write_f32(path, t->embeddings, t->n, t->d, err);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/train_images.csv", out_dir);
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fputs("row,image,label\n", f);
  for (int r = 0; r < t->n; r++) {
    const vfr_dataset_item *it = &ds->items[t->item[r]];
    fprintf(f, "%d,", r);
    vfr_csv_write_field(f, it->name);
    fputc(',', f);
    vfr_csv_write_field(f, ds->class_names[it->label]);
    fputc('\n', f);
  }
  if ((rc = vfr_atomic_commit(f, tmp, path, err))) return rc;
  snprintf(path, sizeof path, "%s/work/train.fingerprint", out_dir);
  f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fprintf(f, "%016llx\n", (unsigned long long)fp);
  return vfr_atomic_commit(f, tmp, path, err);
}

/* Embeds the train images in batches; an image that cannot be read or that the model
 * refuses is skipped (counted), as in the study. */
int ds_train_embed(const vfr_downstream_params *p, const vfr_dataset *ds, ds_train_set *t, vfr_error *err) {
  vfr_model_params mp = vfr_model_default_params();
  if (p->study.threads > 0) mp.threads = p->study.threads;
  vfr_model *model = NULL;
  int rc = vfr_model_load(p->study.model_dir, &mp, &model, err);
  if (rc) return rc;
  vfr_model_info info;
  vfr_model_get_info(model, &info);
  const int d = info.embed_dim, batch = p->study.batch > 0 ? p->study.batch : 32;
  t->d = d;
  t->embeddings = malloc(sizeof(float) * (size_t)ds->count * d);
  t->item = malloc(sizeof(int) * (size_t)ds->count);
  vfr_image *imgs = calloc((size_t)batch, sizeof *imgs);
  int *which = malloc(sizeof(int) * (size_t)batch);
  float *out = malloc(sizeof(float) * (size_t)batch * d);
  if (!t->embeddings || !t->item || !imgs || !which || !out) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", p->train_dir);
  vfr_progress pr = {0};
  pr.total = ds->count;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int start = 0; start < ds->count && !rc; start += batch) {
    int nb = 0;
    for (int i = start; i < ds->count && i < start + batch; i++) {
      vfr_error ierr;
      if (vfr_image_load(ds->items[i].path, NULL, &imgs[nb], &ierr) == VFR_OK) which[nb++] = i;
      else t->skipped++;
    }
    vfr_error merr;
    int st = nb ? vfr_model_embed_images(model, imgs, nb, out, &merr) : VFR_OK;
    if (st == VFR_EINVAL || st == VFR_ELIMIT || st == VFR_EFORMAT) {
      /* Some image of the batch is refused: embed one by one to keep the others. */
      for (int b = 0; b < nb && !rc; b++) {
        int one = vfr_model_embed_images(model, &imgs[b], 1, out + (size_t)b * d, &merr);
        if (one == VFR_EINVAL || one == VFR_ELIMIT || one == VFR_EFORMAT) which[b] = -1;
        else if (one) rc = vfr_fail(err, one, "%s", merr.message);
      }
    } else if (st) {
      rc = vfr_fail(err, st, "%s", merr.message);
    }
    for (int b = 0; b < nb; b++) {
      if (!rc && which[b] >= 0) {
        memcpy(t->embeddings + (size_t)t->n * d, out + (size_t)b * d, sizeof(float) * (size_t)d);
        t->item[t->n++] = which[b];
      } else if (!rc) {
        t->skipped++;
      }
      vfr_image_free(&imgs[b]);
    }
    pr.done = start + batch < ds->count ? start + batch : ds->count;
    pr.skipped = t->skipped;
    pr.current = ds->items[pr.done - 1].name;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pr.elapsed_s = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
    pr.rate = pr.elapsed_s > 0 ? pr.done / pr.elapsed_s : 0;
    pr.eta_s = pr.rate > 0 ? (pr.total - pr.done) / pr.rate : -1;
    if (!rc && p->train_progress && p->train_progress(p->train_progress_user, &pr))
      rc = vfr_fail(err, VFR_ECANCELED, "%s: cancelled after %d of %d train images", p->train_dir,
                    pr.done, pr.total);
  }
  free(imgs);
  free(which);
  free(out);
  vfr_model_free(model);
  if (!rc && t->n == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no train image could be used", p->train_dir);
  return rc;
}

void ds_train_free(ds_train_set *t) {
  free(t->embeddings);
  free(t->item);
  memset(t, 0, sizeof *t);
}
