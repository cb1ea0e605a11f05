/* Files written whole or not at all, and CSV fields: what every output writer shares. */
#ifndef VFR_CORE_FILES_H
#define VFR_CORE_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "vfrobust/error.h"

/* Opens PATH.tmp for writing (its name goes to tmp, of tmp_size bytes); NULL on failure. */
FILE *vfr_atomic_open(const char *path, char *tmp, size_t tmp_size, vfr_error *err);
/* Flushes, fsyncs and closes f, then renames tmp over path; on any failure removes tmp.
 * A reader never sees a half-written path, even after a kill. */
int vfr_atomic_commit(FILE *f, const char *tmp, const char *path, vfr_error *err);
/* Closes f and removes tmp (an output abandoned on an error). */
void vfr_atomic_abort(FILE *f, const char *tmp);

/* Writes the JSON value root to path (json_dumpf with flags) through the three above. */
struct json_t;
int vfr_atomic_write_json(const char *path, const struct json_t *root, size_t flags, vfr_error *err);

/* Writes s as one CSV field, always quoted (quotes doubled; RFC 4180), its bytes as they
 * are: names and labels read back whole whatever they hold. Numbers are written bare. */
void vfr_csv_write_field(FILE *f, const char *s);

#endif
