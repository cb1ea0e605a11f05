/* vfrobust compare STUDY... --out DIR [--markdown]: studies side by side
 * (see include/vfrobust/compare.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_gate.h"
#include "vfrobust/compare.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust compare STUDY... [--out DIR] [--markdown] [--max-dr OP=X,...]\n\n"
        "Puts the studies (folders written by `vfrobust eval`, with `vfrobust downstream`'s\n"
        "downstream.json where it ran) side by side: models x ops mean DR, mean R_cs and accuracy\n"
        "drop. The studies must have the same ops, domains and levels; otherwise an error names\n"
        "the first difference. Writes DIR/report.html (tables, heat maps, each op's curves of all\n"
        "models, the DR-vs-drop scatter), DIR/figures/*.svg, DIR/table.md and DIR/compare.json.\n\n"
        "  --out DIR          output folder (created)\n"
        "  --markdown         print the tables as Markdown on stdout\n"
        "  --max-dr OP=X,...  robustness gate: exit 3 when some study's mean DR of an op is\n"
        "                     over its budget X (e.g. jpeg=0.1,gaussian_blur=0.2); with it,\n"
        "                     --out and --markdown are optional\n\n"
        "Exit status: 0 success, 1 failure, 2 bad usage, 3 an op over its --max-dr budget.\n",
        f);
}

int cli_compare(int argc, char **argv) {
  const char **dirs = malloc(sizeof(char *) * (size_t)(argc > 1 ? argc : 1));
  if (!dirs) {
    cli_errorf("compare", "out of memory");
    return CLI_FAIL;
  }
  const char *out = NULL, *value = NULL, *max_dr = NULL;
  int markdown = 0, n = 0, rc = CLI_OK;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      free(dirs);
      return CLI_OK;
    } else if (!strcmp(a, "--markdown")) {
      markdown = 1;
    } else if (cli_flag_value(argc, argv, &i, "--out", &value)) {
      if (!value) goto missing_value;
      out = value;
    } else if (cli_flag_value(argc, argv, &i, "--max-dr", &value)) {
      if (!value) goto missing_value;
      max_dr = value;
    } else if (a[0] == '-') {
      cli_errorf("compare", "unknown option %s (see `vfrobust compare --help`)", a);
      free(dirs);
      return CLI_USAGE;
    } else {
      dirs[n++] = a;
    }
    continue;
  missing_value:
    cli_errorf("compare", "%s needs a value", a);
    free(dirs);
    return CLI_USAGE;
  }
  cli_gate gate = {0};
  if (max_dr && cli_gate_parse("compare", max_dr, &gate)) {
    free(dirs);
    return CLI_USAGE;
  }
  if (n == 0 || (!out && !markdown && !max_dr)) {
    cli_errorf("compare", n == 0 ? "no STUDY folders given (see `vfrobust compare --help`)"
                                 : "nothing to do: give --out DIR, --markdown or --max-dr");
    free(dirs);
    return CLI_USAGE;
  }
  vfr_compare c;
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_compare_load(dirs, n, &c, &err)) {
    free(dirs);
    return cli_report_error(&err, 0);
  }
  free(dirs);
  if (out && vfr_compare_write(&c, out, &err)) rc = cli_report_error(&err, 0);
  else if (out) fprintf(stderr, "compare: wrote %s/report.html, table.md, compare.json, figures/\n", out);
  if (!rc && markdown) {
    char *text;
    if (vfr_compare_markdown(&c, &text, &err)) {
      rc = cli_report_error(&err, 0);
    } else {
      fputs(text, stdout);
      free(text);
    }
  }
  if (!rc && gate.n > 0) rc = cli_gate_check("compare", &gate, &c);
  vfr_compare_free(&c);
  return rc;
}
