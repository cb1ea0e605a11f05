/* NumPy's random streams (see np_random.h). The constants and the order of the draws
 * are NumPy's (numpy/random/src/mt19937, distributions.c, legacy-distributions.c,
 * pcg64, bit_generator.pyx's SeedSequence); every sampler consumes exactly the words
 * NumPy's consumes, so a stream stays in step across mixed draws. */
#include "perturb/np_random.h"

#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- MT19937 ------------------------------------------------------------------ */

#define MT_N 624
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_TEMPER_B 0x9d2c5680u /* the tempering masks */
#define MT_TEMPER_C 0xefc60000u

void vfr_np_rng_seed(vfr_np_rng *r, uint32_t seed) {
  /* Knuth's initialisation, as mt19937_seed */
  for (int i = 0; i < MT_N; i++) {
    r->key[i] = seed;
    seed = 1812433253u * (seed ^ (seed >> 30)) + (uint32_t)(i + 1);
  }
  r->pos = MT_N;
  r->has_gauss = 0;
  r->gauss = 0.0;
}

/* One word of the twist: word i from words i, i + 1 and its far word (i + 397 mod 624). */
static inline uint32_t mt_twist(uint32_t cur, uint32_t next, uint32_t far) {
  uint32_t y = (cur & MT_UPPER) | (next & MT_LOWER);
  return far ^ (y >> 1) ^ (-(y & 1u) & MT_MATRIX_A);
}

/* The scalar rest of the first part of a refill (words i .. 226, far words ahead). */
static int mt_finish_first(uint32_t *k, int i) {
  for (; i < MT_N - MT_M; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M]);
  return i;
}

/* The scalar rest of the second part (words i .. 623, far words rewritten already). */
static void mt_finish_second(uint32_t *k, int i) {
  for (; i < MT_N - 1; i++) k[i] = mt_twist(k[i], k[i + 1], k[i + (MT_M - MT_N)]);
  k[MT_N - 1] = mt_twist(k[MT_N - 1], k[0], k[MT_M - 1]);
}

/* Regenerates the 624 words of the state (SSE2 or scalar). */
static void mt_refill_base(vfr_np_rng *r) {
  uint32_t *k = r->key;
  int i = 0;
#ifdef __SSE2__
  /* four words at a time: word i reads word i + 1 (not yet rewritten) and word i + 397
   * (old) or i - 227 (rewritten at least 224 words earlier), so four neighbours never
   * depend on each other */
  const __m128i upper = _mm_set1_epi32((int)MT_UPPER), lower = _mm_set1_epi32((int)MT_LOWER);
  const __m128i matrix = _mm_set1_epi32((int)MT_MATRIX_A), one = _mm_set1_epi32(1);
#define MT_REFILL4(far_index)                                                                  \
  do {                                                                                         \
    __m128i cur = _mm_loadu_si128((const __m128i *)(k + i));                                   \
    __m128i next = _mm_loadu_si128((const __m128i *)(k + i + 1));                              \
    __m128i far = _mm_loadu_si128((const __m128i *)(k + (far_index)));                         \
    __m128i y = _mm_or_si128(_mm_and_si128(cur, upper), _mm_and_si128(next, lower));           \
    __m128i odd = _mm_and_si128(_mm_cmpeq_epi32(_mm_and_si128(y, one), one), matrix);          \
    _mm_storeu_si128((__m128i *)(k + i), _mm_xor_si128(_mm_xor_si128(far, _mm_srli_epi32(y, 1)), odd)); \
  } while (0)
  for (; i + 4 <= MT_N - MT_M; i += 4) MT_REFILL4(i + MT_M);
#endif
  i = mt_finish_first(k, i);
#ifdef __SSE2__
  for (; i + 4 <= MT_N - 1; i += 4) MT_REFILL4(i + MT_M - MT_N);
#undef MT_REFILL4
#endif
  mt_finish_second(k, i);
  r->pos = 0;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* mt_refill_base sixteen words at a time: word i reads words i + 1 (not yet rewritten)
 * and i + 397 (old, for i < 227) or i - 227 (rewritten at least 212 words earlier), so
 * sixteen neighbours never depend on each other; the scalar steps finish each part. */
__attribute__((target("avx512f"))) static void mt_refill_avx512(vfr_np_rng *r) {
  uint32_t *k = r->key;
  const __m512i upper = _mm512_set1_epi32((int)MT_UPPER), lower = _mm512_set1_epi32((int)MT_LOWER);
  const __m512i matrix = _mm512_set1_epi32((int)MT_MATRIX_A), one = _mm512_set1_epi32(1);
  int i = 0;
#define MT_REFILL16(far_index)                                                               \
  do {                                                                                       \
    __m512i y = _mm512_or_si512(_mm512_and_si512(_mm512_loadu_si512(k + i), upper),          \
                                _mm512_and_si512(_mm512_loadu_si512(k + i + 1), lower));     \
    __mmask16 odd = _mm512_test_epi32_mask(y, one);                                          \
    __m512i v = _mm512_xor_si512(_mm512_loadu_si512(k + (far_index)), _mm512_srli_epi32(y, 1)); \
    _mm512_storeu_si512(k + i, _mm512_mask_xor_epi32(v, odd, v, matrix));                    \
  } while (0)
  for (; i + 16 <= MT_N - MT_M; i += 16) MT_REFILL16(i + MT_M);
  i = mt_finish_first(k, i);
  for (; i + 16 <= MT_N - 1; i += 16) MT_REFILL16(i + MT_M - MT_N);
#undef MT_REFILL16
  mt_finish_second(k, i);
  r->pos = 0;
  /* GCC 12 puts no vzeroupper here (it takes the call above as having cleaned the upper
   * halves, which a plain function does not do): left dirty, they slowed every later
   * SSE instruction 6x on an AMD Zen 5 (random_sample's doubles 0.9 -> 5.8 ns each) */
  _mm256_zeroupper();
}

/* out[j] = mt_temper(k[j]) & mask for j < n, sixteen words at a time; returns the count
 * done (n rounded down to 16). */
__attribute__((target("avx512f"))) static size_t mt_temper_avx512(const uint32_t *k, size_t n,
                                                                  uint32_t mask, uint32_t *out) {
  const __m512i m1 = _mm512_set1_epi32((int)MT_TEMPER_B), m2 = _mm512_set1_epi32((int)MT_TEMPER_C);
  const __m512i keep = _mm512_set1_epi32((int)mask);
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512i y = _mm512_loadu_si512(k + j);
    y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 11));
    y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 7), m1));
    y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 15), m2));
    y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 18));
    _mm512_storeu_si512(out + j, _mm512_and_si512(y, keep));
  }
  return j;
}

