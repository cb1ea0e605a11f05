/* vfrobust: dispatch to the subcommand named by argv[1]. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *synopsis;
} command;

static const command commands[] = {
    {"ops", cli_ops, "ops [--json]                       list the perturbation catalog"},
    {"perturb", cli_perturb, "perturb [--seed S] SPEC IN OUT     apply an op or a chain to an image (--sheet: a grid)"},
    {"embed", cli_embed, "embed --model DIR [--batch N] [--threads N] [--tokens] --out FILE.npy IMAGE...   raw embeddings or tokens"},
    {"model-info", cli_model_info, "model-info [--json] DIR            family, layout, sizes, parameters, FLOPs"},
    {"eval", cli_eval, "eval --model DIR --data DIR [--ops LIST] [--levels M] [--seed S] --out DIR [--resume]"},
    {"downstream", cli_downstream, "downstream --model DIR --train DIR --test DIR [--protocol linear|knn|zeroshot|depth] [--ops LIST] --out DIR"},
    {"depth-scenes", cli_depth_scenes, "depth-scenes --textures DIR --out DIR [--count N]   synthetic RGB-D scenes (ray cast)"},
    {"finetune", cli_finetune, "finetune --model DIR --data DIR --ops LIST [--lambda L] [--epochs E] [--train-blocks N] --out DIR"},
    {"train", cli_train, "train --model DIR --data DIR [--test DIR] [--epochs E] --out DIR   supervised training (linear head)"},
    {"classify", cli_classify, "classify --model DIR --data DIR       accuracy of a trained head"},
    {"compare", cli_compare, "compare STUDY... [--out DIR] [--markdown]   models x ops side by side"},
    {"report", cli_report, "report [--markdown] DIR            (re)build DIR/report.html, or print its per-op table"},
    {"tokenize", cli_tokenize, "tokenize --model DIR TEXT...       CLIP token ids, one line per TEXT"},
    {"perturb-set", cli_perturb_set, "perturb-set --data DIR --ops LIST [--levels M] --out DIR   every variant as PNG + manifest.csv"},
    {"score", cli_score, "score --manifest FILE --embeddings EMB.npy --out DIR   a study from embeddings made elsewhere"},
};
enum { n_commands = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
  fputs("usage: vfrobust COMMAND [ARGS]\n\n"
        "Measures how robust vision foundation models are to common image perturbations.\n\n"
        "commands:\n", f);
  for (int i = 0; i < n_commands; i++) fprintf(f, "  %s\n", commands[i].synopsis);
  fputs("\n  --help, -h        this text;  --version   the version\n"
        "Run `vfrobust COMMAND --help` for a command's options.\n"
        "Exit status: 0 success, 1 failure, 2 bad usage.\n", f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("vfrobust %s\n", vfr_version());
    return CLI_OK;
  }
  for (int i = 0; i < n_commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  cli_errorf(argv[1], "unknown command (see `vfrobust --help`)");
  return CLI_USAGE;
}
