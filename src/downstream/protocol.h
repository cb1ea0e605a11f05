/* A downstream protocol: what turns embeddings into predictions. Every protocol is one
 * implementation of this small interface, so that the pipelines (run.c for classification,
 * depth_run.c for depth) never depend on how a protocol predicts:
 *
 *   fit:     from the training data into an opaque state
 *   predict: out (n) for x (n, d): a class index for a classifier, a value for a regressor
 *   free:    releases the state
 *
 * A classifier's training data are labelled embeddings (its class names are borrowed from
 * the caller); the zero-shot classifier fits from the class names alone. */
#ifndef VFR_DOWNSTREAM_PROTOCOL_H
#define VFR_DOWNSTREAM_PROTOCOL_H

#include "vfrobust/downstream_run.h"
#include "vfrobust/error.h"

typedef struct ds_fit_data {
  const vfr_downstream_params *params; /* the run's settings (probe, k-NN, templates, model) */
  float *x;                 /* (n, d) raw train embeddings; the fit may modify or keep them */
  const int *labels;        /* (n) in [0, class_count) */
  int n, d;
  int class_count;
  const char *const *class_names; /* (class_count) */
} ds_fit_data;

typedef struct ds_protocol {
  const char *name;
  int needs_train; /* 0: fits from the class names alone */
  /* *state receives the fitted protocol; *d_out the embedding width predict expects. */
  int (*fit)(ds_fit_data *data, void **state, int *d_out, vfr_error *err);
  /* x (n, d) raw embeddings, which predict may modify (normalise in place). */
  int (*predict)(const void *state, float *x, int n, int d, int *out, vfr_error *err);
  void (*free)(void *state);
} ds_protocol;

/* The classification protocol of id; NULL when unknown. */
const ds_protocol *ds_classifier_protocol(vfr_protocol id);

#endif
