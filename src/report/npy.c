/* NumPy .npy float32 matrices: the v1.0 writer and a reader for v1.0-3.0 headers.
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE in v1.0, uint32 LE in
 * v2.0/3.0), then an ASCII Python dict literal padded with spaces and ended by '\n' so
 * that the data starts at a multiple of 64 bytes, then the raw little-endian data. */
#include "core/files.h"
#include "vfrobust/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NPY_ALIGN = 64, NPY_MAX_HEADER = 1 << 20 };

static int write_all(FILE *f, const void *buf, size_t n) { return fwrite(buf, 1, n, f) == n; }

int vfr_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols,
                      vfr_error *err) {
  const int64_t shape[2] = {rows, cols};
  return vfr_npy_write_f32_nd(path, data, 2, shape, err);
}

int vfr_npy_write_f32_nd(const char *path, const float *data, int ndim, const int64_t *shape,
                         vfr_error *err) {
  if (ndim < 1 || ndim > 4) return vfr_fail(err, VFR_EINVAL, "%s: %d dimensions (1 to 4 are written)", path, ndim);
  int64_t count = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0) return vfr_fail(err, VFR_EINVAL, "%s: bad array shape (dimension %d is %" PRId64 ")", path, k,
                                      shape[k]);
    count *= shape[k];
  }
  if (count > 0 && !data) return vfr_fail(err, VFR_EINVAL, "%s: no data", path);
  char dims[120];
  size_t w = 0;
  for (int k = 0; k < ndim; k++)
    w += (size_t)snprintf(dims + w, sizeof dims - w, k ? " %" PRId64 "," : "%" PRId64 ",", shape[k]);
  if (ndim > 1) dims[w - 1] = '\0'; /* (n,) keeps its comma, (a, b) has none at the end */
  char dict[200];
  int dn = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
  size_t total = 10 + (size_t)dn + 1;
  size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
  size_t hlen = padded - 10;
  char header[256];
  memcpy(header, "\x93NUMPY\x01\x00", 8);
  header[8] = (char)(hlen & 0xff);
  header[9] = (char)(hlen >> 8);
  memcpy(header + 10, dict, (size_t)dn);
  memset(header + 10 + dn, ' ', hlen - (size_t)dn - 1);
  header[padded - 1] = '\n';

  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  /* a per-process temporary name (two writers of one path never share it), committed by the
   * shared atomic helper (flush, fsync, rename) */
  snprintf(tmp, plen + 16, "%s.%ld.tmp", path, (long)getpid() % 1000000);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    int e = errno;
    free(tmp);
    return vfr_fail(err, VFR_EIO, "%s: cannot write: %s", path, strerror(e));
  }
  int ok = write_all(f, header, padded);
  /* float32 is little-endian IEEE on every platform we build for */
  if (ok && count > 0) ok = write_all(f, data, (size_t)count * sizeof(float));
  int rc;
  if (!ok) {
    int e = errno;
    vfr_atomic_abort(f, tmp);
    rc = vfr_fail(err, VFR_EIO, "%s: cannot write: %s", path, strerror(e));
  } else {
    rc = vfr_atomic_commit(f, tmp, path, err);
  }
  free(tmp);
  return rc;
}

/* Finds `'key':` in the header dict and returns the text after the colon, or NULL. */
static const char *dict_value(const char *dict, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(dict, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

static int parse_header(const char *dict, const char *path, int64_t *rows, int64_t *cols,
                        vfr_error *err) {
  const char *d = dict_value(dict, "descr");
  if (!d || (strncmp(d, "'<f4'", 5) != 0 && strncmp(d, "'float32'", 9) != 0))
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: not a little-endian float32 array", path);
  const char *fo = dict_value(dict, "fortran_order");
  if (!fo || strncmp(fo, "False", 5) != 0)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: Fortran-ordered arrays are not supported", path);
  const char *s = dict_value(dict, "shape");
  if (!s || *s != '(') return vfr_fail(err, VFR_EFORMAT, "%s: malformed .npy header", path);
  s++;
  int64_t dims[2];
  int nd = 0;
  for (;;) {
    while (*s == ' ') s++;
    if (*s == ')') break;
    if (nd == 2) return vfr_fail(err, VFR_EUNSUPPORTED, "%s: arrays of more than 2 dimensions "
                                 "are not supported", path);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || errno)
      return vfr_fail(err, VFR_EFORMAT, "%s: malformed .npy shape", path);
    dims[nd++] = v;
    s = end;
    while (*s == ' ') s++;
    if (*s == ',') s++;
    else if (*s != ')') return vfr_fail(err, VFR_EFORMAT, "%s: malformed .npy shape", path);
  }
  if (nd == 0) return vfr_fail(err, VFR_EUNSUPPORTED, "%s: scalar arrays are not supported", path);
  *rows = dims[0];
  *cols = nd == 2 ? dims[1] : 1;
  if (*cols != 0 && *rows > INT64_MAX / 4 / *cols)
    return vfr_fail(err, VFR_ELIMIT, "%s: array too large", path);
  return VFR_OK;
}

int vfr_npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols,
                     vfr_error *err) {
  *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char pre[12];
  int rc = VFR_OK;
  char *dict = NULL;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: not a .npy file", path);
    goto done;
  }
  size_t hlen;
  if (pre[6] == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated .npy header", path);
      goto done;
    }
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    rc = vfr_fail(err, VFR_EUNSUPPORTED, "%s: .npy format version %d is not supported", path,
                  pre[6]);
    goto done;
  }
  if (hlen > NPY_MAX_HEADER) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: .npy header too long", path);
    goto done;
  }
  dict = malloc(hlen + 1);
  if (!dict) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if (fread(dict, 1, hlen, f) != hlen) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated .npy header", path);
    goto done;
  }
  dict[hlen] = '\0';
  if ((rc = parse_header(dict, path, rows, cols, err)) != VFR_OK) goto done;
  size_t n = (size_t)(*rows * *cols);
  *data = malloc(n ? n * sizeof(float) : 1);
  if (!*data) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory for %zu floats", path, n);
    goto done;
  }
  if (fread(*data, sizeof(float), n, f) != n) {
    free(*data);
    *data = NULL;
    rc = vfr_fail(err, VFR_EFORMAT, "%s: truncated .npy data", path);
  }
done:
  free(dict);
  fclose(f);
  return rc;
}
