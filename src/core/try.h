/* VFR_TRY(expr): evaluate a call returning a vfr_status and return its code from the
 * enclosing function unless it is VFR_OK (the error, already filled in, travels up). */
#ifndef VFR_CORE_TRY_H
#define VFR_CORE_TRY_H

#include "vfrobust/error.h"

#define VFR_TRY(expr)              \
  do {                             \
    int rc_ = (expr);              \
    if (rc_ != VFR_OK) return rc_; \
  } while (0)

#endif
