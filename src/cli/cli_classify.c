/* vfrobust classify --model DIR --data DIR [--limit N] [--out FILE.csv]
 * Accuracy of a model's classification head (from vfrobust train) on labelled images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/files.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust classify --model DIR --data DIR [options]\n\n"
        "Scores the classification head of a model trained by `vfrobust train` on labelled\n"
        "images (ImageFolder or CSV; classes matched by name to the model's id2label) and\n"
        "prints `accuracy A (CORRECT/N)`. Unreadable images count as wrong and are listed.\n\n"
        "  --model DIR       folder with classifier_head.weight/.bias and id2label\n"
        "  --data DIR|CSV    labelled images\n"
        "  --limit N         at most N images (0: all)\n"
        "  --batch N         images per forward pass (default 64)\n"
        "  --threads N       compute threads (default: OpenMP's default)\n"
        "  --json            print {\"accuracy\", \"correct\", \"images\", \"skipped\"} instead\n"
        "  --out FILE.csv    also write image,label,predicted per image\n",
        f);
}

static int write_csv(const char *path, const vfr_dataset *ds, const vfr_classify_result *r) {
  char tmp[4200];
  vfr_error err;
  vfr_error_clear(&err);
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, &err);
  if (!f) return cli_report_error(&err, 0);
  fprintf(f, "image,label,predicted\n");
  for (int i = 0; i < r->n && i < ds->count; i++) {
    vfr_csv_write_field(f, ds->items[i].name);
    fputc(',', f);
    vfr_csv_write_field(f, r->truth[i] >= 0 ? r->class_names[r->truth[i]] : "");
    fputc(',', f);
    vfr_csv_write_field(f, r->predicted[i] >= 0 ? r->class_names[r->predicted[i]] : "");
    fputc('\n', f);
  }
  if (vfr_atomic_commit(f, tmp, path, &err)) return cli_report_error(&err, 0);
  return CLI_OK;
}

int cli_classify(int argc, char **argv) {
  const char *model = NULL, *data = NULL, *out = NULL, *value = NULL;
  long limit = 0, batch = 64, threads = 0;
  int json = 0, rc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long n;
    if (!strcmp(a, "--help")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    }
    CLI_STR_OPT("--model", model)
    CLI_STR_OPT("--data", data)
    CLI_STR_OPT("--out", out)
    CLI_INT_OPT("classify", "--limit", 0, 100000000, limit)
    CLI_INT_OPT("classify", "--batch", 1, 65536, batch)
    CLI_INT_OPT("classify", "--threads", 1, 1024, threads)
    else {
      cli_errorf("classify", "unknown option %s (see `vfrobust classify --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("classify", "%s needs a value", a);
    return CLI_USAGE;
  }
  if (!model || !data) {
    cli_errorf("classify", "%s is required (see `vfrobust classify --help`)",
               !model ? "--model DIR" : "--data DIR");
    return CLI_USAGE;
  }
  if (cli_check_out("classify", "--out", out, "--model", model, "--data", data, NULL)) return CLI_USAGE;
  if ((rc = cli_check_writable(out))) return rc;
  vfr_error err;
  vfr_error_clear(&err);
  vfr_classify_result r;
  rc = CLI_OK;
  vfr_classify_eval_params ep = vfr_classify_eval_default_params();
  ep.model_dir = model;
  ep.data_path = data;
  ep.limit = (int)limit;
  ep.batch = (int)batch;
  ep.threads = (int)threads;
  if (vfr_classify_eval(&ep, &r, &err) != VFR_OK)
    return cli_report_error(&err, 1);
  if (out || r.skipped > 0) {
    vfr_dataset ds;
    if (vfr_dataset_open(data, &ds, &err) != VFR_OK) {
      vfr_classify_result_free(&r);
      return cli_report_error(&err, 1);
    }
    vfr_dataset_limit(&ds, 0, (int)limit);
    for (int i = 0; i < r.n && i < ds.count; i++)
      if (r.predicted[i] < 0) fprintf(stderr, "classify: skipped %s (unreadable)\n", ds.items[i].path);
    if (out) rc = write_csv(out, &ds, &r);
    vfr_dataset_free(&ds);
  }
  if (json)
    printf("{\"accuracy\": %.10g, \"correct\": %d, \"images\": %d, \"skipped\": %d}\n", r.accuracy,
           r.correct, r.n, r.skipped);
  else
    printf("accuracy %.4f (%d/%d)%s\n", r.accuracy, r.correct, r.n,
           r.skipped ? " (unreadable images count as wrong)" : "");
  vfr_classify_result_free(&r);
  return rc;
}