/* mt_doubles eight at a time: the sixteen words tempered as in mt_temper_avx512, each
 * pair (a, b) one 64-bit lane, a >> 5 and b >> 6 made doubles exactly (as integers under
 * 2^52: or-ed into the mantissa of 2^52, which is then subtracted), then
 * (a 2^26 + b) 2^-53 as the scalar formula computes it. Returns the count done. */
__attribute__((target("avx512f"))) static int mt_doubles_avx512(const uint32_t *key, int count,
                                                                double *d) {
  const __m512i m1 = _mm512_set1_epi32((int)MT_TEMPER_B), m2 = _mm512_set1_epi32((int)MT_TEMPER_C);
  const __m512i magic = _mm512_set1_epi64(0x4330000000000000LL);
  const __m512d two52 = _mm512_set1_pd(4503599627370496.0), two26 = _mm512_set1_pd(67108864.0);
  const __m512d inv53 = _mm512_set1_pd(1.0 / 9007199254740992.0);
  int j = 0;
  for (; j + 8 <= count; j += 8) {
    __m512i y = _mm512_loadu_si512(key + 2 * j);
    y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 11));
    y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 7), m1));
    y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 15), m2));
    y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 18));
    __m512i a = _mm512_srli_epi64(_mm512_slli_epi64(y, 32), 37); /* low word >> 5 */
    __m512i b = _mm512_srli_epi64(y, 38);                        /* high word >> 6 */
    __m512d da = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(a, magic)), two52);
    __m512d db = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(b, magic)), two52);
    _mm512_storeu_pd(d + j, _mm512_mul_pd(_mm512_add_pd(_mm512_mul_pd(da, two26), db), inv53));
  }
  _mm256_zeroupper();
  return j;
}
/* out[i] = lo + range * out[i], eight at a time (a separate product and sum, as the
 * scalar loop); returns the count done. */
__attribute__((target("avx512f"))) static int64_t uniform_scale_avx512(double *out, int64_t n,
                                                                      double lo, double range) {
  const __m512d l = _mm512_set1_pd(lo), g = _mm512_set1_pd(range);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(out + i, _mm512_add_pd(l, _mm512_mul_pd(g, _mm512_loadu_pd(out + i))));
  _mm256_zeroupper();
  return i;
}
#define MT_HAVE_AVX512 1
#endif

/* Regenerates the 624 words of the state. */
static void mt_refill(vfr_np_rng *r) {
#ifdef MT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) {
    mt_refill_avx512(r);
    return;
  }
#endif
  mt_refill_base(r);
}

/* The samplers below use these inlined forms; the public functions wrap them. */
static inline uint32_t mt_temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & MT_TEMPER_B;
  y ^= (y << 15) & MT_TEMPER_C;
  y ^= y >> 18;
  return y;
}

static inline uint32_t mt_u32(vfr_np_rng *r) {
  if (r->pos >= MT_N) mt_refill(r);
  return mt_temper(r->key[r->pos++]);
}

uint32_t vfr_np_rng_u32(vfr_np_rng *r) { return mt_u32(r); }

void vfr_np_rng_u32_fill(vfr_np_rng *r, uint32_t *out, size_t n) {
  vfr_np_rng_u32_fill_masked(r, out, n, 0xffffffffu);
}

void vfr_np_rng_u32_fill_masked(vfr_np_rng *r, uint32_t *out, size_t n, uint32_t mask) {
  size_t i = 0;
  while (i < n) {
    if (r->pos >= MT_N) mt_refill(r);
    size_t count = (size_t)(MT_N - r->pos);
    if (count > n - i) count = n - i;
    const uint32_t *k = r->key + r->pos;
    size_t j = 0;
#ifdef MT_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f")) j = mt_temper_avx512(k, count, mask, out + i);
#endif
#ifdef __SSE2__
    const __m128i m1 = _mm_set1_epi32((int)MT_TEMPER_B), m2 = _mm_set1_epi32((int)MT_TEMPER_C);
    const __m128i keep = _mm_set1_epi32((int)mask);
    for (; j + 4 <= count; j += 4) { /* mt_temper, four words at a time */
      __m128i y = _mm_loadu_si128((const __m128i *)(k + j));
      y = _mm_xor_si128(y, _mm_srli_epi32(y, 11));
      y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 7), m1));
      y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 15), m2));
      y = _mm_xor_si128(y, _mm_srli_epi32(y, 18));
      _mm_storeu_si128((__m128i *)(out + i + j), _mm_and_si128(y, keep));
    }
#endif
    for (; j < count; j++) out[i + j] = mt_temper(k[j]) & mask;
    r->pos += (int)count;
    i += count;
  }
}

/* mt19937_next64: the first word is the high half. */
static uint64_t mt_u64(vfr_np_rng *r) {
  uint64_t hi = mt_u32(r);
  return hi << 32 | mt_u32(r);
}

