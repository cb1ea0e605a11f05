/* libFuzzer target: the CSV reader behind dataset lists.
 *
 * Beyond "no crash, no sanitizer report": an error is one line naming the file; a parsed
 * table has rows with at least one field each, NUL-terminated fields and increasing line
 * numbers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vfr_csv csv;
  vfr_error err;
  int rc = vfr_csv_parse((const char *)data, size, "fuzz.csv", &csv, &err);
  if (rc != VFR_OK) {
    if (strncmp(err.message, "fuzz.csv: ", 10) != 0 || strchr(err.message, '\n') || csv.rows) abort();
    return 0;
  }
  int last_line = 0;
  for (int r = 0; r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count < 1 || row->line <= last_line) abort();
    last_line = row->line;
    for (int i = 0; i < row->count; i++)
      if (strlen(row->fields[i]) > size) abort();
  }
  vfr_csv_free(&csv);
  return 0;
}
