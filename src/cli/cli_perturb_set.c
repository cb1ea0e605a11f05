/* vfrobust perturb-set --data DIR --ops LIST [--levels M] [--seed S] --out DIR
 * Every variant a study embeds, as PNG files with manifest.csv, for models run elsewhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust perturb-set --data DIR|FILE.csv [--ops LIST] [--levels M] [--seed S] --out DIR\n\n"
        "Writes every image of the dataset clean and at every level of every op (the pixels and\n"
        "seeds `eval` uses) as lossless PNG files under DIR, listed in DIR/manifest.csv\n"
        "(image,op,level,file; files relative to DIR), with the settings in DIR/perturb_set.json.\n"
        "Embed the files in manifest order with any model into one float32 [rows, d] .npy, then\n"
        "`vfrobust score --manifest DIR/manifest.csv --embeddings EMB.npy --out STUDY`.\n\n"
        "  --ops LIST       comma-separated SPECs or a preset (editing9, all); default editing9\n"
        "  --levels M       levels per domain, evenly spaced, end points included (default 10)\n"
        "  --seed S         seed of the random ops (default 0)\n"
        "  --limit N        use at most N images;  --per-class N  at most N per class\n"
        "  --threads N      threads (default: all cores)\n",
        f);
}

int cli_perturb_set(int argc, char **argv) {
  vfr_perturb_set_params p = vfr_perturb_set_default_params();
  const char *value = NULL;
  long n = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return CLI_OK;
    }
    CLI_STR_OPT("--data", p.data)
    CLI_STR_OPT("--out", p.out_dir)
    CLI_STR_OPT("--ops", p.ops)
    CLI_INT_OPT("perturb-set", "--levels", 1, 1024, p.levels)
    CLI_INT_OPT("perturb-set", "--limit", 0, 1L << 30, p.limit)
    CLI_INT_OPT("perturb-set", "--per-class", 0, 1L << 30, p.per_class)
    CLI_INT_OPT("perturb-set", "--threads", 1, 1024, p.threads)
    else if (cli_flag_value(argc, argv, &i, "--seed", &value)) {
      if (!value) goto missing_value;
      char *end;
      p.seed = strtoull(value, &end, 10);
      if (!*value || *end || *value == '-') {
        cli_errorf("perturb-set", "--seed %s: expected a non-negative integer", value);
        return CLI_USAGE;
      }
    }
    else {
      cli_errorf("perturb-set", "unknown option %s (see `vfrobust perturb-set --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("perturb-set", "%s needs a value", a);
    return CLI_USAGE;
  }
  if (!p.data || !p.out_dir) {
    cli_errorf("perturb-set", "--data and --out are required (see `vfrobust perturb-set --help`)");
    return CLI_USAGE;
  }
  vfr_error err;
  vfr_error_clear(&err);
  int64_t rows = 0;
  if (vfr_perturb_set(&p, &rows, &err)) return cli_report_error(&err, 1);
  fprintf(stderr, "perturb-set: wrote %s/manifest.csv (%lld rows) and the files it lists\n", p.out_dir, (long long)rows);
  return CLI_OK;
}
