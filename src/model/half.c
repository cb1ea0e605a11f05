/* IEEE binary16 (F16) and bfloat16 (BF16) <-> binary32 conversions.
 *
 * half -> float is exact for every input (subnormals, infinities, NaN payloads).
 * float -> half rounds to nearest, ties to even, as NumPy's astype(float16) and
 * PyTorch's .to(torch.bfloat16) do; NaN stays NaN (quiet), overflow becomes infinity. */
#include <stdint.h>
#include <string.h>

#include "model/safetensors.h"
#include "model/vec_math.h"

static float bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint32_t f32_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

float vfr_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) /* infinity or NaN: keep the payload */
    return bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) /* normal: rebias 15 -> 127 */
    return bits_to_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_to_f32(sign); /* signed zero */
  /* Subnormal: mantissa * 2^-24, normalised so that the leading 1 becomes implicit. */
  uint32_t e = 113; /* biased exponent of 2^-14 */
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    e--;
  }
  return bits_to_f32(sign | (e << 23) | ((mantissa & 0x3ffu) << 13));
}

float vfr_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t vfr_f32_to_f16(float f) {
  uint32_t u = f32_to_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t exponent = (u >> 23) & 0xffu;
  uint32_t mantissa = u & 0x7fffffu;
  if (exponent == 0xff) /* infinity, or NaN made quiet so that it cannot become infinity */
    return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  int32_t e = (int32_t)exponent - 127 + 15; /* biased half exponent */
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    /* Subnormal half (or zero): the value is m * 2^-24 with m = full_mantissa >> shift. */
    if (e < -10) return sign; /* below half the smallest subnormal: rounds to zero */
    uint32_t full = mantissa | 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t m = full >> shift;
    uint32_t rest = full & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (m & 1u))) m++;
    return (uint16_t)(sign | m); /* a carry into bit 10 yields the smallest normal */
  }
  uint32_t m = mantissa >> 13;
  uint32_t rest = mantissa & 0x1fffu;
  uint32_t h = ((uint32_t)e << 10) | m;
  if (rest > 0x1000u || (rest == 0x1000u && (m & 1u))) h++; /* may carry into infinity */
  return (uint16_t)(sign | h);
}

uint16_t vfr_f32_to_bf16(float f) { return vm_bf16(f); }
