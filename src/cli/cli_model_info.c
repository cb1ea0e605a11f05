/* vfrobust model-info [--json] DIR
 * Prints a model folder's family, type, sizes, parameter count and FLOPs per image. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char *precision_name(vfr_precision p) {
  return p == VFR_PRECISION_BF16 ? "bf16" : "fp32";
}

static void usage(FILE *f) {
  fputs("usage: vfrobust model-info [--json] DIR\n\n"
        "Loads the model folder DIR (Hugging Face CLIP or DINOv2; OpenCLIP ViT or ResNet),\n"
        "checking every tensor's shape, and prints its family, layout (hugging_face or\n"
        "open_clip), model_type, sizes, parameter count and FLOPs per image.\n"
        "  --json   one JSON object instead of `key: value` lines\n",
        f);
}

int cli_model_info(int argc, char **argv) {
  const char *dir = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strncmp(argv[i], "--", 2) || dir) {
      cli_errorf("model-info", "unexpected argument %s (see `vfrobust model-info --help`)",
                 argv[i]);
      return CLI_USAGE;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    cli_errorf("model-info", "DIR is required (see `vfrobust model-info --help`)");
    return CLI_USAGE;
  }
  vfr_error err;
  vfr_error_clear(&err);
  vfr_model *m = NULL;
  if (vfr_model_load(dir, NULL, &m, &err) != VFR_OK) return cli_report_error(&err, 0);
  vfr_model_info in;
  vfr_model_get_info(m, &in);
  vfr_model_free(m);
  if (json) {
    printf("{\"family\": \"%s\", \"layout\": \"%s\", \"model_type\": \"%s\", \"hidden_size\": %d, \"num_layers\": %d, "
           "\"num_heads\": %d, \"intermediate_size\": %d, \"patch_size\": %d, \"image_size\": %d, "
           "\"num_register_tokens\": %d, \"input_height\": %d, \"input_width\": %d, "
           "\"num_tokens\": %d, \"embed_dim\": %d, \"num_parameters\": %lld, "
           "\"weight_bytes\": %lld, \"flops_per_image\": %.0f, \"engine\": \"%s\", "
           "\"engine_isa\": \"%s\", \"precision\": \"%s\", \"precision_auto\": \"%s\"}\n",
           in.family, in.layout, in.model_type, in.hidden_size, in.num_layers, in.num_heads,
           in.intermediate_size, in.patch_size, in.image_size, in.num_register_tokens,
           in.input_height, in.input_width, in.num_tokens, in.embed_dim,
           (long long)in.num_parameters, (long long)in.weight_bytes, in.flops_per_image, in.engine,
           in.engine_isa, precision_name(in.precision), precision_name(vfr_precision_auto()));
    return CLI_OK;
  }
  printf("family: %s\nlayout: %s\nmodel_type: %s\nhidden_size: %d\nnum_layers: %d\nnum_heads: %d\n"
         "intermediate_size: %d\npatch_size: %d\nimage_size: %d\nnum_register_tokens: %d\n"
         "input: %dx%d\nnum_tokens: %d\nembed_dim: %d\nparameters: %lld\nweight_bytes: %lld\n"
         "flops_per_image: %.4g (%.2f GFLOPs)\nengine: %s (%s)\nprecision: %s (auto: %s)\n",
         in.family, in.layout, in.model_type, in.hidden_size, in.num_layers, in.num_heads,
         in.intermediate_size, in.patch_size, in.image_size, in.num_register_tokens,
         in.input_width, in.input_height, in.num_tokens, in.embed_dim,
         (long long)in.num_parameters, (long long)in.weight_bytes, in.flops_per_image,
         in.flops_per_image / 1e9, in.engine, in.engine_isa, precision_name(in.precision),
         precision_name(vfr_precision_auto()));
  return CLI_OK;
}
