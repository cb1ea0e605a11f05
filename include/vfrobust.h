/* vfrobust — robustness of vision foundation models to common image perturbations.
 *
 * The public C API. Conventions used everywhere:
 *   - Every fallible call returns an int status: 0 (VFR_OK) on success, a vfr_status
 *     code otherwise, and fills the caller's vfr_error (may be NULL) with a one-line
 *     message that names the file or argument at fault.
 *   - The library never prints, never exits and keeps no global mutable state;
 *     distinct objects may be used from distinct threads.
 *   - Structs are plain data; objects with hidden state are opaque handles with
 *     load/free pairs; parameters come from a default_params() call, then adjusted.
 */
#ifndef VFROBUST_H
#define VFROBUST_H

#include "vfrobust/error.h"
#include "vfrobust/image.h"
#include "vfrobust/perturb.h"
#include "vfrobust/model.h"
#include "vfrobust/npy.h"
#include "vfrobust/dataset.h"
#include "vfrobust/study.h"
#include "vfrobust/perturb_set.h"
#include "vfrobust/report.h"
#include "vfrobust/compare.h"
#include "vfrobust/tokenizer.h"
#include "vfrobust/metrics.h"
#include "vfrobust/downstream.h"
#include "vfrobust/downstream_run.h"
#include "vfrobust/depth.h"
#include "vfrobust/tokens.h"
#include "vfrobust/finetune.h"
#include "vfrobust/classify.h"

#endif
