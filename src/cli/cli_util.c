/* Helpers shared by the subcommands: error lines and flag parsing. */
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_errorf(const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (what && *what) fprintf(stderr, "vfrobust: %s: ", what);
  else fputs("vfrobust: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_report_error(const vfr_error *err, int usage_on_einval) {
  fprintf(stderr, "vfrobust: %s\n", err->message[0] ? err->message : vfr_status_name(err->code));
  return (usage_on_einval && err->code == VFR_EINVAL) ? CLI_USAGE : CLI_FAIL;
}

int cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    *value = NULL;
    return 1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_parse_long(const char *command, const char *flag, const char *s, long lo, long hi,
                   long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
    cli_errorf(command, "%s %s: expected an integer from %ld to %ld", flag, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

int cli_parse_u64(const char *flag, const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = s ? strtoull(s, &end, 10) : 0;
  if (!s || *s < '0' || *s > '9' || *end != '\0' || errno == ERANGE) {
    cli_errorf(flag, "%s: expected an integer from 0 to 18446744073709551615", s ? s : "");
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

int cli_parse_double(const char *command, const char *flag, const char *s, double lo, double hi,
                     double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
    cli_errorf(command, "%s %s: expected a number from %g to %g", flag, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}