static inline double mt_double(vfr_np_rng *r) {
  uint32_t a = mt_u32(r) >> 5, b = mt_u32(r) >> 6;
  return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double vfr_np_rng_random(vfr_np_rng *r) { return mt_double(r); }

/* d[j] = random_sample() from the untempered words key[2j], key[2j+1], j < count: the same
 * values as mt_double, (a >> 5) 2^26 + (b >> 6) being exact and the scaling a power of two.
 * key is (2 count), d is (count). */
static void mt_doubles(const uint32_t *key, int count, double *d) {
  int j = 0;
#ifdef MT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) j = mt_doubles_avx512(key, count, d);
#endif
#ifdef __SSE2__
  const __m128i m1 = _mm_set1_epi32((int)MT_TEMPER_B), m2 = _mm_set1_epi32((int)MT_TEMPER_C);
  const __m128d two26 = _mm_set1_pd(67108864.0), inv53 = _mm_set1_pd(1.0 / 9007199254740992.0);
  for (; j + 2 <= count; j += 2) { /* words a0 b0 a1 b1 */
    __m128i y = _mm_loadu_si128((const __m128i *)(key + 2 * j));
    y = _mm_xor_si128(y, _mm_srli_epi32(y, 11));
    y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 7), m1));
    y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 15), m2));
    y = _mm_xor_si128(y, _mm_srli_epi32(y, 18));
    __m128i a = _mm_shuffle_epi32(_mm_srli_epi32(y, 5), _MM_SHUFFLE(3, 1, 2, 0)); /* a0 a1 */
    __m128i b = _mm_shuffle_epi32(_mm_srli_epi32(y, 6), _MM_SHUFFLE(0, 0, 3, 1)); /* b0 b1 */
    __m128d v = _mm_add_pd(_mm_mul_pd(_mm_cvtepi32_pd(a), two26), _mm_cvtepi32_pd(b));
    _mm_storeu_pd(d + j, _mm_mul_pd(v, inv53));
  }
#endif
  for (; j < count; j++) {
    uint32_t a = mt_temper(key[2 * j]) >> 5, b = mt_temper(key[2 * j + 1]) >> 6;
    d[j] = ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
  }
}

double vfr_np_rng_uniform(vfr_np_rng *r, double lo, double hi) {
  double range = hi - lo;
  return lo + range * mt_double(r);
}

