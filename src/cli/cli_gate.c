/* The robustness gate of `eval` and `compare`: --max-dr OP=X,... and its check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_gate.h"
#include "vfrobust/perturb.h"

int cli_gate_parse(const char *command, const char *text, cli_gate *g) {
  memset(g, 0, sizeof *g);
  const char *s = text ? text : "";
  if (!*s) {
    cli_errorf(command, "--max-dr: expected OP=X[,OP=X...], e.g. jpeg=0.1,gaussian_blur=0.2");
    return CLI_USAGE;
  }
  while (*s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    char item[CLI_GATE_NAME + 64];
    snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item - 1 ? len : sizeof item - 1), s);
    if (!eq || eq == s || (size_t)(eq - s) >= CLI_GATE_NAME) {
      cli_errorf(command, "--max-dr: '%s' is not OP=X (e.g. jpeg=0.1)", item);
      return CLI_USAGE;
    }
    if (g->n == CLI_GATE_MAX) {
      cli_errorf(command, "--max-dr: more than %d budgets", CLI_GATE_MAX);
      return CLI_USAGE;
    }
    cli_budget *b = &g->b[g->n];
    snprintf(b->op, sizeof b->op, "%.*s", (int)(eq - s), s);
    if (!vfr_op_find(b->op)) {
      cli_errorf(command, "--max-dr: unknown op '%s' (see `vfrobust ops`)", b->op);
      return CLI_USAGE;
    }
    for (int k = 0; k < g->n; k++)
      if (!strcmp(g->b[k].op, b->op)) {
        cli_errorf(command, "--max-dr: '%s' has two budgets", b->op);
        return CLI_USAGE;
      }
    char num[64];
    size_t nl = len - (size_t)(eq + 1 - s);
    if (nl == 0 || nl >= sizeof num) {
      cli_errorf(command, "--max-dr: '%s': the budget is not a number in 0..1", item);
      return CLI_USAGE;
    }
    memcpy(num, eq + 1, nl);
    num[nl] = 0;
    char *end;
    double x = strtod(num, &end);
    if (*end || end == num || !isfinite(x) || x < 0 || x > 1) {
      cli_errorf(command, "--max-dr: '%s': the budget is not a number in 0..1", item);
      return CLI_USAGE;
    }
    b->max = x;
    g->n++;
    if (!comma) break;
    s = comma + 1;
    if (!*s) {
      cli_errorf(command, "--max-dr: '%s' ends with a comma", text);
      return CLI_USAGE;
    }
  }
  return CLI_OK;
}

int cli_gate_check_ops(const char *command, const cli_gate *g, const char *ops) {
  vfr_spec *specs = NULL;
  int n = 0;
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_spec_list_parse(ops, &specs, &n, &err)) return CLI_OK; /* the run reports it */
  int rc = CLI_OK;
  for (int k = 0; k < g->n && rc == CLI_OK; k++) {
    int found = 0;
    for (int i = 0; i < n && !found; i++)
      found = specs[i].kind == VFR_SPEC_DOMAIN && !strcmp(specs[i].op->name, g->b[k].op);
    if (!found) {
      cli_errorf(command, "--max-dr: op '%s' is not among the ops of the study (%s)", g->b[k].op, ops);
      rc = CLI_USAGE;
    }
  }
  free(specs);
  return rc;
}

int cli_gate_check(const char *command, const cli_gate *g, const vfr_compare *c) {
  for (int k = 0; k < g->n; k++) {
    int found = 0;
    for (int o = 0; o < c->n_ops && !found; o++) found = !strcmp(c->ops[o].op, g->b[k].op);
    if (!found) {
      cli_errorf(command, "--max-dr: op '%s' is not among the ops of the studies", g->b[k].op);
      return CLI_USAGE;
    }
  }
  int over = 0;
  char names[1024] = "";
  size_t used = 0;
  for (int k = 0; k < g->n; k++) {
    int op_over = 0;
    for (int m = 0; m < c->n_models; m++)
      for (int o = 0; o < c->n_ops; o++) {
        if (strcmp(c->ops[o].op, g->b[k].op)) continue;
        double dr = c->models[m].mean_dr[o];
        if (!(dr <= g->b[k].max)) { /* NaN (no value) fails the gate too */
          fprintf(stderr, "%s: over budget: %s (%s) mean DR %.4f > %g for %s\n", command,
                  c->ops[o].op, c->ops[o].domain, dr, g->b[k].max, c->models[m].label);
          op_over = 1;
        }
      }
    if (op_over) {
      over++;
      int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", g->b[k].op);
      if (w > 0 && (size_t)w < sizeof names - used) used += (size_t)w;
    }
  }
  if (over) {
    cli_errorf(command, "robustness gate failed: %d op%s over budget: %s", over, over == 1 ? "" : "s",
               names);
    return CLI_GATE_FAILED;
  }
  fprintf(stderr, "%s: robustness gate passed (%d op%s within budget)\n", command, g->n,
          g->n == 1 ? "" : "s");
  return CLI_OK;
}
