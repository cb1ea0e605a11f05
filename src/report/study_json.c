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
