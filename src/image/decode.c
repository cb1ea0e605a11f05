/* Format sniffing, decode dispatch, and reading/writing image files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "image/image_internal.h"

/* Files larger than this are refused before reading (no image we accept needs more). */
#define IMAGE_FILE_MAX_BYTES (1LL << 31)

vfr_decode_params vfr_decode_default_params(void) {
  vfr_decode_params p = {.max_pixels = VFR_DEFAULT_MAX_PIXELS};
  return p;
}

vfr_format vfr_sniff_format(const void *buf, size_t len) {
  const uint8_t *b = buf;
  if (!b) return VFR_FORMAT_UNKNOWN;
  if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return VFR_FORMAT_JPEG;
  if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return VFR_FORMAT_PNG;
  if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
    return VFR_FORMAT_WEBP;
  return VFR_FORMAT_UNKNOWN;
}

int vfr_image_decode(const void *buf, size_t len, const char *name,
                     const vfr_decode_params *params, vfr_image *out, vfr_error *err) {
  if (!name) name = "image";
  memset(out, 0, sizeof *out);
  long long max_pixels = params ? params->max_pixels : VFR_DEFAULT_MAX_PIXELS;
  if (max_pixels <= 0)
    return vfr_fail(err, VFR_EINVAL, "%s: max_pixels %lld is not positive", name, max_pixels);
  if (!buf || len == 0) return vfr_fail(err, VFR_EFORMAT, "%s: empty image data", name);
  switch (vfr_sniff_format(buf, len)) {
    case VFR_FORMAT_JPEG: return vfr_jpeg_decode(buf, len, name, max_pixels, out, err);
    case VFR_FORMAT_PNG: return vfr_png_decode(buf, len, name, max_pixels, out, err);
    case VFR_FORMAT_WEBP: return vfr_webp_decode(buf, len, name, max_pixels, out, err);
    default: break;
  }
  return vfr_fail(err, VFR_EFORMAT, "%s: not a JPEG, PNG or WebP image", name);
}

int vfr_image_load(const char *path, const vfr_decode_params *params, vfr_image *out,
                   vfr_error *err) {
  memset(out, 0, sizeof *out);
  /* Never block on a named pipe or a device: examine first, open without blocking. */
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return vfr_fail(err, VFR_EFORMAT, "%s: not a regular file", path);
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    return vfr_fail(err, VFR_EFORMAT, "%s: not a regular file", path);
  }
  FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (!f) {
    int e = errno;
    if (fd >= 0) close(fd);
    return vfr_fail(err, VFR_EIO, "%s: cannot open: %s", path, strerror(e));
  }
  long long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return vfr_fail(err, VFR_EIO, "%s: cannot read", path);
  }
  if (size > IMAGE_FILE_MAX_BYTES) {
    fclose(f);
    return vfr_fail(err, VFR_ELIMIT, "%s: file of %lld bytes is too large", path, size);
  }
  uint8_t *buf = malloc(size ? (size_t)size : 1);
  if (!buf) {
    fclose(f);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory reading %lld bytes", path, size);
  }
  size_t got = fread(buf, 1, (size_t)size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != (size_t)size) {
    free(buf);
    return vfr_fail(err, VFR_EIO, "%s: read error", path);
  }
  int rc = vfr_image_decode(buf, got, path, params, out, err);
  free(buf);
  return rc;
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n > e && strcasecmp(path + n - e, ext) == 0;
}

int vfr_image_save(const vfr_image *img, const char *path, int quality, vfr_error *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc;
  if (has_ext(path, ".png"))
    rc = vfr_png_encode(img, &buf, &len, err);
  else if (has_ext(path, ".jpg") || has_ext(path, ".jpeg"))
    rc = vfr_jpeg_encode(img, quality, &buf, &len, err);
  else if (has_ext(path, ".webp"))
    rc = vfr_webp_encode(img, (float)quality, &buf, &len, err);
  else
    return vfr_fail(err, VFR_EINVAL, "%s: unknown image extension (want .png, .jpg, .jpeg, .webp)",
                    path);
  if (rc) {
    /* name the file rather than the encoder */
    char msg[VFR_ERROR_MESSAGE_MAX];
    if (err) {
      snprintf(msg, sizeof msg, "%s", err->message);
      vfr_fail(err, rc, "%s: %s", path, msg);
    }
    return rc;
  }
  char tmp[4200];
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) {
    free(buf);
    return err ? err->code : VFR_EIO;
  }
  size_t put = fwrite(buf, 1, len, f);
  free(buf);
  if (put != len) {
    vfr_atomic_abort(f, tmp);
    return vfr_fail(err, VFR_EIO, "%s: write error", path);
  }
  return vfr_atomic_commit(f, tmp, path, err);
}
