/* vfrobust depth-scenes --textures DIR --out DIR [--count N] [--seed S] [--size WxH]
 * Renders synthetic RGB-D scenes (vfr_scenes_write). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vfrobust/depth.h"

static const char usage_text[] =
    "usage: vfrobust depth-scenes --textures DIR --out DIR [--count N] [--seed S] [--size WxH]\n"
    "\n"
    "Renders N synthetic RGB-D scenes with a small ray caster: a room (floor, ceiling, walls),\n"
    "boxes and spheres, each surface textured with an image of --textures, Lambert-shaded by\n"
    "a ceiling light and a light at the camera, with haze growing with the distance.\n"
    "Writes OUT/NNNNN.png (RGB) and OUT/NNNNN_depth.png (16-bit, millimetres along the\n"
    "optical axis, exact at each pixel's centre): a folder `downstream --protocol depth`\n"
    "reads. Scene i is drawn from seed S + i.\n"
    "\n"
    "  --textures DIR   images to texture the surfaces with (an ImageFolder, a folder, a CSV)\n"
    "  --count N        scenes (default 64)\n"
    "  --seed S         first scene's seed (default 0)\n"
    "  --size WxH       image size (default 64x48)\n";

int cli_depth_scenes(int argc, char **argv) {
  const char *textures = NULL, *out = NULL, *value = NULL;
  long n = 0;
  int count = 64, width = 64, height = 48;
  uint64_t seed = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return CLI_OK;
    }
    CLI_STR_OPT("--textures", textures)
    CLI_STR_OPT("--out", out)
    CLI_INT_OPT("depth-scenes", "--count", 1, 99999, count)
    else if (cli_flag_value(argc, argv, &i, "--seed", &value)) {
      if (!value) goto missing_value;
      if (cli_parse_u64("--seed", value, &seed)) return CLI_USAGE;
    } else if (cli_flag_value(argc, argv, &i, "--size", &value)) {
      if (!value) goto missing_value;
      char tail;
      if (sscanf(value, "%dx%d%c", &width, &height, &tail) != 2 || width < 8 || height < 8 || width > 4096 ||
          height > 4096) {
        cli_errorf("depth-scenes", "--size %s: expected WxH, 8 to 4096 pixels a side", value);
        return CLI_USAGE;
      }
    } else {
      cli_errorf("depth-scenes", "unknown option %s (see `vfrobust depth-scenes --help`)", a);
      return CLI_USAGE;
    }
    continue;
  missing_value:
    cli_errorf("depth-scenes", "%s needs a value", a);
    return CLI_USAGE;
  }
  (void)n;
  if (!textures || !out) {
    cli_errorf("depth-scenes", "--textures DIR and --out DIR are required (see `vfrobust depth-scenes --help`)");
    return CLI_USAGE;
  }
  if (cli_check_out("depth-scenes", "--out", out, "--textures", textures, NULL)) return CLI_USAGE;
  vfr_error err;
  vfr_error_clear(&err);
  if (vfr_scenes_write(out, textures, count, seed, width, height, &err)) return cli_report_error(&err, 1);
  fprintf(stderr, "depth-scenes: wrote %d scenes (%dx%d) into %s\n", count, width, height, out);
  return CLI_OK;
}
