/* The frost overlays embedded with the assembler's .incbin: the build decodes the files of
 * data/imagenet-c/frost/ with the library's own decoder (tools/frost_pixels.c) into
 * VFR_IC_FROST_DIR/NAME.rgb -- an 8-byte header, width and height as little-endian uint32,
 * then the RGB rows -- and compiles those into read-only data (CMakeLists.txt also makes
 * this object depend on them). So the library finds them without any path at run time --
 * the same from the build tree, an install or a relocated copy -- and ic_frost decodes no
 * PNG or JPEG per call, at the cost of 4.7 MB of library. The symbols are hidden: they are
 * not part of the ABI. */
#include "perturb/ic_frost_data.h"

#include <stddef.h>

#ifndef VFR_IC_FROST_DIR
#error "VFR_IC_FROST_DIR (the decoded overlays' folder) must be defined by the build"
#endif

#define VFR_INCBIN(sym, file)                                                              \
  __asm__(".section .rodata\n"                                                             \
          ".balign 16\n"                                                                   \
          ".hidden " #sym "\n"                                                             \
          ".global " #sym "\n" #sym ":\n"                                                  \
          ".incbin \"" VFR_IC_FROST_DIR "/" file ".rgb\"\n"                                \
          ".hidden " #sym "_end\n"                                                         \
          ".global " #sym "_end\n" #sym "_end:\n"                                          \
          ".previous\n");                                                                  \
  extern const unsigned char sym[] __attribute__((visibility("hidden")));                  \
  extern const unsigned char sym##_end[] __attribute__((visibility("hidden")))

VFR_INCBIN(vfr_ic_frost1, "frost1.png");
VFR_INCBIN(vfr_ic_frost2, "frost2.png");
VFR_INCBIN(vfr_ic_frost3, "frost3.png");
VFR_INCBIN(vfr_ic_frost4, "frost4.jpg");
VFR_INCBIN(vfr_ic_frost5, "frost5.jpg");
VFR_INCBIN(vfr_ic_frost6, "frost6.jpg");

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const uint8_t *vfr_ic_frost_pixels(int i, int *width, int *height, const char **name) {
  static const char *const names[VFR_IC_FROST_COUNT] = {"frost1.png", "frost2.png", "frost3.png",
                                                        "frost4.jpg", "frost5.jpg", "frost6.jpg"};
  const unsigned char *begin[VFR_IC_FROST_COUNT] = {vfr_ic_frost1, vfr_ic_frost2, vfr_ic_frost3,
                                                    vfr_ic_frost4, vfr_ic_frost5, vfr_ic_frost6};
  const unsigned char *end[VFR_IC_FROST_COUNT] = {vfr_ic_frost1_end, vfr_ic_frost2_end,
                                                  vfr_ic_frost3_end, vfr_ic_frost4_end,
                                                  vfr_ic_frost5_end, vfr_ic_frost6_end};
  if (i < 0 || i >= VFR_IC_FROST_COUNT) return NULL;
  size_t size = (size_t)(end[i] - begin[i]);
  if (size < 8) return NULL;
  uint32_t w = get_u32(begin[i]), h = get_u32(begin[i] + 4);
  if (w == 0 || h == 0 || w > 65535 || h > 65535 || size != 8 + (size_t)w * h * 3) return NULL;
  if (width) *width = (int)w;
  if (height) *height = (int)h;
  if (name) *name = names[i];
  return begin[i] + 8;
}
