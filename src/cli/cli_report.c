/* vfrobust report [--markdown] DIR: (re)builds DIR/report.html from a study's results, or
 * prints its per-op table as Markdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vfrobust/report.h"

int cli_report(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    puts("usage: vfrobust report [--markdown] DIR\n\n"
         "(Re)builds DIR/report.html, one self-contained page with the study's tables and plots,\n"
         "and writes each plot as DIR/figures/<name>.svg. Reads summary.json and curves.csv\n"
         "(from eval) and, when present, downstream.json and samples.png.\n\n"
         "  --markdown   print the per-op table instead (mean/median/p90 DR, mean R_cs and, after\n"
         "               `vfrobust downstream`, the accuracy drop), e.g. for a README");
    return CLI_OK;
  }
  int markdown = argc == 3 && !strcmp(argv[1], "--markdown");
  const char *dir = argv[argc - 1];
  if ((argc != 2 && !markdown) || dir[0] == '-') {
    cli_errorf("report", "usage: vfrobust report [--markdown] DIR");
    return CLI_USAGE;
  }
  vfr_error err;
  if (markdown) {
    char *text;
    if (vfr_report_markdown(dir, &text, &err)) return cli_report_error(&err, 0);
    fputs(text, stdout);
    free(text);
    return CLI_OK;
  }
  if (vfr_report_build(dir, &err)) return cli_report_error(&err, 0);
  fprintf(stderr, "report: wrote %s/report.html\n", dir);
  return CLI_OK;
}
