/* bf16 linear layers and attention on AMX tiles (see gemm_amx.h for the layouts).
 *
 * Tiles: four 16x16 fp32 accumulators (a 32x32 output block), two 16-row x 32-input
 * activation tiles, two 16-pair x 16-column weight tiles; per 32 inputs, four tile products
 * (block_32x32, shared by both). The linear driver walks the output columns in chunks whose
 * packed weights (about 1 MiB) stay in L2 while each thread runs its share of the 32-row
 * blocks over them, the inputs in slices of KC_BLOCKS x 32; the fp32 sums of a row block
 * across the chunk gather in a per-thread buffer, which the epilogue then writes out row by
 * row. A last partial row block is copied, zero-padded, into a per-thread buffer first. */
#include "model/gemm_amx.h"

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

/* A column chunk: about 1 MiB of packed weights (in L2), at most 16 blocks of 32 columns
 * (its 32-row sums, 64 KiB, in L2 too); input slices of 48 x 32 (96 KiB per row block, in L2). */
enum { CHUNK_BYTES = 1 << 20, CHUNK_BLOCKS = 16, KC_BLOCKS = 48 };

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

/* t (32x32 fp32, row stride ldt floats) = [t +] a (32 rows, row stride lda bytes, kb blocks
 * of 32 inputs) @ the weight tiles b0[i * bstep], b1[i * bstep] (1 KiB tiles) for i < kb;
 * first: start from zero instead of t. */
TARGET_AMX static void block_32x32(float *t, long ldt, int first, const uint16_t *a, long lda,
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
  const char *a1 = (const char *)a + 16 * lda;
  for (int k = 0; k < kb; k++) {
    _tile_loadd(4, a + k * 32, lda);
    _tile_loadd(5, a1 + k * 64, lda);
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

TARGET_AMX static void tiles_release(void) { _tile_release(); }

int amx_linear(void *y, int y_bf16, const uint16_t *a, const amx_weight *w, int N,
               const amx_epilogue *ep, int threads) {
  int C = w->C, OC = w->OC, KB = C / 32, n_blocks = OC / 32, m_blocks = (N + 31) / 32;
  if (N <= 0) return 0;
  int team = AMX_THREADS(threads);
  int chunk = CHUNK_BYTES / (32 * C * (int)sizeof(uint16_t));
  chunk = chunk < 1 ? 1 : chunk > CHUNK_BLOCKS ? CHUNK_BLOCKS : chunk;
  if (chunk > n_blocks) chunk = n_blocks;
  int ldt = chunk * 32;
  /* per thread: the fp32 sums of a 32-row block of a chunk, then a zero-padded last row block */
  size_t t_floats = (size_t)32 * ldt, pad_elems = N % 32 ? (size_t)32 * C : 0;
  size_t per = (t_floats * sizeof(float) + pad_elems * sizeof(uint16_t) + 63) / 64 * 64;
  char *scratch = aligned_alloc(64, (size_t)team * per);
  if (!scratch) return -1;
  vm_isa isa = vm_isa_best();
  const size_t tile_pair = (size_t)KB * 512; /* one 16-column panel */
#pragma omp parallel num_threads(team)
  {
    int me = AMX_ME();
    float *t = (float *)(scratch + (size_t)me * per);
    uint16_t *pad = (uint16_t *)(t + t_floats);
    tiles_configure();
    for (int n0 = 0; n0 < n_blocks; n0 += chunk) {
      int n1 = n0 + chunk < n_blocks ? n0 + chunk : n_blocks;
#pragma omp for schedule(static) nowait
      for (int mb = 0; mb < m_blocks; mb++) {
        int r0 = mb * 32, rows = N - r0 < 32 ? N - r0 : 32;
        const uint16_t *ar = a + (size_t)r0 * C;
        if (rows < 32) {
          memcpy(pad, ar, (size_t)rows * C * sizeof *pad);
          memset(pad + (size_t)rows * C, 0, (size_t)(32 - rows) * C * sizeof *pad);
          ar = pad;
        }
        /* the row block's inputs in slices of KC_BLOCKS x 32 (in L2) while the chunk's
         * weight panels stream past them */
        for (int k0 = 0; k0 < KB; k0 += KC_BLOCKS) {
          int kb = KB - k0 < KC_BLOCKS ? KB - k0 : KC_BLOCKS;
          for (int nb = n0; nb < n1; nb++) {
            const uint16_t *b0 = w->data + (size_t)(2 * nb) * tile_pair + (size_t)k0 * 512;
            block_32x32(t + (nb - n0) * 32, ldt, k0 == 0, ar + k0 * 32, (long)C * 2, b0,
                        b0 + tile_pair, 512, kb);
          }
        }
        epilogue_rows(y, y_bf16, OC, r0, rows, n0 * 32, (n1 - n0) * 32, t, ldt, ep, isa);
      }
    }
    tiles_release();
  }
  free(scratch);
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

int amx_attention(uint16_t *out, const uint16_t *q, const uint16_t *k, const uint16_t *v, int B,
                  int T, int C, int NH, float scale, int threads) {
  if (NH <= 0 || C % NH || (C / NH) % 32 || T <= 0) return -1;
  int hd = C / NH, Tp = (T + 31) / 32 * 32, KT = hd / 32, NT = hd / 16;
  int team = AMX_THREADS(threads);
  size_t per = att_bytes(Tp, hd);
  char *scratch = aligned_alloc(64, (size_t)team * per);
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
          block_32x32(a.s + (size_t)mb * 32 * Tp + nb * 32, Tp, 1, a.qp + (size_t)mb * 32 * hd,
                    (long)hd * 2, a.kt + (size_t)(2 * nb) * KT * 512,
                    a.kt + (size_t)(2 * nb + 1) * KT * 512, 512, KT);
      for (int t = 0; t < T; t++) {
        float *r = a.s + (size_t)t * Tp;
        att_scale(r, T, scale);
        vm_softmax_row_bf16(isa, r, a.p + (size_t)t * Tp, T);
      }
      /* o = p v_h: 32x32 blocks over the tokens (Tp/32 steps) */
      for (int mb = 0; mb < Tp / 32; mb++)
        for (int nb = 0; nb < hd / 32; nb++)
          block_32x32(a.o + (size_t)mb * 32 * hd + nb * 32, hd, 1, a.p + (size_t)mb * 32 * Tp,
                    (long)Tp * 2, a.vt + (size_t)(2 * nb) * 512,
                    a.vt + (size_t)(2 * nb + 1) * 512, (size_t)NT * 512, Tp / 32);
      for (int t = 0; t < T; t++)
        vm_bf16_row(isa, out + base + (size_t)t * C + h * hd, a.o + (size_t)t * hd, hd);
    }
    tiles_release();
  }
  free(scratch);
  return 0;
}

#else

int amx_cpu_supported(void) { return 0; }

int amx_linear(void *y, int y_bf16, const uint16_t *a, const amx_weight *w, int N,
               const amx_epilogue *ep, int threads) {
  (void)y, (void)y_bf16, (void)a, (void)w, (void)N, (void)ep, (void)threads;
  (void)epilogue_rows;
  return -1;
}

int amx_attention(uint16_t *out, const uint16_t *q, const uint16_t *k, const uint16_t *v, int B,
                  int T, int C, int NH, float scale, int threads) {
  (void)out, (void)q, (void)k, (void)v, (void)B, (void)T, (void)C, (void)NH, (void)scale;
  (void)threads;
  return -1;
}

#endif
