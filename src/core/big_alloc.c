/* Large zeroed buffers on huge pages (see big_alloc.h). */
#include "core/big_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define BIG_ALLOC_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *vfr_big_calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  size_t bytes = n * size;
  if (bytes < BIG_ALLOC_MIN) return calloc(n ? n : 1, size ? size : 1);
  size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  void *p = aligned_alloc(HUGE_PAGE, rounded);
  if (!p) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#endif
  memset(p, 0, rounded);
  return p;
}
