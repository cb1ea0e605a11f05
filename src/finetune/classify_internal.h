/* Internals of supervised training shared by supervised_run.c and classify_output.c. */
#ifndef VFR_FINETUNE_CLASSIFY_INTERNAL_H
#define VFR_FINETUNE_CLASSIFY_INTERNAL_H

#include "finetune/train_internal.h"
#include "vfrobust/classify.h"

/* out_dir/train.json: settings, per-epoch mean loss and training accuracy (from history,
 * (total, FT_HISTORY_FIELDS) of loss, accuracy, images, lr), the test result
 * (NULL: no test set). */
int cl_write_report(const vfr_classify_params *o, const vfr_dataset *data, const double *history,
                    long total, long steps_per_epoch, double train_seconds,
                    const vfr_classify_result *test,
                    vfr_error *err);

#endif
