/* vfr_big_calloc: zeroed like calloc, large buffers on 2 MiB boundaries, overflow refused,
 * and (where Linux reports it) large buffers backed by huge pages when the kernel has them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/big_alloc.h"

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Kilobytes of AnonHugePages in /proc/self/smaps_rollup, or -1 where it cannot be read. */
static long anon_huge_kib(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* 1 where transparent huge pages are enabled for madvised memory ("always" or "madvise"). */
static int thp_madvise_enabled(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return 0;
  char s[128] = {0};
  int ok = fgets(s, sizeof s, f) && (strstr(s, "[always]") || strstr(s, "[madvise]"));
  fclose(f);
  return ok;
}

int main(void) {
  int failed = 0;
  /* small: plain calloc, zeroed */
  unsigned char *s = vfr_big_calloc(1000, 3);
  if (!s || !all_zero(s, 3000)) failed++, printf("small buffer not zeroed\n");
  free(s);
  if (!(s = vfr_big_calloc(0, 8))) failed++, printf("zero-size request gave NULL\n");
  free(s);
  /* overflow of n * size */
  if (vfr_big_calloc(SIZE_MAX / 2, 4) != NULL) failed++, printf("overflow not refused\n");
  /* large: the huge-page path */
  size_t n = (size_t)9 << 20; /* 9 MiB: not a multiple of 2 MiB */
  long before = anon_huge_kib();
  float *a = vfr_big_calloc(n / sizeof(float), sizeof(float));
  if (!a) {
    printf("test_big_alloc: FAILED (out of memory)\n");
    return 1;
  }
  if ((uintptr_t)a % ((size_t)2 << 20)) failed++, printf("large buffer not on a 2 MiB boundary\n");
  if (!all_zero((const unsigned char *)a, n)) failed++, printf("large buffer not zeroed\n");
  long after = anon_huge_kib();
  for (size_t i = 0; i < n / sizeof(float); i++) a[i] = (float)i; /* writable throughout */
  free(a);
  if (thp_madvise_enabled() && before >= 0 && after >= 0)
    printf("huge pages: %ld KiB more after a 9 MiB buffer (0 where the kernel had none free)\n",
           after - before);
  printf("test_big_alloc: %s\n", failed ? "FAILED" : "ok");
  return failed != 0;
}
