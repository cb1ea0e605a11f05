/* Streaming NumPy .npy (v1.0, little-endian float32, C order) writer for arrays whose
 * first dimension is known only at the end: rows are appended, and closing rewrites the
 * fixed-size header with the final shape. Written to PATH.tmp and renamed on close. */
#ifndef VFR_STUDY_NPY_STREAM_H
#define VFR_STUDY_NPY_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include "vfrobust/error.h"

typedef struct npy_stream {
  FILE *f;
  char path[4096];
  int ndim;              /* 1..4 */
  int64_t shape[4];      /* shape[0] counts appended rows */
  int64_t row_floats;    /* product of shape[1..] */
} npy_stream;

/* inner is (ndim - 1) trailing dimensions. */
int npy_stream_open(npy_stream *s, const char *path, int ndim, const int64_t *inner, vfr_error *err);
/* data is (rows, inner...) */
int npy_stream_append(npy_stream *s, const float *data, int64_t rows, vfr_error *err);
int npy_stream_close(npy_stream *s, vfr_error *err);
/* Drops a stream without producing the file. */
void npy_stream_abort(npy_stream *s);

#endif
