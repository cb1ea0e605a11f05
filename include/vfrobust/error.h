/* Errors as values: a status code plus a one-line message. */
#ifndef VFROBUST_ERROR_H
#define VFROBUST_ERROR_H

#include "vfrobust/api.h"

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
  VFR_EINTERNAL = 7,    /* an invariant broke: a bug in vfrobust */
  VFR_ECANCELED = 8     /* a progress callback returned non-zero (see vfr_progress_fn) */
} vfr_status;

#define VFR_ERROR_MESSAGE_MAX 512

typedef struct vfr_error {
  vfr_status code;                     /* VFR_OK or the failure */
  char message[VFR_ERROR_MESSAGE_MAX]; /* "FILE: what is wrong", no trailing newline */
} vfr_error;

/* Sets *err (if not NULL) to code and a printf-style message, control characters replaced
 * by '?' so that it stays one line; returns code so that
 * callers can write `return vfr_fail(err, VFR_EIO, "%s: cannot open", path);`. */
VFR_API int vfr_fail(vfr_error *err, vfr_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears *err to VFR_OK and an empty message. */
VFR_API void vfr_error_clear(vfr_error *err);

/* A short name for a status code ("invalid argument", "I/O error", ...). */
VFR_API const char *vfr_status_name(vfr_status code);

/* The library's version string, e.g. "0.1.0". */
VFR_API const char *vfr_version(void);

/* Releases a buffer the library allocated and handed to the caller (NULL is ignored):
 * the encoders' *buf (vfr_jpeg_encode, vfr_png_encode, vfr_webp_encode), the *specs of
 * vfr_spec_list_parse, the *data of vfr_npy_read_f32 and the Markdown text of
 * vfr_report_markdown and vfr_compare_markdown. Structs the library fills (vfr_image,
 * vfr_meb_result, vfr_dataset, ...) have their own *_free function instead. Callers that
 * do not share the library's C runtime (a binding, another allocator) must use this rather
 * than their own free(). */
VFR_API void vfr_free(void *buffer);

#ifdef __cplusplus
}
#endif
#endif
