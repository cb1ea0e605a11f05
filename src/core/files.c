/* Atomic output files and CSV fields (see files.h). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/files.h"

FILE *vfr_atomic_open(const char *path, char *tmp, size_t tmp_size, vfr_error *err) {
  if ((size_t)snprintf(tmp, tmp_size, "%s.tmp", path) >= tmp_size) {
    vfr_fail(err, VFR_EINVAL, "%s: path too long", path);
    return NULL;
  }
  FILE *f = fopen(tmp, "w");
  if (!f) vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  return f;
}

int vfr_atomic_commit(FILE *f, const char *tmp, const char *path, vfr_error *err) {
  int bad = ferror(f) | fflush(f) | fsync(fileno(f));
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", path, strerror(e));
  }
  return VFR_OK;
}

void vfr_atomic_abort(FILE *f, const char *tmp) {
  if (f) fclose(f);
  unlink(tmp);
}

int vfr_atomic_write_json(const char *path, const json_t *root, size_t flags, vfr_error *err) {
  size_t len = strlen(path) + 8;
  char *tmp = malloc(len);
  if (!tmp) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  FILE *f = vfr_atomic_open(path, tmp, len, err);
  int rc;
  if (!f) {
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", path, strerror(errno));
  } else if (json_dumpf(root, f, flags) != 0) {
    vfr_atomic_abort(f, tmp);
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write", path);
  } else {
    rc = vfr_atomic_commit(f, tmp, path, err);
  }
  free(tmp);
  return rc;
}

void vfr_csv_write_field(FILE *f, const char *s) {
  if (!s) s = "";
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}
