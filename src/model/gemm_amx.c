/* bf16 linear layers and attention on AMX tiles (see gemm_amx.h for the layouts).
 *
 * Tiles: four 16x16 fp32 accumulators (a 32x32 output block), two 16-row x 32-input
 * activation tiles, two 16-pair x 16-column weight tiles; per 32 inputs, four tile products
 * (block_32x32, shared by both).
 *
 * The linear driver splits the rows into groups of at most GROUP_BLOCKS x 32 (as many groups
 * per thread), the output columns into chunks of 32-column blocks and the inputs into slices
 * of KC_BLOCKS x 32. A group's activations are first copied into tile order (zero rows past
 * the end): all of them when they fit WHOLE_BYTES, else one input slice at a time. Then, per
 * chunk and slice, each 32-row block (16 KiB of tiles, in L1) runs over the chunk's weight
 * panels (from L2, shared by the group's row blocks); the fp32 sums of the group across the
 * chunk gather in a per-thread buffer (L2), which the epilogue then writes out row by row.
 * With fewer groups than 4 per thread (small batches), the groups are as few as can be and
 * their (group, chunk) pairs are shared out instead, at least two chunks per thread, each
 * pair copying its own activations. */
#include "model/gemm_amx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/vec_math.h"

#ifdef _OPENMP
#include <omp.h>
#define AMX_THREADS(t) ((t) > 0 ? (t) : omp_get_max_threads())
#define AMX_ME() omp_get_thread_num()
#else
#define AMX_THREADS(t) 1
#define AMX_ME() 0
#endif

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#define VFR_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TARGET_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))
#endif

/* Measured at the vision towers' shapes (docs/models.md, "AMX kernel"): a row group's sums
 * (256 x 384 fp32, 384 KiB), its activations (256 x 768 bf16) and the chunk's weights share
 * L2; a row block's input slice (32 x 256 bf16, 16 KiB) stays in L1. Activations copied per
 * input slice (C > 1024) take chunks of up to 768 columns, so that they are copied once. */
enum { GROUP_BLOCKS = 8, CHUNK_BLOCKS = 12, SLICED_CHUNK_BLOCKS = 24, KC_BLOCKS = 8,
       WHOLE_BYTES = 512 << 10 };

int amx_weight_pack(amx_weight *w, const float *weight, int OC, int C) {
  memset(w, 0, sizeof *w);
  int KB = C / 32, OB = OC / 16;
  size_t n = (size_t)OC * C, bytes = (n * sizeof(uint16_t) + 63) / 64 * 64;
  uint16_t *d = aligned_alloc(64, bytes ? bytes : 64);
  if (!d) return -1;
  for (int ob = 0; ob < OB; ob++)
    for (int kb = 0; kb < KB; kb++)
      for (int kp = 0; kp < 16; kp++) {
        uint16_t *dst = d + (((size_t)ob * KB + kb) * 16 + kp) * 32;
        for (int j = 0; j < 16; j++) {
          const float *src = weight + (size_t)(ob * 16 + j) * C + kb * 32 + 2 * kp;
          dst[2 * j] = vm_bf16(src[0]);
          dst[2 * j + 1] = vm_bf16(src[1]);
        }
      }
  w->data = d, w->OC = OC, w->C = C;
  return 0;
}

void amx_weight_free(amx_weight *w) {
  free(w->data);
  memset(w, 0, sizeof *w);
}

