/* libFuzzer target: the safetensors header validator and tensor reads.
 *
 * The input is a whole file, opened in memory. Beyond "no crash, no sanitizer report",
 * it asserts the reader's promises: an error is one line naming the file; an opened file
 * only hands out tensors that lie inside the data buffer, whose size matches their shape,
 * that can be found by name and read back as float32. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vfr_safetensors *st = NULL;
  vfr_error err;
  int rc = vfr_safetensors_open_memory(data, size, "fuzz.safetensors", &st, &err);
  if (rc != VFR_OK) {
    if (st || strncmp(err.message, "fuzz.safetensors: ", 18) != 0 || strchr(err.message, '\n'))
      abort();
    return 0;
  }
  uint64_t header = 0;
  for (int i = 7; i >= 0; i--) header = (header << 8) | data[i];
  const uint8_t *begin = data + 8 + header, *end = data + size;
  for (int i = 0; i < vfr_safetensors_count(st); i++) {
    const vfr_tensor_info *t = vfr_safetensors_at(st, i);
    const uint8_t *p = t->data;
    size_t width = t->dtype == VFR_DTYPE_F32 ? 4 : 2;
    if (p < begin || p > end || t->nbytes > (size_t)(end - p) ||
        t->nbytes != (size_t)t->numel * width || vfr_safetensors_find(st, t->name) != t)
      abort();
    const float *values;
    float *owned;
    if (vfr_safetensors_get_f32(st, t->name, t->ndim, t->shape, &values, &owned, &err) != VFR_OK)
      abort();
    volatile float sink = 0;
    for (int64_t k = 0; k < t->numel; k += 97) sink += values[k];
    (void)sink;
    free(owned);
  }
  vfr_safetensors_close(st);
  return 0;
}
