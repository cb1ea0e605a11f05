/* The settings a training run's result depends on, kept beside its checkpoint as
 * OUT/run_settings.json, so that --resume continues only the run it belongs to: a resume
 * whose settings differ is refused, naming the flag ("--lr 0.0001 differs from the run's
 * 0.001"). */
#ifndef VFR_FINETUNE_RUN_SETTINGS_H
#define VFR_FINETUNE_RUN_SETTINGS_H

#include "vfrobust/dataset.h"
#include "vfrobust/error.h"

typedef struct ft_setting {
  const char *flag; /* "--lr" */
  const char *text; /* a text value, or NULL for the number */
  double num;
} ft_setting;

#define FT_NUM(flag, v) {flag, NULL, (double)(v)}
#define FT_TEXT(flag, s) {flag, s, 0} /* s never NULL */

/* With resuming set (a checkpoint is being continued), compares s (n) with the stored
 * settings and refuses the first that differs; otherwise (a new run) stores them. A
 * checkpoint without stored settings is continued as before. */
int ft_settings_check(const char *out_dir, const ft_setting *s, int n, int resuming, vfr_error *err);

/* A path as it resolves now (realpath; the path itself when it does not exist), into out. */
void ft_settings_path(const char *path, char *out, size_t size);

/* A hex fingerprint of the images of ds: names, labels, sizes, modification times. */
void ft_settings_data(const vfr_dataset *ds, char out[17]);

#endif
