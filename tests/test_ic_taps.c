/* The ImageNet-C row kernels that replace a table or a ternary by vector code
 * (src/perturb/ic_taps.c) give the plain scalar values for every input: vfr_ict_unit_row
 * equals v / 255. for all 256 bytes at every row length and offset (its AVX-512 form
 * computes the quotient instead of looking it up), and the clipping byte stores equal the
 * reference's ternaries on NaN, signed zeros, infinities, the clip bounds and their
 * neighbours; and vfr_ict_sum_255_row (float sums, the exact double sum where truncation
 * could differ) stores the truncated double sums of the scalar loop, byte for byte, on
 * flat taps (sums next to an integer), random and extreme bytes, at every tail length, and
 * vfr_ict_sum_unit_row (the same with the taps in rows, on values v / 255.) likewise, on
 * the five defocus kernels and random row structures with subnormal weights; and
 * vfr_ict_blend_255_row (frost's blend) equals its scalar definition on every pair of
 * bytes at frost's five weight pairs; and vfr_ict_extreme_f32 (the plasma fractal's minimum
 * and maximum) returns the scalar loop's value, bit for bit, on random values, NaNs first
 * and inside, ties of signed zeros and constant runs, at lengths 1..400. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_filters.h"
#include "perturb/ic_taps.h"
#include "vfr_check.h"

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

/* The truncated sums of 0.0 + kv[0]*x0 + ..., left to right in double, clipped as the
 * reference's np.uint8(np.clip(., 0, 255)). */
static uint8_t sum_255_scalar(int nt, const float *const *src, size_t i, const double *kv) {
  double a = 0.0;
  for (int t = 0; t < nt; t++) a += kv[t] * (double)src[t][i];
  a = a > 0.0 ? a : 0.0;
  return (uint8_t)(int)(a < 255.0 ? a : 255.0);
}

/* nt tap rows of len bytes as floats (tap t at data + t * len, src[t] pointing there): kind
 * 0 flat across the taps (every tap the same byte at a position: sums next to an integer),
 * 1 random, 2 0 or 255 at random. */
static void fill_taps(float *data, int len, int nt, int kind, int set, const float **src) {
  for (int t = 0; t < nt; t++) {
    float *row = data + (size_t)t * len;
    src[t] = row;
    for (int q = 0; q < len; q++) {
      int v = kind == 0 ? (q * 7 + set) % 256 : (kind == 1 ? rand() % 256 : (rand() % 2) * 255);
      row[q] = (float)v;
    }
  }
}

/* The bytes of 0.0 + kv[0]*(v0 / 255.) + ..., left to right in double, stored as the
 * reference's np.uint8(np.clip(., 0, 1) * 255). */
static uint8_t sum_unit_scalar(int nt, const float *const *src, size_t i, const double *kv) {
  double a = 0.0;
  for (int t = 0; t < nt; t++) a += kv[t] * ((double)src[t][i] / 255.0);
  a = a > 0.0 ? a : 0.0;
  return (uint8_t)(int)((a < 1.0 ? a : 1.0) * 255.0);
}

/* vfr_ict_sum_unit_row on the five defocus kernels (their nonzero taps by kernel row, the
 * first with subnormal float weights) and on random kernels of 1..40 rows of 1..21 taps
 * (some with subnormal weights, one summing to just over 1); taps flat (every tap the same
 * byte: the sum next to an integer), random, and 0/255 at random; rows of 1..300 values. */
