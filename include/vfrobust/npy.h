/* NumPy .npy files of float32 matrices (format version 1.0 written; 1.0-3.0 read). */
#ifndef VFROBUST_NPY_H
#define VFROBUST_NPY_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes data (rows, cols), row-major, as a little-endian '<f4' C-order array of shape
 * (rows, cols); atomically (a temporary file renamed over path). */
VFR_API int vfr_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols,
                      vfr_error *err);

/* The same for an array of 1 to 4 dimensions: shape (ndim), data in C order. */
VFR_API int vfr_npy_write_f32_nd(const char *path, const float *data, int ndim, const int64_t *shape,
                         vfr_error *err);

/* Reads a '<f4' C-order array of 1 or 2 dimensions ((n,) reads as (n, 1)). *data is
 * allocated (release it with vfr_free). Anything else (other dtype, Fortran order, truncated data,
 * malformed header) is an error naming the file. */
VFR_API int vfr_npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols,
                     vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
