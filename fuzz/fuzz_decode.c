/* libFuzzer target: any bytes through the image decoders (JPEG, PNG, WebP, sniffing).
 * Decoded images also go through a resize, so that odd sizes reach the resampler.
 * Build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DVFR_FUZZ=ON
 *        cmake --build build-fuzz --target fuzz_decode
 * Run:   build-fuzz/fuzz_decode CORPUS_DIR -max_total_time=300 -rss_limit_mb=2048 */
#include <stddef.h>
#include <stdint.h>

#include "vfrobust/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vfr_decode_params params = vfr_decode_default_params();
  params.max_pixels = 1 << 22; /* keeps each run within the fuzzer's memory limit */
  vfr_image img = {0};
  vfr_error err;
  if (vfr_image_decode(data, size, "fuzz", &params, &img, &err) != 0) {
    if (img.data) __builtin_trap(); /* a failed decode must not return pixels */
    return 0;
  }
  if (img.channels != 3 || img.width <= 0 || img.height <= 0) __builtin_trap();
  if ((long long)img.width * img.height <= 4096) {
    vfr_image small = {0};
    int w = img.width * 2 + 1, h = img.height / 2 + 1;
    if (vfr_resize(&img, w, h, (vfr_filter)(size % 6), &small, &err) == 0) vfr_image_free(&small);
  }
  vfr_image_free(&img);
  return 0;
}
