/* The embedded ImageNet-C frost overlays: the library's pixels are the files shipped in
 * data/imagenet-c/frost/ as the library's decoder reads them at run time, at each file's
 * RGB size; out-of-range indices give NULL, and ic_frost runs on images smaller and larger
 * than every overlay (both scaling paths). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_frost_data.h"
#include "perturb/ic_ops.h"
#include "vfrobust/image.h"
#include "vfr_check.h"

int main(void) {
  /* (width, height) of frost1.png .. frost6.jpg, as cv2.imread reads them */
  static const int dims[VFR_IC_FROST_COUNT][2] = {{900, 600}, {560, 315}, {560, 315},
                                                  {527, 350}, {660, 495}, {485, 323}};
  const char *src = getenv("VFROBUST_SRC");
  if (!src) src = ".";
  for (int i = 0; i < VFR_IC_FROST_COUNT; i++) {
    int w = 0, h = 0;
    const char *name = NULL;
    const uint8_t *px = vfr_ic_frost_pixels(i, &w, &h, &name);
    CHECK(px && name && w == dims[i][0] && h == dims[i][1], "frost %d: embedded at %dx%d", i + 1, w, h);
    if (!px || !name) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/imagenet-c/frost/%s", src, name);
    vfr_image img = {0};
    vfr_error err;
    vfr_decode_params params = vfr_decode_default_params();
    int rc = vfr_image_load(path, &params, &img, &err);
    CHECK(rc == VFR_OK && img.channels == 3 && img.width == w && img.height == h,
          "%s: decodes to %dx%dx%d (rc %d)", path, img.width, img.height, img.channels, rc);
    if (rc == VFR_OK && img.width == w && img.height == h && img.channels == 3) {
      size_t bad = 0;
      for (int y = 0; y < h; y++)
        bad += memcmp(img.data + (size_t)y * img.stride, px + (size_t)y * w * 3, (size_t)w * 3) != 0;
      CHECK(bad == 0, "%s: %zu embedded rows differ from the decoded file", name, bad);
    }
    vfr_image_free(&img);
  }
  CHECK(!vfr_ic_frost_pixels(-1, NULL, NULL, NULL) &&
            !vfr_ic_frost_pixels(VFR_IC_FROST_COUNT, NULL, NULL, NULL),
        "out-of-range overlay indices");
  /* images smaller and larger than every overlay */
  static const int sizes[3][2] = {{7, 5}, {1000, 700}, {300, 1000}};
  for (int t = 0; t < 3; t++) {
    vfr_image in = {0}, out = {0};
    vfr_error err;
    CHECK(vfr_image_alloc(&in, sizes[t][0], sizes[t][1], 3, &err) == VFR_OK, "alloc");
    for (size_t q = 0; q < (size_t)sizes[t][0] * sizes[t][1] * 3; q++) in.data[q] = (uint8_t)(q * 7 % 251);
    for (uint64_t seed = 0; seed < 5; seed++) {
      int rc = vfr_ic_frost(&in, 5, seed, &out, &err);
      CHECK(rc == VFR_OK && out.width == in.width && out.height == in.height,
            "ic_frost on %dx%d, seed %d: %s", in.width, in.height, (int)seed, rc ? err.message : "");
      vfr_image_free(&out);
    }
    vfr_image_free(&in);
  }
  printf("test_ic_frost_data: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
