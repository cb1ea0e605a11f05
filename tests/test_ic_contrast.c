/* ic_contrast without the reference's 50,176 dependent adds (src/perturb/ic_digital.c,
 * src/perturb/ic_lut.c): the per-channel byte sums and table lookups over RGB runs equal
 * their plain loops at every length, offset and phase (and the byte maximum fog takes) (runs of 255 included, across the
 * 16-bit lanes' flushes); and the tables built from the exact byte sums, where the margin
 * lets them, equal those built from the means summed as the reference sums them, on
 * random, flat, two-valued, few-valued and gradient images of many sizes, at every
 * severity; and the op gives the same bytes on a padded (strided) image as on a packed
 * one. (tests/ref_imagenet_c_noise_digital.py checks the op against NumPy itself.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_lut.h"
#include "perturb/ic_ops.h"
#include "vfr_check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static void check_sums(void) {
  enum { MAXP = 70000 };
  static uint8_t buf[3 * MAXP + 8];
  for (int fill = 0; fill < 2; fill++) {
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = fill ? 255 : (uint8_t)next32();
    size_t lens[] = {0, 1, 2, 20, 21, 22, 63, 64, 65, 127, 128, 129, 200, 256, 257, 1000,
                     256 * 64 - 1, 256 * 64, 256 * 64 + 1, 3 * 256 * 64 + 5, MAXP};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
      for (int off = 0; off < 4; off++) {
        size_t n = lens[li];
        uint64_t got[3] = {7, 8, 9}, want[3] = {7, 8, 9};
        vfr_icl_rgb_sums(got, buf + off, n);
        for (size_t i = 0; i < n; i++)
          for (int c = 0; c < 3; c++) want[c] += buf[off + 3 * i + c];
        CHECK(got[0] == want[0] && got[1] == want[1] && got[2] == want[2],
              "rgb_sums fill %d n=%zu off=%d: %llu %llu %llu, want %llu %llu %llu", fill, n, off,
              (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2],
              (unsigned long long)want[0], (unsigned long long)want[1], (unsigned long long)want[2]);
      }
  }
}

/* vfr_icl_max_u8 (fog's x.max()) at every length 0..200 and offset, the maximum at every
 * position, and a starting top above the bytes. */
static void check_max(void) {
  static uint8_t s[256];
  for (size_t n = 0; n <= 200; n++)
    for (int off = 0; off < 4; off++)
      for (size_t at = 0; at <= n; at += (n > 40 ? 7 : 1)) {
        for (size_t i = 0; i < sizeof s; i++) s[i] = (uint8_t)(next32() % 200);
        if (at < n) s[off + at] = 201;
        s[off + n] = 255; /* past the end: must not count */
        int want = 0;
        for (size_t i = 0; i < n; i++) want = s[off + i] > want ? s[off + i] : want;
        CHECK(vfr_icl_max_u8(s + off, n, 0) == want && vfr_icl_max_u8(s + off, n, 230) == 230,
              "max_u8 n=%zu off=%d at=%zu: %d, want %d", n, off, at, vfr_icl_max_u8(s + off, n, 0), want);
      }
}

static void check_lookup(void) {
  static uint8_t lut[3][256], s[3 * 600 + 8], d[3 * 600 + 80];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) lut[c][v] = (uint8_t)next32();
  for (size_t i = 0; i < sizeof s; i++) s[i] = (uint8_t)next32();
  for (int v = 0; v < 256; v++) s[3 * v % (3 * 600)] = (uint8_t)v; /* every byte somewhere */
  for (size_t n = 0; n <= 600; n += (n < 200 ? 1 : 37))
    for (int off = 0; off < 4; off++) {
      memset(d, 0xA5, sizeof d);
      vfr_icl_rgb_lookup(d + off, s + off, n, (const uint8_t(*)[256])lut);
      size_t bad = 0;
      for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) bad += d[off + 3 * i + c] != lut[c][s[off + 3 * i + c]];
      for (int q = 0; q < off; q++) bad += d[q] != 0xA5;
      for (size_t q = off + 3 * n; q < sizeof d; q++) bad += d[q] != 0xA5;
      CHECK(bad == 0, "rgb_lookup n=%zu off=%d: %zu bytes wrong", n, off, bad);
    }
}

enum { RANDOM, FLAT, TWO, FEW, GRADIENT, MEAN_INT, KINDS };
static const char *kind_name[KINDS] = {"random", "flat", "two-valued", "few-valued", "gradient",
                                       "integer-mean"};

static void fill(vfr_image *im, int kind, int param) {
  uint8_t vals[4];
  for (int k = 0; k < 4; k++) vals[k] = (uint8_t)next32();
  for (int y = 0; y < im->height; y++)
    for (int x = 0; x < im->width; x++)
      for (int c = 0; c < 3; c++) {
        uint8_t *p = im->data + (size_t)y * im->stride + 3 * (size_t)x + c;
        switch (kind) {
          case RANDOM: *p = (uint8_t)next32(); break;
          case FLAT: *p = (uint8_t)(param + c * 85); break;
          case TWO: *p = ((x + y) & 1) ? (uint8_t)param : (uint8_t)(255 - param); break;
          case FEW: *p = vals[next32() & 3]; break;
          case GRADIENT: *p = (uint8_t)((x * 255 / (im->width > 1 ? im->width - 1 : 1) + c * 40) & 255); break;
          default: { /* pixel pairs w + e, w - e: the mean is the integer w where the count is
                      * even, so many table values are integers in exact arithmetic and the
                      * sums' roundings decide their bytes */
            int w = 64 + (param & 127), i = y * im->width + x, e = (int)(next32() % 64);
            static int last[3];
            if (i & 1) e = last[c];
            last[c] = e;
            *p = (uint8_t)((i & 1) ? w - e : w + e);
          }
        }
      }
}

