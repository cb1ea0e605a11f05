/* The report's depth section, from depth.json and depth_strips.png (docs/depth.md). */
#ifndef VFR_REPORT_DEPTH_SECTION_H
#define VFR_REPORT_DEPTH_SECTION_H

#include "report/svg.h"
#include "vfrobust/error.h"

/* Appends the section when DIR/depth.json exists (nothing otherwise). */
int report_section_depth(strbuf *b, const char *dir, vfr_error *err);

#endif
