/* vfrobust tokenize --model DIR [--context N] [--no-truncate] TEXT...
 * Prints the CLIP token ids of each TEXT on one line, space-separated, with the start and
 * end tokens and no padding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust tokenize --model DIR [--context N] [--no-truncate] [--] TEXT...\n\n"
        "Prints the CLIP token ids of each TEXT on its own line: <|startoftext|>, the BPE ids,\n"
        "<|endoftext|>, space-separated, unpadded.\n\n"
        "  --model DIR      a CLIP folder with vocab.json and merges.txt\n"
        "  --context N      the context length (default 77); longer texts are truncated to N\n"
        "                   ids, the last one made <|endoftext|>\n"
        "  --no-truncate    fail instead of truncating a text longer than the context\n"
        "  --               everything after it is TEXT, even when it starts with '-'\n",
        f);
}

int cli_tokenize(int argc, char **argv) {
  const char *model = NULL, *context_arg = NULL, *value = NULL;
  int truncate = 1, n_texts = 0, options_done = 0;
  char **texts = calloc((size_t)argc + 1, sizeof *texts);
  if (!texts) {
    cli_errorf("tokenize", "out of memory");
    return CLI_FAIL;
  }
  int status = CLI_OK;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || strncmp(a, "--", 2) != 0) {
      texts[n_texts++] = argv[i];
    } else if (!strcmp(a, "--")) {
      options_done = 1;
    } else if (!strcmp(a, "--help")) {
      usage(stdout);
      free(texts);
      return CLI_OK;
    } else if (!strcmp(a, "--no-truncate")) {
      truncate = 0;
    } else if (cli_flag_value(argc, argv, &i, "--model", &value)) {
      if (!value) goto missing_value;
      model = value;
    } else if (cli_flag_value(argc, argv, &i, "--context", &value)) {
      if (!value) goto missing_value;
      context_arg = value;
    } else {
      cli_errorf("tokenize", "unknown option %s (see `vfrobust tokenize --help`)", a);
      free(texts);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("tokenize", "%s needs a value", a);
    free(texts);
    return CLI_USAGE;
  }
  int context = VFR_CLIP_CONTEXT_LENGTH;
  if (context_arg) {
    char *end;
    long v = strtol(context_arg, &end, 10);
    if (*context_arg == '\0' || *end != '\0' || v < 2 || v > 1000000) {
      cli_errorf("tokenize", "--context %s: expected an integer from 2 to 1000000", context_arg);
      free(texts);
      return CLI_USAGE;
    }
    context = (int)v;
  }
  if (!model || n_texts == 0) {
    cli_errorf("tokenize", "%s (see `vfrobust tokenize --help`)",
               !model ? "--model DIR is required" : "no TEXT to tokenize");
    free(texts);
    return CLI_USAGE;
  }

  vfr_error err;
  vfr_error_clear(&err);
  vfr_tokenizer *tok = NULL;
  int32_t *ids = malloc((size_t)context * sizeof *ids);
  if (!ids) {
    cli_errorf("tokenize", "out of memory");
    free(texts);
    return CLI_FAIL;
  }
  if (vfr_tokenizer_load(model, &tok, &err)) {
    status = cli_report_error(&err, 0);
  } else {
    for (int t = 0; t < n_texts; t++) {
      int n = 0;
      if (vfr_tokenize(tok, texts[t], context, ids, &n, truncate, &err)) {
        status = cli_report_error(&err, 0);
        break;
      }
      for (int k = 0; k < n; k++) printf(k ? " %d" : "%d", (int)ids[k]);
      putchar('\n');
    }
  }
  if (fflush(stdout) != 0 && status == CLI_OK) {
    cli_errorf("tokenize", "cannot write the output");
    status = CLI_FAIL;
  }
  vfr_tokenizer_free(tok);
  free(ids);
  free(texts);
  return status;
}
