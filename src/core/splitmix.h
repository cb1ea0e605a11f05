/* SplitMix64 (Steele, Lea and Flood 2014), the one generator behind every seeded draw: the
 * fine-tuning and training draws, the Gaussian noise op, dataset sampling, the probe's
 * validation split. Counter-based use (vfr_splitmix_at) makes a draw a pure function of
 * (seed, index), so results do not depend on thread count or order. */
#ifndef VFR_CORE_SPLITMIX_H
#define VFR_CORE_SPLITMIX_H

#include <stdint.h>

#define VFR_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull

/* The finaliser (the output function of one step). */
static inline uint64_t vfr_splitmix_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The j-th output (j = 0, 1, ...) of the generator seeded with seed. */
static inline uint64_t vfr_splitmix_at(uint64_t seed, uint64_t j) {
  return vfr_splitmix_mix(seed + (j + 1) * VFR_SPLITMIX_GAMMA);
}

/* The next output of the generator whose state is *state (advanced). */
static inline uint64_t vfr_splitmix_next(uint64_t *state) {
  return vfr_splitmix_mix(*state += VFR_SPLITMIX_GAMMA);
}

#endif
