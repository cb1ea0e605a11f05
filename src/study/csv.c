/* CSV reading (see csv.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"

#define CSV_MAX_BYTES (1LL << 30)
#define CSV_MAX_FIELDS 4096

typedef struct field_buf {
  char *s;
  size_t n, cap;
} field_buf;

static int buf_put(field_buf *b, char c) {
  if (b->n + 1 >= b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    char *s = realloc(b->s, cap);
    if (!s) return -1;
    b->s = s;
    b->cap = cap;
  }
  b->s[b->n++] = c;
  return 0;
}

static int row_push(vfr_csv_row *row, int *cap, field_buf *b) {
  if (row->count == *cap) {
    int c = *cap ? 2 * *cap : 8;
    char **f = realloc(row->fields, (size_t)c * sizeof *f);
    if (!f) return -1;
    row->fields = f;
    *cap = c;
  }
  char *s = malloc(b->n + 1);
  if (!s) return -1;
  if (b->n) memcpy(s, b->s, b->n);
  s[b->n] = '\0';
  row->fields[row->count++] = s;
  b->n = 0;
  return 0;
}

void vfr_csv_free(vfr_csv *csv) {
  if (!csv) return;
  for (int r = 0; r < csv->row_count; r++) {
    for (int i = 0; i < csv->rows[r].count; i++) free(csv->rows[r].fields[i]);
    free(csv->rows[r].fields);
  }
  free(csv->rows);
  memset(csv, 0, sizeof *csv);
}

int vfr_csv_parse(const char *buf, size_t len, const char *name, vfr_csv *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  field_buf fb = {0};
  vfr_csv_row row = {0};
  int row_cap = 0, rows_cap = 0, line = 1, rc = 0;
  size_t i = 0;
  row.line = 1;
  while (i < len && !rc) {
    /* one field */
    if (buf[i] == '"') {
      int quote_line = line;
      i++;
      for (;;) {
        if (i >= len) { rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d: unterminated quoted field", name, quote_line); break; }
        char c = buf[i++];
        if (c == '"') {
          if (i < len && buf[i] == '"') { if (buf_put(&fb, '"')) rc = VFR_ENOMEM; i++; continue; }
          break;
        }
        if (c == '\n') line++;
        if (buf_put(&fb, c)) { rc = VFR_ENOMEM; break; }
      }
      if (rc) break;
      if (i < len && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r') {
        rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d: text after a closing quote", name, line);
        break;
      }
    } else {
      while (i < len && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r') {
        if (buf[i] == '\0') { rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d: NUL byte", name, line); break; }
        if (buf_put(&fb, buf[i++])) { rc = VFR_ENOMEM; break; }
      }
      if (rc) break;
    }
    if (row.count >= CSV_MAX_FIELDS) { rc = vfr_fail(err, VFR_ELIMIT, "%s: line %d: more than %d fields", name, row.line, CSV_MAX_FIELDS); break; }
    if (row_push(&row, &row_cap, &fb)) { rc = VFR_ENOMEM; break; }
    if (i < len && buf[i] == ',') {
      i++;
      if (i < len) continue;
      /* a comma that ends the input leaves one more, empty, field */
      if (row_push(&row, &row_cap, &fb)) { rc = VFR_ENOMEM; break; }
    }
    /* end of row */
    if (i < len && buf[i] == '\r') i++;
    if (i < len && buf[i] == '\n') i++;
    if (out->row_count == rows_cap) {
      int c = rows_cap ? 2 * rows_cap : 64;
      vfr_csv_row *r = realloc(out->rows, (size_t)c * sizeof *r);
      if (!r) { rc = VFR_ENOMEM; break; }
      out->rows = r;
      rows_cap = c;
    }
    out->rows[out->row_count++] = row;
    memset(&row, 0, sizeof row);
    row_cap = 0;
    row.line = ++line;
  }
  if (rc == VFR_ENOMEM) vfr_fail(err, VFR_ENOMEM, "%s: out of memory", name);
  for (int k = 0; k < row.count; k++) free(row.fields[k]);
  free(row.fields);
  free(fb.s);
  if (rc) vfr_csv_free(out);
  return rc;
}

int vfr_csv_read(const char *path, vfr_csv *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n == cap) {
      if ((long long)cap >= CSV_MAX_BYTES) { rc = vfr_fail(err, VFR_ELIMIT, "%s: larger than 1 GiB", path); break; }
      size_t c = cap ? 2 * cap : 65536;
      char *b = realloc(buf, c);
      if (!b) { rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path); break; }
      buf = b;
      cap = c;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) rc = vfr_fail(err, VFR_EIO, "%s: read error", path);
      break;
    }
  }
  fclose(f);
  if (!rc) rc = vfr_csv_parse(buf ? buf : "", n, path, out, err);
  free(buf);
  return rc;
}
