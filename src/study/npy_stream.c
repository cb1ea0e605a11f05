/* Streaming .npy writer (see npy_stream.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "study/npy_stream.h"

/* magic(6) + version(2) + header length(2) + header text: 128 bytes in all, room for
 * any 4-D shape; NumPy requires the total to be a multiple of 64 and the text to end in \n. */
#define NPY_HEADER_BYTES 128

static int write_header(npy_stream *s) {
  char dict[NPY_HEADER_BYTES];
  char shape[96];
  int n = 0;
  shape[0] = '\0';
  for (int i = 0; i < s->ndim; i++) /* "(a,)" for one dimension, "(a, b)" for more */
    n += snprintf(shape + n, sizeof shape - (size_t)n, "%" PRId64 "%s", s->shape[i],
                  s->ndim == 1 ? "," : (i < s->ndim - 1 ? ", " : ""));
  int text = NPY_HEADER_BYTES - 10;
  int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
  if (len < 0 || len >= text) return -1;
  memset(dict + len, ' ', (size_t)(text - len - 1));
  dict[text - 1] = '\n';
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(text & 0xff), (unsigned char)(text >> 8)};
  if (fseek(s->f, 0, SEEK_SET)) return -1;
  if (fwrite(pre, 1, 10, s->f) != 10 || fwrite(dict, 1, (size_t)text, s->f) != (size_t)text) return -1;
  return fseek(s->f, 0, SEEK_END);
}

int npy_stream_open(npy_stream *s, const char *path, int ndim, const int64_t *inner, vfr_error *err) {
  memset(s, 0, sizeof *s);
  if (ndim < 1 || ndim > 4) return vfr_fail(err, VFR_EINVAL, "%s: %d dimensions not supported", path, ndim);
  s->ndim = ndim;
  s->row_floats = 1;
  for (int i = 1; i < ndim; i++) {
    s->shape[i] = inner[i - 1];
    s->row_floats *= inner[i - 1];
  }
  snprintf(s->path, sizeof s->path, "%s", path);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  s->f = fopen(tmp, "w+b");
  if (!s->f) return vfr_fail(err, VFR_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
  if (write_header(s)) {
    npy_stream_abort(s);
    return vfr_fail(err, VFR_EIO, "%s: cannot write", tmp);
  }
  return VFR_OK;
}

int npy_stream_append(npy_stream *s, const float *data, int64_t rows, vfr_error *err) {
  size_t n = (size_t)(rows * s->row_floats);
  if (n && fwrite(data, sizeof(float), n, s->f) != n)
    return vfr_fail(err, VFR_EIO, "%s.tmp: cannot write (%s)", s->path, strerror(errno));
  s->shape[0] += rows;
  return VFR_OK;
}

int npy_stream_close(npy_stream *s, vfr_error *err) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
  int bad = write_header(s) || fflush(s->f) || fsync(fileno(s->f));
  bad |= fclose(s->f) != 0;
  s->f = NULL;
  if (bad || rename(tmp, s->path)) {
    unlink(tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot write (%s)", s->path, strerror(errno));
  }
  return VFR_OK;
}

void npy_stream_abort(npy_stream *s) {
  if (s->f) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    fclose(s->f);
    unlink(tmp);
    s->f = NULL;
  }
}