/* y rows [r0, r0 + rows) x columns [o0, o0 + n) = epilogue(t (rows x n, row stride ldt)). */
static void epilogue_rows(void *y, int y_bf16, int OC, int r0, int rows, int o0, int n, float *t,
                          int ldt, const amx_epilogue *ep, vm_isa isa) {
  const float *bias = ep && ep->bias ? ep->bias + o0 : NULL;
  const float *scale = ep && ep->scale ? ep->scale + o0 : NULL;
  int act = ep ? ep->act : 0, acc = ep && ep->accumulate;
  for (int r = 0; r < rows; r++) {
    float *row = t + (size_t)r * ldt;
    size_t at = (size_t)(r0 + r) * OC + o0;
    activation_row(row, bias, n, act, isa);
    if (scale) vm_mul_row(isa, row, scale, n);
    if (y_bf16) vm_bf16_row(isa, (uint16_t *)y + at, row, n);
    else if (acc) vm_add_row(isa, (float *)y + at, row, n);
    else memcpy((float *)y + at, row, (size_t)n * sizeof(float));
  }
}

/* The caller's scratch, from its first 64-byte boundary, when it holds `need` bytes there;
 * else a new buffer, returned in *owned too (NULL when out of memory). */
static char *scratch_take(void *scratch, size_t bytes, size_t need, char **owned) {
  *owned = NULL;
  uintptr_t at = ((uintptr_t)scratch + 63) / 64 * 64;
  if (scratch && at - (uintptr_t)scratch <= bytes && bytes - (at - (uintptr_t)scratch) >= need)
    return (char *)at;
  return *owned = aligned_alloc(64, need ? need : 64);
}

#ifdef VFR_AMX

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int amx_cpu_supported(void) {
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  if (!((d >> 22) & 1u) || !((d >> 24) & 1u)) return 0; /* AMX-BF16, AMX-TILE */
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  if ((xlo & 0x600e6u) != 0x600e6u) return 0; /* AVX-512 and tile config + data state */
  unsigned long perm = 0;
  (void)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return 0;
  return (perm >> XFEATURE_XTILEDATA) & 1u;
}

/* Palette 1: tiles 0-7 of 16 rows x 64 bytes. */
typedef struct tile_config {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

TARGET_AMX static void tiles_configure(void) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
  /* GCC 12 does not see that ldtilecfg reads cfg and drops the stores above: say so */
  __asm__ volatile("" : : "m"(cfg) : "memory");
  _tile_loadconfig(&cfg);
}

/* t (32x32 fp32, row stride ldt floats) = [t +] the activation tiles (a0 rows 0-15, a1 rows
 * 16-31; tile rows lda bytes apart, the tiles of input block i at i * astep bytes) @ the weight
 * tiles b0[i * bstep], b1[i * bstep] (1 KiB tiles), for i < kb; first: start from zero. */
TARGET_AMX static void block_32x32(float *t, long ldt, int first, const uint16_t *a0,
                                   const uint16_t *a1, long astep, long lda,
                                   const uint16_t *b0, const uint16_t *b1, size_t bstep,
                                   int kb) {
  if (first) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  } else {
    _tile_loadd(0, t, ldt * 4);
    _tile_loadd(1, t + 16, ldt * 4);
    _tile_loadd(2, t + 16 * ldt, ldt * 4);
    _tile_loadd(3, t + 16 * ldt + 16, ldt * 4);
  }
  const char *p0 = (const char *)a0, *p1 = (const char *)a1;
  for (int k = 0; k < kb; k++) {
    _tile_loadd(4, p0 + k * astep, lda);
    _tile_loadd(5, p1 + k * astep, lda);
    _tile_loadd(6, b0 + (size_t)k * bstep, 64);
    _tile_loadd(7, b1 + (size_t)k * bstep, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, t, ldt * 4);
  _tile_stored(1, t + 16, ldt * 4);
  _tile_stored(2, t + 16 * ldt, ldt * 4);
  _tile_stored(3, t + 16 * ldt + 16, ldt * 4);
}

/* block_32x32 on an activation block of row stride lda elements, its 16-row halves lda * 16
 * apart, input block i at 32 i */
TARGET_AMX static void block_rows(float *t, long ldt, int first, const uint16_t *a, long lda,
                                  const uint16_t *b0, const uint16_t *b1, size_t bstep, int kb) {
  block_32x32(t, ldt, first, a, a + 16 * lda, 64, lda * 2, b0, b1, bstep, kb);
}

