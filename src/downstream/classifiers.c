/* The classification protocols as implementations of ds_protocol (protocol.h): the linear
 * probe and DINO's k-NN on the train embeddings, CLIP zero-shot from the class names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "downstream/protocol.h"
#include "downstream/zeroshot.h"

static void normalize_rows(float *x, int n, int d) {
  for (int i = 0; i < n; i++) {
    float *r = x + (size_t)i * d;
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)r[j] * r[j];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (int j = 0; j < d; j++) r[j] = (float)(r[j] * inv);
  }
}

/* ---- linear probe: on L2-normalised embeddings, as the robustness metrics see them ---- */

static int linear_fit(ds_fit_data *in, void **state, int *d_out, vfr_error *err) {
  vfr_linear_probe *probe = calloc(1, sizeof *probe);
  if (!probe) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  normalize_rows(in->x, in->n, in->d);
  int rc = vfr_linear_probe_fit(in->x, in->labels, in->n, in->d, in->class_count, &in->params->probe, probe, err);
  if (rc) {
    free(probe);
    return rc;
  }
  *state = probe;
  *d_out = in->d;
  return VFR_OK;
}

static int linear_predict(const void *state, float *x, int n, int d, int *out, vfr_error *err) {
  normalize_rows(x, n, d);
  return vfr_linear_probe_predict(state, x, n, d, out, err);
}

static void linear_free(void *state) {
  if (state) vfr_linear_probe_free(state);
  free(state);
}

/* ---- k-NN: keeps the train embeddings ---------------------------------------------- */

typedef struct knn_state {
  float *train;  /* (n, d) */
  int *labels;   /* (n) */
  int n, class_count;
  vfr_knn_params knn;
} knn_state;

static int knn_fit(ds_fit_data *in, void **state, int *d_out, vfr_error *err) {
  knn_state *s = calloc(1, sizeof *s);
  if (s) s->train = malloc(sizeof(float) * (size_t)in->n * in->d);
  if (s) s->labels = malloc(sizeof(int) * (size_t)in->n);
  if (!s || !s->train || !s->labels) {
    if (s) free(s->train);
    free(s);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }
  memcpy(s->train, in->x, sizeof(float) * (size_t)in->n * in->d);
  memcpy(s->labels, in->labels, sizeof(int) * (size_t)in->n);
  s->n = in->n;
  s->class_count = in->class_count;
  s->knn = in->params->knn;
  *state = s;
  *d_out = in->d;
  return VFR_OK;
}

static int knn_predict(const void *state, float *x, int n, int d, int *out, vfr_error *err) {
  const knn_state *s = state;
  return vfr_knn_classify(s->train, s->labels, s->n, d, s->class_count, x, n, &s->knn, out, NULL, err);
}

static void knn_free(void *state) {
  knn_state *s = state;
  if (!s) return;
  free(s->train);
  free(s->labels);
  free(s);
}

/* ---- zero-shot: text embeddings of the class names ------------------------------------ */

typedef struct zeroshot_state {
  float *text; /* (class_count, d) unit rows */
  int class_count;
} zeroshot_state;

static int zeroshot_fit(ds_fit_data *in, void **state, int *d_out, vfr_error *err) {
  const vfr_downstream_params *p = in->params;
  zeroshot_state *s = calloc(1, sizeof *s);
  if (!s) return vfr_fail(err, VFR_ENOMEM, "out of memory");
  char **templates = NULL;
  int count = 0;
  const char **text = NULL; /* the class names as the prompts say them (--classes imagenet) */
  int rc = vfr_zeroshot_templates_read(p->templates_file, &templates, &count, err);
  if (!rc)
    rc = vfr_zeroshot_class_names(p->classes, (char *const *)in->class_names, in->class_count, &text, err);
  if (!rc)
    rc = vfr_zeroshot_class_embeddings(p->study.model_dir, text, in->class_count, templates, count,
                                       p->study.threads, &s->text, d_out, err);
  free(text);
  vfr_zeroshot_templates_free(templates, count);
  if (rc) {
    free(s);
    return rc;
  }
  s->class_count = in->class_count;
  *state = s;
  return VFR_OK;
}

static int zeroshot_predict(const void *state, float *x, int n, int d, int *out, vfr_error *err) {
  const zeroshot_state *s = state;
  return vfr_zeroshot_classify(s->text, s->class_count, d, x, n, out, err);
}

static void zeroshot_free(void *state) {
  zeroshot_state *s = state;
  if (s) free(s->text);
  free(s);
}

static const ds_protocol LINEAR = {"linear", 1, linear_fit, linear_predict, linear_free};
static const ds_protocol KNN = {"knn", 1, knn_fit, knn_predict, knn_free};
static const ds_protocol ZEROSHOT = {"zeroshot", 0, zeroshot_fit, zeroshot_predict, zeroshot_free};

const ds_protocol *ds_classifier_protocol(vfr_protocol id) {
  switch (id) {
    case VFR_PROTOCOL_LINEAR: return &LINEAR;
    case VFR_PROTOCOL_KNN: return &KNN;
    case VFR_PROTOCOL_ZEROSHOT: return &ZEROSHOT;
    default: return NULL;
  }
}
