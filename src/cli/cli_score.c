/* vfrobust score --manifest FILE --embeddings EMB.npy --out STUDY [--model-name NAME]
 * A study from embeddings made by any model of the files perturb-set wrote. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust score --manifest DIR/manifest.csv --embeddings EMB.npy --out STUDY\n"
        "                      [--model-name NAME]\n\n"
        "Turns embeddings of the files `vfrobust perturb-set` wrote, made by any model and\n"
        "row-aligned with the manifest (float32 [rows, d] .npy), into the outputs of `eval`:\n"
        "per_image.csv, curves.csv, summary.json, embeddings/ and report.html in STUDY, which\n"
        "`report`, `downstream` and `compare` read as any study. The images must still be where\n"
        "perturb-set found them (perturb_set.json beside the manifest says where).\n\n"
        "  --model-name NAME   the model column of the outputs (default: EMB's file name);\n"
        "                      a plain name of at most 255 bytes\n",
        f);
}

int cli_score(int argc, char **argv) {
  vfr_score_params p = vfr_score_default_params();
  const char *value = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return CLI_OK;
    }
    CLI_STR_OPT("--manifest", p.manifest)
    CLI_STR_OPT("--embeddings", p.embeddings)
    CLI_STR_OPT("--out", p.out_dir)
    CLI_STR_OPT("--model-name", p.model_name)
    else {
      cli_errorf("score", "unknown option %s (see `vfrobust score --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("score", "%s needs a value", a);
    return CLI_USAGE;
  }
  if (!p.manifest || !p.embeddings || !p.out_dir) {
    cli_errorf("score", "--manifest, --embeddings and --out are required (see `vfrobust score --help`)");
    return CLI_USAGE;
  }
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_score(&p, &err) || vfr_report_build(p.out_dir, &err)) return cli_report_error(&err, 1);
  fprintf(stderr, "score: wrote %s/per_image.csv, curves.csv, summary.json, embeddings/, report.html\n", p.out_dir);
  return CLI_OK;
}