/* One pair of the legacy polar method: *first = f * x2 (returned first), *second = f * x1. */
static inline void mt_polar_pair(vfr_np_rng *r, double *first, double *second) {
  double x1, x2, r2;
  do {
    x1 = 2.0 * mt_double(r) - 1.0;
    x2 = 2.0 * mt_double(r) - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  double f = sqrt(-2.0 * log(r2) / r2);
  *first = f * x2;
  *second = f * x1;
}

static inline double mt_gauss(vfr_np_rng *r) {
  if (r->has_gauss) {
    r->has_gauss = 0;
    double g = r->gauss;
    r->gauss = 0.0;
    return g;
  }
  double first, second;
  mt_polar_pair(r, &first, &second);
  r->gauss = second; /* the second of the pair is returned by the next call */
  r->has_gauss = 1;
  return first;
}

double vfr_np_rng_gauss(vfr_np_rng *r) { return mt_gauss(r); }

double vfr_np_rng_normal(vfr_np_rng *r, double loc, double scale) {
  return loc + scale * mt_gauss(r);
}

/* log(Gamma(x)) for x >= 1 (distributions.c random_loggam). */
static double loggam(double x) {
  static const double a[10] = {8.333333333333333e-02, -2.777777777777778e-03,
                               7.936507936507937e-04, -5.952380952380952e-04,
                               8.417508417508418e-04, -1.917526917526918e-03,
                               6.410256410256410e-03, -2.955065359477124e-02,
                               1.796443723688307e-01, -1.39243221690590e+00};
  if (x == 1.0 || x == 2.0) return 0.0;
  int64_t n = x < 7.0 ? (int64_t)(7 - x) : 0;
  double x0 = x + (double)n;
  double x2 = (1.0 / x0) * (1.0 / x0);
  const double lg2pi = 1.8378770664093453e+00;
  double gl0 = a[9];
  for (int k = 8; k >= 0; k--) {
    gl0 *= x2;
    gl0 += a[k];
  }
  double gl = gl0 / x0 + 0.5 * lg2pi + (x0 - 0.5) * log(x0) - x0;
  if (x < 7.0)
    for (int64_t k = 1; k <= n; k++) {
      gl -= log(x0 - 1.0);
      x0 -= 1.0;
    }
  return gl;
}

void vfr_np_poisson_prepare(vfr_np_poisson_lam *p, double lam) {
  p->lam = lam;
  p->enlam = lam < 10 ? exp(-lam) : 0.0;
  p->slam = sqrt(lam);
  p->loglam = log(lam);
  p->b = 0.931 + 2.53 * p->slam;
  p->a = -0.059 + 0.02483 * p->b;
  p->invalpha = 1.1239 + 1.1328 / (p->b - 3.4);
  p->vr = 0.9277 - 3.6224 / (p->b - 2);
  p->log_invalpha = log(p->invalpha);
}

/* (int64_t)floor(x) for |x| < 2^63, without the library call: the truncation, one less
 * where it rounded a negative value up. */
static inline int64_t floor_i64(double x) {
  int64_t k = (int64_t)x;
  return (double)k > x ? k - 1 : k;
}

/* The legacy Poisson sampler on any source of doubles: NEXT is an expression giving the
 * next random_sample(), RET(k) returns the count. Below 10 the multiplication method
 * (uniforms until their product falls to exp(-lam)); from 10 Hoermann's transformed
 * rejection with squeeze (PTRS). The constants of lam come prepared (the same expressions
 * NumPy evaluates on every call). */
#define POISSON_BODY(p, NEXT, RET, LOGGAM)                                                 \
  do {                                                                                     \
    if ((p)->lam >= 10) {                                                                  \
      const double lam_ = (p)->lam, a_ = (p)->a, b_ = (p)->b;                              \
      for (;;) {                                                                           \
        double U = (NEXT) - 0.5;                                                           \
        double V = (NEXT);                                                                 \
        double us = 0.5 - fabs(U);                                                         \
        int64_t k = floor_i64((2 * a_ / us + b_) * U + lam_ + 0.43);                       \
        if (us >= 0.07 && V <= (p)->vr) RET(k);                                            \
        if (k < 0 || (us < 0.013 && V > us)) continue;                                     \
        if (log(V) + (p)->log_invalpha - log(a_ / (us * us) + b_) <=                       \
            -lam_ + (double)k * (p)->loglam - LOGGAM(k))                                   \
          RET(k);                                                                          \
      }                                                                                    \
    }                                                                                      \
    if ((p)->lam == 0) RET(0);                                                             \
    double prod_ = 1.0;                                                                    \
    int64_t x_ = 0;                                                                        \
    for (;;) {                                                                             \
      prod_ *= (NEXT);                                                                     \
      if (prod_ > (p)->enlam) x_++;                                                        \
      else RET(x_);                                                                        \
    }                                                                                      \
  } while (0)

#define POISSON_RETURN(k) return (k)
#define LOGGAM_OF(k) loggam((double)(k) + 1)

int64_t vfr_np_rng_poisson_prepared(vfr_np_rng *r, const vfr_np_poisson_lam *p) {
  POISSON_BODY(p, mt_double(r), POISSON_RETURN, LOGGAM_OF);
}

/* Doubles of the current word block, computed a block at a time; the generator's position
 * is brought up to date (just past the doubles used) by double_reader_done. Needs an even
 * position, which a stream of doubles keeps (a block holds 312 of them). */
typedef struct double_reader {
  vfr_np_rng *r;
  int base, n, k; /* buf[0..n) are the doubles from word `base` on; k used */
  double buf[MT_N / 2];
} double_reader;

static void reader_refill(double_reader *d) {
  d->r->pos = d->base + 2 * d->k;
  if (d->r->pos >= MT_N) mt_refill(d->r);
  d->base = d->r->pos;
  d->n = (MT_N - d->base) / 2;
  d->k = 0;
  mt_doubles(d->r->key + d->base, d->n, d->buf);
}

/* reader_refill for a loop that keeps the position k and the end nk in locals. */
static inline void reader_refill_at(double_reader *d, int *k, int *nk) {
  d->k = *k;
  reader_refill(d);
  *k = d->k, *nk = d->n;
}

static inline double reader_next(double_reader *d) {
  if (d->k == d->n) reader_refill(d);
  return d->buf[d->k++];
}

/* The multiplication method (0 < lam < 10) over a run of pixels, without a branch on when
 * a count ends: per uniform, prod *= u; where prod > exp(-lam) the count grows, else it is
 * stored and the next pixel starts (i + 1, prod 1, count 0). en[i] is exp(-lam) of pixel i,
 * or -1 where that pixel takes another path (en[] ends with a -1, past the last pixel);
 * the run stops there, at the start of a count. The comparisons are NumPy's, so the counts
 * and the uniforms they use are too. Returns the pixel it stopped at. */
static int64_t poisson_mult_run(double_reader *d, const double *en, int64_t i, int64_t *out) {
  int k = d->k, nk = d->n;
  int64_t x = 0;
#ifdef __SSE2__
  /* The selects as masks (a compiler's branch here would mispredict at every count's end).
   * prod holds the product with the latest uniform; the next is prod * u where the count
   * goes on, else u itself (1.0 * u, exactly), so the multiply runs beside the compare. The
   * next pixel's e is loaded ahead and chosen by the same mask. */
  const __m128d zero = _mm_setzero_pd();
  __m128d e = _mm_load_sd(en + i);
  if (_mm_comilt_sd(e, zero)) return i;
  if (k == nk) reader_refill_at(d, &k, &nk);
  __m128d prod = _mm_load_sd(d->buf + k++);
  for (;;) {
    __m128d more = _mm_cmpgt_sd(prod, e), next = _mm_load_sd(en + i + 1);
    int64_t m = -(int64_t)(_mm_cvtsi128_si32(_mm_castpd_si128(more)) & 1); /* 0 or -1 */
    out[i] = x;
    i += 1 + m;
    x = (x + 1) & m;
    e = _mm_or_pd(_mm_and_pd(more, e), _mm_andnot_pd(more, next));
    if (_mm_comilt_sd(e, zero)) break;
    if (k == nk) reader_refill_at(d, &k, &nk);
    __m128d u = _mm_load_sd(d->buf + k++);
    prod = _mm_or_pd(_mm_and_pd(more, _mm_mul_sd(prod, u)), _mm_andnot_pd(more, u));
  }
#else
  double prod = 1.0;
  for (;;) {
    double e = en[i];
    if (e < 0) break;
    if (k == nk) reader_refill_at(d, &k, &nk);
    prod *= d->buf[k++];
    int more = prod > e;
    out[i] = x;
    i += !more;
    x = more ? x + 1 : 0;
    prod = more ? prod : 1.0;
  }
#endif
  d->k = k;
  return i;
}

void vfr_np_rng_poisson_index_fill(vfr_np_rng *r, const vfr_np_poisson_lam *rates,
                                   const uint8_t *index, int64_t n, int64_t *out) {
  if (r->pos & 1) { /* an odd position: doubles straddle blocks, go one at a time */
    for (int64_t i = 0; i < n; i++) out[i] = vfr_np_rng_poisson_prepared(r, &rates[index[i]]);
    return;
  }
  double_reader d;
  d.r = r;
  d.base = r->pos;
  d.n = d.k = 0;
  /* loggam(k + 1) of the counts PTRS tests, computed once each (the same function, so the
   * same values); counts beyond the table are computed every time */
  enum { LG_N = 1024 };
  double lg[LG_N];
  uint8_t lg_have[LG_N];
  memset(lg_have, 0, sizeof lg_have);
#define POISSON_STORE(k) \
  do {                   \
    out[i] = (k);        \
    goto next_value;     \
  } while (0)
#define LOGGAM_TABLE(k) \
  ((k) < LG_N ? (lg_have[k] ? lg[k] : (lg_have[k] = 1, lg[k] = loggam((double)(k) + 1))) : LOGGAM_OF(k))
  /* pixels in chunks of EN_N: exp(-lam) of those the multiplication method serves runs
   * through poisson_mult_run, the others (lam 0, lam >= 10) through the body below */
  enum { EN_N = 256 };
  double en[EN_N + 1];
  for (int64_t c0 = 0; c0 < n; c0 += EN_N) {
    int64_t c1 = n - c0 < EN_N ? n : c0 + EN_N;
    for (int64_t j = c0; j < c1; j++) {
      const vfr_np_poisson_lam *p = &rates[index[j]];
      en[j - c0] = p->lam < 10 && p->lam != 0 ? p->enlam : -1.0;
    }
    en[c1 - c0] = -1.0;
    for (int64_t i = c0; i < c1; i++) {
      i = c0 + poisson_mult_run(&d, en, i - c0, out + c0);
      if (i == c1) break;
      const vfr_np_poisson_lam *p = &rates[index[i]];
      POISSON_BODY(p, reader_next(&d), POISSON_STORE, LOGGAM_TABLE);
    next_value:;
    }
  }
#undef LOGGAM_TABLE
#undef POISSON_STORE
  r->pos = d.base + 2 * d.k;
}

int64_t vfr_np_rng_poisson(vfr_np_rng *r, double lam) {
  vfr_np_poisson_lam p;
  if (lam == 0) return 0;
  if (lam < 10) { /* only what the multiplication method needs */
    p.lam = lam;
    p.enlam = exp(-lam);
  } else {
    vfr_np_poisson_prepare(&p, lam);
  }
  return vfr_np_rng_poisson_prepared(r, &p);
}

/* The smallest all-ones mask covering v. */
static uint64_t mask_of(uint64_t v) {
  v |= v >> 1;
  v |= v >> 2;
  v |= v >> 4;
  v |= v >> 8;
  v |= v >> 16;
  v |= v >> 32;
  return v;
}

int64_t vfr_np_rng_randint(vfr_np_rng *r, int64_t lo, int64_t hi) {
  /* _rand_int64(lo, hi - 1, masked): rng = hi - 1 - lo, out = lo + bounded(rng) */
  uint64_t rng = (uint64_t)hi - 1u - (uint64_t)lo;
  uint64_t v;
  if (hi <= lo) return lo; /* NumPy refuses an empty range; callers never ask for one */
  if (rng == 0) return lo;
  if (rng <= 0xffffffffu) {
    if (rng == 0xffffffffu) {
      v = mt_u32(r);
    } else {
      uint32_t m = (uint32_t)mask_of(rng), w;
      while ((w = mt_u32(r) & m) > rng) {
      }
      v = w;
    }
  } else if (rng == UINT64_MAX) {
    v = mt_u64(r);
  } else {
    uint64_t m = mask_of(rng);
    while ((v = mt_u64(r) & m) > rng) {
    }
  }
  return (int64_t)((uint64_t)lo + v);
}

void vfr_np_rng_random_fill(vfr_np_rng *r, int64_t n, double *out) {
  int64_t i = 0;
  while (i < n) {
    if (r->pos >= MT_N) mt_refill(r);
    int64_t count = (MT_N - r->pos) / 2;
    if (count == 0) { /* a double straddling two blocks */
      out[i++] = mt_double(r);
      continue;
    }
    if (count > n - i) count = n - i;
    mt_doubles(r->key + r->pos, (int)count, out + i);
    r->pos += 2 * (int)count;
    i += count;
  }
}

void vfr_np_rng_uniform_fill(vfr_np_rng *r, double lo, double hi, int64_t n, double *out) {
  /* uniform(lo, hi) = lo + (hi - lo) * random_sample(), the doubles made block-wise */
  vfr_np_rng_random_fill(r, n, out);
  double range = hi - lo;
  int64_t i = 0;
#ifdef MT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) i = uniform_scale_avx512(out, n, lo, range);
#endif
  for (; i < n; i++) out[i] = lo + range * out[i];
}

/* The polar method's attempts from the doubles d (2 attempts): x1 = 2 d[2a] - 1,
 * x2 = 2 d[2a + 1] - 1, r2 = x1 x1 + x2 x2, accepted unless r2 >= 1 or r2 == 0. The
 * accepted ones' x1, x2, r2 are packed into x1, x2, r2 and their attempt numbers into
 * accepted (each with room for `attempts`); returns their count. */
static int polar_attempts_scalar(const double *d, int a0, int attempts, int n_acc, double *x1,
                                 double *x2, double *r2, int *accepted) {
  for (int a = a0; a < attempts; a++) {
    double u = 2.0 * d[2 * a] - 1.0, v = 2.0 * d[2 * a + 1] - 1.0;
    double q = u * u + v * v;
    x1[n_acc] = u, x2[n_acc] = v, r2[n_acc] = q, accepted[n_acc] = a;
    n_acc += !(q >= 1.0 || q == 0.0);
  }
  return n_acc;
}

#ifdef MT_HAVE_AVX512
/* Eight attempts at a time, the accepted lanes compressed to the front of each store. */
__attribute__((target("avx512f"))) static int polar_attempts_avx512(const double *d, int attempts,
                                                                   double *x1, double *x2,
                                                                   double *r2, int *accepted) {
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  const __m512d two = _mm512_set1_pd(2.0), one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0);
  int n_acc = 0, a = 0;
  for (; a + 8 <= attempts; a += 8) {
    __m512d lo = _mm512_loadu_pd(d + 2 * a), hi = _mm512_loadu_pd(d + 2 * a + 8);
    __m512d u = _mm512_sub_pd(_mm512_mul_pd(two, _mm512_permutex2var_pd(lo, even, hi)), one);
    __m512d v = _mm512_sub_pd(_mm512_mul_pd(two, _mm512_permutex2var_pd(lo, odd, hi)), one);
    __m512d q = _mm512_add_pd(_mm512_mul_pd(u, u), _mm512_mul_pd(v, v));
    __mmask8 keep = _mm512_cmp_pd_mask(q, one, _CMP_LT_OQ) & _mm512_cmp_pd_mask(q, zero, _CMP_NEQ_OQ);
    _mm512_mask_compressstoreu_pd(x1 + n_acc, keep, u);
    _mm512_mask_compressstoreu_pd(x2 + n_acc, keep, v);
    _mm512_mask_compressstoreu_pd(r2 + n_acc, keep, q);
    __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32(a)); /* lanes 0..7 used */
    _mm512_mask_compressstoreu_epi32(accepted + n_acc, (__mmask16)keep, idx);
    n_acc += __builtin_popcount(keep);
  }
  _mm256_zeroupper(); /* before the plain code below (see mt_refill_avx512) */
  return polar_attempts_scalar(d, a, attempts, n_acc, x1, x2, r2, accepted);
}
#endif

