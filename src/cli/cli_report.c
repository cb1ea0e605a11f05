/* vfrobust report DIR: (re)builds DIR/report.html from a study's results. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "vfrobust/report.h"

int cli_report(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    puts("usage: vfrobust report DIR\n\n"
         "(Re)builds DIR/report.html, one self-contained page with the study's tables and plots,\n"
         "and writes each plot as DIR/figures/<name>.svg. Reads summary.json and curves.csv\n"
         "(from eval) and, when present, downstream.json and samples.png.");
    return CLI_OK;
  }
  if (argc != 2 || argv[1][0] == '-') {
    cli_errorf("report", "usage: vfrobust report DIR");
    return CLI_USAGE;
  }
  vfr_error err;
  if (vfr_report_build(argv[1], &err)) return cli_report_error(&err, 0);
  fprintf(stderr, "report: wrote %s/report.html\n", argv[1]);
  return CLI_OK;
}
