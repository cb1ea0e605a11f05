/* The frost overlays embedded with the assembler's .incbin: the build compiles the files
 * of data/imagenet-c/frost/ (VFR_IC_DATA_DIR, set by CMakeLists.txt, which also makes this
 * object depend on them) into read-only data, so that the library finds them without any
 * path at run time -- the same from the build tree, an install or a relocated copy -- at the
 * cost of 2 MB of library. The symbols are hidden: they are not part of the ABI. */
#include "perturb/ic_frost_data.h"

#ifndef VFR_IC_DATA_DIR
#error "VFR_IC_DATA_DIR (the data/imagenet-c folder) must be defined by the build"
#endif

#define VFR_INCBIN(sym, file)                                                              \
  __asm__(".section .rodata\n"                                                             \
          ".balign 16\n"                                                                   \
          ".hidden " #sym "\n"                                                             \
          ".global " #sym "\n" #sym ":\n"                                                  \
          ".incbin \"" VFR_IC_DATA_DIR "/frost/" file "\"\n"                               \
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

const unsigned char *vfr_ic_frost_file(int i, size_t *size, const char **name) {
  static const char *const names[VFR_IC_FROST_COUNT] = {"frost1.png", "frost2.png", "frost3.png",
                                                        "frost4.jpg", "frost5.jpg", "frost6.jpg"};
  const unsigned char *begin[VFR_IC_FROST_COUNT] = {vfr_ic_frost1, vfr_ic_frost2, vfr_ic_frost3,
                                                    vfr_ic_frost4, vfr_ic_frost5, vfr_ic_frost6};
  const unsigned char *end[VFR_IC_FROST_COUNT] = {vfr_ic_frost1_end, vfr_ic_frost2_end,
                                                  vfr_ic_frost3_end, vfr_ic_frost4_end,
                                                  vfr_ic_frost5_end, vfr_ic_frost6_end};
  if (i < 0 || i >= VFR_IC_FROST_COUNT) return NULL;
  if (size) *size = (size_t)(end[i] - begin[i]);
  if (name) *name = names[i];
  return begin[i];
}
