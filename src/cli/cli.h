/* The vfrobust command-line tool: one file per subcommand (cli_<name>.c).
 * Each subcommand is `int cli_<name>(int argc, char **argv)` where argv[0] is the
 * subcommand's name, and returns the process exit status:
 *   0 success, 1 failure (bad input, I/O), 2 bad usage. */
#ifndef VFR_CLI_H
#define VFR_CLI_H

#include "vfrobust.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cli_ops(int argc, char **argv);
int cli_perturb(int argc, char **argv);
int cli_embed(int argc, char **argv);
int cli_model_info(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_downstream(int argc, char **argv);
int cli_finetune(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_classify(int argc, char **argv);
int cli_perturb_set(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_compare(int argc, char **argv);
int cli_depth_scenes(int argc, char **argv);

/* Prints the one-line error `vfrobust: WHAT: message` to stderr. */
void cli_errorf(const char *what, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints a library error (its message already names the file) and returns CLI_FAIL,
 * or CLI_USAGE for VFR_EINVAL when usage_on_einval is set. */
int cli_report_error(const vfr_error *err, int usage_on_einval);

/* True if argv[i] is `--name`; on `--name=value` or `--name value` sets *value. */
int cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value);

/* *out = the integer (or number) s of option `flag` when it lies in [lo, hi]; otherwise an
 * error line naming command and flag, and -1. */
int cli_parse_long(const char *command, const char *flag, const char *s, long lo, long hi,
                   long *out);
/* *out = the unsigned 64-bit integer s (decimal digits only, at most 2^64 - 1: a larger
 * value is refused, never saturated); otherwise an error line naming flag, and -1. */
int cli_parse_u64(const char *flag, const char *s, uint64_t *out);
int cli_parse_double(const char *command, const char *flag, const char *s, double lo, double hi,
                     double *out);

/* Refuses an output that would write over an input: after resolving symlinks (the deepest
 * existing ancestor of each path), `out` must not be an input, contain one, or lie inside an
 * input folder. The variadic arguments are (flag, path) pairs of the inputs, ended by NULL;
 * NULL paths are skipped. Returns 0, or prints an error line naming both and returns
 * CLI_USAGE. */
int cli_check_out(const char *command, const char *out_flag, const char *out, ...);
/* Before any work: a file can be written at path (its folder exists and is writable; it is
 * not a folder). Returns 0, or prints `vfrobust: PATH: cannot write (why)` and returns
 * CLI_FAIL (CLI_USAGE for a folder). */
int cli_check_writable(const char *path);

/* Option clauses for a parse loop
 *   for (int i = 1; i < argc; i++) { if (...) ... CLI_INT_OPT(...) ... else { unknown }
 *                                    continue; missing_value: ... }
 * that declares `const char *value` and, for the clauses it uses, `long n` (CLI_INT_OPT) and
 * `double x` (CLI_NUM_OPT). Each clause matches --flag (or --flag=V), parses its value within
 * [lo, hi] (otherwise an error line naming cmd, and a CLI_USAGE return) and stores it in
 * lvalue. */
#define CLI_INT_OPT(cmd, flag, lo, hi, lvalue)                              \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {                  \
    if (!value) goto missing_value;                                         \
    if (cli_parse_long(cmd, flag, value, lo, hi, &n)) return CLI_USAGE;     \
    lvalue = n;                                                             \
  }
#define CLI_NUM_OPT(cmd, flag, lo, hi, lvalue)                              \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {                  \
    if (!value) goto missing_value;                                         \
    if (cli_parse_double(cmd, flag, value, lo, hi, &x)) return CLI_USAGE;   \
    lvalue = x;                                                             \
  }
#define CLI_STR_OPT(flag, lvalue)                                           \
  else if (cli_flag_value(argc, argv, &i, flag, &value)) {                  \
    if (!value) goto missing_value;                                         \
    lvalue = value;                                                         \
  }

#endif
