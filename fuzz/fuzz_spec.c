/* libFuzzer target: the SPEC and LIST parsers (`jpeg:q=30..90+brightness:1.2`, `editing9`).
 *
 * Beyond "no crash": an error is one line; a parsed spec has a known op and valid values,
 * and its levels can be generated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/perturb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  vfr_error err;
  vfr_spec spec;
  if (vfr_spec_parse(text, &spec, &err) == VFR_OK) {
    vfr_chain levels[7];
    double values[7];
    int n = 0;
    if (spec.kind != VFR_SPEC_CHAIN && !spec.op) abort();
    if (vfr_spec_levels(&spec, 7, levels, values, 7, &n, &err) != VFR_OK || n < 1 || n > 7) abort();
    for (int i = 0; i < n; i++)
      for (int s = 0; s < levels[i].n; s++)
        if (vfr_op_check_value(levels[i].steps[s].op, levels[i].steps[s].value, &err) != VFR_OK) abort();
  } else if (strchr(err.message, '\n')) {
    abort();
  }
  vfr_spec *specs = NULL;
  int count = 0;
  if (vfr_spec_list_parse(text, &specs, &count, &err) == VFR_OK) {
    if (count < 1 || !specs) abort();
  } else if (strchr(err.message, '\n')) {
    abort();
  }
  free(specs);
  free(text);
  return 0;
}
