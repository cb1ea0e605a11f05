/* Errors as values: a status code plus a one-line message. */
#ifndef VFROBUST_ERROR_H
#define VFROBUST_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vfr_status {
  VFR_OK = 0,
  VFR_EINVAL = 1,       /* bad argument or specification */
  VFR_EIO = 2,          /* cannot open, read or write a file */
  VFR_EFORMAT = 3,      /* malformed or corrupt content (image, checkpoint, JSON, CSV) */
  VFR_ENOMEM = 4,       /* allocation failed */
  VFR_ELIMIT = 5,       /* input exceeds a safety limit (pixels, dimensions, sizes) */
  VFR_EUNSUPPORTED = 6, /* well-formed but not supported (a dtype, a model type) */
  VFR_EINTERNAL = 7     /* an invariant broke: a bug in vfrobust */
} vfr_status;

#define VFR_ERROR_MESSAGE_MAX 512

typedef struct vfr_error {
  int code;                            /* a vfr_status */
  char message[VFR_ERROR_MESSAGE_MAX]; /* "FILE: what is wrong", no trailing newline */
} vfr_error;

/* Sets *err (if not NULL) to code and a printf-style message, control characters replaced
 * by '?' so that it stays one line; returns code so that
 * callers can write `return vfr_fail(err, VFR_EIO, "%s: cannot open", path);`. */
int vfr_fail(vfr_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears *err to VFR_OK and an empty message. */
void vfr_error_clear(vfr_error *err);

/* A short name for a status code ("invalid argument", "I/O error", ...). */
const char *vfr_status_name(int code);

/* The library's version string, e.g. "0.1.0". */
const char *vfr_version(void);

#ifdef __cplusplus
}
#endif
#endif