static void check_sum_unit(void) {
  enum { NT = 441, LEN = 300 + 3 };
  static float data[NT][LEN];
  static const float *src[NT];
  static double kv[NT];
  static float kf[VFR_ICT_SUM_255_MAX_TAPS];
  static const int radius[5] = {3, 4, 6, 8, 10};
  static const double alias[5] = {0.1, 0.5, 0.5, 0.5, 0.5};
  int row_end[41];
  uint8_t d[LEN];
  double unit[256];
  for (int v = 0; v < 256; v++) unit[v] = v / 255.0;
  srand(13);
  int runs = 0, subnormal_sets = 0;
  for (int set = 0; set < 25; set++) {
    int nt = 0, nr = 0;
    if (set < 5) { /* a defocus kernel */
      float k[21 * 21];
      int ks = 2 * vfr_icf_disk_kernel(radius[set], alias[set], k) + 1;
      for (int i = 0; i < ks; i++) {
        int first = nt;
        for (int j = 0; j < ks; j++)
          if (k[i * ks + j] != 0.0f) kv[nt++] = k[i * ks + j];
        if (nt > first) row_end[nr++] = nt;
      }
    } else { /* random rows */
      nr = 1 + rand() % 40;
      double sum = 0.0;
      for (int r = 0; r < nr; r++) {
        int m = 1 + rand() % 21;
        if (nt + m > NT) m = NT - nt;
        if (m < 1) break;
        for (int j = 0; j < m; j++) {
          kv[nt] = (double)rand() / RAND_MAX;
          if (set % 3 == 0 && rand() % 5 == 0) kv[nt] = 1e-40 * (1 + rand() % 7); /* subnormal as float */
          sum += kv[nt++];
        }
        row_end[r] = nt;
      }
      for (int t = 0; t < nt; t++) kv[t] = kv[t] / sum * (set == 24 ? 1.0 + 1e-9 : 1.0);
    }
    for (int t = 0; t < nt; t++) subnormal_sets += fabs(kv[t]) < 1.17549435e-38 && kv[t] != 0.0;
    float margin = vfr_ict_sum_unit_prepare(nt, nr, row_end, kv, kf);
    if (margin < 0.0f) {
      printf("SKIP sum_unit_row: no fast path on this CPU (nt=%d)\n", nt);
      return;
    }
    CHECK(margin > 0.0f && margin < 0.02f, "sum_unit margin %g for %d taps in %d rows", margin, nt, nr);
    for (int kind = 0; kind < 3; kind++) {
      fill_taps(&data[0][0], LEN, nt, kind, set, src);
      for (size_t n = 1; n <= 300; n += n < 140 ? 1 : 37)
        for (size_t off = 0; off < 3; off += 2) {
          memset(d, 0xAA, sizeof d);
          vfr_ict_sum_unit_row(d, n, nt, nr, row_end, src, off, kv, kf, margin, unit);
          int bad = 0;
          for (size_t q = 0; q < n; q++) bad += d[q] != sum_unit_scalar(nt, src, off + q, kv);
          for (size_t q = n; q < LEN; q++) bad += d[q] != 0xAA; /* nothing past n */
          CHECK(bad == 0, "sum_unit_row set=%d nt=%d nr=%d kind=%d n=%zu off=%zu: %d bytes differ",
                set, nt, nr, kind, n, off, bad);
          runs++;
        }
    }
  }
  CHECK(subnormal_sets > 0, "sum_unit_row: %d subnormal weights among the kernels", subnormal_sets);
  CHECK(runs > 10000, "sum_unit_row: %d rows checked", runs);
}

/* Normalised Gaussian weights of 1..41 taps (the motion blur's), random weights summing to
 * about 1, and a set summing to just over 1; taps flat (every tap the same byte, the sum
 * within rounding of that integer), random, and 0/255 at random; rows of 1..300 values at
 * offsets 0..2. */
static void check_sum_255(void) {
  enum { NT = 41, LEN = 300 + 3 };
  static float data[NT][LEN];
  const float *src[NT];
  double kv[NT];
  float kf[VFR_ICT_SUM_255_MAX_TAPS];
  uint8_t d[LEN];
  srand(11);
  int runs = 0;
  for (int set = 0; set < 45; set++) {
    int nt = set < 41 ? set + 1 : NT;
    double sum = 0.0;
    for (int t = 0; t < nt; t++) {
      double sigma = 1.0 + set % 15;
      kv[t] = set < 41 ? exp(-(double)t * t / (2.0 * sigma * sigma)) : (double)rand() / RAND_MAX;
      sum += kv[t];
    }
    for (int t = 0; t < nt; t++) kv[t] = kv[t] / sum * (set == 44 ? 1.0 + 1e-9 : 1.0);
    float margin = vfr_ict_sum_255_prepare(nt, kv, kf);
    if (margin < 0.0f) {
      printf("SKIP sum_255_row: no fast path on this CPU (nt=%d)\n", nt);
      return;
    }
    CHECK(margin > 0.0f && margin < 0.01f, "sum_255 margin %g for %d taps", margin, nt);
    for (int kind = 0; kind < 3; kind++) {
      fill_taps(&data[0][0], LEN, nt, kind, set, src);
      for (size_t n = 1; n <= 300; n += n < 140 ? 1 : 37)
        for (size_t off = 0; off < 3; off++) {
          memset(d, 0xAA, sizeof d);
          vfr_ict_sum_255_row(d, n, nt, src, off, kv, kf, margin);
          int bad = 0;
          for (size_t q = 0; q < n; q++) bad += d[q] != sum_255_scalar(nt, src, off + q, kv);
          for (size_t q = n; q < LEN; q++) bad += d[q] != 0xAA; /* nothing past n */
          CHECK(bad == 0, "sum_255_row nt=%d kind=%d n=%zu off=%zu: %d bytes differ", nt, kind, n,
                off, bad);
          runs++;
        }
    }
  }
  CHECK(runs > 10000, "sum_255_row: %d rows checked", runs);
}

