/* Atomic output files and CSV fields (see files.h). */
#include <errno.h>
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

void vfr_csv_write_field(FILE *f, const char *s) {
  if (!s) s = "";
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}
