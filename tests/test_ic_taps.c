/* The ImageNet-C row kernels that replace a table or a ternary by vector code
 * (src/perturb/ic_taps.c) give the plain scalar values for every input: vfr_ict_unit_row
 * equals v / 255. for all 256 bytes at every row length and offset (its AVX-512 form
 * computes the quotient instead of looking it up), and the clipping byte stores equal the
 * reference's ternaries on NaN, signed zeros, infinities, the clip bounds and their
 * neighbours. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_taps.h"

static int passed, failed;
#define CHECK(cond, ...)                            \
  do {                                              \
    if (cond) {                                     \
      passed++;                                     \
    } else {                                        \
      failed++;                                     \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
      printf(__VA_ARGS__);                          \
      printf("\n");                                 \
    }                                               \
  } while (0)

/* Every byte at every position of rows of 1..80 values, read from offsets 0..3. */
static void check_unit_row(void) {
  double unit[256];
  for (int v = 0; v < 256; v++) unit[v] = (double)v / 255.0;
  uint8_t s[256 + 83];
  double d[256 + 83];
  for (int off = 0; off < 4; off++)
    for (size_t n = 1; n <= 80; n++)
      for (int start = 0; start < 256; start += (int)n) {
        for (size_t q = 0; q < n; q++) s[off + q] = (uint8_t)((start + (int)q) & 255);
        vfr_ict_unit_row(d, s + off, n, unit);
        int bad = 0;
        for (size_t q = 0; q < n; q++) bad += memcmp(&d[q], &unit[s[off + q]], sizeof(double)) != 0;
        CHECK(bad == 0, "unit_row n=%zu off=%d start=%d: %d values differ from v / 255.", n, off,
              start, bad);
      }
}

/* The stores against the ternaries of the reference's clip (NaN fails v > 0). */
static void check_stores(void) {
  const double special[] = {NAN, -NAN, 0.0, -0.0, INFINITY, -INFINITY, 1.0, nextafter(1.0, 2.0),
                            nextafter(1.0, 0.0), 0.5, 254.999, 255.0, nextafter(255.0, 0.0),
                            nextafter(255.0, 300.0), 256.0, 1e300, -1e-300, 4.9e-324, -3.0,
                            0.999999, 1.0 / 255.0, 128.5};
  enum { N = 1000 };
  double s[N];
  uint8_t unit_out[N], out255[N];
  srand(7);
  for (int i = 0; i < N; i++)
    s[i] = i % 3 ? special[rand() % (int)(sizeof special / sizeof special[0])]
                 : ((double)rand() / RAND_MAX * 3.0 - 1.0) * (i % 2 ? 1.0 : 300.0);
  for (size_t n = 1; n <= N; n += n < 40 ? 1 : 97) {
    vfr_ict_store_unit_row(unit_out, s, n);
    vfr_ict_store_255_row(out255, s, n);
    int bad = 0;
    for (size_t q = 0; q < n; q++) {
      double t = s[q] > 0.0 ? s[q] : 0.0;
      double u = t < 1.0 ? t : 1.0, v = t < 255.0 ? t : 255.0;
      bad += unit_out[q] != (uint8_t)(int)(u * 255.0);
      bad += out255[q] != (uint8_t)(int)v;
    }
    CHECK(bad == 0, "stores n=%zu: %d bytes differ from the ternaries", n, bad);
  }
}

int main(void) {
  check_unit_row();
  check_stores();
  printf("test_ic_taps: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
