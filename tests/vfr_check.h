/* The C tests' one check, shared by the test files: CHECK(cond, format, ...) counts a
 * pass, or prints "FAIL file:line: message" and counts a failure. A test's main prints
 * `passed` and `failed` and returns failed != 0. Each test is one file, so the counters
 * are that test's. */
#ifndef VFR_CHECK_H
#define VFR_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      passed++;                                   \
    } else {                                      \
      failed++;                                   \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)

#endif
