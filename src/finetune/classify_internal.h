/* Internals of supervised training shared by classify_train.c, classify_eval.c and
 * classify_output.c. */
#ifndef VFR_FINETUNE_CLASSIFY_INTERNAL_H
#define VFR_FINETUNE_CLASSIFY_INTERNAL_H

#include "finetune/train_internal.h"
#include "vfrobust/classify.h"

typedef struct cl_result {
  int present; /* a test set was evaluated */
  int n, correct, skipped;
  double accuracy;
} cl_result;

/* Preprocessed views of ds's images idx[0..n) into pix (n,3,H,W) with t's model: augmented
 * with step s's draws (shift up to pad, flip) when s >= 0, as they are when s < 0. */
int cl_prepare(trainer *t, const vfr_dataset *ds, const int *idx, int n, long s, int pad,
               int flip, uint64_t seed, float *pix, vfr_error *err);

/* out_dir/train.json: settings, per-epoch mean loss and training accuracy (from history,
 * (total, FT_HISTORY_FIELDS) of loss, accuracy, images, lr), the test result. */
int cl_write_report(const vfr_classify_params *o, const vfr_dataset *data, const double *history,
                    long total, long steps_per_epoch, double train_seconds, const cl_result *test,
                    vfr_error *err);

#endif