static int polar_attempts(const double *d, int attempts, double *x1, double *x2, double *r2,
                          int *accepted) {
#ifdef MT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f"))
    return polar_attempts_avx512(d, attempts, x1, x2, r2, accepted);
#endif
  return polar_attempts_scalar(d, 0, attempts, 0, x1, x2, r2, accepted);
}

/* The pairs of `take` accepted polar attempts from their logs, from t0 on: f = sqrt(-2
 * log(r2) / r2), out[2t] = loc + scale (f x2), out[2t + 1] = loc + scale (f x1), NumPy's
 * operations in its order. */
static void polar_finish_scalar(double *out, int t0, int take, const double *x1,
                                const double *x2, const double *r2, const double *lg,
                                double loc, double scale) {
  for (int t = t0; t < take; t++) {
    double f = sqrt(-2.0 * lg[t] / r2[t]);
    out[2 * t] = loc + scale * (f * x2[t]);
    out[2 * t + 1] = loc + scale * (f * x1[t]);
  }
}

#ifdef MT_HAVE_AVX512
/* Eight pairs at a time: the IEEE division and square root of a vector are the scalar
 * ones lane by lane (correctly rounded both), the two results interleaved on the store. */
__attribute__((target("avx512f"))) static void polar_finish_avx512(
    double *out, int take, const double *x1, const double *x2, const double *r2,
    const double *lg, double loc, double scale) {
  const __m512d m2 = _mm512_set1_pd(-2.0), vl = _mm512_set1_pd(loc), vs = _mm512_set1_pd(scale);
  const __m512i lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  int t = 0;
  for (; t + 8 <= take; t += 8) {
    __m512d f = _mm512_sqrt_pd(_mm512_div_pd(_mm512_mul_pd(m2, _mm512_loadu_pd(lg + t)),
                                             _mm512_loadu_pd(r2 + t)));
    __m512d a = _mm512_add_pd(vl, _mm512_mul_pd(vs, _mm512_mul_pd(f, _mm512_loadu_pd(x2 + t))));
    __m512d b = _mm512_add_pd(vl, _mm512_mul_pd(vs, _mm512_mul_pd(f, _mm512_loadu_pd(x1 + t))));
    _mm512_storeu_pd(out + 2 * t, _mm512_permutex2var_pd(a, lo, b));
    _mm512_storeu_pd(out + 2 * t + 8, _mm512_permutex2var_pd(a, hi, b));
  }
  _mm256_zeroupper(); /* before the plain code below (see mt_refill_avx512) */
  polar_finish_scalar(out, t, take, x1, x2, r2, lg, loc, scale);
}
#endif

