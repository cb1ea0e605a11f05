/* vfrobust ops [--json]: the perturbation catalog. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fputs("usage: vfrobust ops [--json]\n\n"
        "Lists the perturbation catalog: each op's name, parameter, default domain, identity\n"
        "(the value that leaves the image unchanged) and the reference it matches.\n"
        "SPEC syntax: name:value (jpeg:50), name:lo..hi (gaussian_blur:0..3), name alone (the\n"
        "default domain), name:param=value (jpeg:q=30..90); `+` chains levels\n"
        "(jpeg:50+brightness:1.2). Presets for LISTs: editing9 (the SPEC's nine ops), imagenet-c\n"
        "(ImageNet-C's 15 corruptions), imagenet-c-all (with the 4 extras: 19), all.\n\n"
        "  --json    print the catalog as JSON: {\"ops\": [...], \"presets\": {...}}\n",
        f);
}

static json_t *number_or_null(int has, double v) { return has ? json_real(v) : json_null(); }

static int print_json(void) {
  json_t *root = json_object(), *ops = json_array(), *presets = json_object();
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(op->name));
    json_object_set_new(o, "parameter", op->param ? json_string(op->param) : json_null());
    json_object_set_new(o, "description", json_string(op->param_desc));
    json_object_set_new(o, "domain", op->param ? json_pack("[f,f]", op->lo, op->hi) : json_null());
    json_object_set_new(o, "valid", op->param ? json_pack("{s:f,s:f,s:b}", "min", op->min, "max",
                                                          op->max, "min_exclusive", op->min_open)
                                              : json_null());
    json_object_set_new(o, "identity", number_or_null(op->has_identity, op->identity));
    json_object_set_new(o, "integer", json_boolean(op->integer));
    json_object_set_new(o, "seeded", json_boolean(op->uses_seed));
    json_object_set_new(o, "reference", json_string(op->reference));
    json_array_append_new(ops, o);
  }
  for (int p = 0; p < vfr_preset_count(); p++) {
    const char *name = vfr_preset_name(p);
    int n = vfr_preset_ops(name, NULL, 0);
    const vfr_op **list = malloc(sizeof *list * (size_t)(n > 0 ? n : 1));
    json_t *names = json_array();
    if (list) {
      vfr_preset_ops(name, list, n);
      for (int i = 0; i < n; i++) json_array_append_new(names, json_string(list[i]->name));
    }
    free(list);
    json_object_set_new(presets, name, names);
  }
  json_object_set_new(root, "ops", ops);
  json_object_set_new(root, "presets", presets);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  json_decref(root);
  if (!text) {
    cli_errorf("ops", "out of memory");
    return CLI_FAIL;
  }
  puts(text);
  free(text);
  return CLI_OK;
}

static void print_table(void) {
  printf("%-15s %-7s %-22s %-13s %-9s %s\n", "name", "param", "description", "domain", "identity",
         "reference");
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    char domain[40] = "-", identity[24] = "-";
    if (op->param) snprintf(domain, sizeof domain, "%g..%g", op->lo, op->hi);
    if (op->has_identity) snprintf(identity, sizeof identity, "%g", op->identity);
    printf("%-15s %-7s %-22s %-13s %-9s %s\n", op->name, op->param ? op->param : "-",
           op->param_desc, domain, identity, op->reference);
  }
}

int cli_ops(int argc, char **argv) {
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return CLI_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else {
      cli_errorf("ops", "unexpected argument %s (see `vfrobust ops --help`)", argv[i]);
      return CLI_USAGE;
    }
  }
  if (json) return print_json();
  print_table();
  return CLI_OK;
}
