/* safetensors files: mmap'd, header fully validated before any tensor is touched.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {str: str}}, then the data buffer; offsets are relative to it. */
#ifndef VFR_SAFETENSORS_H
#define VFR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"

typedef enum vfr_dtype { VFR_DTYPE_F32 = 0, VFR_DTYPE_F16, VFR_DTYPE_BF16 } vfr_dtype;

#define VFR_TENSOR_MAX_DIMS 8

typedef struct vfr_tensor_info {
  const char *name;                    /* owned by the file handle */
  vfr_dtype dtype;
  int ndim;
  int64_t shape[VFR_TENSOR_MAX_DIMS];
  int64_t numel;
  const void *data;                    /* points into the mapping */
  size_t nbytes;
} vfr_tensor_info;

typedef struct vfr_safetensors vfr_safetensors; /* opaque */

/* Maps `path` read-only and validates the header: length within the file, JSON object,
 * known dtypes, shapes non-negative with products that fit, offsets inside the data
 * buffer, begin <= end, size == numel * dtype size, no two tensors overlapping.
 * Errors name the file and the tensor. */
int vfr_safetensors_open(const char *path, vfr_safetensors **out, vfr_error *err);
/* The same validation on a file already in memory (buf is not copied and must outlive
 * the handle); `name` stands for the file in error messages. */
int vfr_safetensors_open_memory(const void *buf, size_t size, const char *name,
                                vfr_safetensors **out, vfr_error *err);
void vfr_safetensors_close(vfr_safetensors *st);

const char *vfr_safetensors_path(const vfr_safetensors *st);
int vfr_safetensors_count(const vfr_safetensors *st);
const vfr_tensor_info *vfr_safetensors_at(const vfr_safetensors *st, int index);
/* NULL when absent. */
const vfr_tensor_info *vfr_safetensors_find(const vfr_safetensors *st, const char *name);
/* count/at/find list the F32/F16/BF16 tensors (at() in file order). Tensors of other valid
 * safetensors dtypes (F64, I64, U8, BOOL, ...) pass the same checks at open but cannot be
 * read: get_f32 answers VFR_EUNSUPPORTED naming them. The dtype string of any tensor in the
 * header ("F32", "I64", ...), NULL when absent: */
const char *vfr_safetensors_dtype_name(const vfr_safetensors *st, const char *name);
/* A "__metadata__" value, NULL when absent. */
const char *vfr_safetensors_metadata(const vfr_safetensors *st, const char *key);

/* Tensor `name` as float32 with exactly the given shape (error naming file, tensor,
 * expected and actual shape otherwise). For F32 data aligned to 4 bytes, *data points
 * into the mapping and *owned is NULL; otherwise the values are converted into a new
 * buffer returned in both *data and *owned (caller frees *owned). */
int vfr_safetensors_get_f32(const vfr_safetensors *st, const char *name, int ndim,
                            const int64_t *shape, const float **data, float **owned,
                            vfr_error *err);

/* 1 when [data, data + nbytes) lies inside st's file (an F32 tensor read in place), else 0
 * (a converted copy). */
int vfr_safetensors_holds(const vfr_safetensors *st, const void *data, size_t nbytes);
/* Drops the resident pages wholly inside [data, data + nbytes) when that range lies in st's
 * own mapping (a caller's buffer is left alone): the mapping stays valid (read-only,
 * private), a later access faults the pages back in from the file. */
void vfr_safetensors_release(const vfr_safetensors *st, const void *data, size_t nbytes);

/* Writing (fine-tuned checkpoints): tensors are written as F32 in the given order. */
typedef struct vfr_tensor_out {
  const char *name;
  int ndim;
  int64_t shape[VFR_TENSOR_MAX_DIMS];
  const float *data;
} vfr_tensor_out;

/* Writes atomically (temp file + rename). metadata_json may be NULL or a JSON object
 * of string values, e.g. {"format":"pt"}. */
int vfr_safetensors_write(const char *path, const vfr_tensor_out *tensors, int count,
                          const char *metadata_json, vfr_error *err);

/* Half-precision conversions (round-to-nearest-even for the float->half direction). */
float vfr_f16_to_f32(uint16_t h);
float vfr_bf16_to_f32(uint16_t h);
uint16_t vfr_f32_to_f16(float f);
uint16_t vfr_f32_to_bf16(float f);

#endif
