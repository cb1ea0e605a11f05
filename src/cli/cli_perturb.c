/* vfrobust perturb [--seed S] SPEC IN OUT
 * vfrobust perturb --sheet [--levels M] [--ops LIST] [--cell PX] [--seed S] IN OUT.png */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

#define OUT_JPEG_QUALITY 95

static void usage(FILE *f) {
  fputs("usage: vfrobust perturb [--seed S] SPEC IN OUT\n"
        "       vfrobust perturb --sheet [--levels M] [--ops LIST] [--cell PX] [--seed S] IN OUT\n\n"
        "Applies one perturbation level or a chain to the image IN and writes OUT, whose\n"
        "format follows its extension: .png (lossless), .jpg/.jpeg (quality 95), .webp.\n"
        "SPEC is one level or a chain: jpeg:50, brightness:f=1.3, hue:-0.05,\n"
        "jpeg:q=50+brightness:f=1.2, flip. `vfrobust ops` lists the ops and their parameters.\n\n"
        "  --seed S       the seed of seeded ops (gaussian_noise); default 0\n"
        "  --sheet        write a contact sheet instead: one row per op of LIST, one column\n"
        "                 per level (evenly spaced over the op's domain, low to high),\n"
        "                 labelled with op names and level values (also printed to stdout)\n"
        "  --levels M     levels per row of the sheet (default 5)\n"
        "  --ops LIST     the sheet's rows (default editing9)\n"
        "  --cell PX      the longer side of each cell in pixels (default 160)\n",
        f);
}

/* True if path ends in an extension vfr_image_save writes. */
static int known_extension(const char *path) {
  static const char *const exts[] = {".png", ".jpg", ".jpeg", ".webp"};
  size_t n = strlen(path);
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    size_t k = strlen(exts[i]);
    if (n > k && !strcasecmp(path + n - k, exts[i])) return 1;
  }
  return 0;
}

/* Parses a non-negative integer in [lo, hi]. */
static int parse_count(const char *flag, const char *s, unsigned long long lo,
                       unsigned long long hi, unsigned long long *v) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-') goto bad;
  *v = strtoull(s, &end, 10);
  if (errno || *end || *v < lo || *v > hi) goto bad;
  return 0;
bad:
  cli_errorf("perturb", "%s: `%s` is not an integer in %llu..%llu", flag, s ? s : "", lo, hi);
  return -1;
}

static int run_sheet(const char *list, int levels, int cell, uint64_t seed, const char *in_path,
                     const char *out_path) {
  vfr_error err;
  vfr_error_clear(&err);
  vfr_spec *specs = NULL;
  int n = 0;
  if (vfr_spec_list_parse(list, &specs, &n, &err)) return cli_report_error(&err, 1);
  vfr_image in = {0}, sheet = {0};
  int status = CLI_OK;
  if (vfr_image_load(in_path, NULL, &in, &err) ||
      vfr_contact_sheet(&in, specs, n, levels, cell, seed, &sheet, &err) ||
      vfr_image_save(&sheet, out_path, OUT_JPEG_QUALITY, &err)) {
    status = cli_report_error(&err, 0);
  } else {
    printf("%s: %d rows x %d levels, %dx%d pixels\n", out_path, n, levels, sheet.width,
           sheet.height);
    for (int r = 0; r < n; r++) {
      double values[64];
      vfr_chain chains[64];
      int got = 0;
      if (vfr_spec_levels(&specs[r], levels, chains, values, 64, &got, &err)) continue;
      printf("row %d: %s:", r + 1, specs[r].kind == VFR_SPEC_DOMAIN ? specs[r].op->name : specs[r].text);
      for (int j = 0; j < got && specs[r].kind == VFR_SPEC_DOMAIN; j++) printf(" %g", values[j]);
      putchar('\n');
    }
  }
  vfr_image_free(&in);
  vfr_image_free(&sheet);
  free(specs);
  return status;
}

int cli_perturb(int argc, char **argv) {
  const char *value = NULL, *list = "editing9";
  const char *pos[3];
  int n_pos = 0, sheet = 0;
  unsigned long long seed = 0, levels = 5, cell = 160;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(a, "--sheet")) {
      sheet = 1;
    } else if (cli_flag_value(argc, argv, &i, "--seed", &value)) {
      if (parse_count("--seed", value, 0, UINT64_MAX, &seed)) return CLI_USAGE;
    } else if (cli_flag_value(argc, argv, &i, "--levels", &value)) {
      if (parse_count("--levels", value, 1, 64, &levels)) return CLI_USAGE;
    } else if (cli_flag_value(argc, argv, &i, "--cell", &value)) {
      if (parse_count("--cell", value, 8, 4096, &cell)) return CLI_USAGE;
    } else if (cli_flag_value(argc, argv, &i, "--ops", &value)) {
      if (!value) {
        cli_errorf("perturb", "--ops needs a value");
        return CLI_USAGE;
      }
      list = value;
    } else if (a[0] == '-' && a[1] == '-') {
      cli_errorf("perturb", "unknown option %s (see `vfrobust perturb --help`)", a);
      return CLI_USAGE;
    } else if (n_pos < 3) {
      pos[n_pos++] = a;
    } else {
      cli_errorf("perturb", "too many arguments (see `vfrobust perturb --help`)");
      return CLI_USAGE;
    }
  }
  if (n_pos >= 2 && !known_extension(pos[n_pos - 1])) {
    cli_errorf(pos[n_pos - 1], "unknown output format (want .png, .jpg, .jpeg or .webp)");
    return CLI_USAGE;
  }
  if (sheet) {
    if (n_pos != 2) {
      cli_errorf("perturb", "--sheet takes IN OUT (see `vfrobust perturb --help`)");
      return CLI_USAGE;
    }
    return run_sheet(list, (int)levels, (int)cell, seed, pos[0], pos[1]);
  }
  if (n_pos != 3) {
    cli_errorf("perturb", "expected SPEC IN OUT (see `vfrobust perturb --help`)");
    return CLI_USAGE;
  }
  vfr_error err;
  vfr_error_clear(&err);
  vfr_spec spec;
  if (vfr_spec_parse(pos[0], &spec, &err)) return cli_report_error(&err, 1);
  if (spec.kind == VFR_SPEC_DOMAIN) {
    cli_errorf(pos[0], "perturb applies one level (e.g. %s:%s=%g), not a domain", spec.op->name,
               spec.op->param, spec.op->has_identity ? spec.op->identity : spec.op->hi);
    return CLI_USAGE;
  }
  vfr_image in = {0}, out = {0};
  int status = CLI_OK;
  if (vfr_image_load(pos[1], NULL, &in, &err) ||
      vfr_perturb_apply(&in, &spec.chain, (uint64_t)seed, &out, &err) ||
      vfr_image_save(&out, pos[2], OUT_JPEG_QUALITY, &err))
    status = cli_report_error(&err, 0);
  vfr_image_free(&in);
  vfr_image_free(&out);
  return status;
}
