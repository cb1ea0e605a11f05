/* Large zeroed buffers backed by huge pages where the kernel offers them. */
#ifndef VFR_CORE_BIG_ALLOC_H
#define VFR_CORE_BIG_ALLOC_H

#include <stddef.h>

/* n * size zeroed bytes, as calloc, freed with free(); NULL when out of memory or when the
 * product overflows. A buffer of 4 MiB or more starts on a 2 MiB boundary, is advised as
 * huge pages (madvise MADV_HUGEPAGE: Linux's transparent huge pages in their default
 * "madvise" mode) and is zeroed here, so that its pages are faulted in now, 2 MiB at a
 * time where the kernel has huge pages, instead of 4 KiB at a time where a hot loop first
 * touches them (a read first maps the shared zero page, the write after it copies it and
 * flushes the other threads' TLBs: two faults per page). */
void *vfr_big_calloc(size_t n, size_t size);

#endif