static void polar_finish(double *out, int take, const double *x1, const double *x2,
                         const double *r2, const double *lg, double loc, double scale) {
#ifdef MT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) {
    polar_finish_avx512(out, take, x1, x2, r2, lg, loc, scale);
    return;
  }
#endif
  polar_finish_scalar(out, 0, take, x1, x2, r2, lg, loc, scale);
}

void vfr_np_rng_normal_fill(vfr_np_rng *r, double loc, double scale, int64_t n, double *out) {
  int64_t i = 0;
  if (n > 0 && r->has_gauss) out[i++] = loc + scale * mt_gauss(r);
  /* Pairs straight from the polar method, the cache untouched until a single one is left.
   * Every attempt takes exactly four words, so the attempts lying wholly inside the current
   * block of 624 words are evaluated together (no branch on acceptance), the accepted ones
   * turned into pairs, and the position set just past the last attempt used: the words
   * consumed are the ones NumPy's loop consumes. An attempt straddling two blocks takes the
   * one-at-a-time path. */
  double d[MT_N / 2];
  double px1[MT_N / 4], px2[MT_N / 4], pr2[MT_N / 4], plog[MT_N / 4];
  int accepted[MT_N / 4];
  while (n - i >= 2) {
    if (r->pos >= MT_N) mt_refill(r);
    int pos = r->pos, attempts = (MT_N - pos) / 4;
    int64_t enough = (n - i) / 2 + (n - i) / 6 + 8; /* about what the pairs left need (pi/4 accepted) */
    if (attempts > enough) attempts = (int)enough;
    if (attempts == 0) {
      double first, second;
      mt_polar_pair(r, &first, &second);
      out[i++] = loc + scale * first;
      out[i++] = loc + scale * second;
      continue;
    }
    mt_doubles(r->key + pos, 2 * attempts, d);
    int n_acc = polar_attempts(d, attempts, px1, px2, pr2, accepted);
    int64_t need = (n - i) / 2;
    int take = n_acc < need ? n_acc : (int)need;
    for (int t = 0; t < take; t++) plog[t] = log(pr2[t]);
    polar_finish(out + i, take, px1, px2, pr2, plog, loc, scale);
    i += 2 * (int64_t)take;
    /* done: stop after the attempt that gave the last pair; else every attempt was used */
    r->pos = pos + 4 * (take == need && take > 0 ? accepted[take - 1] + 1 : attempts);
  }
  if (i < n) out[i] = loc + scale * mt_gauss(r);
}

void vfr_np_rng_poisson_fill(vfr_np_rng *r, const double *lam, int64_t n, int64_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = vfr_np_rng_poisson(r, lam[i]);
}

void vfr_np_rng_randint_fill(vfr_np_rng *r, int64_t lo, int64_t hi, int64_t n, int64_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = vfr_np_rng_randint(r, lo, hi);
}

/* ---- SeedSequence and PCG64 ----------------------------------------------------- */

#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_MULT_L 0xca01f9ddu
#define SS_MIX_MULT_R 0x4973f715u
#define SS_POOL 4

static uint32_t ss_hashmix(uint32_t value, uint32_t *hash_const) {
  value ^= *hash_const;
  *hash_const *= SS_MULT_A;
  value *= *hash_const;
  return value ^ (value >> 16);
}

static uint32_t ss_mix(uint32_t x, uint32_t y) {
  uint32_t result = SS_MIX_MULT_L * x - SS_MIX_MULT_R * y;
  return result ^ (result >> 16);
}

/* SeedSequence(seed).generate_state(n32, uint32) for an integer seed: the entropy is the
 * seed's 32-bit words, least significant first (0 is one word). */
