/* The fine-tuning section of a study's report.html. Internal to src/report/. */
#ifndef VFR_REPORT_FINETUNE_SECTION_H
#define VFR_REPORT_FINETUNE_SECTION_H

#include "report/svg.h"
#include "vfrobust/error.h"

/* When model_dir/finetune.json exists (the study's model was written by `vfrobust finetune`),
 * appends <h2>Fine-tuning</h2>: the run's settings, the figure fig-finetune-loss (loss, L1
 * and L2 per step; also dir/figures/finetune-loss.svg) and, when the run evaluated, its mean DR
 * per op before and after, k-NN accuracy and clean cosine. Nothing otherwise. */
int report_section_finetune(strbuf *b, const char *dir, const char *model_dir, vfr_error *err);

#endif
