/* Subcommands not built yet. Each is a weak definition: the file that implements a
 * subcommand (cli_<name>.c) provides the strong one and this placeholder drops out
 * at link time. Remove a line here once its command exists. */
#include "cli/cli.h"

#define PENDING(fn, name)                                                        \
  __attribute__((weak)) int fn(int argc, char **argv) {                          \
    (void)argc;                                                                  \
    (void)argv;                                                                  \
    cli_errorf(name, "this command is not implemented yet in this version");     \
    return CLI_FAIL;                                                             \
  }

