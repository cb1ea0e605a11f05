/* Build-time tool: decodes one ImageNet-C frost overlay (PNG or JPEG, with the library's
 * own decoder, as the op would at run time) into the raw form the library embeds
 * (src/perturb/ic_frost_data.c): an 8-byte header, width and height as little-endian
 * uint32, then the (height, width, 3) RGB bytes, rows packed.
 *   vfr_frost_pixels IN OUT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/image.h"

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: vfr_frost_pixels IN OUT\n");
    return 2;
  }
  vfr_image img = {0};
  vfr_error err;
  vfr_decode_params params = vfr_decode_default_params();
  if (vfr_image_load(argv[1], &params, &img, &err)) {
    fprintf(stderr, "vfr_frost_pixels: %s\n", err.message);
    return 1;
  }
  int rc = 0;
  FILE *f = NULL;
  if (img.channels != 3) {
    fprintf(stderr, "vfr_frost_pixels: %s: decoded to %d channels, not 3\n", argv[1], img.channels);
    rc = 1;
    goto done;
  }
  unsigned char head[8];
  put_u32(head, (uint32_t)img.width), put_u32(head + 4, (uint32_t)img.height);
  if (!(f = fopen(argv[2], "wb")) || fwrite(head, 1, sizeof head, f) != sizeof head) {
    fprintf(stderr, "vfr_frost_pixels: %s: cannot write\n", argv[2]);
    rc = 1;
    goto done;
  }
  for (int y = 0; y < img.height && !rc; y++)
    if (fwrite(img.data + (size_t)y * img.stride, 3, (size_t)img.width, f) != (size_t)img.width) rc = 1;
  if (fclose(f) != 0) rc = 1;
  f = NULL;
  if (rc) {
    fprintf(stderr, "vfr_frost_pixels: %s: cannot write\n", argv[2]);
    remove(argv[2]);
  }
done:
  if (f) fclose(f);
  vfr_image_free(&img);
  return rc;
}
