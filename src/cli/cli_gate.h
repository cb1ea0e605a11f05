/* The robustness gate (`eval` and `compare` --max-dr OP=X,...): exit status 3 when some op's
 * mean DR is over its budget (SPEC section 8). */
#ifndef VFR_CLI_GATE_H
#define VFR_CLI_GATE_H

#include "cli/cli.h"
#include "vfrobust/compare.h"

enum { CLI_GATE_FAILED = 3, CLI_GATE_MAX = 64, CLI_GATE_NAME = 64 };

typedef struct cli_budget {
  char op[CLI_GATE_NAME]; /* a catalog op name, e.g. "jpeg" */
  double max;             /* its budget of mean DR, in [0, 1] */
} cli_budget;

typedef struct cli_gate {
  int n;
  cli_budget b[CLI_GATE_MAX];
} cli_gate;

/* Parses "jpeg=0.1,gaussian_blur=0.2": catalog ops, each once, budgets in [0, 1]. Returns
 * CLI_OK, or prints an error line naming the bad item and returns CLI_USAGE. */
int cli_gate_parse(const char *command, const char *text, cli_gate *g);

/* Before a study runs: every budgeted op is one of the op domains of LIST, otherwise an error
 * line and CLI_USAGE. A LIST that does not parse is left to the run to report. */
int cli_gate_check_ops(const char *command, const cli_gate *g, const char *ops);

/* After: every budgeted op's mean DR in every model of c is within budget. Prints a line per
 * (model, op) over budget and a closing error line naming the ops, and returns
 * CLI_GATE_FAILED; CLI_OK (with a line saying so) when all pass; CLI_USAGE when a budgeted op
 * is not in c. */
int cli_gate_check(const char *command, const cli_gate *g, const vfr_compare *c);

#endif
