/* One loader for a study folder's JSON files, with the one-line errors users see. */
#include "report/study_json.h"

#include <stdio.h>
#include <unistd.h>

json_t *vfr_study_json_load(const char *dir, const char *name, int required, vfr_error *err, int *rc) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  *rc = VFR_OK;
  if (!required && access(path, F_OK) != 0) return NULL;
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) {
    if (access(path, F_OK) != 0)
      *rc = vfr_fail(err, VFR_EIO, "%s: not found (not a study folder: run `vfrobust eval` first)", path);
    else
      *rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  } else if (!json_is_object(j)) {
    json_decref(j);
    j = NULL;
    *rc = vfr_fail(err, VFR_EFORMAT, "%s: not a JSON object", path);
  }
  return j;
}

int vfr_study_op_level_count(json_t *op) {
  json_t *lv = json_object_get(op, "levels");
  return json_is_array(lv) ? (int)json_array_size(lv) : -1;
}

void vfr_study_levels_text(json_t *summary, char *buf, size_t size) {
  json_t *asked = json_object_get(summary, "levels");
  int want = json_is_integer(asked) ? (int)json_integer_value(asked) : -1;
  int lo = -1, hi = -1;
  size_t i;
  json_t *op;
  json_array_foreach(json_object_get(summary, "per_op"), i, op) {
    int m = vfr_study_op_level_count(op);
    if (m < 0) continue;
    if (lo < 0 || m < lo) lo = m;
    if (m > hi) hi = m;
  }
  if (lo < 0) {
    snprintf(buf, size, "%d", want);
    return;
  }
  int n = lo == hi ? snprintf(buf, size, "%d", lo) : snprintf(buf, size, "%d to %d", lo, hi);
  if ((lo != want || hi != want) && want > 0 && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - (size_t)n,
             " (--levels %d; a discrete domain has at most one level per value)", want);
}
