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
      "  --epochs E           passes over the data (default 1)\n"
      "  --train-blocks N     train the last N blocks (+ final layernorm, projection);\n"
      "                       0 = everything (default 0)\n"
      "  --batch B            images per optimiser step (default 16)\n"
      "  --accum K            split each batch into K micro-batches (default 1)\n"
      "  --lr LR              peak learning rate (default 1e-5)\n"
      "  --lr-min LR          final learning rate of the cosine (default 0)\n"
      "  --wd WD              AdamW weight decay (default 0.01)\n"
      "  --beta1 B1, --beta2 B2, --adam-eps EPS   AdamW (default 0.9, 0.999, 1e-8)\n"
      "  --warmup STEPS       linear warmup steps (default 0)\n"
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

static void progress(void *user, const vfr_finetune_progress *p) {
  (void)user;
  if (strcmp(p->phase, "train") != 0) {
    fprintf(stderr, "finetune: %s\n", p->phase);
    return;
  }
  fprintf(stderr, "finetune: step %ld/%ld loss %.6f (L1 %.6f L2 %.6f) lr %.3g  %.2f steps/s  "
          "ETA %.0f s\n", p->step, p->total, p->loss, p->l1, p->l2, p->lr, p->steps_per_s,
          p->eta_s);
}

int cli_finetune(int argc, char **argv) {
  vfr_finetune_params p = vfr_finetune_default_params();
  p.progress = progress;
  const char *value = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long n;
    double x;
#define INT_OPT(flag, lo, hi, field)                            \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {      \
    if (!value) goto missing_value;                             \
    if (cli_parse_long("finetune", flag, value, lo, hi, &n)) return CLI_USAGE;  \
    p.field = n;                                                \
  }
#define NUM_OPT(flag, lo, hi, field)                              \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {        \
    if (!value) goto missing_value;                               \
    if (cli_parse_double("finetune", flag, value, lo, hi, &x)) return CLI_USAGE;  \
    p.field = x;                                                  \
  }
#define STR_OPT(flag, field)                                 \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {   \
    if (!value) goto missing_value;                          \
    p.field = value;                                         \
  }
    if (!strcmp(a, "--help")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(a, "--resume")) {
      p.resume = 1;
    } else if (!strcmp(a, "--quiet")) {
      p.progress = NULL;
    }
    STR_OPT("--model", model_dir)
    STR_OPT("--data", data_path)
    STR_OPT("--ops", ops)
    STR_OPT("--out", out_dir)
    STR_OPT("--eval-data", eval_path)
    STR_OPT("--eval-ops", eval_ops)
    NUM_OPT("--lambda", 0, 1e6, lambda)
    INT_OPT("--epochs", 1, 100000, epochs)
    INT_OPT("--train-blocks", 0, 100000, train_blocks)
    INT_OPT("--batch", 1, 65536, batch)
    INT_OPT("--accum", 1, 65536, accum)
    NUM_OPT("--lr", 0, 1, lr)
    NUM_OPT("--lr-min", 0, 1, lr_min)
    NUM_OPT("--wd", 0, 1000, weight_decay)
    NUM_OPT("--beta1", 0, 0.999999, beta1)
    NUM_OPT("--beta2", 0, 0.999999, beta2)
    NUM_OPT("--adam-eps", 1e-30, 1, adam_eps)
    INT_OPT("--warmup", 0, 100000000, warmup)
    INT_OPT("--seed", 0, 0x7fffffffL, seed)
    INT_OPT("--threads", 1, 1024, threads)
    INT_OPT("--limit", 0, 100000000, limit)
    INT_OPT("--per-class", 0, 100000000, per_class)
    INT_OPT("--eval-limit", 0, 100000000, eval_limit)
    INT_OPT("--eval-per-class", 0, 100000000, eval_per_class)
    INT_OPT("--eval-levels", 1, 64, eval_levels)
    INT_OPT("--checkpoint-every", 0, 100000000, checkpoint_every)
    INT_OPT("--stop-after", 0, 100000000, stop_after)
    else {
      cli_errorf("finetune", "unknown option %s (see `vfrobust finetune --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("finetune", "%s needs a value", a);
    return CLI_USAGE;
#undef INT_OPT
#undef NUM_OPT
#undef STR_OPT
  }
  if (!p.model_dir || !p.data_path || !p.ops || !p.out_dir) {
    cli_errorf("finetune", "%s is required (see `vfrobust finetune --help`)",
               !p.model_dir ? "--model DIR" : !p.data_path ? "--data DIR" : !p.ops ? "--ops LIST"
                                                                           : "--out DIR");
    return CLI_USAGE;
  }
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_finetune_run(&p, &err) != VFR_OK) return cli_report_error(&err, 1);
  fprintf(stderr, "finetune: wrote %s\n", p.out_dir);
  return CLI_OK;
}
