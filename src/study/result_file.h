/* One image's study results in a file of its own, written atomically.
 *
 * A study is resumable because every finished image leaves exactly one complete file
 * `work/img-<index>.bin` (written to a temporary name, flushed with fsync, then renamed):
 * after a kill at any moment, a file is either absent or whole. The file carries a
 * fingerprint of the study settings and a CRC32 of its contents, so a resumed run never
 * mixes results of different settings and recomputes any file that does not check out.
 *
 * Layout (little-endian):
 *   u32 magic "VFRR", u32 version 1, u64 fingerprint, u32 image index, i32 status,
 *   u32 message length, message bytes,
 *   u32 rows, u32 dim, float32 embeddings (rows, dim),
 *   u32 crc32 of everything before it. */
#ifndef VFR_STUDY_RESULT_FILE_H
#define VFR_STUDY_RESULT_FILE_H

#include <stdint.h>

#include "vfrobust/error.h"

typedef struct vfr_image_result {
  uint32_t index;     /* the image's index in the (unsharded) dataset */
  int status;         /* 0: embedded; otherwise the vfr_status that made the image be skipped */
  char *message;      /* why it was skipped ("" when status is 0); owned */
  uint32_t rows;      /* number of embeddings: 1 clean + the perturbed levels of every op */
  uint32_t dim;       /* embedding width */
  float *embeddings;  /* (rows, dim), owned */
} vfr_image_result;

/* Writes `r` to DIR/img-<index>.bin atomically. */
int vfr_result_write(const char *dir, uint64_t fingerprint, const vfr_image_result *r, vfr_error *err);

/* Reads DIR/img-<index>.bin. Returns VFR_OK and fills *r; VFR_EIO when absent;
 * VFR_EFORMAT when damaged or written with other settings (the caller recomputes). */
int vfr_result_read(const char *dir, uint64_t fingerprint, uint32_t index, vfr_image_result *r,
                    vfr_error *err);

void vfr_result_free(vfr_image_result *r);

/* FNV-1a 64-bit hash, chained: a fingerprint of the settings of a study. */
uint64_t vfr_fingerprint(uint64_t h, const void *data, size_t len);
#define VFR_FINGERPRINT_INIT 14695981039346656037ULL

#endif
