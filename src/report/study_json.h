/* Reading a study folder's JSON outputs (summary.json, downstream.json) for the report
 * writers and compare. */
#ifndef VFR_REPORT_STUDY_JSON_H
#define VFR_REPORT_STUDY_JSON_H

#include <jansson.h>

#include "vfrobust/error.h"

/* Loads DIR/NAME as a JSON object (the caller json_decref's it). *rc is VFR_OK on success,
 * else the failure also set in err; a file that is not there is a failure only when
 * `required` (then NULL with *rc VFR_OK when it is optional and absent). */
json_t *vfr_study_json_load(const char *dir, const char *name, int required, vfr_error *err, int *rc);

#endif