/* Rows [r0, r0 + rows) (rows <= 32, the rest of the block zero) x input blocks [k0, k0 + kb)
 * of a (N,C) in tile order: d[((i * 2 + h) * 16 + r) * 32 + c] = a[r0 + 16h + r, 32(k0+i) + c]. */
static void pack_block(uint16_t *d, const uint16_t *a, int C, int r0, int rows, int k0, int kb) {
  for (int r = 0; r < 32; r++) { /* along each source row, for the prefetchers */
    uint16_t *dst = d + (size_t)(r / 16) * 512 + (size_t)(r % 16) * 32;
    const uint16_t *src = a + (size_t)(r0 + r) * C + (size_t)k0 * 32;
    for (int i = 0; i < kb; i++) {
      if (r < rows) memcpy(dst + (size_t)i * 1024, src + (size_t)i * 32, 64);
      else memset(dst + (size_t)i * 1024, 0, 64);
    }
  }
}

TARGET_AMX static void tiles_release(void) { _tile_release(); }

/* How amx_linear shares out N rows of w on `team` threads (see the top of the file). */
typedef struct linear_plan {
  int groups, chunk, chunks, split, items, whole;
  size_t t_floats, per; /* per thread: the sums' floats; bytes with the copied activations */
} linear_plan;

static linear_plan plan_linear(const amx_weight *w, int N, int team) {
  linear_plan p;
  int KB = w->C / 32, NB = w->OC / 32, RB = (N + 31) / 32;
  /* as many row groups per thread, each of at most GROUP_BLOCKS row blocks */
  int per_team = team * GROUP_BLOCKS;
  p.groups = team * ((RB + per_team - 1) / per_team);
  if (p.groups > RB) p.groups = RB;
  p.whole = (size_t)GROUP_BLOCKS * 32 * w->C * sizeof(uint16_t) <= WHOLE_BYTES;
  p.chunk = p.whole ? CHUNK_BLOCKS : SLICED_CHUNK_BLOCKS;
  p.split = p.groups < 4 * team;
  if (p.split) { /* few rows: the fewest groups, and at least two chunks per thread */
    p.groups = (RB + GROUP_BLOCKS - 1) / GROUP_BLOCKS;
    int narrow = (NB + 2 * team - 1) / (2 * team);
    if (p.chunk > narrow) p.chunk = narrow;
  }
  p.chunks = (NB + p.chunk - 1) / p.chunk;
  p.items = p.split ? p.groups * p.chunks : p.groups;
  p.t_floats = (size_t)GROUP_BLOCKS * 32 * p.chunk * 32;
  size_t pa_elems = (size_t)GROUP_BLOCKS * 32 * (p.whole ? KB : KC_BLOCKS) * 32;
  p.per = (p.t_floats * sizeof(float) + pa_elems * sizeof(uint16_t) + 63) / 64 * 64;
  return p;
}

size_t amx_linear_scratch_bytes(const amx_weight *w, int N, int threads) {
  int team = AMX_THREADS(threads);
  return N > 0 && w->C > 0 && w->OC > 0 ? (size_t)team * plan_linear(w, N, team).per : 0;
}