/* Every (p, f) byte pair at frost's weights, rows of every length mod 16. */
static void check_blend_255(void) {
  static const double a[5] = {1, 0.8, 0.7, 0.65, 0.6}, b[5] = {0.4, 0.6, 0.7, 0.7, 0.75};
  enum { N = 256 * 256 };
  static uint8_t p[N], f[N], d[N + 16];
  for (int i = 0; i < N; i++) p[i] = (uint8_t)(i >> 8), f[i] = (uint8_t)i;
  for (int s = 0; s < 5; s++)
    for (size_t n = N - 17; n <= N; n++) {
      memset(d, 0xAA, sizeof d);
      vfr_ict_blend_255_row(d, p, f, n, a[s], b[s]);
      size_t bad = 0;
      for (size_t q = 0; q < n; q++) {
        double v = a[s] * p[q] + b[s] * f[q];
        bad += d[q] != (uint8_t)(v > 255.0 ? 255.0 : v);
      }
      for (size_t q = n; q < N + 16; q++) bad += d[q] != 0xAA;
      CHECK(bad == 0, "blend_255_row (%g, %g) n=%zu: %zu bytes differ", a[s], b[s], n, bad);
    }
}

static float extreme_loop(const float *s, size_t n, int largest) {
  float m = s[0];
  for (size_t q = 1; q < n; q++)
    if (largest ? s[q] > m : s[q] < m) m = s[q];
  return m;
}

/* Kinds of run: 0 random, 1 NaN first, 2 NaNs inside, 3 +0 and -0 mixed with positives
 * (minimum a zero), 4 constant, 5 one value far below/above the rest at the end, 6 positives
 * with -0 at 100 and +0 at 130 (their lanes reduce in the other order: the loop's -0 must
 * win). */
static void check_extreme(void) {
  enum { N = 400 };
  float s[N];
  unsigned x = 12345;
  int runs = 0;
  for (int kind = 0; kind < 7; kind++)
    for (size_t n = 1; n <= N; n++) {
      for (size_t q = 0; q < n; q++) {
        x = x * 1103515245u + 12345u;
        float r = (float)((x >> 8) & 0xffff) / 65536.0f - 0.25f;
        s[q] = kind == 4 ? 0.5f : kind == 3 ? ((x >> 3) & 1 ? 0.0f : -0.0f) + ((x >> 4) & 3 ? r * r : 0.0f) : r;
        if (kind == 2 && (x >> 5) % 7 == 0) s[q] = NAN;
      }
      if (kind == 1) s[0] = NAN;
      if (kind == 5) s[n - 1] = (n & 1) ? -3.0f : 3.0f;
      if (kind == 6) {
        for (size_t q = 0; q < n; q++) s[q] = fabsf(s[q]) + 0.5f;
        if (n > 130) s[100] = -0.0f, s[130] = 0.0f;
      }
      for (int largest = 0; largest < 2; largest++) {
        float want = extreme_loop(s, n, largest), got = vfr_ict_extreme_f32(s, n, largest);
        uint32_t wb, gb;
        memcpy(&wb, &want, 4), memcpy(&gb, &got, 4);
        int same = wb == gb || (want != want && got != got);
        CHECK(same, "extreme_f32 kind=%d n=%zu largest=%d: %a, the loop %a", kind, n, largest,
              (double)got, (double)want);
        runs++;
      }
    }
  CHECK(runs == 7 * N * 2, "extreme_f32: %d runs", runs);
}

int main(void) {
  check_unit_row();
  check_stores();
  check_sum_255();
  check_sum_unit();
  check_blend_255();
  check_extreme();
  printf("test_ic_taps: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
