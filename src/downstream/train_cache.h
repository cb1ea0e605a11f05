/* The train set's embeddings for the classification protocols, cached in
 * OUT/train_embeddings.npy with OUT/train_images.csv (row,image,label) and
 * OUT/work/train.fingerprint; a resumed run reuses them while the model files, the train
 * list and its labels are unchanged. */
#ifndef VFR_DOWNSTREAM_TRAIN_CACHE_H
#define VFR_DOWNSTREAM_TRAIN_CACHE_H

#include <stdint.h>

#include "vfrobust/dataset.h"
#include "vfrobust/downstream_run.h"

typedef struct ds_train_set {
  float *embeddings; /* (n, d) raw */
  int *item;         /* (n) index into the train dataset of each row */
  int n, d;
  int skipped, resumed;
} ds_train_set;

/* Everything that makes cached train embeddings valid: the model files and the list. */
uint64_t ds_train_fingerprint(const char *model_dir, const vfr_dataset *ds);
/* Reads the cache when its fingerprint matches; returns 1 when it was used. */
int ds_train_cache_read(const char *out_dir, uint64_t fp, const vfr_dataset *ds, ds_train_set *t);
int ds_train_cache_write(const char *out_dir, uint64_t fp, const vfr_dataset *ds, const ds_train_set *t,
                         vfr_error *err);
/* Embeds the train images in batches; an image that cannot be read or that the model
 * refuses is skipped (counted), as in the study. */
int ds_train_embed(const vfr_downstream_params *p, const vfr_dataset *ds, ds_train_set *t, vfr_error *err);
void ds_train_free(ds_train_set *t);

#endif
