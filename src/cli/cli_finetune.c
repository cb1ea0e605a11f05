/* vfrobust finetune --model DIR --data DIR --ops LIST [options] --out DIR
 * Robustness fine-tuning of a CLIP or DINOv2 vision tower (SPEC section 5); see `--help`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs(
      "usage: vfrobust finetune --model DIR --data DIR --ops LIST [options] --out DIR\n\n"
      "Tunes a copy f' of the model's vision tower so that f'(x) and f'(P x) agree while f'(x)\n"
      "stays close to the original f(x): L = L1 + lambda L2, L1 = -mean cos(f'(x), f'(Px)),\n"
      "L2 = -mean cos(f(x), f'(x)); each image of each step gets an op drawn from LIST and a\n"
      "level drawn uniformly from its domain. Writes DIR as a Hugging Face folder\n"
      "(model.safetensors, configs and tokenizer files) plus finetune.json and checkpoint.bin.\n\n"
      "  --model DIR          Hugging Face CLIP or DINOv2 folder\n"
      "  --data DIR|CSV       training images (ImageFolder, flat folder or CSV)\n"
      "  --ops LIST           comma-separated SPECs or a preset (several: a mixture)\n"
      "  --out DIR            output folder (created)\n"
      "  --lambda L           weight of the stay-close term (default 1)\n"
      "  --l2-both-views      the stay-close term on both views: L2 = -mean (cos(f(x), f'(x))\n"
      "                       + cos(f(x), f'(Px))) / 2 (default: the clean view only)\n"
      "  --l1-stop-clean      the robustness term moves only the perturbed view: f'(x) is\n"
      "                       its target, as if detached (default: both views move)\n"
      "  --epochs E           passes over the data (default 1)\n"
      "  --train-blocks N     train the last N blocks (+ final layernorm, projection);\n"
      "                       0 = everything (default 0)\n"
      "  --batch B            images per optimiser step (default 16)\n"
      "  --accum K            split each batch into K micro-batches (default 1)\n"
      "  --lr LR              peak learning rate (default, or 0: 0.02 / the tower's width:\n"
      "                       3.1e-4 at 64 wide, 1.6e-4 at 128, 2.6e-5 at 768)\n"
      "  --lr-min LR          final learning rate of the cosine (default 0)\n"
      "  --wd WD              AdamW weight decay (default 0.01)\n"
      "  --beta1 B1, --beta2 B2, --adam-eps EPS   AdamW (default 0.9, 0.999, 1e-8)\n"
      "  --warmup STEPS       linear warmup steps (default: a tenth of all steps)\n"
      "  --seed S             seed of the shuffles, level draws and noise (default 0)\n"
      "  --threads N          compute threads (default: OpenMP's default)\n"
      "  --limit N            at most N training images; --per-class N at most N per class\n"
      "  --eval-data DIR|CSV  held-out images: mean DR per op, clean k-NN accuracy (when\n"
      "                       labelled) and clean cosine to the original, before and after\n"
      "  --eval-limit N       at most N evaluation images (default 100);\n"
      "                       --eval-per-class N at most N per class\n"
      "  --eval-levels M      levels per op domain for the DR (default 5)\n"
      "  --eval-ops LIST      ops whose DR is reported (default: --ops; e.g. editing9)\n"
      "  --checkpoint-every N write DIR/checkpoint.bin every N steps (default: at the end)\n"
      "  --resume             continue from DIR/checkpoint.bin (same settings)\n"
      "  --stop-after N       stop after N steps in all (with a checkpoint), for --resume\n"
      "  --quiet              no progress lines\n",
      f);
}

static int progress(void *user, const vfr_finetune_progress *p) {
  (void)user;
  if (strcmp(p->phase, "train") != 0) {
    fprintf(stderr, "finetune: %s\n", p->phase);
    return 0;
  }
  fprintf(stderr, "finetune: step %ld/%ld loss %.6f (L1 %.6f L2 %.6f) lr %.3g  %.2f steps/s  "
          "ETA %.0f s\n", p->step, p->total, p->loss, p->l1, p->l2, p->lr, p->steps_per_s,
          p->eta_s);
  return 0;
}

int cli_finetune(int argc, char **argv) {
  vfr_finetune_params p = vfr_finetune_default_params();
  p.progress = progress;
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
    } else if (!strcmp(a, "--l2-both-views")) {
      p.l2_both_views = 1;
    } else if (!strcmp(a, "--l1-stop-clean")) {
      p.l1_stop_clean = 1;
    } else if (!strcmp(a, "--quiet")) {
      p.progress = NULL;
    }
    CLI_STR_OPT("--model", p.model_dir)
    CLI_STR_OPT("--data", p.data_path)
    CLI_STR_OPT("--ops", p.ops)
    CLI_STR_OPT("--out", p.out_dir)
    CLI_STR_OPT("--eval-data", p.eval_path)
    CLI_STR_OPT("--eval-ops", p.eval_ops)
    CLI_NUM_OPT("finetune", "--lambda", 0, 1e6, p.lambda)
    CLI_INT_OPT("finetune", "--epochs", 1, 100000, p.epochs)
    CLI_INT_OPT("finetune", "--train-blocks", 0, 100000, p.train_blocks)
    CLI_INT_OPT("finetune", "--batch", 1, 65536, p.batch)
    CLI_INT_OPT("finetune", "--accum", 1, 65536, p.accum)
    CLI_NUM_OPT("finetune", "--lr", 0, 1, p.lr)
    CLI_NUM_OPT("finetune", "--lr-min", 0, 1, p.lr_min)
    CLI_NUM_OPT("finetune", "--wd", 0, 1000, p.weight_decay)
    CLI_NUM_OPT("finetune", "--beta1", 0, 0.999999, p.beta1)
    CLI_NUM_OPT("finetune", "--beta2", 0, 0.999999, p.beta2)
    CLI_NUM_OPT("finetune", "--adam-eps", 1e-30, 1, p.adam_eps)
    CLI_INT_OPT("finetune", "--warmup", 0, 100000000, p.warmup)
    CLI_INT_OPT("finetune", "--seed", 0, 0x7fffffffL, p.seed)
    CLI_INT_OPT("finetune", "--threads", 1, 1024, p.threads)
    CLI_INT_OPT("finetune", "--limit", 0, 100000000, p.limit)
    CLI_INT_OPT("finetune", "--per-class", 0, 100000000, p.per_class)
    CLI_INT_OPT("finetune", "--eval-limit", 0, 100000000, p.eval_limit)
    CLI_INT_OPT("finetune", "--eval-per-class", 0, 100000000, p.eval_per_class)
    CLI_INT_OPT("finetune", "--eval-levels", 1, 64, p.eval_levels)
    CLI_INT_OPT("finetune", "--checkpoint-every", 0, 100000000, p.checkpoint_every)
    CLI_INT_OPT("finetune", "--stop-after", 0, 100000000, p.stop_after)
    else {
      cli_errorf("finetune", "unknown option %s (see `vfrobust finetune --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("finetune", "%s needs a value", a);
    return CLI_USAGE;
  }
  if (!p.model_dir || !p.data_path || !p.ops || !p.out_dir) {
    cli_errorf("finetune", "%s is required (see `vfrobust finetune --help`)",
               !p.model_dir ? "--model DIR" : !p.data_path ? "--data DIR" : !p.ops ? "--ops LIST"
                                                                           : "--out DIR");
    return CLI_USAGE;
  }
  if (cli_check_out("finetune", "--out", p.out_dir, "--model", p.model_dir, "--data", p.data_path, "--eval-data",
                    p.eval_path, NULL))
    return CLI_USAGE;
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_finetune_run(&p, &err) != VFR_OK) return cli_report_error(&err, 1);
  fprintf(stderr, "finetune: wrote %s\n", p.out_dir);
  return CLI_OK;
}
