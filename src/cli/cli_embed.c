/* vfrobust embed --model DIR [--batch N] [--threads N] [--pooling cls|cls+mean]
 *                [--precision fp32|bf16|auto] [--tokens [--layers K] [--no-norm]]
 *                --out FILE.npy IMAGE...
 * Writes the raw embeddings of the images, float32 [N, d], or with --tokens the token
 * outputs of the last K blocks, float32 [N, T, K*D] (a ResNet: its last feature map,
 * [N, 1 + h*w, C]), as NumPy .npy v1.0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vfrobust/tokens.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust embed --model DIR [--batch N] [--threads N] [--pooling cls|cls+mean]\n"
        "                      [--precision fp32|bf16|auto] [--tokens [--layers K] [--no-norm]]\n"
        "                      --out FILE.npy IMAGE...\n\n"
        "Embeds each IMAGE with the model's own preprocessing and writes the raw embeddings\n"
        "(not normalised), float32 [N, d] in IMAGE order, as a NumPy .npy file.\n\n"
        "  --model DIR       a Hugging Face CLIP or DINOv2 folder (config.json,\n"
        "                    model.safetensors) or an OpenCLIP folder (open_clip_config.json,\n"
        "                    open_clip_model.safetensors: ViT or ResNet)\n"
        "  --batch N         images per forward pass (default 16)\n"
        "  --threads N       compute threads (default: OpenMP's default)\n"
        "  --pooling P       DINOv2: cls (pooler_output, default) or cls+mean (CLS and the mean\n"
        "                    of the patch tokens, 2*hidden wide)\n"
        "  --precision P     fp32 (default) or bf16: the transformer blocks' products\n"
        "                    (linear layers; with oneDNN also attention) on bf16 values,\n"
        "                    fp32 accumulation (needs AVX-512; about 1e-3 relative\n"
        "                    embedding error), or auto:\n"
        "                    bf16 where the CPU has AMX (faster there), else fp32\n"
        "  --tokens          dense features instead: every token (CLS, registers, patches row\n"
        "                    by row) of the last K blocks, float32 [N, T, K*D], each token's\n"
        "                    layers side by side, the earliest first; a ResNet: its last\n"
        "                    stage's feature map before the attention pool, [N, 1 + h*w, C],\n"
        "                    token 0 the mean over the positions, then the positions row by row\n"
        "  --layers K        with --tokens: the last K blocks (default 1; a ResNet: 1 only)\n"
        "  --no-norm         with --tokens: the raw residual stream, not passed through the\n"
        "                    final layernorm (DINOv2 layernorm, CLIP post_layernorm; a ResNet\n"
        "                    has none: no effect)\n"
        "  --out FILE.npy    where to write the embeddings\n"
        "  --                everything after it is an IMAGE\n",
        f);
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
    cli_errorf("embed", "%s %s: expected an integer from %d to %d", flag, s, lo, hi);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Loads images [start, start+B), preprocesses them into pixels (B,3,H,W). */
static int prepare_batch(vfr_model *m, char **files, int start, int B, float *pixels,
                         size_t per_image) {
  vfr_error err;
  vfr_error_clear(&err);
  for (int i = 0; i < B; i++) {
    vfr_image img = {0};
    const char *file = files[start + i];
    if (vfr_image_load(file, NULL, &img, &err) != VFR_OK) return cli_report_error(&err, 0);
    int rc = vfr_model_preprocess(m, &img, file, pixels + (size_t)i * per_image, &err);
    vfr_image_free(&img);
    if (rc != VFR_OK) return cli_report_error(&err, 0);
  }
  return CLI_OK;
}