int amx_linear(void *y, int y_bf16, const uint16_t *a, const amx_weight *w, int N,
               const amx_epilogue *ep, int threads, void *scratch_in, size_t scratch_bytes) {
  if (N <= 0) return 0;
  int C = w->C, OC = w->OC, KB = C / 32, NB = OC / 32, RB = (N + 31) / 32;
  int team = AMX_THREADS(threads);
  linear_plan pl = plan_linear(w, N, team);
  int groups = pl.groups, chunk = pl.chunk, chunks = pl.chunks, split = pl.split;
  int items = pl.items, whole = pl.whole;
  size_t t_floats = pl.t_floats, per = pl.per;
  char *owned, *scratch = scratch_take(scratch_in, scratch_bytes, (size_t)team * per, &owned);
  if (!scratch) return -1;
  vm_isa isa = vm_isa_best();
  const size_t panel = (size_t)KB * 512; /* one 16-column panel of packed weights */
#pragma omp parallel num_threads(team)
  {
    int me = AMX_ME();
    float *t = (float *)(scratch + (size_t)me * per);
    uint16_t *pa = (uint16_t *)(t + t_floats);
    tiles_configure();
#pragma omp for schedule(static)
    for (int it = 0; it < items; it++) {
      int g = split ? it / chunks : it;
      int c0 = split ? it % chunks : 0, c1 = split ? c0 + 1 : chunks;
      int b0 = (int)((long)g * RB / groups), b1 = (int)((long)(g + 1) * RB / groups);
      int r0 = b0 * 32, rows = (b1 * 32 < N ? b1 * 32 : N) - r0, rbs = b1 - b0;
      if (whole)
        for (int rb = 0; rb < rbs; rb++)
          pack_block(pa + (size_t)rb * KB * 1024, a, C, r0 + rb * 32, rows - rb * 32, 0, KB);
      for (int c = c0; c < c1; c++) {
        int n0 = c * chunk, n1 = n0 + chunk < NB ? n0 + chunk : NB;
        int ldt = (n1 - n0) * 32;
        for (int k0 = 0; k0 < KB; k0 += KC_BLOCKS) {
          int kb = KB - k0 < KC_BLOCKS ? KB - k0 : KC_BLOCKS;
          if (!whole)
            for (int rb = 0; rb < rbs; rb++)
              pack_block(pa + (size_t)rb * KC_BLOCKS * 1024, a, C, r0 + rb * 32,
                         rows - rb * 32, k0, kb);
          for (int rb = 0; rb < rbs; rb++) {
            const uint16_t *ap = whole ? pa + (size_t)rb * KB * 1024 + (size_t)k0 * 1024
                                       : pa + (size_t)rb * KC_BLOCKS * 1024;
            for (int nb = n0; nb < n1; nb++) {
              const uint16_t *wp = w->data + (size_t)(2 * nb) * panel + (size_t)k0 * 512;
              block_32x32(t + (size_t)rb * 32 * ldt + (nb - n0) * 32, ldt, k0 == 0, ap, ap + 512,
                          2048, 64, wp, wp + panel, 512, kb);
            }
          }
        }
        epilogue_rows(y, y_bf16, OC, r0, rows, n0 * 32, ldt, t, ldt, ep, isa);
      }
    }
    tiles_release();
  }
  free(owned);
  return 0;
}

/* ---- attention ------------------------------------------------------------------------
 * Per (image, head), in the thread's scratch (Tp = T rounded up to 32, all padding zero):
 *   qp (Tp, hd) bf16          the head's q rows, dense
 *   kt                        k_h^T as weight tiles: tile (n16, kt) word (kp, j) is the pair
 *                             k_h[n16*16 + j, kt*32 + 2kp .. +1]
 *   vt                        v_h as weight tiles: tile (kt, n16) word (kp, j) is the pair
 *                             (v_h[kt*32 + 2kp, n16*16 + j], v_h[kt*32 + 2kp + 1, n16*16 + j])
 *   s (Tp, Tp) fp32, p (Tp, Tp) bf16, o (Tp, hd) fp32 */
typedef struct att_scratch {
  uint16_t *qp, *kt, *vt, *p;
  float *s, *o;
} att_scratch;

static size_t att_bytes(int Tp, int hd) {
  size_t n16 = (size_t)Tp * hd * 4 + (size_t)Tp * Tp; /* qp, kt, vt, p (bf16) */
  size_t n32 = (size_t)Tp * Tp + (size_t)Tp * hd;     /* s, o */
  return (n16 * sizeof(uint16_t) + n32 * sizeof(float) + 6 * 64 + 63) / 64 * 64;
}

