/* The fine-tuning checkpoint file (see checkpoint.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/files.h"
#include "finetune/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char MAGIC[8] = {'V', 'F', 'R', 'F', 'T', 'C', 'K', '1'};
enum { HEADER_WORDS = 9 };

static void header_words(const ft_checkpoint *c, uint64_t *w) {
  w[0] = c->n_params;
  w[1] = c->n_train;
  w[2] = c->first_layer;
  w[3] = c->seed;
  w[4] = c->batch;
  w[5] = c->accum;
  w[6] = c->epochs;
  w[7] = c->n_images;
  w[8] = c->step;
}

static const char *const FIELD[HEADER_WORDS] = {"parameter count", "trained parameter count",
                                                "trained blocks", "seed", "batch", "accum",
                                                "epochs", "image count", "step"};

/* Writes n bytes; adds them to *total. 0 or -1. */
static int put(FILE *f, const void *p, size_t n, uint64_t *total) {
  *total += n;
  return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

int ft_checkpoint_save(const char *path, const ft_checkpoint *c, const float *params,
                       const float *m, const float *v, const double *history, vfr_error *err) {
  size_t len = strlen(path) + 16;
  char *tmp = malloc(len);
  if (!tmp) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  FILE *f = vfr_atomic_open(path, tmp, len, err);
  if (!f) {
    free(tmp);
    return err ? err->code : VFR_EIO;
  }
  uint64_t w[HEADER_WORDS], total = 0;
  header_words(c, w);
  int bad = put(f, MAGIC, sizeof MAGIC, &total) || put(f, w, sizeof w, &total) ||
            put(f, params, c->n_params * sizeof *params, &total) ||
            put(f, m, c->n_train * sizeof *m, &total) ||
            put(f, v, c->n_train * sizeof *v, &total) ||
            put(f, history, c->step * FT_HISTORY_FIELDS * sizeof *history, &total);
  uint64_t n = total;
  bad = bad || put(f, &n, sizeof n, &total);
  int rc;
  if (bad) {
    vfr_atomic_abort(f, tmp);
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write", path);
  } else {
    rc = vfr_atomic_commit(f, tmp, path, err);
  }
  free(tmp);
  return rc;
}

static int get(FILE *f, void *p, size_t n, uint64_t *total) {
  *total += n;
  return n == 0 || fread(p, 1, n, f) == n ? 0 : -1;
}

int ft_checkpoint_load(const char *path, ft_checkpoint *expect, float *params, float *m,
                       float *v, double *history, uint64_t max_steps, vfr_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  char magic[8];
  uint64_t w[HEADER_WORDS], want[HEADER_WORDS], total = 0, n = 0;
  int rc = VFR_OK;
  if (get(f, magic, sizeof magic, &total) || memcmp(magic, MAGIC, sizeof MAGIC) != 0 ||
      get(f, w, sizeof w, &total)) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: not a vfrobust fine-tuning checkpoint", path);
    goto done;
  }
  header_words(expect, want);
  for (int i = 0; i < HEADER_WORDS - 1; i++) {
    if (w[i] != want[i]) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: made with another %s (%llu, now %llu); use the same "
                    "settings or another output folder", path, FIELD[i],
                    (unsigned long long)w[i], (unsigned long long)want[i]);
      goto done;
    }
  }
  if (w[8] > max_steps) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: step %llu is past the run's %llu steps", path,
                  (unsigned long long)w[8], (unsigned long long)max_steps);
    goto done;
  }
  expect->step = w[8];
  if (get(f, params, expect->n_params * sizeof *params, &total) ||
      get(f, m, expect->n_train * sizeof *m, &total) ||
      get(f, v, expect->n_train * sizeof *v, &total) ||
      get(f, history, expect->step * FT_HISTORY_FIELDS * sizeof *history, &total)) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated", path);
    goto done;
  }
  uint64_t expected_total = total;
  if (get(f, &n, sizeof n, &total) || n != expected_total || fgetc(f) != EOF)
    rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated or corrupt (length check failed)", path);
done:
  fclose(f);
  return rc;
}
