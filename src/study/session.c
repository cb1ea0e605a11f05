/* A run's hold on its output folder (see vfr_study_begin in include/vfrobust/study.h):
 * the lock, the removal of another run's outputs, and of results no longer wanted. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study/lock.h"
#include "study/result_file.h"
#include "study/study_internal.h"

/* Every file a command writes at the top of an output folder. */
static const char *const top_outputs[] = {"per_image.csv", "curves.csv", "summary.json", "samples.png",
                                          "report.html", "downstream.json", "predictions.csv", "depth.json",
                                          "depth_per_image.csv", "depth_strips.png", NULL};

static int remove_file(const char *path, int *count, vfr_error *err) {
  if (unlink(path) == 0) {
    if (count) (*count)++;
    return VFR_OK;
  }
  if (errno == ENOENT) return VFR_OK;
  return vfr_fail(err, VFR_EIO, "%s: cannot remove an earlier run's output (%s)", path, strerror(errno));
}

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* Removes the files of DIR/sub whose names end in one of suffixes (the folder stays). */
static int clear_folder(const char *dir, const char *sub, const char *const *suffixes, int *count, vfr_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT || errno == ENOTDIR ? VFR_OK : vfr_fail(err, VFR_EIO, "%s: %s", path, strerror(errno));
  struct dirent *e;
  int rc = VFR_OK;
  while (!rc && (e = readdir(d))) {
    int ours = 0;
    for (int k = 0; suffixes[k] && !ours; k++) ours = has_suffix(e->d_name, suffixes[k]);
    if (!ours || e->d_name[0] == '.') continue;
    char file[8400];
    snprintf(file, sizeof file, "%s/%s", path, e->d_name);
    rc = remove_file(file, count, err);
  }
  closedir(d);
  return rc;
}

static int cmp_key(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Removes from work/ the results of images the study no longer has (all of them without
 * --resume) and any temporary file a killed run left; counts the removed results. */
static int prune_work(const study_context *ctx, int keep, int *removed, vfr_error *err) {
  int n = ctx->dataset.count;
  uint64_t *keys = malloc(sizeof *keys * (size_t)(n + 1));
  if (!keys) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", ctx->work_dir);
  for (int i = 0; i < n; i++) {
    const char *name = ctx->dataset.items[i].name;
    keys[i] = vfr_fingerprint(VFR_FINGERPRINT_INIT, name, strlen(name));
  }
  qsort(keys, (size_t)n, sizeof *keys, cmp_key);
  DIR *d = opendir(ctx->work_dir);
  if (!d) {
    free(keys);
    return vfr_fail(err, VFR_EIO, "%s: %s", ctx->work_dir, strerror(errno));
  }
  struct dirent *e;
  int rc = VFR_OK;
  while (!rc && (e = readdir(d))) {
    if (strncmp(e->d_name, "img-", 4)) continue;
    int tmp = has_suffix(e->d_name, ".tmp");
    if (!tmp && !has_suffix(e->d_name, ".bin")) continue;
    char *end;
    unsigned long long key = strtoull(e->d_name + 4, &end, 16);
    int wanted = !tmp && keep && strlen(e->d_name) == 24 && !strcmp(end, ".bin") &&
                 bsearch(&key, keys, (size_t)n, sizeof *keys, cmp_key);
    if (wanted) continue;
    char file[8400];
    snprintf(file, sizeof file, "%s/%s", ctx->work_dir, e->d_name);
    rc = remove_file(file, NULL, err);
    if (!rc && !tmp) (*removed)++;
  }
  closedir(d);
  free(keys);
  return rc;
}

int vfr_study_begin(const vfr_eval_params *p, vfr_study_session *s, vfr_error *err) {
  memset(s, 0, sizeof *s);
  s->lock_fd = -1;
  study_context ctx;
  int rc = study_context_open(p, &ctx, err);
  if (rc) return rc;
  rc = vfr_folder_lock(p->out_dir, &s->lock_fd, err);
  for (int k = 0; top_outputs[k] && !rc; k++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", p->out_dir, top_outputs[k]);
    rc = remove_file(path, &s->cleared, err);
    if (!rc) {
      snprintf(path, sizeof path, "%s/%s.tmp", p->out_dir, top_outputs[k]);
      rc = remove_file(path, NULL, err);
    }
  }
  static const char *const emb_files[] = {".npy", ".csv", ".tmp", NULL};
  static const char *const fig_files[] = {".svg", ".tmp", NULL};
  if (!rc) rc = clear_folder(p->out_dir, "embeddings", emb_files, &s->cleared, err);
  if (!rc) rc = clear_folder(p->out_dir, "figures", fig_files, &s->cleared, err);
  if (!rc) rc = prune_work(&ctx, p->resume, &s->removed, err);
  if (!rc) {
    s->ignored = ctx.dataset.ignored;
    s->ignored_count = ctx.dataset.ignored_count;
    ctx.dataset.ignored = NULL;
    ctx.dataset.ignored_count = 0;
  }
  study_context_close(&ctx);
  if (rc) vfr_study_end(s);
  return rc;
}

void vfr_study_end(vfr_study_session *s) {
  if (!s) return;
  vfr_folder_unlock(s->lock_fd);
  s->lock_fd = -1;
  for (int i = 0; i < s->ignored_count; i++) free(s->ignored[i]);
  free(s->ignored);
  s->ignored = NULL;
  s->ignored_count = 0;
}
