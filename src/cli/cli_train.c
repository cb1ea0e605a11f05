/* vfrobust train --model DIR --data DIR [--test DIR] [options] --out DIR
 * Supervised training of a CLIP vision tower with a linear head; see `--help`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs(
      "usage: vfrobust train --model DIR --data DIR [--test DIR] [options] --out DIR\n\n"
      "Trains a CLIP vision tower and a linear head on its projected embedding with softmax\n"
      "cross-entropy (label smoothing) on labelled images. DIR (--model) holds config.json and\n"
      "preprocessor_config.json; without model.safetensors the tower starts from a seeded\n"
      "random initialisation (written to OUT/init). Each image of each step is shifted by up to\n"
      "--pad pixels (zero border) and flipped with probability 1/2. Writes OUT as a Hugging Face\n"
      "folder (model.safetensors with classifier_head.weight/.bias, config.json with\n"
      "id2label) plus train.json and checkpoint.bin; with --test, the test accuracy at the end.\n\n"
      "  --model DIR          CLIP folder (config.json, preprocessor_config.json)\n"
      "  --data DIR|CSV       labelled training images (ImageFolder or CSV)\n"
      "  --test DIR|CSV       labelled test images, scored at the end\n"
      "  --out DIR            output folder (created)\n"
      "  --epochs E           passes over the data (default 10)\n"
      "  --batch B            images per optimiser step (default 128)\n"
      "  --lr LR, --lr-min LR peak and final learning rate (default 1e-3, 1e-5)\n"
      "  --wd WD              AdamW weight decay (default 0.05)\n"
      "  --beta1 B1, --beta2 B2, --adam-eps EPS   AdamW (default 0.9, 0.999, 1e-8)\n"
      "  --warmup STEPS       linear warmup steps (default 0)\n"
      "  --label-smoothing S  default 0.1\n"
      "  --pad N              random shift of up to N pixels (default 4; 0: none)\n"
      "  --no-flip            no random horizontal flips\n"
      "  --seed S             seed of the initialisation, shuffles and augmentation (default 0)\n"
      "  --threads N          compute threads (default: OpenMP's default)\n"
      "  --limit N            at most N training images; --per-class N at most N per class\n"
      "  --test-limit N       at most N test images\n"
      "  --checkpoint-every N also write OUT/checkpoint.bin every N steps (always at each\n"
      "                       epoch's end)\n"
      "  --resume             continue from OUT/checkpoint.bin (same settings)\n"
      "  --stop-after N       stop after N steps in all (with a checkpoint), for --resume\n"
      "  --progress-every N   a progress line every N steps (default 10)\n"
      "  --quiet              no progress lines\n",
      f);
}

typedef struct progress_state {
  long every;
} progress_state;

static int progress(void *user, const vfr_classify_progress *p) {
  const progress_state *ps = user;
  if (!strcmp(p->phase, "test")) {
    if (p->test_accuracy > 0) fprintf(stderr, "train: test accuracy %.4f\n", p->test_accuracy);
    else fprintf(stderr, "train: scoring the test images\n");
    return 0;
  }
  if (strcmp(p->phase, "train") != 0) {
    fprintf(stderr, "train: %s\n", p->phase);
    return 0;
  }
  if (p->step % ps->every != 0 && p->step != p->total) return 0;
  fprintf(stderr, "train: epoch %d step %ld/%ld loss %.4f batch accuracy %.3f lr %.3g  "
          "%.2f steps/s  ETA %.0f s\n", p->epoch, p->step, p->total, p->loss, p->accuracy, p->lr,
          p->steps_per_s, p->eta_s);
  return 0;
}

int cli_train(int argc, char **argv) {
  vfr_classify_params p = vfr_classify_default_params();
  progress_state ps = {10};
  p.progress = progress;
  p.progress_user = &ps;
  const char *value = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long n;
    double x;
    if (!strcmp(a, "--help")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(a, "--resume")) {
      p.resume = 1;
    } else if (!strcmp(a, "--no-flip")) {
      p.flip = 0;
    } else if (!strcmp(a, "--quiet")) {
      p.progress = NULL;
    }
    CLI_STR_OPT("--model", p.model_dir)
    CLI_STR_OPT("--data", p.data_path)
    CLI_STR_OPT("--test", p.test_path)
    CLI_STR_OPT("--out", p.out_dir)
    CLI_INT_OPT("train", "--epochs", 1, 100000, p.epochs)
    CLI_INT_OPT("train", "--batch", 1, 65536, p.batch)
    CLI_NUM_OPT("train", "--lr", 0, 0.999999, p.lr)
    CLI_NUM_OPT("train", "--lr-min", 0, 0.999999, p.lr_min)
    CLI_NUM_OPT("train", "--wd", 0, 999, p.weight_decay)
    CLI_NUM_OPT("train", "--beta1", 0, 0.999999, p.beta1)
    CLI_NUM_OPT("train", "--beta2", 0, 0.999999, p.beta2)
    CLI_NUM_OPT("train", "--adam-eps", 1e-30, 1, p.adam_eps)
    CLI_INT_OPT("train", "--warmup", 0, 100000000, p.warmup)
    CLI_NUM_OPT("train", "--label-smoothing", 0, 0.999999, p.label_smoothing)
    CLI_INT_OPT("train", "--pad", 0, 4096, p.pad)
    CLI_INT_OPT("train", "--seed", 0, 0x7fffffffL, p.seed)
    CLI_INT_OPT("train", "--threads", 1, 1024, p.threads)
    CLI_INT_OPT("train", "--limit", 0, 100000000, p.limit)
    CLI_INT_OPT("train", "--per-class", 0, 100000000, p.per_class)
    CLI_INT_OPT("train", "--test-limit", 0, 100000000, p.test_limit)
    CLI_INT_OPT("train", "--checkpoint-every", 0, 100000000, p.checkpoint_every)
    CLI_INT_OPT("train", "--stop-after", 0, 100000000, p.stop_after)
    CLI_INT_OPT("train", "--progress-every", 1, 100000000, ps.every)
    else {
      cli_errorf("train", "unknown option %s (see `vfrobust train --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("train", "%s needs a value", a);
    return CLI_USAGE;
  }
  if (!p.model_dir || !p.data_path || !p.out_dir) {
    cli_errorf("train", "%s is required (see `vfrobust train --help`)",
               !p.model_dir ? "--model DIR" : !p.data_path ? "--data DIR" : "--out DIR");
    return CLI_USAGE;
  }
  if (cli_check_out("train", "--out", p.out_dir, "--model", p.model_dir, "--data", p.data_path, "--test", p.test_path,
                    NULL))
    return CLI_USAGE;
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_classify_train(&p, &err) != VFR_OK) return cli_report_error(&err, 1);
  fprintf(stderr, "train: wrote %s\n", p.out_dir);
  return CLI_OK;
}
