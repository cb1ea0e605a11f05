/* The depth protocol's pipeline (docs/depth.md), called by vfr_downstream_check and
 * vfr_downstream_run for VFR_PROTOCOL_DEPTH. */
#ifndef VFR_DOWNSTREAM_DEPTH_RUN_H
#define VFR_DOWNSTREAM_DEPTH_RUN_H

#include "vfrobust/downstream_run.h"

int ds_depth_check(const vfr_downstream_params *p, vfr_error *err);
int ds_depth_run(const vfr_downstream_params *p, vfr_downstream_summary *summary, vfr_error *err);

#endif
