/* Error values: formatting and names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vfrobust/error.h"

#ifndef VFR_VERSION
#define VFR_VERSION "unknown"
#endif

int vfr_fail(vfr_error *err, vfr_status code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* Messages are one line whatever text they quote (file names, specs, JSON keys). */
    for (char *c = err->message; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    err->code = code;
  }
  return code;
}

void vfr_error_clear(vfr_error *err) {
  if (err) {
    err->code = VFR_OK;
    err->message[0] = '\0';
  }
}

const char *vfr_status_name(vfr_status code) {
  switch (code) {
    case VFR_OK: return "ok";
    case VFR_EINVAL: return "invalid argument";
    case VFR_EIO: return "I/O error";
    case VFR_EFORMAT: return "malformed input";
    case VFR_ENOMEM: return "out of memory";
    case VFR_ELIMIT: return "limit exceeded";
    case VFR_EUNSUPPORTED: return "unsupported";
    case VFR_EINTERNAL: return "internal error";
    case VFR_ECANCELED: return "cancelled";
    default: return "unknown error";
  }
}

const char *vfr_version(void) { return VFR_VERSION; }

void vfr_free(void *buffer) { free(buffer); }