static void seed_sequence(uint64_t seed, uint32_t *out, int n32) {
  uint32_t entropy[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  int n_entropy = (seed >> 32) ? 2 : 1;
  uint32_t pool[SS_POOL];
  uint32_t hc = SS_INIT_A;
  for (int i = 0; i < SS_POOL; i++) pool[i] = ss_hashmix(i < n_entropy ? entropy[i] : 0u, &hc);
  for (int src = 0; src < SS_POOL; src++)
    for (int dst = 0; dst < SS_POOL; dst++)
      if (src != dst) pool[dst] = ss_mix(pool[dst], ss_hashmix(pool[src], &hc));
  /* entropy beyond the pool size would be mixed in here; an integer seed has at most 2 words */
  uint32_t hb = SS_INIT_B;
  for (int i = 0; i < n32; i++) {
    uint32_t v = pool[i % SS_POOL];
    v ^= hb;
    hb *= SS_MULT_B;
    v *= hb;
    out[i] = v ^ (v >> 16);
  }
}

/* 128-bit state arithmetic as (hi, lo) pairs: PCG64's multiplier
 * 0x2360ed051fc65da4_4385df649fccf645. */
#define PCG_MULT_HI 0x2360ed051fc65da4ull
#define PCG_MULT_LO 0x4385df649fccf645ull

static void pcg_step(vfr_np_pcg64 *g) {
  unsigned __int128 s = ((unsigned __int128)g->state_hi << 64) | g->state_lo;
  unsigned __int128 m = ((unsigned __int128)PCG_MULT_HI << 64) | PCG_MULT_LO;
  unsigned __int128 inc = ((unsigned __int128)g->inc_hi << 64) | g->inc_lo;
  s = s * m + inc;
  g->state_hi = (uint64_t)(s >> 64);
  g->state_lo = (uint64_t)s;
}

void vfr_np_pcg64_seed(vfr_np_pcg64 *g, uint64_t seed) {
  uint32_t w[8];
  seed_sequence(seed, w, 8);
  /* generate_state(4, uint64): words little-endian pairs; state = (v0, v1), initseq = (v2, v3) */
  uint64_t v[4];
  for (int i = 0; i < 4; i++) v[i] = (uint64_t)w[2 * i] | (uint64_t)w[2 * i + 1] << 32;
  unsigned __int128 initstate = ((unsigned __int128)v[0] << 64) | v[1];
  unsigned __int128 initseq = ((unsigned __int128)v[2] << 64) | v[3];
  unsigned __int128 inc = (initseq << 1) | 1u;
  g->state_hi = g->state_lo = 0;
  g->inc_hi = (uint64_t)(inc >> 64);
  g->inc_lo = (uint64_t)inc;
  pcg_step(g);
  unsigned __int128 s = ((unsigned __int128)g->state_hi << 64) | g->state_lo;
  s += initstate;
  g->state_hi = (uint64_t)(s >> 64);
  g->state_lo = (uint64_t)s;
  pcg_step(g);
}

uint64_t vfr_np_pcg64_u64(vfr_np_pcg64 *g) {
  pcg_step(g);
  uint64_t x = g->state_hi ^ g->state_lo;
  unsigned rot = (unsigned)(g->state_hi >> 58);
  return (x >> rot) | (x << ((64u - rot) & 63u));
}

double vfr_np_pcg64_random(vfr_np_pcg64 *g) {
  return (double)(vfr_np_pcg64_u64(g) >> 11) * (1.0 / 9007199254740992.0);
}

void vfr_np_pcg64_random_fill(vfr_np_pcg64 *g, int64_t n, double *out) {
  for (int64_t i = 0; i < n; i++) out[i] = vfr_np_pcg64_random(g);
}

/* a * b + c and the LCG's k-step jump, mod 2^128. */
typedef unsigned __int128 u128;

#ifdef MT_HAVE_AVX512
/* PCG64 states as vectors of their 64-bit halves, eight lanes each. One step of every lane,
 * s = s * a + c mod 2^128: lo(s) * lo(a) in full from four 32-bit products, the cross
 * terms hi(s) lo(a) + lo(s) hi(a) mod 2^64 into the high half, then c with its carry.
 * (a0, a1: the 32-bit halves of lo(a), broadcast; alo, ahi, clo, chi: broadcast.) */
__attribute__((target("avx512f,avx512dq"))) static inline void pcg_lanes_step(
    __m512i *hi, __m512i *lo, __m512i a0, __m512i a1, __m512i alo, __m512i ahi, __m512i clo,
    __m512i chi) {
  const __m512i m32 = _mm512_set1_epi64(0xffffffffll);
  __m512i l = *lo, h = *hi, l1 = _mm512_srli_epi64(l, 32);
  __m512i p00 = _mm512_mul_epu32(l, a0), p01 = _mm512_mul_epu32(l, a1);
  __m512i p10 = _mm512_mul_epu32(l1, a0), p11 = _mm512_mul_epu32(l1, a1);
  __m512i mid = _mm512_add_epi64(_mm512_srli_epi64(p00, 32),
                                 _mm512_add_epi64(_mm512_and_si512(p01, m32), _mm512_and_si512(p10, m32)));
  __m512i nlo = _mm512_or_si512(_mm512_and_si512(p00, m32), _mm512_slli_epi64(mid, 32));
  __m512i nhi = _mm512_add_epi64(_mm512_add_epi64(p11, _mm512_srli_epi64(mid, 32)),
                                 _mm512_add_epi64(_mm512_srli_epi64(p01, 32), _mm512_srli_epi64(p10, 32)));
  nhi = _mm512_add_epi64(nhi, _mm512_add_epi64(_mm512_mullo_epi64(h, alo), _mm512_mullo_epi64(l, ahi)));
  __m512i slo = _mm512_add_epi64(nlo, clo);
  __mmask8 carry = _mm512_cmplt_epu64_mask(slo, clo);
  nhi = _mm512_add_epi64(nhi, chi);
  *hi = _mm512_mask_sub_epi64(nhi, carry, nhi, _mm512_set1_epi64(-1));
  *lo = slo;
}

/* The lanes' XSL-RR outputs w, and the mask of (w >> 11) <= bound. */
__attribute__((target("avx512f,avx512dq"))) static inline __mmask8 pcg_lanes_below(
    __m512i hi, __m512i lo, __m512i bound) {
  __m512i w = _mm512_rorv_epi64(_mm512_xor_si512(hi, lo), _mm512_srli_epi64(hi, 58));
  return _mm512_cmple_epu64_mask(_mm512_srli_epi64(w, 11), bound);
}

/* below_fill's words 32 at a time: lane j of vector v holds state S(t + 8v + j + 1), all
 * jumping 32 steps a round (S(k + 32) = m^32 S(k) + inc (m^31 + ... + 1)). Fills out[0..32r)
 * for r = n / 32 rounds and leaves the state at the last word used; returns 32r. */
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static int64_t pcg_below_avx512(
    vfr_np_pcg64 *g, uint64_t bound, int64_t n, uint8_t *out) {
  int64_t rounds = n / 32;
  if (rounds == 0) return 0;
  u128 m = ((u128)PCG_MULT_HI << 64) | PCG_MULT_LO;
  u128 inc = ((u128)g->inc_hi << 64) | g->inc_lo;
  u128 st = ((u128)g->state_hi << 64) | g->state_lo;
  u128 a = 1, sum = 0; /* m^32 and m^31 + ... + 1 */
  for (int j = 0; j < 32; j++) sum = sum * m + 1, a *= m;
  u128 c = inc * sum;
  uint64_t h0[32], l0[32];
  for (int j = 0; j < 32; j++) {
    st = st * m + inc;
    h0[j] = (uint64_t)(st >> 64), l0[j] = (uint64_t)st;
  }
  __m512i hi[4], lo[4];
  for (int v = 0; v < 4; v++)
    hi[v] = _mm512_loadu_si512(h0 + 8 * v), lo[v] = _mm512_loadu_si512(l0 + 8 * v);
  const __m512i alo = _mm512_set1_epi64((long long)(uint64_t)a);
  const __m512i ahi = _mm512_set1_epi64((long long)(uint64_t)(a >> 64));
  const __m512i a0 = _mm512_set1_epi64((long long)((uint64_t)a & 0xffffffffu));
  const __m512i a1 = _mm512_set1_epi64((long long)((uint64_t)a >> 32));
  const __m512i clo = _mm512_set1_epi64((long long)(uint64_t)c);
  const __m512i chi = _mm512_set1_epi64((long long)(uint64_t)(c >> 64));
  const __m512i vb = _mm512_set1_epi64((long long)bound);
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t r = 0;; r++) {
    __mmask32 m0 = pcg_lanes_below(hi[0], lo[0], vb), m1 = pcg_lanes_below(hi[1], lo[1], vb);
    __mmask32 m2 = pcg_lanes_below(hi[2], lo[2], vb), m3 = pcg_lanes_below(hi[3], lo[3], vb);
    __mmask32 bits = m0 | m1 << 8 | m2 << 16 | m3 << 24;
    _mm256_storeu_si256((__m256i *)(out + 32 * r), _mm256_maskz_mov_epi8(bits, ones));
    if (r + 1 == rounds) break;
    for (int v = 0; v < 4; v++) pcg_lanes_step(&hi[v], &lo[v], a0, a1, alo, ahi, clo, chi);
  }
  _mm512_storeu_si512(h0, hi[3]);
  _mm512_storeu_si512(l0, lo[3]);
  g->state_hi = h0[7], g->state_lo = l0[7];
  _mm256_zeroupper();
  return 32 * rounds;
}
#endif

