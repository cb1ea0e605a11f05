/* Shared by the files of src/compare/. */
#ifndef VFR_COMPARE_INTERNAL_H
#define VFR_COMPARE_INTERNAL_H

#include <stddef.h>

#include "vfrobust/compare.h"

enum { COMPARE_DR, COMPARE_RCS, COMPARE_DROP };

/* Model m's value of op i: mean DR, mean R_cs or accuracy drop (which = COMPARE_*). */
double compare_value(const vfr_compare_model *m, int which, int op);
/* The column name of op i: its op name, or "op:domain" when two ops share the name. */
void compare_op_name(const vfr_compare *c, int i, char *buf, size_t size);
/* True when some study has downstream.json. */
int compare_any_downstream(const vfr_compare *c);

#endif