static void att_carve(att_scratch *a, char *m, int Tp, int hd) {
  size_t at = 0;
#define CARVE(field, type, count)                        \
  a->field = (type *)(m + at);                           \
  at += ((count) * sizeof(type) + 63) / 64 * 64;
  CARVE(qp, uint16_t, (size_t)Tp * hd)
  CARVE(kt, uint16_t, (size_t)Tp * hd)
  CARVE(vt, uint16_t, (size_t)Tp * hd)
  CARVE(p, uint16_t, (size_t)Tp * Tp)
  CARVE(s, float, (size_t)Tp * Tp)
  CARVE(o, float, (size_t)Tp * hd)
#undef CARVE
  memset(m, 0, at);
}

/* The head's operands of image b into the scratch (rows >= T stay zero). k's 32-bit pairs
 * are gathered 16 tokens at a time (one tile row); v's rows are interleaved two at a time. */
TARGET_AMX static void att_load(att_scratch *a, const uint16_t *q, const uint16_t *k,
                                const uint16_t *v, int T, int C, int hd, int col) {
  int KT = hd / 32, NT = hd / 16;
  for (int t = 0; t < T; t++)
    memcpy(a->qp + (size_t)t * hd, q + (size_t)t * C + col, (size_t)hd * sizeof *q);
  const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                                           4, 3, 2, 1, 0),
                                          _mm512_set1_epi32(C * 2));
  for (int t0 = 0; t0 < T; t0 += 16) {
    __mmask16 live = T - t0 >= 16 ? 0xffff : (__mmask16)((1u << (T - t0)) - 1);
    const char *base = (const char *)(k + (size_t)t0 * C + col);
    for (int w = 0; w < hd / 2; w++) {
      __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, rows, base + 4 * w, 1);
      size_t tile = (size_t)(t0 / 16) * KT + w / 16;
      _mm512_store_si512(a->kt + (tile * 256 + (size_t)(w % 16) * 16) * 2, g);
    }
  }
  /* word j of a tile row pairs element j of the even and the odd token */
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                      39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int t = 0; t < T; t += 2) {
    const uint16_t *ve = v + (size_t)t * C + col, *vo = ve + C;
    int kt = t / 32, kp = (t % 32) / 2;
    for (int n = 0; n < hd; n += 32) {
      __m512i e = _mm512_loadu_si512(ve + n);
      __m512i o = t + 1 < T ? _mm512_loadu_si512(vo + n) : _mm512_setzero_si512();
      size_t tile = (size_t)kt * NT + n / 16;
      _mm512_store_si512(a->vt + (tile * 256 + (size_t)kp * 16) * 2,
                         _mm512_permutex2var_epi16(e, lo, o));
      _mm512_store_si512(a->vt + ((tile + 1) * 256 + (size_t)kp * 16) * 2,
                         _mm512_permutex2var_epi16(e, hi, o));
    }
  }
}

/* r[u] *= scale for u < n */
TARGET_AMX static void att_scale(float *r, int n, float scale) {
  __m512 s = _mm512_set1_ps(scale);
  for (int u = 0; u < n; u += 16) {
    __mmask16 m = n - u >= 16 ? 0xffff : (__mmask16)((1u << (n - u)) - 1);
    _mm512_mask_storeu_ps(r + u, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, r + u), s));
  }
}

size_t amx_attention_scratch_bytes(int T, int C, int NH, int threads) {
  if (NH <= 0 || C % NH || (C / NH) % 32 || T <= 0) return 0;
  return (size_t)AMX_THREADS(threads) * att_bytes((T + 31) / 32 * 32, C / NH);
}