void vfr_np_pcg64_below_fill(vfr_np_pcg64 *g, double p, int64_t n, uint8_t *out) {
  /* Generator.random() <= p  <=>  (word >> 11) * 2^-53 <= p  <=>  (word >> 11) <= floor(p * 2^53),
   * both sides exact (the scaling is a power of two) */
  double lim = floor(p * 9007199254740992.0);
  int none = !(lim >= 0); /* p < 0 or NaN: never */
  uint64_t bound = none ? 0 : lim >= 9007199254740992.0 ? UINT64_MAX : (uint64_t)lim;
  u128 m = ((u128)PCG_MULT_HI << 64) | PCG_MULT_LO;
  u128 inc = ((u128)g->inc_hi << 64) | g->inc_lo;
  u128 st = ((u128)g->state_hi << 64) | g->state_lo;
  /* four interleaved lanes: S(k + 4) = m^4 S(k) + inc (m^3 + m^2 + m + 1), so the four
   * multiplications of a round do not wait on each other */
  u128 m2 = m * m, m4 = m2 * m2;
  u128 c4 = inc * (m2 * m + m2 + m + 1);
  int64_t i = 0;
#ifdef MT_HAVE_AVX512
  if (!none && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    i = pcg_below_avx512(g, bound, n, out);
    st = ((u128)g->state_hi << 64) | g->state_lo;
  }
#endif
  if (n - i >= 8) {
    u128 s0 = st * m + inc, s1 = s0 * m + inc, s2 = s1 * m + inc, s3 = s2 * m + inc;
#define PCG_BELOW(k, lane)                                               \
  do {                                                                   \
    uint64_t hi = (uint64_t)((lane) >> 64), x = hi ^ (uint64_t)(lane);   \
    unsigned rot = (unsigned)(hi >> 58);                                 \
    uint64_t w = (x >> rot) | (x << ((64u - rot) & 63u));                \
    out[i + (k)] = (uint8_t)(!none && (w >> 11) <= bound);               \
  } while (0)
    for (; i + 4 <= n; i += 4) {
      PCG_BELOW(0, s0);
      PCG_BELOW(1, s1);
      PCG_BELOW(2, s2);
      PCG_BELOW(3, s3);
      st = s3;
      s0 = s0 * m4 + c4;
      s1 = s1 * m4 + c4;
      s2 = s2 * m4 + c4;
      s3 = s3 * m4 + c4;
    }
#undef PCG_BELOW
    g->state_hi = (uint64_t)(st >> 64);
    g->state_lo = (uint64_t)st;
  }
  for (; i < n; i++) out[i] = vfr_np_pcg64_random(g) <= p;
}