static void check_tables(void) {
  static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 5}, {32, 32}, {33, 17}, {224, 224},
                                 {500, 375}, {64, 1}, {1, 200}};
  int fast[KINDS] = {0}, tried[KINDS] = {0}, big_random = 0, big_fast = 0;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (int kind = 0; kind < KINDS; kind++)
      for (int param = 0; param < 256; param += (kind == FLAT ? 1 : 51)) {
        vfr_image im = {0};
        vfr_error err = {0};
        if (vfr_image_alloc(&im, sizes[si][0], sizes[si][1], 3, &err)) {
          CHECK(0, "alloc: %s", err.message);
          return;
        }
        fill(&im, kind, param);
        for (int sev = 1; sev <= 5; sev++) {
          uint8_t got[3][256], want[3][256];
          int f = vfr_ic_contrast_tables(&im, sev, 0, got);
          vfr_ic_contrast_tables(&im, sev, 1, want);
          tried[kind]++;
          if (kind == RANDOM && sizes[si][0] * sizes[si][1] >= 1024) big_random++, big_fast += f;
          fast[kind] += f;
          CHECK(memcmp(got, want, sizeof got) == 0, "contrast tables %dx%d %s (%d) severity %d differ",
                sizes[si][0], sizes[si][1], kind_name[kind], param, sev);
        }
        vfr_image_free(&im);
      }
  for (int k = 0; k < KINDS; k++)
    printf("contrast tables, %s images: %d of %d from the byte sums\n", kind_name[k], fast[k], tried[k]);
  /* A flat image's results are integers, so its means are always summed. A table value
   * is 255 t = (v k n + (20 - k) V) / (20 n) for c = k / 20 and n pixels, an integer (or
   * near one) about once in 20 n / 768 images: often for tiny images, seldom for random
   * ones of 1024 pixels or more. */
  CHECK(fast[FLAT] == 0, "a flat image's tables came from the byte sums %d times", fast[FLAT]);
  printf("contrast tables, random images of >= 1024 pixels: %d of %d from the byte sums\n", big_fast,
         big_random);
  CHECK(big_fast >= big_random * 9 / 10, "the byte-sum path took only %d of %d random images",
        big_fast, big_random);
}

/* The premise of the byte-sum tables: the reference's mean (v / 255. summed in pixel
 * order, then divided by n) lies within u (n + 5) of V / (255 n), V the byte sum, on
 * images whose sums round the most (all 255, all 1, random, integer-mean) up to 4 Mpixel. */
static void check_mean_bound(void) {
  static const int sizes[][2] = {{3, 3}, {224, 224}, {500, 375}, {1000, 1000}, {2048, 2048}};
  double worst = 0.0;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (int kind = 0; kind < 4; kind++) {
      vfr_image im = {0};
      vfr_error err = {0};
      if (vfr_image_alloc(&im, sizes[si][0], sizes[si][1], 3, &err)) {
        CHECK(0, "alloc: %s", err.message);
        return;
      }
      fill(&im, kind == 0 ? FLAT : kind == 1 ? FLAT : kind == 2 ? RANDOM : MEAN_INT, kind == 0 ? 255 : 1);
      double n = (double)im.width * im.height, sum = 0.0;
      uint64_t v = 0;
      for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width; x++) {
          uint8_t b = im.data[(size_t)y * im.stride + 3 * (size_t)x];
          sum += b / 255.0;
          v += b;
        }
      double m = sum / n, approx = (double)v / (255.0 * n), bound = 0x1p-53 * (n + 5.0);
      double r = (m > approx ? m - approx : approx - m) / bound;
      worst = r > worst ? r : worst;
      CHECK(r <= 1.0, "%dx%d kind %d: mean %.17g, byte-sum mean %.17g: %.3g of the bound", im.width,
            im.height, kind, m, approx, r);
      vfr_image_free(&im);
    }
  printf("contrast means: the largest gap is %.3g of the bound u (n + 5)\n", worst);
}

/* A padded image (stride > 3 * width) against the same pixels packed. */
static void check_strided(void) {
  int w = 101, h = 37;
  size_t stride = 3 * (size_t)w + 13;
  uint8_t *pad = malloc(stride * (size_t)h);
  vfr_image packed = {0}, a = {0}, b = {0};
  vfr_error err = {0};
  if (!pad || vfr_image_alloc(&packed, w, h, 3, &err)) {
    CHECK(0, "alloc");
    free(pad);
    return;
  }
  fill(&packed, RANDOM, 0);
  for (size_t i = 0; i < stride * (size_t)h; i++) pad[i] = (uint8_t)next32();
  for (int y = 0; y < h; y++) memcpy(pad + y * stride, packed.data + y * packed.stride, 3 * (size_t)w);
  vfr_image padded = {.width = w, .height = h, .channels = 3, .stride = stride, .data = pad};
  for (int sev = 1; sev <= 5; sev++) {
    int rc = vfr_ic_contrast(&packed, sev, 0, &a, &err) || vfr_ic_contrast(&padded, sev, 0, &b, &err);
    size_t bad = 0;
    for (int y = 0; !rc && y < h; y++)
      bad += memcmp(a.data + y * a.stride, b.data + y * b.stride, 3 * (size_t)w) != 0;
    CHECK(!rc && bad == 0, "contrast severity %d: padded image differs in %zu rows (rc %d)", sev, bad, rc);
    vfr_image_free(&a);
    vfr_image_free(&b);
  }
  vfr_image_free(&packed);
  free(pad);
}

int main(void) {
  check_sums();
  check_max();
  check_lookup();
  check_tables();
  check_mean_bound();
  check_strided();
  printf("test_ic_contrast: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