int amx_attention(uint16_t *out, const uint16_t *q, const uint16_t *k, const uint16_t *v, int B,
                  int T, int C, int NH, float scale, int threads, void *scratch_in,
                  size_t scratch_bytes) {
  if (NH <= 0 || C % NH || (C / NH) % 32 || T <= 0) return -1;
  int hd = C / NH, Tp = (T + 31) / 32 * 32, KT = hd / 32, NT = hd / 16;
  int team = AMX_THREADS(threads);
  size_t per = att_bytes(Tp, hd);
  char *owned, *scratch = scratch_take(scratch_in, scratch_bytes, (size_t)team * per, &owned);
  if (!scratch) return -1;
  vm_isa isa = vm_isa_best();
  int jobs = B * NH;
#pragma omp parallel num_threads(team)
  {
    int me = AMX_ME();
    att_scratch a;
    att_carve(&a, scratch + (size_t)me * per, Tp, hd);
    tiles_configure();
#pragma omp for schedule(static)
    for (int j = 0; j < jobs; j++) {
      int b = j / NH, h = j % NH;
      size_t base = (size_t)b * T * C;
      att_load(&a, q + base, k + base, v + base, T, C, hd, h * hd);
      /* s = q_h k_h^T: 32x32 blocks over hd (KT steps), weight tiles of columns 2nb, 2nb+1 */
      for (int mb = 0; mb < Tp / 32; mb++)
        for (int nb = 0; nb < Tp / 32; nb++)
          block_rows(a.s + (size_t)mb * 32 * Tp + nb * 32, Tp, 1, a.qp + (size_t)mb * 32 * hd, hd,
                     a.kt + (size_t)(2 * nb) * KT * 512,
                    a.kt + (size_t)(2 * nb + 1) * KT * 512, 512, KT);
      for (int t = 0; t < T; t++) {
        float *r = a.s + (size_t)t * Tp;
        att_scale(r, T, scale);
        vm_softmax_row_bf16(isa, r, a.p + (size_t)t * Tp, T);
      }
      /* o = p v_h: 32x32 blocks over the tokens (Tp/32 steps) */
      for (int mb = 0; mb < Tp / 32; mb++)
        for (int nb = 0; nb < hd / 32; nb++)
          block_rows(a.o + (size_t)mb * 32 * hd + nb * 32, hd, 1, a.p + (size_t)mb * 32 * Tp, Tp,
                     a.vt + (size_t)(2 * nb) * 512,
                    a.vt + (size_t)(2 * nb + 1) * 512, (size_t)NT * 512, Tp / 32);
      for (int t = 0; t < T; t++)
        vm_bf16_row(isa, out + base + (size_t)t * C + h * hd, a.o + (size_t)t * hd, hd);
    }
    tiles_release();
  }
  free(owned);
  return 0;
}

#else

int amx_cpu_supported(void) { return 0; }

size_t amx_linear_scratch_bytes(const amx_weight *w, int N, int threads) {
  (void)w, (void)N, (void)threads;
  return 0;
}

int amx_linear(void *y, int y_bf16, const uint16_t *a, const amx_weight *w, int N,
               const amx_epilogue *ep, int threads, void *scratch, size_t scratch_bytes) {
  (void)y, (void)y_bf16, (void)a, (void)w, (void)N, (void)ep, (void)threads;
  (void)scratch, (void)scratch_bytes, (void)epilogue_rows, (void)scratch_take;
  return -1;
}

size_t amx_attention_scratch_bytes(int T, int C, int NH, int threads) {
  (void)T, (void)C, (void)NH, (void)threads;
  return 0;
}

int amx_attention(uint16_t *out, const uint16_t *q, const uint16_t *k, const uint16_t *v, int B,
                  int T, int C, int NH, float scale, int threads, void *scratch,
                  size_t scratch_bytes) {
  (void)out, (void)q, (void)k, (void)v, (void)B, (void)T, (void)C, (void)NH, (void)scale;
  (void)threads, (void)scratch, (void)scratch_bytes;
  return -1;
}

#endif
