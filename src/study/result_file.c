/* Per-image result files (see result_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "study/result_file.h"

#define RESULT_MAGIC 0x52524656u /* "VFRR" */
#define RESULT_VERSION 2u
#define RESULT_MAX_NAME 4096u
#define RESULT_MAX_MESSAGE 4096u
#define RESULT_MAX_FLOATS (1u << 30)

uint64_t vfr_fingerprint(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

typedef struct wbuf {
  unsigned char *p;
  size_t n, cap;
} wbuf;

static int put(wbuf *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
  return 0;
}

vfr_image_identity vfr_image_identity_of(const char *path) {
  vfr_image_identity id = {UINT64_MAX, 0};
  struct stat st;
  if (stat(path, &st) == 0) {
    id.size = (uint64_t)st.st_size;
    id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + (int64_t)st.st_mtim.tv_nsec;
  }
  return id;
}

static void result_path(char *out, size_t size, const char *dir, const char *name, const char *suffix) {
  uint64_t key = vfr_fingerprint(VFR_FINGERPRINT_INIT, name, strlen(name));
  snprintf(out, size, "%s/img-%016llx.bin%s", dir, (unsigned long long)key, suffix);
}

void vfr_result_path(char *out, size_t size, const char *dir, const char *name) {
  result_path(out, size, dir, name, "");
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int vfr_result_write(const char *dir, uint64_t fingerprint, const vfr_image_result *r, vfr_error *err) {
  uint32_t magic = RESULT_MAGIC, version = RESULT_VERSION;
  const char *msg = r->message ? r->message : "";
  uint32_t msg_len = (uint32_t)strnlen(msg, RESULT_MAX_MESSAGE);
  const char *name = r->name ? r->name : "";
  size_t name_n = strlen(name);
  if (name_n > RESULT_MAX_NAME) return vfr_fail(err, VFR_ELIMIT, "%s: image name too long (%zu bytes)", dir, name_n);
  uint32_t name_len = (uint32_t)name_n;
  size_t floats = (size_t)r->rows * r->dim;
  if (floats > RESULT_MAX_FLOATS) return vfr_fail(err, VFR_ELIMIT, "%s: result of image %s too large", dir, name);
  wbuf b = {0};
  int bad = put(&b, &magic, 4) || put(&b, &version, 4) || put(&b, &fingerprint, 8) ||
            put(&b, &name_len, 4) || put(&b, name, name_len) || put(&b, &r->id.size, 8) ||
            put(&b, &r->id.mtime_ns, 8) || put(&b, &r->status, 4) || put(&b, &msg_len, 4) ||
            put(&b, msg, msg_len) || put(&b, &r->rows, 4) || put(&b, &r->dim, 4) ||
            (floats && put(&b, r->embeddings, floats * sizeof(float)));
  uint32_t crc = bad ? 0 : (uint32_t)crc32(0L, b.p, (uInt)b.n);
  if (bad || put(&b, &crc, 4)) {
    free(b.p);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory writing the result of image %s", dir, name);
  }
  char tmp[4096], final[4096];
  result_path(tmp, sizeof tmp, dir, name, ".tmp");
  result_path(final, sizeof final, dir, name, "");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = VFR_OK;
  if (fd < 0) rc = vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  else {
    if (write_all(fd, b.p, b.n) || fsync(fd)) rc = vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", tmp, strerror(errno));
    if (close(fd) && !rc) rc = vfr_fail(err, VFR_EIO, "%s: cannot close (%s)", tmp, strerror(errno));
    if (!rc && rename(tmp, final)) rc = vfr_fail(err, VFR_EIO, "%s: cannot rename (%s)", final, strerror(errno));
    if (rc) unlink(tmp);
  }
  free(b.p);
  return rc;
}

void vfr_result_free(vfr_image_result *r) {
  if (!r) return;
  free(r->name);
  free(r->message);
  free(r->embeddings);
  memset(r, 0, sizeof *r);
}

int vfr_result_read(const char *dir, uint64_t fingerprint, const char *name, vfr_image_identity id,
                    vfr_image_result *r, vfr_error *err) {
  memset(r, 0, sizeof *r);
  char path[4096];
  result_path(path, sizeof path, dir, name, "");
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) || st.st_size < 52 || st.st_size > (off_t)RESULT_MAX_FLOATS * 4 + 16384) {
    fclose(f);
    return vfr_fail(err, VFR_EFORMAT, "%s: damaged result file (size)", path);
  }
  size_t n = (size_t)st.st_size;
  unsigned char *p = malloc(n);
  if (!p) {
    fclose(f);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  size_t got = fread(p, 1, n, f);
  fclose(f);
  int rc = VFR_OK;
  uint32_t magic, version, name_len = 0, msg_len = 0, crc;
  uint64_t fp;
  size_t off = 0;
  memcpy(&crc, p + n - 4, 4);
  if (got != n) rc = vfr_fail(err, VFR_EIO, "%s: short read", path);
  else if (crc != (uint32_t)crc32(0L, p, (uInt)(n - 4))) rc = vfr_fail(err, VFR_EFORMAT, "%s: damaged result file (checksum)", path);
  if (!rc) {
    memcpy(&magic, p, 4);
    memcpy(&version, p + 4, 4);
    memcpy(&fp, p + 8, 8);
    memcpy(&name_len, p + 16, 4);
    if (magic != RESULT_MAGIC) rc = vfr_fail(err, VFR_EFORMAT, "%s: not a result file", path);
    else if (version != RESULT_VERSION) rc = vfr_fail(err, VFR_EFORMAT, "%s: written by another version", path);
    else if (fp != fingerprint) rc = vfr_fail(err, VFR_EFORMAT, "%s: written by a study with other settings", path);
    else if (name_len > RESULT_MAX_NAME || 20 + (size_t)name_len + 24 + 12 > n) rc = vfr_fail(err, VFR_EFORMAT, "%s: damaged result file (name)", path);
  }
  if (!rc) {
    off = 20 + name_len;
    if (name_len != strlen(name) || memcmp(p + 20, name, name_len))
      rc = vfr_fail(err, VFR_EFORMAT, "%s: holds another image", path);
  }
  if (!rc) {
    memcpy(&r->id.size, p + off, 8);
    memcpy(&r->id.mtime_ns, p + off + 8, 8);
    memcpy(&r->status, p + off + 16, 4);
    memcpy(&msg_len, p + off + 20, 4);
    off += 24;
    if (r->id.size != id.size || r->id.mtime_ns != id.mtime_ns)
      rc = vfr_fail(err, VFR_EFORMAT, "%s: %s changed since it was computed", path, name);
    else if (msg_len > RESULT_MAX_MESSAGE || off + (size_t)msg_len + 12 > n) rc = vfr_fail(err, VFR_EFORMAT, "%s: damaged result file (message)", path);
  }
  if (!rc) {
    r->name = strdup(name);
    r->message = malloc(msg_len + 1);
    if (!r->message || !r->name) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
    else {
      memcpy(r->message, p + off, msg_len);
      r->message[msg_len] = '\0';
      off += msg_len;
      memcpy(&r->rows, p + off, 4);
      memcpy(&r->dim, p + off + 4, 4);
      off += 8;
      uint64_t floats = (uint64_t)r->rows * r->dim;
      if (floats > RESULT_MAX_FLOATS || off + floats * 4 + 4 != n) rc = vfr_fail(err, VFR_EFORMAT, "%s: damaged result file (shape)", path);
      else if (floats) {
        r->embeddings = malloc(floats * 4);
        if (!r->embeddings) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
        else memcpy(r->embeddings, p + off, floats * 4);
      }
    }
  }
  free(p);
  if (rc) vfr_result_free(r);
  return rc;
}
