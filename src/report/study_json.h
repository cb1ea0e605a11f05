/* Reading a study folder's JSON outputs (summary.json, downstream.json) for the report
 * writers and compare. */
#ifndef VFR_REPORT_STUDY_JSON_H
#define VFR_REPORT_STUDY_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "vfrobust/error.h"

/* Loads DIR/NAME as a JSON object (the caller json_decref's it). *rc is VFR_OK on success,
 * else the failure also set in err; a file that is not there is a failure only when
 * `required` (then NULL with *rc VFR_OK when it is optional and absent). */
json_t *vfr_study_json_load(const char *dir, const char *name, int required, vfr_error *err, int *rc);

/* The number of levels each op of summary.json used (its per_op "levels" arrays: an op
 * with a discrete domain, such as the ImageNet-C severities 1..5, has at most one level per
 * value, whatever --levels asked for), as text in buf: "5" when every op used the same
 * count, "5 to 10" otherwise, followed by " (--levels M; a discrete domain has at most one
 * level per value)" when some op's count differs from the M the study asked for. A summary without per_op levels gives its "levels". */
void vfr_study_levels_text(json_t *summary, char *buf, size_t size);

/* The number of levels of one per_op entry (the size of its "levels" array). */
int vfr_study_op_level_count(json_t *op);

#endif