int cli_embed(int argc, char **argv) {
  const char *model_dir = NULL, *out_path = NULL, *value = NULL;
  vfr_model_params params = vfr_model_default_params();
  int n_files = 0, options_done = 0, tokens = 0, layers = 1, norm = 1, layers_given = 0;
  char **files = calloc((size_t)argc + 1, sizeof *files);
  if (!files) {
    cli_errorf("embed", "out of memory");
    return CLI_FAIL;
  }
  int status = CLI_OK;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || strncmp(a, "--", 2) != 0) {
      files[n_files++] = argv[i];
    } else if (!strcmp(a, "--")) {
      options_done = 1;
    } else if (!strcmp(a, "--help")) {
      usage(stdout);
      free(files);
      return CLI_OK;
    } else if (!strcmp(a, "--tokens")) {
      tokens = 1;
    } else if (!strcmp(a, "--no-norm")) {
      norm = 0;
      layers_given = 1;
    } else if (cli_flag_value(argc, argv, &i, "--layers", &value)) {
      if (!value) goto missing_value;
      if (parse_int("--layers", value, 1, 4096, &layers)) goto usage_error;
      layers_given = 1;
    } else if (cli_flag_value(argc, argv, &i, "--model", &value)) {
      if (!value) goto missing_value;
      model_dir = value;
    } else if (cli_flag_value(argc, argv, &i, "--out", &value)) {
      if (!value) goto missing_value;
      out_path = value;
    } else if (cli_flag_value(argc, argv, &i, "--batch", &value)) {
      if (!value) goto missing_value;
      if (parse_int("--batch", value, 1, 4096, &params.max_batch)) goto usage_error;
    } else if (cli_flag_value(argc, argv, &i, "--threads", &value)) {
      if (!value) goto missing_value;
      if (parse_int("--threads", value, 1, 1024, &params.threads)) goto usage_error;
    } else if (cli_flag_value(argc, argv, &i, "--pooling", &value)) {
      if (!value) goto missing_value;
      if (!strcmp(value, "cls")) params.pooling = VFR_POOLING_CLS;
      else if (!strcmp(value, "cls+mean")) params.pooling = VFR_POOLING_CLS_MEAN;
      else {
        cli_errorf("embed", "--pooling %s: expected cls or cls+mean", value);
        goto usage_error;
      }
    } else if (cli_flag_value(argc, argv, &i, "--precision", &value)) {
      if (!value) goto missing_value;
      if (!strcmp(value, "fp32")) params.precision = VFR_PRECISION_FP32;
      else if (!strcmp(value, "bf16")) params.precision = VFR_PRECISION_BF16;
      else if (!strcmp(value, "auto")) params.precision = VFR_PRECISION_AUTO;
      else {
        cli_errorf("embed", "--precision %s: expected fp32, bf16 or auto", value);
        goto usage_error;
      }
    } else {
      cli_errorf("embed", "unknown option %s (see `vfrobust embed --help`)", a);
      goto usage_error;
    }
    continue;
  missing_value:
    cli_errorf("embed", "%s needs a value", a);
    goto usage_error;
  }
  if (!model_dir || !out_path || n_files == 0) {
    cli_errorf("embed", "%s (see `vfrobust embed --help`)",
               !model_dir ? "--model DIR is required"
               : !out_path ? "--out FILE.npy is required" : "no IMAGE to embed");
    goto usage_error;
  }
  if (layers_given && !tokens) {
    cli_errorf("embed", "--layers and --no-norm go with --tokens");
    goto usage_error;
  }
  if (cli_check_out("embed", "--out", out_path, "--model", model_dir, NULL)) goto usage_error;
  for (int k = 0; k < n_files; k++)
    if (cli_check_out("embed", "--out", out_path, "IMAGE", files[k], NULL)) goto usage_error;
  if (cli_check_writable(out_path)) {
    free(files);
    return CLI_FAIL;
  }

  vfr_error err;
  vfr_error_clear(&err);
  vfr_model *m = NULL;
  if (vfr_model_load(model_dir, &params, &m, &err) != VFR_OK) {
    status = cli_report_error(&err, 1); /* EINVAL: an option the model cannot take */
    free(files);
    return status;
  }
  vfr_model_info info;
  vfr_model_get_info(m, &info);
  vfr_token_info ti;
  vfr_model_get_token_info(m, &ti);
  if (tokens && layers > ti.max_layers) {
    if (strstr(info.family, "resnet"))
      cli_errorf("embed", "--layers %d: %s is a ResNet, whose dense features are its last stage's feature "
                 "map alone (--layers 1)", layers, model_dir);
    else
      cli_errorf("embed", "--layers %d: %s has %d layers", layers, model_dir, ti.max_layers);
    vfr_model_free(m);
    free(files);
    return CLI_USAGE;
  }
  size_t per_image = (size_t)3 * info.input_height * info.input_width;
  const size_t width = tokens ? (size_t)ti.num_tokens * layers * ti.dim : (size_t)info.embed_dim;
  int mb = params.max_batch < n_files ? params.max_batch : n_files;
  float *pixels = malloc((size_t)mb * per_image * sizeof(float));
  float *emb = malloc((size_t)n_files * width * sizeof(float));
  if (!pixels || !emb) {
    cli_errorf(out_path, "out of memory for %d embeddings", n_files);
    status = CLI_FAIL;
  }
  for (int start = 0; status == CLI_OK && start < n_files; start += mb) {
    int B = n_files - start < mb ? n_files - start : mb;
    status = prepare_batch(m, files, start, B, pixels, per_image);
    int rc = status != CLI_OK ? VFR_OK
             : tokens ? vfr_model_tokens_pixels(m, pixels, B, layers, norm, emb + (size_t)start * width, &err)
                      : vfr_model_embed_pixels(m, pixels, B, emb + (size_t)start * width, &err);
    if (rc != VFR_OK) status = cli_report_error(&err, 0);
  }
  const int64_t shape[3] = {n_files, tokens ? ti.num_tokens : info.embed_dim, (int64_t)layers * ti.dim};
  if (status == CLI_OK && vfr_npy_write_f32_nd(out_path, emb, tokens ? 3 : 2, shape, &err) != VFR_OK)
    status = cli_report_error(&err, 0);
  free(pixels);
  free(emb);
  vfr_model_free(m);
  free(files);
  return status;

usage_error:
  free(files);
  return CLI_USAGE;
}
