/* NumPy's random streams, bit-exact, for the ImageNet-C corruptions (not public API).
 *
 * vfr_np_rng is NumPy's legacy RandomState (MT19937) as `np.random.seed(seed)` leaves it,
 * with the legacy samplers: an array draw `np.random.f(..., size=shape)` is the scalar
 * draws of f in C (row-major) order, so a loop over the elements reproduces it.
 * vfr_np_pcg64 is `np.random.default_rng(seed)`: PCG64 (XSL-RR 128/64) seeded through
 * SeedSequence. Both are plain values owned by the caller: no global state; a generator
 * must not be shared between threads without the caller's lock. */
#ifndef VFR_NP_RANDOM_H
#define VFR_NP_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* NumPy's legacy RandomState (MT19937), bit-exact. */
typedef struct vfr_np_rng {
  uint32_t key[624];
  int pos;
  int has_gauss;
  double gauss;
} vfr_np_rng;

void vfr_np_rng_seed(vfr_np_rng *r, uint32_t seed);                 /* np.random.seed(seed) */
uint32_t vfr_np_rng_u32(vfr_np_rng *r);
void vfr_np_rng_u32_fill(vfr_np_rng *r, uint32_t *out, size_t n);  /* n calls of vfr_np_rng_u32 */
void vfr_np_rng_u32_fill_masked(vfr_np_rng *r, uint32_t *out, size_t n, uint32_t mask); /* the same, & mask */
double vfr_np_rng_random(vfr_np_rng *r);                            /* random_sample(): 53-bit, [0,1) */
double vfr_np_rng_uniform(vfr_np_rng *r, double lo, double hi);     /* uniform(lo, hi) */
double vfr_np_rng_gauss(vfr_np_rng *r);                             /* standard_normal(), legacy polar, cached pair */
double vfr_np_rng_normal(vfr_np_rng *r, double loc, double scale);  /* normal(loc, scale) */
int64_t vfr_np_rng_poisson(vfr_np_rng *r, double lam);              /* legacy poisson: mult < 10, PTRS >= 10 */
int64_t vfr_np_rng_randint(vfr_np_rng *r, int64_t lo, int64_t hi);  /* randint(lo, hi): [lo, hi), masked rejection as legacy int64 randint */

/* Legacy poisson with the constants of one rate prepared once (the same values NumPy
 * computes on every call), for many draws at a few rates. */
typedef struct vfr_np_poisson_lam {
  double lam, enlam, slam, loglam, a, b, invalpha, vr, log_invalpha;
} vfr_np_poisson_lam;
void vfr_np_poisson_prepare(vfr_np_poisson_lam *p, double lam);
int64_t vfr_np_rng_poisson_prepared(vfr_np_rng *r, const vfr_np_poisson_lam *p); /* = poisson(p->lam) */
/* out[i] = poisson(rates[index[i]].lam), i < n, in order: the draws of
 * `poisson(lam_array)` with lam_array[i] = rates[index[i]].lam. rates is (256), index (n),
 * out (n). */
void vfr_np_rng_poisson_index_fill(vfr_np_rng *r, const vfr_np_poisson_lam *rates,
                                   const uint8_t *index, int64_t n, int64_t *out);

/* Array draws: out[i] is the i-th draw of `np.random.f(..., size=n)` (C order), i.e. the
 * scalar sampler called n times. poisson_fill draws poisson(lam[i]) for each i, as
 * `poisson(lam_array)` does. out is (n), lam is (n). */
void vfr_np_rng_random_fill(vfr_np_rng *r, int64_t n, double *out);
void vfr_np_rng_uniform_fill(vfr_np_rng *r, double lo, double hi, int64_t n, double *out);
void vfr_np_rng_normal_fill(vfr_np_rng *r, double loc, double scale, int64_t n, double *out);
void vfr_np_rng_poisson_fill(vfr_np_rng *r, const double *lam, int64_t n, int64_t *out);
void vfr_np_rng_randint_fill(vfr_np_rng *r, int64_t lo, int64_t hi, int64_t n, int64_t *out);

/* NumPy's Generator(PCG64) from default_rng(seed) (SeedSequence), bit-exact. */
typedef struct vfr_np_pcg64 {
  uint64_t state_hi, state_lo, inc_hi, inc_lo;
} vfr_np_pcg64;

void vfr_np_pcg64_seed(vfr_np_pcg64 *g, uint64_t seed);             /* np.random.default_rng(seed) */
uint64_t vfr_np_pcg64_u64(vfr_np_pcg64 *g);                         /* the bit generator's next 64 bits */
double vfr_np_pcg64_random(vfr_np_pcg64 *g);                        /* Generator.random() */
void vfr_np_pcg64_random_fill(vfr_np_pcg64 *g, int64_t n, double *out); /* random(size=n) */
/* out[i] = (Generator.random() <= p) for n draws: skimage's Bernoulli field
 * `rng.random(shape) <= p` (which skimage skips, drawing nothing, for p == 0 or 1; this
 * always draws). out is (n). */
void vfr_np_pcg64_below_fill(vfr_np_pcg64 *g, double p, int64_t n, uint8_t *out);

/* The 32-bit seed given to np.random.seed (and default_rng) for a 64-bit op seed:
 * the two halves XOR-folded, so seeds below 2^32 are used as they are. */
static inline uint32_t vfr_np_seed32(uint64_t seed) { return (uint32_t)(seed ^ (seed >> 32)); }

#endif
