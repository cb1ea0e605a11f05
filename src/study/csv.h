/* A small RFC 4180 CSV reader: comma-separated, fields optionally in double quotes
 * (a quote inside a quoted field is doubled), CRLF or LF line ends, UTF-8 passed through. */
#ifndef VFR_STUDY_CSV_H
#define VFR_STUDY_CSV_H

#include <stddef.h>

#include "vfrobust/error.h"

typedef struct vfr_csv_row {
  int count;      /* number of fields */
  char **fields;  /* (count) NUL-terminated strings */
  int line;       /* 1-based line number where the row starts */
} vfr_csv_row;

typedef struct vfr_csv {
  int row_count;
  vfr_csv_row *rows; /* (row_count), the header included */
} vfr_csv;

/* Refuses files over 1 GiB and rows over 4096 fields. Errors name the file and line. */
int vfr_csv_read(const char *path, vfr_csv *out, vfr_error *err);
/* The same on a buffer; `name` is used in messages. */
int vfr_csv_parse(const char *buf, size_t len, const char *name, vfr_csv *out, vfr_error *err);
void vfr_csv_free(vfr_csv *csv);

#endif
