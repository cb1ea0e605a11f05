/* One image's study results in a file of its own, written atomically.
 *
 * A study is resumable because every finished image leaves exactly one complete file
 * `work/img-<key>.bin` (written to a temporary name, flushed with fsync, then renamed):
 * after a kill at any moment, a file is either absent or whole. `<key>` is a hash of the
 * image's name (its path relative to the dataset root), so adding or removing other images
 * never moves a result. The file carries the image's name and identity (file size and
 * modification time in nanoseconds), a fingerprint of the study settings and a CRC32 of its
 * contents: a resumed run reuses a result only for the same, unchanged image computed with
 * the same settings, and recomputes any file that does not check out.
 *
 * Layout (little-endian):
 *   u32 magic "VFRR", u32 version 2, u64 fingerprint,
 *   u32 name length, name bytes, u64 file size, i64 mtime (ns since the epoch),
 *   i32 status, u32 message length, message bytes,
 *   u32 rows, u32 dim, float32 embeddings (rows, dim),
 *   u32 crc32 of everything before it. */
#ifndef VFR_STUDY_RESULT_FILE_H
#define VFR_STUDY_RESULT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"

/* Which file an image result belongs to: its bytes are taken to be unchanged while its
 * size and modification time (nanoseconds) are. */
typedef struct vfr_image_identity {
  uint64_t size;     /* UINT64_MAX when the file could not be examined */
  int64_t mtime_ns;
} vfr_image_identity;

typedef struct vfr_image_result {
  char *name;         /* the image's name (relative to the dataset root); owned */
  vfr_image_identity id;
  int status;         /* 0: embedded; otherwise the vfr_status that made the image be skipped */
  char *message;      /* why it was skipped ("" when status is 0); owned */
  uint32_t rows;      /* number of embeddings: 1 clean + the perturbed levels of every op */
  uint32_t dim;       /* embedding width */
  float *embeddings;  /* (rows, dim), owned */
} vfr_image_result;

/* The identity of the file at path now (size UINT64_MAX when it cannot be examined). */
vfr_image_identity vfr_image_identity_of(const char *path);

/* DIR/img-<key>.bin for the image called name. */
void vfr_result_path(char *out, size_t size, const char *dir, const char *name);

/* Writes `r` to its file in DIR atomically. */
int vfr_result_write(const char *dir, uint64_t fingerprint, const vfr_image_result *r, vfr_error *err);

/* Reads the result of image `name` with identity `id` from DIR. Returns VFR_OK and fills *r;
 * VFR_EIO when absent; VFR_EFORMAT when damaged, written with other settings or for another
 * state of the image (the caller recomputes). */
int vfr_result_read(const char *dir, uint64_t fingerprint, const char *name, vfr_image_identity id,
                    vfr_image_result *r, vfr_error *err);

void vfr_result_free(vfr_image_result *r);

/* FNV-1a 64-bit hash, chained: a fingerprint of the settings of a study. */
uint64_t vfr_fingerprint(uint64_t h, const void *data, size_t len);
#define VFR_FINGERPRINT_INIT 14695981039346656037ULL

/* Chains into h the bytes of DIR/config.json and the size and modification time of
 * DIR/model.safetensors: results computed with another model never pass as current. */
uint64_t study_model_fingerprint(uint64_t h, const char *model_dir);

#endif
