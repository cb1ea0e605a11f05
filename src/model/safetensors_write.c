/* Writing safetensors files (fine-tuned checkpoints), F32 only.
 *
 * Layout as the reference implementation writes it: 8-byte little-endian header length,
 * the JSON header padded with spaces to a multiple of 8 bytes (so that the data buffer
 * stays 8-byte aligned), then the tensors back to back in the order given. The file is
 * written to PATH.tmp, flushed to disk, and renamed over PATH, so a reader never sees a
 * half-written checkpoint. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"

/* Builds the header object, checking names, shapes and sizes. */
static int build_header(const char *path, const vfr_tensor_out *tensors, int count,
                        const char *metadata_json, json_t **out, vfr_error *err) {
  *out = NULL;
  json_t *header = json_object();
  if (!header) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  int rc = VFR_OK;
  if (metadata_json) {
    json_error_t jerr;
    json_t *meta = json_loads(metadata_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!meta) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: metadata is not valid JSON (line %d, column %d: %s)",
                    path, jerr.line, jerr.column, jerr.text);
      goto fail;
    }
    if (!json_is_object(meta)) {
      json_decref(meta);
      rc = vfr_fail(err, VFR_EINVAL, "%s: metadata must be a JSON object of strings", path);
      goto fail;
    }
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
      if (!json_is_string(value)) {
        rc = vfr_fail(err, VFR_EINVAL, "%s: metadata value '%s' must be a string", path, key);
        json_decref(meta);
        goto fail;
      }
    }
    json_object_set_new(header, "__metadata__", meta);
  }
  uint64_t offset = 0;
  for (int i = 0; i < count; i++) {
    const vfr_tensor_out *t = &tensors[i];
    if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: tensor %d has no usable name", path, i);
      goto fail;
    }
    if (json_object_get(header, t->name)) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: tensor '%s' appears twice", path, t->name);
      goto fail;
    }
    if (t->ndim < 0 || t->ndim > VFR_TENSOR_MAX_DIMS) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: tensor '%s': %d dimensions", path, t->name, t->ndim);
      goto fail;
    }
    int64_t numel = 1;
    json_t *shape = json_array();
    json_t *entry = json_object();
    json_t *offsets = json_array();
    if (!shape || !entry || !offsets) {
      json_decref(shape), json_decref(entry), json_decref(offsets);
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
      goto fail;
    }
    json_object_set_new(entry, "dtype", json_string("F32"));
    json_object_set_new(entry, "shape", shape);
    json_object_set_new(entry, "data_offsets", offsets);
    if (json_object_set_new(header, t->name, entry)) { /* also rejects invalid UTF-8 */
      rc = vfr_fail(err, VFR_EINVAL, "%s: tensor %d: name is not valid UTF-8", path, i);
      goto fail;
    }
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] < 0 || (t->shape[d] && numel > (INT64_MAX / 4) / t->shape[d])) {
        rc = vfr_fail(err, VFR_EINVAL, "%s: tensor '%s': bad shape[%d] = %lld", path, t->name, d,
                      (long long)t->shape[d]);
        goto fail;
      }
      numel *= t->shape[d];
      json_array_append_new(shape, json_integer(t->shape[d]));
    }
    if (numel > 0 && !t->data) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: tensor '%s' has no data", path, t->name);
      goto fail;
    }
    uint64_t bytes = (uint64_t)numel * 4;
    if (offset > (uint64_t)INT64_MAX - bytes) {
      rc = vfr_fail(err, VFR_ELIMIT, "%s: tensors exceed 64-bit sizes", path);
      goto fail;
    }
    json_array_append_new(offsets, json_integer((json_int_t)offset));
    json_array_append_new(offsets, json_integer((json_int_t)(offset + bytes)));
    offset += bytes;
  }
  *out = header;
  return VFR_OK;
fail:
  json_decref(header);
  return rc;
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : n;
    ssize_t w = write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Makes the rename durable; failure here is not fatal (some file systems refuse). */
static void sync_parent_dir(const char *path) {
  char *copy = strdup(path);
  if (!copy) return;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(copy);
}

int vfr_safetensors_write(const char *path, const vfr_tensor_out *tensors, int count,
                          const char *metadata_json, vfr_error *err) {
  if (!path) return vfr_fail(err, VFR_EINVAL, "vfr_safetensors_write: path is NULL");
  if (count < 0 || (count > 0 && !tensors))
    return vfr_fail(err, VFR_EINVAL, "%s: no tensors given", path);
  json_t *header;
  int rc = build_header(path, tensors, count, metadata_json, &header, err);
  if (rc) return rc;
  char *text = json_dumps(header, JSON_COMPACT);
  json_decref(header);
  if (!text) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the header", path);
  size_t len = strlen(text);
  size_t padded = (len + 7) / 8 * 8;
  char *hbuf = malloc(8 + padded);
  char *tmp = malloc(strlen(path) + 5);
  if (!hbuf || !tmp) {
    free(text), free(hbuf), free(tmp);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the header", path);
  }
  for (int i = 0; i < 8; i++) hbuf[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
  memcpy(hbuf + 8, text, len);
  memset(hbuf + 8 + len, ' ', padded - len);
  free(text);
  sprintf(tmp, "%s.tmp", path);

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
    goto done;
  }
  int ok = write_all(fd, hbuf, 8 + padded) == 0;
  for (int i = 0; ok && i < count; i++) {
    int64_t numel = 1;
    for (int d = 0; d < tensors[i].ndim; d++) numel *= tensors[i].shape[d];
    if (numel > 0) ok = write_all(fd, tensors[i].data, (size_t)numel * sizeof(float)) == 0;
  }
  if (ok) ok = fsync(fd) == 0;
  int write_errno = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    write_errno = errno;
  }
  if (!ok) {
    unlink(tmp);
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", tmp, strerror(write_errno));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    rc = vfr_fail(err, VFR_EIO, "%s: cannot rename %s into place (%s)", path, tmp, strerror(e));
    goto done;
  }
  sync_parent_dir(path);
done:
  free(hbuf);
  free(tmp);
  return rc;
}
