/* vfrobust downstream: accuracy on clean and perturbed test images (zero-shot, linear probe
 * or k-NN), and whether robustness predicts the damage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vfrobust/downstream_run.h"
#include "vfrobust/report.h"

static const char usage_text[] =
    "usage: vfrobust downstream --model DIR --train DIR --test DIR --out DIR [options]\n"
    "\n"
    "Runs the study of the test set (as `vfrobust eval --data TEST`), classifies every clean\n"
    "and perturbed test image, and writes downstream.json, predictions.csv and report.html\n"
    "into --out beside the study's outputs.\n"
    "\n"
    "  --protocol P        linear (default): logistic regression on the clean train embeddings;\n"
    "                      knn: k = 20, T = 0.07 on the train embeddings; zeroshot: CLIP text\n"
    "                      prompts of the test set's class names (no --train needed)\n"
    "  --templates T       zeroshot: openai80 (CLIP's 80 ImageNet templates), simple (OpenCLIP's\n"
    "                      7) or a FILE with one template per line, {} for the class name\n"
    "                      (default \"a photo of a {}.\"); embeddings averaged per class\n"
    "  --classes imagenet  zeroshot: the test folders are ImageNet synsets (n01440764 ...),\n"
    "                      prompted with CLIP's class names\n"
    "  --ops LIST          comma-separated SPECs or a preset (editing9, imagenet-c,\n"
    "                      imagenet-c-all, all); default editing9\n"
    "  --levels M          levels per domain, evenly spaced, end points included (default 10)\n"
    "  --seed S            seed of the random ops and of the probe's validation split (default 0)\n"
    "  --limit N           use at most N test images (a sample stratified by class, drawn with --seed)\n"
    "  --per-class N       at most N images per class, in the train and in the test set\n"
    "  --batch N           model batch size (default 32)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --resume            keep the test images and train embeddings of an earlier run\n"
    "\n"
    "--protocol depth: --train and --test are RGB-D sets (a folder of images with NAME_depth.png\n"
    "or, for NAME.jpg, NAME.png beside each; or a CSV of image,depth[,scale] rows); a linear\n"
    "head on the last layers' patch tokens with the CLS token, upsampled x4, is fitted in closed\n"
    "form on the clean train images; writes depth.json, depth_per_image.csv, depth_predictions/\n"
    "(16-bit PNG), depth_strips.png. Ops that move pixels (rotate, crop, flip,\n"
    "ic_elastic_transform) are refused. See docs/depth.md.\n"
    "  --depth-scale S     depth PNG value per metre (default 1000: millimetres)\n"
    "  --min-depth D       valid depth from D metres (default 0.001)\n"
    "  --max-depth D       valid depth up to D metres (default 10)\n"
    "  --eigen-crop        evaluate inside Eigen's NYU crop only\n"
    "  --layers K          features from the last K blocks (default 1)\n"
    "  --ridge R           the head's ridge, relative to the mean feature variance (default 0.1)\n";

static int builtin_templates(const char *t) {
  return t && (!strcmp(t, "openai80") || !strcmp(t, "simple"));
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress_state {
  int tty;
  double last;
  const char *what;
} progress_state;

static int show_progress(void *ctx, const vfr_progress *p) {
  progress_state *s = ctx;
  double t = wall();
  int last = p->done == p->total;
  if (!s->tty && !last && t - s->last < 10.0) return 0;
  if (s->tty && !last && t - s->last < 0.2) return 0;
  s->last = t;
  char eta[32] = "?";
  if (p->eta_s >= 0) snprintf(eta, sizeof eta, ", ETA %dm%02ds", (int)(p->eta_s / 60), (int)p->eta_s % 60);
  else eta[0] = '\0';
  fprintf(stderr, "%sdownstream: %s %d/%d images (%d skipped)%s%s", s->tty ? "\r" : "", s->what, p->done, p->total,
          p->skipped, eta, s->tty ? "   " : "\n");
  if (s->tty && last) fputc('\n', stderr);
  return 0;
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || end == v || x < lo || x > hi) {
    cli_errorf(flag, "expects an integer in %d..%d", lo, hi);
    return 0;
  }
  *out = (int)x;
  return 1;
}

int cli_downstream(int argc, char **argv) {
  vfr_downstream_params p = vfr_downstream_default_params();
  for (int i = 1; i < argc; i++) {
    const char *v = NULL, *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return CLI_OK;
    }
    if (!strcmp(a, "--resume")) { p.study.resume = 1; continue; }
    if (!strcmp(a, "--eigen-crop")) { p.depth.eigen_crop = 1; continue; }
    static const char *const value_flags[] = {"--model", "--train", "--test", "--out", "--protocol", "--templates",
                                              "--classes", "--ops", "--levels", "--seed", "--limit", "--per-class",
                                              "--batch", "--threads", "--depth-scale", "--min-depth", "--max-depth",
                                              "--layers", "--ridge", NULL};
    const char *flag = NULL;
    for (int k = 0; value_flags[k] && !flag; k++)
      if (cli_flag_value(argc, argv, &i, value_flags[k], &v)) flag = value_flags[k];
    if (!flag) {
      cli_errorf(a, "unknown option (see `vfrobust downstream --help`)");
      return CLI_USAGE;
    }
    if (!v) {
      cli_errorf(flag, "needs a value");
      return CLI_USAGE;
    }
    int ok = 1;
    if (!strcmp(flag, "--model")) p.study.model_dir = v;
    else if (!strcmp(flag, "--train")) p.train_dir = v;
    else if (!strcmp(flag, "--test")) p.study.data = v;
    else if (!strcmp(flag, "--out")) p.study.out_dir = v;
    else if (!strcmp(flag, "--templates")) p.templates_file = v;
    else if (!strcmp(flag, "--classes")) p.classes = v;
    else if (!strcmp(flag, "--ops")) p.study.ops = v;
    else if (!strcmp(flag, "--levels")) ok = parse_int(flag, v, 1, 1024, &p.study.levels);
    else if (!strcmp(flag, "--limit")) ok = parse_int(flag, v, 0, 1 << 30, &p.study.limit);
    else if (!strcmp(flag, "--per-class")) ok = parse_int(flag, v, 0, 1 << 30, &p.study.per_class);
    else if (!strcmp(flag, "--batch")) ok = parse_int(flag, v, 1, 4096, &p.study.batch);
    else if (!strcmp(flag, "--threads")) ok = parse_int(flag, v, 1, 1024, &p.study.threads);
    else if (!strcmp(flag, "--depth-scale")) ok = cli_parse_double("downstream", flag, v, 1e-9, 1e9, &p.depth.scale) == 0;
    else if (!strcmp(flag, "--min-depth")) ok = cli_parse_double("downstream", flag, v, 1e-9, 1e6, &p.depth.min_depth) == 0;
    else if (!strcmp(flag, "--max-depth")) ok = cli_parse_double("downstream", flag, v, 1e-9, 1e6, &p.depth.max_depth) == 0;
    else if (!strcmp(flag, "--ridge")) ok = cli_parse_double("downstream", flag, v, 0, 1e6, &p.depth.ridge) == 0;
    else if (!strcmp(flag, "--layers")) ok = parse_int(flag, v, 1, 1024, &p.depth.layers);
    else if (!strcmp(flag, "--protocol")) {
      vfr_error perr;
      ok = vfr_protocol_parse(v, &p.protocol, &perr) == VFR_OK;
      if (!ok) cli_errorf(flag, "%s", perr.message);
    } else {
      ok = cli_parse_u64(flag, v, &p.study.seed) == 0;
    }
    if (!ok) return CLI_USAGE;
  }
  if (!p.study.model_dir || !p.study.data || !p.study.out_dir) {
    cli_errorf("downstream", "--model, --test and --out are required (see `vfrobust downstream --help`)");
    return CLI_USAGE;
  }
  if (p.protocol != VFR_PROTOCOL_ZEROSHOT && !p.train_dir) {
    cli_errorf("downstream", "--train is required by --protocol %s (see `vfrobust downstream --help`)",
               vfr_protocol_name(p.protocol));
    return CLI_USAGE;
  }
  if (cli_check_out("downstream", "--out", p.study.out_dir, "--model", p.study.model_dir, "--test", p.study.data,
                    "--train", p.train_dir, "--templates", builtin_templates(p.templates_file) ? NULL : p.templates_file,
                    NULL))
    return CLI_USAGE;
  if (p.templates_file && p.protocol != VFR_PROTOCOL_ZEROSHOT) {
    cli_errorf("--templates", "only applies to --protocol zeroshot");
    return CLI_USAGE;
  }
  if (p.classes && p.protocol != VFR_PROTOCOL_ZEROSHOT) {
    cli_errorf("--classes", "only applies to --protocol zeroshot");
    return CLI_USAGE;
  }
  if (p.classes && strcmp(p.classes, "imagenet") != 0) {
    cli_errorf("--classes", "unknown class names '%s' (imagenet is the one built-in set)", p.classes);
    return CLI_USAGE;
  }
  p.train_per_class = p.study.per_class;
  p.probe.seed = p.study.seed;

  vfr_error err;
  vfr_error_clear(&err);
  /* Settings that cannot work (zero-shot on a DINOv2 folder) are bad usage; an unreadable
   * file is a failure. */
  if (vfr_downstream_check(&p, &err)) return cli_report_error(&err, 1);

  progress_state test_ps = {isatty(2), 0, "test study"}, train_ps = {isatty(2), 0, "train embeddings"};
  p.study.progress = show_progress;
  p.study.progress_user = &test_ps;
  p.train_progress = show_progress;
  p.train_progress_user = &train_ps;
  vfr_downstream_summary s;
  if (vfr_downstream_run(&p, &s, &err)) return cli_report_error(&err, 0);
  if (vfr_report_build(p.study.out_dir, &err)) return cli_report_error(&err, 0);
  if (p.protocol == VFR_PROTOCOL_DEPTH) {
    fprintf(stderr, "downstream: depth head on %d train images; clean RMSE %.4f m on %d test images "
            "(constant depth: %.4f m); %d depth files skipped\n", s.train_used, s.clean_rmse, s.test_used,
            s.baseline_rmse, s.skipped_depth);
    fprintf(stderr, "downstream: wrote %s/depth.json, depth_per_image.csv, depth_predictions/, report.html\n",
            p.study.out_dir);
    return CLI_OK;
  }
  if (p.protocol != VFR_PROTOCOL_ZEROSHOT)
    fprintf(stderr, "downstream: %d train images%s (%d skipped), %d classes\n", s.train_used,
            s.train_resumed ? " (resumed)" : "", s.train_skipped, s.class_count);
  fprintf(stderr, "downstream: %s clean accuracy %.4f on %d test images\n", vfr_protocol_name(p.protocol),
          s.clean_accuracy, s.test_used);
  fprintf(stderr, "downstream: wrote %s/downstream.json, predictions.csv, per_image.csv, report.html\n",
          p.study.out_dir);
  return CLI_OK;
}
