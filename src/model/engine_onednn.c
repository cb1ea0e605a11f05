/* The oneDNN backend of the engine (engine.h).
 *
 * Each distinct product (shapes, strides, epilogue, thread count) becomes one matmul
 * primitive, created on first use and kept in the engine's cache with its memory objects;
 * later calls only swap the data pointers and execute. oneDNN picks its kernels for the
 * CPU at run time (brgemm on AVX-512 and AMX, jit gemm elsewhere), whatever BLAS the
 * system has. Debian's oneDNN runs on libgomp, the OpenMP runtime of the rest of the
 * library: the engine sets the calling thread's team size for the call and restores it,
 * so products and our own loops share one pool.
 *
 * Should oneDNN refuse a product (it accepts every plain strided layout the kernels use;
 * the fallback exists so that a refusal is slow, never wrong), it runs as plain loops
 * with the scalar activations of ops.c. */
#include "model/engine.h"
#include "model/gemm_amx.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/safetensors.h" /* vfr_bf16_to_f32, vfr_f32_to_bf16 */

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_max_threads(void) { return 1; }
static void omp_set_num_threads(int n) { (void)n; }
#endif

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif

/* Everything that makes two products the same primitive. */
typedef struct mm_key {
  int64_t dims[4][4];    /* A (b0,b1,M,K), B (b0,b1,K,N), C (b0,b1,M,N) and the batch sizes */
  int64_t strides[3][4]; /* A, B, C (B: its plain fp32 layout, which the fallback reads) */
  float alpha;
  int has_bias, act, has_scale, accumulate, threads;
  int layout;            /* 0: B plain strided; i > 0: B prepared in e->layouts[i - 1] (2D) */
  int a_bf16, c_bf16;    /* A read as / C written as bf16 */
  int b_bf16;            /* a plain B (layout 0) stored as bf16 */
} mm_key;

typedef struct mm_entry {
  mm_key key;
  dnnl_primitive_t prim;
  dnnl_memory_t a, b, c, bias, scale, scratch; /* data handles swapped per call */
  size_t scratch_bytes;
} mm_entry;

/* A cached f32 -> bf16 reorder of n elements. */
typedef struct cv_entry {
  int64_t n;
  int threads;
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst;
} cv_entry;

struct vfr_engine {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  int threads;
  vfr_precision precision;
  int amx;
  const char *isa;
  pthread_mutex_t lock;
  mm_entry *cache;
  int n_cache, cap_cache;
  void *scratch; /* the products' scratchpad, shared (calls are serialised), grown as needed */
  size_t scratch_bytes;
  dnnl_memory_desc_t *layouts; /* distinct layouts of prepared weights */
  int n_layouts, cap_layouts;
  cv_entry *cvs;  /* f32 -> bf16 conversions, one per length */
  int n_cvs, cap_cvs;
  uint16_t *abuf; /* bf16 copy of a prepared product's fp32 input, grown as needed */
  size_t abuf_n;
  void *amx_buf;  /* the AMX kernel's scratch, grown as needed (no page faults per call) */
  size_t amx_buf_n;
};

struct engine_weight {
  void *data;         /* the reordered weight, layout e->layouts[layout - 1] */
  const float *plain; /* the caller's (OC,C) weight, for the fallback */
  int OC, C, bf16, layout;
  amx_weight amx;     /* bf16 on an AMX CPU: packed for the own AMX kernel (data NULL) */
};

static const char *isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
  case dnnl_cpu_isa_sse41: return "sse41";
  case dnnl_cpu_isa_avx: return "avx";
  case dnnl_cpu_isa_avx2: return "avx2";
  case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
  case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
  case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
  case dnnl_cpu_isa_avx512_core: return "avx512_core";
  case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
  case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
  case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
  default: return "any";
  }
}

/* Linux hands out the AMX tile state only to processes that ask for it; asking twice is
 * harmless, and a kernel without AMX answers with an error we ignore. */
static void request_amx_permission(void) {
#if defined(__linux__) && defined(__x86_64__)
  (void)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
#endif
}

const char *engine_cpu_isa(void) { return isa_name(dnnl_get_effective_cpu_isa()); }

int engine_cpu_has_amx(void) {
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
}

int engine_create(int threads, vfr_precision precision, vfr_engine **out, vfr_error *err) {
  *out = NULL;
  vfr_engine *e = calloc(1, sizeof *e);
  if (!e) return vfr_fail(err, VFR_ENOMEM, "engine: out of memory");
  request_amx_permission(); /* before oneDNN first asks what the CPU can do */
  if (dnnl_engine_create(&e->engine, dnnl_cpu, 0) != dnnl_success) {
    free(e);
    return vfr_fail(err, VFR_EINTERNAL, "engine: oneDNN cannot create a CPU engine");
  }
  if (dnnl_stream_create(&e->stream, e->engine, dnnl_stream_default_flags) != dnnl_success) {
    dnnl_engine_destroy(e->engine);
    free(e);
    return vfr_fail(err, VFR_EINTERNAL, "engine: oneDNN cannot create a stream");
  }
  pthread_mutex_init(&e->lock, NULL);
  e->threads = threads > 0 ? threads : 0;
  e->precision = precision;
  e->isa = engine_cpu_isa();
  e->amx = engine_cpu_has_amx();
  *out = e;
  return VFR_OK;
}

static void entry_free(mm_entry *m) {
  dnnl_primitive_destroy(m->prim);
  dnnl_memory_t all[6] = {m->a, m->b, m->c, m->bias, m->scale, m->scratch};
  for (int i = 0; i < 6; i++)
    if (all[i]) dnnl_memory_destroy(all[i]);
}

void engine_free(vfr_engine *e) {
  if (!e) return;
  for (int i = 0; i < e->n_cache; i++) entry_free(&e->cache[i]);
  for (int i = 0; i < e->n_cvs; i++) {
    dnnl_primitive_destroy(e->cvs[i].prim);
    dnnl_memory_destroy(e->cvs[i].src);
    dnnl_memory_destroy(e->cvs[i].dst);
  }
  free(e->cvs);
  free(e->layouts);
  free(e->abuf);
  free(e->amx_buf);
  free(e->cache);
  free(e->scratch);
  dnnl_stream_destroy(e->stream);
  dnnl_engine_destroy(e->engine);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

int engine_threads(const vfr_engine *e) {
  return e->threads > 0 ? e->threads : omp_get_max_threads();
}
vfr_precision engine_precision(const vfr_engine *e) { return e->precision; }
const char *engine_backend(const vfr_engine *e) { (void)e; return "onednn"; }
const char *engine_isa(const vfr_engine *e) { return e->isa; }
int engine_has_amx(const vfr_engine *e) { return e->amx; }

/* ---- primitive creation ------------------------------------------------------- */

static dnnl_alg_kind_t act_alg(int act, float *alpha) {
  *alpha = 0.0f;
  switch (act) {
  case VFR_ACT_GELU: return dnnl_eltwise_gelu_erf;
  case VFR_ACT_GELU_TANH: return dnnl_eltwise_gelu_tanh;
  case VFR_ACT_QUICK_GELU: *alpha = 1.702f; return dnnl_eltwise_swish;
  case VFR_ACT_RELU: return dnnl_eltwise_relu;
  default: return dnnl_alg_kind_undef;
  }
}

/* The descriptor of the last nd of the 4 dims (nd 4: all; 2: a plain matrix). */
static int mdn(dnnl_memory_desc_t *md, int nd, const int64_t dims[4], const int64_t strides[4],
               int bf16) {
  dnnl_dims_t d = {0}, s = {0}; /* the API reads arrays of DNNL_MAX_NDIMS */
  memcpy(d, dims + 4 - nd, (size_t)nd * sizeof *d);
  memcpy(s, strides + 4 - nd, (size_t)nd * sizeof *s);
  return dnnl_memory_desc_init_by_strides(md, nd, d, bf16 ? dnnl_bf16 : dnnl_f32, s) !=
         dnnl_success;
}

/* Builds the primitive and memory objects of k into m. Returns 0, or -1 (nothing kept). */
static int entry_create(vfr_engine *e, const mm_key *k, mm_entry *m) {
  memset(m, 0, sizeof *m);
  m->key = *k;
  dnnl_memory_desc_t amd, bmd, cmd, biasmd, vecmd;
  int64_t vec_dims[4] = {1, 1, 1, k->dims[2][3]}, vec_strides[4];
  vec_strides[3] = 1, vec_strides[2] = vec_strides[1] = vec_strides[0] = k->dims[2][3];
  int nd = k->layout ? 2 : 4; /* a prepared weight is a 2D matrix */
  int b_bf16 = k->a_bf16;     /* bf16 inputs come in pairs: a plain B is bf16 data then */
  if (mdn(&amd, nd, k->dims[0], k->strides[0], k->a_bf16) ||
      mdn(&cmd, nd, k->dims[2], k->strides[2], k->c_bf16) ||
      mdn(&vecmd, nd, vec_dims, vec_strides, 0))
    return -1;
  if (k->layout) bmd = e->layouts[k->layout - 1];
  else if (mdn(&bmd, nd, k->dims[1], k->strides[1], b_bf16)) return -1;
  biasmd = vecmd;
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &amd, &bmd, k->has_bias ? &biasmd : NULL, &cmd) != dnnl_success)
    return -1;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  int bad = dnnl_primitive_attr_create(&attr) != dnnl_success ||
            dnnl_post_ops_create(&po) != dnnl_success;
  /* Our scratchpad, not the library's: that one is per thread, and a primitive would then
   * have to run on the thread that created it; a model may move between threads. */
  if (!bad)
    bad = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success;
  if (!bad && k->alpha != 1.0f)
    bad = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha) != dnnl_success;
  int n_po = 0, scale_index = -1;
  if (!bad && k->act) {
    float a;
    dnnl_alg_kind_t alg = act_alg(k->act, &a);
    bad = dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, 0.0f) != dnnl_success;
    n_po++;
  }
  if (!bad && k->has_scale) {
    bad = dnnl_post_ops_append_binary(po, dnnl_binary_mul, &vecmd) != dnnl_success;
    scale_index = n_po++;
  }
  if (!bad && k->accumulate) bad = dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success;
  if (!bad) bad = dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success;
  dnnl_primitive_desc_t pd = NULL;
  if (!bad) bad = dnnl_primitive_desc_create(&pd, &desc, attr, e->engine, NULL) != dnnl_success;
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (bad) return -1;
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  m->scratch_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  bad = dnnl_primitive_create(&m->prim, pd) != dnnl_success;
  if (!bad && m->scratch_bytes)
    bad = dnnl_memory_create(&m->scratch, smd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  dnnl_primitive_desc_destroy(pd);
  if (bad) {
    if (m->prim) dnnl_primitive_destroy(m->prim);
    if (m->scratch) dnnl_memory_destroy(m->scratch);
    return -1;
  }
  /* DNNL_MEMORY_NONE: the handles are set before each execution. */
  bad = dnnl_memory_create(&m->a, &amd, e->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&m->b, &bmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&m->c, &cmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  if (!bad && k->has_bias)
    bad = dnnl_memory_create(&m->bias, &biasmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  if (!bad && k->has_scale)
    bad = dnnl_memory_create(&m->scale, &vecmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  (void)scale_index;
  if (bad) {
    entry_free(m);
    return -1;
  }
  return 0;
}

/* The cached entry for k, created when missing; NULL when oneDNN refuses it. */
static mm_entry *lookup(vfr_engine *e, const mm_key *k) {
  for (int i = 0; i < e->n_cache; i++)
    if (!memcmp(&e->cache[i].key, k, sizeof *k)) return &e->cache[i];
  if (e->n_cache == e->cap_cache) {
    int cap = e->cap_cache ? 2 * e->cap_cache : 32;
    mm_entry *c = realloc(e->cache, (size_t)cap * sizeof *c);
    if (!c) return NULL;
    e->cache = c;
    e->cap_cache = cap;
  }
  if (entry_create(e, k, &e->cache[e->n_cache]) != 0) return NULL;
  return &e->cache[e->n_cache++];
}

static int run(vfr_engine *e, mm_entry *m, const void *A, const void *B, void *C,
               const engine_epilogue *ep) {
  dnnl_exec_arg_t args[6];
  int n = 0;
  if (m->scratch_bytes > e->scratch_bytes) {
    void *p = aligned_alloc(64, (m->scratch_bytes + 63) / 64 * 64);
    if (!p) return -1;
    free(e->scratch);
    e->scratch = p;
    e->scratch_bytes = m->scratch_bytes;
  }
  if (m->scratch) {
    dnnl_memory_set_data_handle_v2(m->scratch, e->scratch, e->stream);
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m->scratch};
  }
  dnnl_memory_set_data_handle_v2(m->a, (void *)A, e->stream);
  dnnl_memory_set_data_handle_v2(m->b, (void *)B, e->stream);
  dnnl_memory_set_data_handle_v2(m->c, C, e->stream);
  args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, m->a};
  args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, m->b};
  args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, m->c};
  if (m->bias) {
    dnnl_memory_set_data_handle_v2(m->bias, (void *)ep->bias, e->stream);
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, m->bias};
  }
  if (m->scale) {
    dnnl_memory_set_data_handle_v2(m->scale, (void *)ep->scale, e->stream);
    int index = m->key.act ? 1 : 0; /* the binary post-op follows the eltwise one */
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1,
                                  m->scale};
  }
  if (dnnl_primitive_execute(m->prim, e->stream, n, args) != dnnl_success) return -1;
  return dnnl_stream_wait(e->stream) != dnnl_success ? -1 : 0;
}


/* The same product as plain loops, one matrix of the batch at a time; B is the plain
 * matrix k->strides[1] describes (a prepared weight's fp32 original, or bf16 data with
 * k->b_bf16). */
static void fallback(const mm_key *k, const void *A, const void *B, void *C,
                     const engine_epilogue *ep) {
  int64_t M = k->dims[2][2], N = k->dims[2][3], K = k->dims[0][3];
  const int64_t *sa = k->strides[0], *sb = k->strides[1], *sc = k->strides[2];
  for (int64_t b0 = 0; b0 < k->dims[0][0]; b0++)
    for (int64_t b1 = 0; b1 < k->dims[0][1]; b1++) {
      int64_t a0 = b0 * sa[0] + b1 * sa[1], c0 = b0 * sc[0] + b1 * sc[1];
      int64_t boff = b0 * sb[0] + b1 * sb[1];
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          float s = 0.0f;
          for (int64_t q = 0; q < K; q++) {
            int64_t ai = a0 + i * sa[2] + q * sa[3];
            float a = k->a_bf16 ? vfr_bf16_to_f32(((const uint16_t *)A)[ai]) : ((const float *)A)[ai];
            int64_t bi = boff + q * sb[2] + j * sb[3];
            float w = k->b_bf16 ? vfr_bf16_to_f32(((const uint16_t *)B)[bi])
                                : ((const float *)B)[bi];
            s += a * (k->a_bf16 && !k->b_bf16 ? vfr_bf16_to_f32(vfr_f32_to_bf16(w)) : w);
          }
          s *= k->alpha;
          if (ep && ep->bias) s += ep->bias[j];
          if (k->act) s = activation_apply((vfr_activation)k->act, s);
          if (ep && ep->scale) s *= ep->scale[j];
          int64_t ci = c0 + i * sc[2] + j * sc[3];
          if (k->c_bf16) ((uint16_t *)C)[ci] = vfr_f32_to_bf16(s);
          else ((float *)C)[ci] = k->accumulate ? s + ((float *)C)[ci] : s;
        }
    }
}

/* dst[i] = bf16(src[i]) for i < n by a cached oneDNN reorder, or plain loops when oneDNN
 * refuses it. Called with the lock held and the team set. */
static void convert_locked(vfr_engine *e, uint16_t *dst, const float *src, int64_t n,
                           int threads) {
  cv_entry *c = NULL;
  for (int i = 0; i < e->n_cvs && !c; i++)
    if (e->cvs[i].n == n && e->cvs[i].threads == threads) c = &e->cvs[i];
  if (!c && e->n_cvs == e->cap_cvs) {
    int cap = e->cap_cvs ? 2 * e->cap_cvs : 8;
    cv_entry *grown = realloc(e->cvs, (size_t)cap * sizeof *grown);
    if (grown) e->cvs = grown, e->cap_cvs = cap;
  }
  if (!c && e->n_cvs < e->cap_cvs) {
    cv_entry t = {n, threads, NULL, NULL, NULL};
    dnnl_memory_desc_t smd, dmd;
    dnnl_dims_t d = {n};
    dnnl_primitive_desc_t pd = NULL;
    int bad = dnnl_memory_desc_init_by_tag(&smd, 1, d, dnnl_f32, dnnl_a) != dnnl_success ||
              dnnl_memory_desc_init_by_tag(&dmd, 1, d, dnnl_bf16, dnnl_a) != dnnl_success ||
              dnnl_reorder_primitive_desc_create(&pd, &smd, e->engine, &dmd, e->engine, NULL) !=
                  dnnl_success;
    if (!bad) bad = dnnl_primitive_create(&t.prim, pd) != dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!bad) bad = dnnl_memory_create(&t.src, &smd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
    if (!bad) bad = dnnl_memory_create(&t.dst, &dmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
    if (!bad) {
      e->cvs[e->n_cvs] = t;
      c = &e->cvs[e->n_cvs++];
    } else {
      if (t.prim) dnnl_primitive_destroy(t.prim);
      if (t.src) dnnl_memory_destroy(t.src);
    }
  }
  if (c) {
    dnnl_memory_set_data_handle_v2(c->src, (void *)src, e->stream);
    dnnl_memory_set_data_handle_v2(c->dst, dst, e->stream);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, c->src}, {DNNL_ARG_TO, c->dst}};
    if (dnnl_primitive_execute(c->prim, e->stream, 2, args) == dnnl_success &&
        dnnl_stream_wait(e->stream) == dnnl_success)
      return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = vfr_f32_to_bf16(src[i]);
}

/* Runs k on A, B (the primitive's weight operand), C, or on the own AMX kernel with the
 * packed weight amx (not NULL: a prepared 2D product); the fallback reads B_plain. With
 * convert, A is fp32 (M,K) dense and k->a_bf16: it is converted into e->abuf first. */
static void product(vfr_engine *e, mm_key *k, const void *A, int convert, const void *B,
                    const void *B_plain, const amx_weight *amx, void *C,
                    const engine_epilogue *ep) {
  if (k->dims[2][2] == 0 || k->dims[2][3] == 0 || k->dims[0][0] == 0 || k->dims[0][1] == 0)
    return;
  if (ep) {
    k->has_bias = ep->bias != NULL;
    k->act = ep->act;
    k->has_scale = ep->scale != NULL;
    k->accumulate = ep->accumulate != 0;
  }
  int saved = omp_get_max_threads();
  k->threads = e->threads > 0 ? e->threads : saved;
  if (k->threads != saved) omp_set_num_threads(k->threads);
  pthread_mutex_lock(&e->lock);
  int bad = 0;
  if (convert) {
    size_t n = (size_t)k->dims[0][2] * (size_t)k->dims[0][3];
    if (n > e->abuf_n) {
      uint16_t *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
      if (p) free(e->abuf), e->abuf = p, e->abuf_n = n;
    }
    if (n <= e->abuf_n) {
      convert_locked(e, e->abuf, A, (int64_t)n, k->threads);
      A = e->abuf;
    } else {
      k->a_bf16 = 0; /* out of memory: the fallback on the fp32 input */
      bad = 1;
    }
  }
  if (!bad && amx) {
    amx_epilogue ae = {NULL, 0, NULL, 0};
    if (ep) ae = (amx_epilogue){ep->bias, ep->act, ep->scale, ep->accumulate};
    int rows = (int)k->dims[0][2];
    size_t need = amx_linear_scratch_bytes(amx, rows, k->threads) + 63;
    if (need > e->amx_buf_n) { /* out of memory: amx_linear tries a buffer of its own */
      void *p = malloc(need);
      if (p) free(e->amx_buf), e->amx_buf = p, e->amx_buf_n = need;
    }
    bad = amx_linear(C, k->c_bf16, A, amx, rows, &ae, k->threads, e->amx_buf, e->amx_buf_n) != 0;
  } else if (!bad) {
    mm_entry *m = lookup(e, k);
    bad = !m || run(e, m, A, B, C, ep) != 0;
  }
  if (bad) fallback(k, A, B_plain, C, ep); /* under the lock: A may be e->abuf */
  pthread_mutex_unlock(&e->lock);
  if (k->threads != saved) omp_set_num_threads(saved);
}

static void set4(int64_t *d, int64_t a, int64_t b, int64_t c, int64_t x) {
  d[0] = a, d[1] = b, d[2] = c, d[3] = x;
}

void engine_gemm(vfr_engine *e, int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                 int64_t ldc, const engine_epilogue *ep) {
  mm_key k;
  memset(&k, 0, sizeof k);
  set4(k.dims[0], 1, 1, M, K);
  set4(k.dims[1], 1, 1, K, N);
  set4(k.dims[2], 1, 1, M, N);
  set4(k.strides[0], (int64_t)M * K, (int64_t)M * K, transA ? 1 : lda, transA ? lda : 1);
  set4(k.strides[1], (int64_t)K * N, (int64_t)K * N, transB ? 1 : ldb, transB ? ldb : 1);
  set4(k.strides[2], (int64_t)M * ldc, (int64_t)M * ldc, ldc, 1);
  k.alpha = alpha;
  product(e, &k, A, 0, B, B, NULL, C, ep);
}

void engine_linear(vfr_engine *e, float *y, const float *inp, const float *weight, int N, int C,
                   int OC, const engine_epilogue *ep) {
  engine_gemm(e, 0, 1, N, OC, C, 1.0f, inp, C, weight, C, y, OC, ep);
}

/* The key of a strided batched product (engine.h's strides). */
static void batched_key(mm_key *k, int nb0, int nb1, int M, int N, int K, float alpha,
                        engine_strides sa, engine_strides sb, engine_strides sc) {
  memset(k, 0, sizeof *k);
  set4(k->dims[0], nb0, nb1, M, K);
  set4(k->dims[1], nb0, nb1, K, N);
  set4(k->dims[2], nb0, nb1, M, N);
  set4(k->strides[0], sa.batch0, sa.batch1, sa.row, sa.col);
  set4(k->strides[1], sb.batch0, sb.batch1, sb.row, sb.col);
  set4(k->strides[2], sc.batch0, sc.batch1, sc.row, sc.col);
  k->alpha = alpha;
}

void engine_gemm_batched(vfr_engine *e, int nb0, int nb1, int M, int N, int K, float alpha,
                         const float *A, engine_strides sa, const float *B, engine_strides sb,
                         float *C, engine_strides sc, int accumulate) {
  mm_key k;
  batched_key(&k, nb0, nb1, M, N, K, alpha, sa, sb, sc);
  engine_epilogue ep = {NULL, 0, NULL, accumulate};
  product(e, &k, A, 0, B, B, NULL, C, &ep);
}

void engine_gemm_batched_bf16(vfr_engine *e, int nb0, int nb1, int M, int N, int K, float alpha,
                              const uint16_t *A, engine_strides sa, const uint16_t *B,
                              engine_strides sb, void *C, engine_strides sc, int c_bf16) {
  mm_key k;
  batched_key(&k, nb0, nb1, M, N, K, alpha, sa, sb, sc);
  k.a_bf16 = k.b_bf16 = 1;
  k.c_bf16 = c_bf16 != 0;
  product(e, &k, A, 0, B, B, NULL, C, NULL);
}

/* ---- prepared weights ----------------------------------------------------------------- */

/* A matmul descriptor (rows,C) x (C,OC) -> (rows,OC) f32 with inputs in bf16 or f32 and the
 * weight's layout left to oneDNN; pd created on eng, NULL when refused. */
static dnnl_primitive_desc_t any_layout_pd(dnnl_engine_t eng, int64_t rows, int64_t C, int64_t OC,
                                           int bf16) {
  dnnl_memory_desc_t amd, bmd, cmd;
  dnnl_dims_t ad = {rows, C}, bd = {C, OC}, cd = {rows, OC};
  dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd = NULL;
  if (dnnl_memory_desc_init_by_tag(&amd, 2, ad, dt, dnnl_ab) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dt, dnnl_format_tag_any) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab) != dnnl_success ||
      dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd) != dnnl_success ||
      dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL) != dnnl_success)
    return NULL;
  return pd;
}

static void copy_impl(dnnl_primitive_desc_t pd, char *impl, size_t n) {
  const char *s = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
    s = "unknown";
  if (n) snprintf(impl, n, "%s", s);
}

int engine_bf16_probe(char *impl, size_t n) {
  if (n) impl[0] = 0;
  const char *off = getenv("VFROBUST_NO_BF16");
  if (off && *off) {
    if (n) snprintf(impl, n, "disabled by VFROBUST_NO_BF16");
    return 0;
  }
  request_amx_permission();
  dnnl_engine_t eng;
  if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return 0;
  dnnl_primitive_desc_t pd = any_layout_pd(eng, 256, 768, 768, 1);
  int ok = 0;
  if (pd) {
    char s[128];
    copy_impl(pd, s, sizeof s);
    ok = strncmp(s, "ref", 3) != 0;
    if (n) snprintf(impl, n, "%s", s);
    dnnl_primitive_desc_destroy(pd);
  } else if (n) {
    snprintf(impl, n, "none");
  }
  dnnl_engine_destroy(eng);
  return ok;
}

/* The index + 1 of md among the engine's layouts, added when new; 0 when out of memory. */
static int layout_id(vfr_engine *e, const dnnl_memory_desc_t *md) {
  for (int i = 0; i < e->n_layouts; i++)
    if (dnnl_memory_desc_equal(&e->layouts[i], md)) return i + 1;
  if (e->n_layouts == e->cap_layouts) {
    int cap = e->cap_layouts ? 2 * e->cap_layouts : 8;
    dnnl_memory_desc_t *l = realloc(e->layouts, (size_t)cap * sizeof *l);
    if (!l) return 0;
    e->layouts = l, e->cap_layouts = cap;
  }
  e->layouts[e->n_layouts] = *md;
  return ++e->n_layouts;
}

/* w->data = the (C,OC) transpose of weight (OC,C), in layout md. Returns 0 or -1. */
static int reorder_weight(vfr_engine *e, engine_weight *w, const dnnl_memory_desc_t *md) {
  dnnl_memory_desc_t smd;
  dnnl_dims_t d = {w->C, w->OC}, st = {1, w->C};
  size_t bytes = dnnl_memory_desc_get_size(md);
  w->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!w->data || dnnl_memory_desc_init_by_strides(&smd, 2, d, dnnl_f32, st) != dnnl_success)
    return -1;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;
  dnnl_memory_t src = NULL, dst = NULL;
  int bad = dnnl_reorder_primitive_desc_create(&pd, &smd, e->engine, md, e->engine, NULL) !=
            dnnl_success;
  if (!bad) bad = dnnl_primitive_create(&prim, pd) != dnnl_success;
  if (!bad) bad = dnnl_memory_create(&src, &smd, e->engine, (void *)w->plain) != dnnl_success;
  if (!bad) bad = dnnl_memory_create(&dst, md, e->engine, w->data) != dnnl_success;
  if (!bad) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    bad = dnnl_primitive_execute(prim, e->stream, 2, args) != dnnl_success ||
          dnnl_stream_wait(e->stream) != dnnl_success;
  }
  if (dst) dnnl_memory_destroy(dst);
  if (src) dnnl_memory_destroy(src);
  if (prim) dnnl_primitive_destroy(prim);
  if (pd) dnnl_primitive_desc_destroy(pd);
  return bad ? -1 : 0;
}

int engine_weight_prepare(vfr_engine *e, const float *weight, int OC, int C, int bf16, int rows,
                          engine_weight **out, vfr_error *err) {
  *out = NULL;
  engine_weight *w = calloc(1, sizeof *w);
  if (!w) return vfr_fail(err, VFR_ENOMEM, "engine: out of memory");
  w->plain = weight, w->OC = OC, w->C = C, w->bf16 = bf16 != 0;
  int saved = omp_get_max_threads(), threads = e->threads > 0 ? e->threads : saved;
  if (threads != saved) omp_set_num_threads(threads);
  pthread_mutex_lock(&e->lock);
  /* the own AMX kernel (gemm_amx.h) wherever the shape fits: measured faster than oneDNN 2.6's
   * AMX matmul at every ViT-B shape, batch 1 and 32 (docs/models.md, "AMX kernel") */
  if (w->bf16 && e->amx && amx_linear_fits(OC, C) && amx_cpu_supported()) {
    int bad = amx_weight_pack(&w->amx, weight, OC, C);
    pthread_mutex_unlock(&e->lock);
    if (threads != saved) omp_set_num_threads(saved);
    if (bad) {
      engine_weight_free(w);
      return vfr_fail(err, VFR_ENOMEM, "engine: out of memory packing a %dx%d weight", OC, C);
    }
    *out = w;
    return VFR_OK;
  }
  dnnl_primitive_desc_t pd = any_layout_pd(e->engine, rows > 0 ? rows : 1, C, OC, w->bf16);
  const dnnl_memory_desc_t *md = pd ? dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)
                                    : NULL;
  int rc = VFR_OK;
  if (!md) rc = vfr_fail(err, VFR_EUNSUPPORTED, "engine: oneDNN has no %s matmul for %dx%d",
                         w->bf16 ? "bf16" : "fp32", OC, C);
  else if (!(w->layout = layout_id(e, md)) || reorder_weight(e, w, md) != 0)
    rc = vfr_fail(err, VFR_ENOMEM, "engine: cannot reorder a %dx%d weight", OC, C);
  if (pd) dnnl_primitive_desc_destroy(pd);
  pthread_mutex_unlock(&e->lock);
  if (threads != saved) omp_set_num_threads(saved);
  if (rc) {
    engine_weight_free(w);
    return rc;
  }
  *out = w;
  return VFR_OK;
}

void engine_weight_free(engine_weight *w) {
  if (!w) return;
  amx_weight_free(&w->amx);
  free(w->data);
  free(w);
}

int engine_weight_bf16(const engine_weight *w) { return w->bf16; }

void engine_linear_prepared(vfr_engine *e, void *y, int y_bf16, const void *inp, int inp_bf16,
                            const engine_weight *w, int N, const engine_epilogue *ep) {
  int C = w->C, OC = w->OC;
  mm_key k;
  memset(&k, 0, sizeof k);
  set4(k.dims[0], 1, 1, N, C);
  set4(k.dims[1], 1, 1, C, OC);
  set4(k.dims[2], 1, 1, N, OC);
  set4(k.strides[0], (int64_t)N * C, (int64_t)N * C, C, 1);
  set4(k.strides[1], (int64_t)C * OC, (int64_t)C * OC, 1, C); /* the plain weight, transposed */
  set4(k.strides[2], (int64_t)N * OC, (int64_t)N * OC, OC, 1);
  k.alpha = 1.0f;
  k.layout = w->layout;
  k.a_bf16 = w->bf16;
  k.c_bf16 = y_bf16 != 0;
  product(e, &k, inp, w->bf16 && !inp_bf16, w->data, w->plain, w->amx.data ? &w->amx : NULL, y,
          ep);
}

void engine_to_bf16(vfr_engine *e, uint16_t *dst, const float *src, int64_t n) {
  if (n <= 0) return;
  int saved = omp_get_max_threads(), threads = e->threads > 0 ? e->threads : saved;
  if (threads != saved) omp_set_num_threads(threads);
  pthread_mutex_lock(&e->lock);
  convert_locked(e, dst, src, n, threads);
  pthread_mutex_unlock(&e->lock);
  if (threads != saved) omp_set_num_threads(saved);
}

/* ---- convolutions (engine.h) ---------------------------------------------------------
 * One primitive per batch size and thread count, created at its first run; the weights are
 * reordered into the layout that primitive asks for, shared between the batch sizes asking
 * for the same one. Post-ops: [sum] then [ReLU], so the residual is added before the
 * activation. */

typedef struct conv_run {
  int B, threads;
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst, scratch;
  size_t scratch_bytes;
  float *wdata; /* the reordered weights; owned when owns_w */
  int owns_w;
} conv_run;

struct engine_conv {
  engine_conv_shape s;
  const float *w, *b;
  conv_run *runs;
  int n_runs;
};

int engine_conv_block(const vfr_engine *e) {
  (void)e;
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? 16 : 8;
}

int engine_conv_create(vfr_engine *e, const engine_conv_shape *s, const float *w, const float *b,
                       engine_conv **out, vfr_error *err) {
  (void)e;
  *out = NULL;
  if (s->cin < 1 || s->cout < 1 || s->k < 1 || s->stride < 1 || s->pad < 0 ||
      s->h + 2 * s->pad < s->k || s->w + 2 * s->pad < s->k)
    return vfr_fail(err, VFR_EINVAL, "engine: convolution %d->%d k%d stride %d on %dx%d is empty",
                    s->cin, s->cout, s->k, s->stride, s->h, s->w);
  engine_conv *c = calloc(1, sizeof *c);
  if (!c) return vfr_fail(err, VFR_ENOMEM, "engine: out of memory");
  c->s = *s, c->w = w, c->b = b;
  *out = c;
  return VFR_OK;
}

static void conv_run_free(conv_run *r) {
  if (r->prim) dnnl_primitive_destroy(r->prim);
  dnnl_memory_t all[5] = {r->src, r->wei, r->bias, r->dst, r->scratch};
  for (int i = 0; i < 5; i++)
    if (all[i]) dnnl_memory_destroy(all[i]);
  if (r->owns_w) free(r->wdata);
}

void engine_conv_free(engine_conv *c) {
  if (!c) return;
  for (int i = 0; i < c->n_runs; i++) conv_run_free(&c->runs[i]);
  free(c->runs);
  free(c);
}

/* The primitive descriptor of c at batch B: Winograd first where it applies, else direct. */
static dnnl_primitive_desc_t conv_pd(vfr_engine *e, const engine_conv *c, int B) {
  const engine_conv_shape *s = &c->s;
  int ho = (s->h + 2 * s->pad - s->k) / s->stride + 1, wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
  dnnl_format_tag_t blk = engine_conv_block(e) == 16 ? dnnl_nChw16c : dnnl_nChw8c;
  dnnl_dims_t sd = {B, s->cin, s->h, s->w}, wd = {s->cout, s->cin, s->k, s->k}, bd = {s->cout},
              dd = {B, s->cout, ho, wo}, strides = {s->stride, s->stride}, pad = {s->pad, s->pad};
  dnnl_memory_desc_t smd, wmd, bmd, dmd;
  if (dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, s->planar_input ? dnnl_nchw : blk) ||
      dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
      dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x) ||
      dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, blk))
    return NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  int bad = dnnl_primitive_attr_create(&attr) != dnnl_success ||
            dnnl_post_ops_create(&po) != dnnl_success ||
            dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success;
  if (!bad && s->residual) bad = dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success;
  if (!bad && s->relu)
    bad = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) != dnnl_success;
  if (!bad) bad = dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_alg_kind_t algs[2] = {dnnl_convolution_winograd, dnnl_convolution_direct};
  for (int i = s->k == 3 && s->stride == 1 ? 0 : 1; !bad && !pd && i < 2; i++) {
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, algs[i], &smd, &wmd, &bmd,
                                           &dmd, strides, pad, pad) != dnnl_success)
      continue;
    if (dnnl_primitive_desc_create(&pd, &cd, attr, e->engine, NULL) != dnnl_success) pd = NULL;
  }
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return pd;
}

/* Builds the run of c at batch B (primitive, memories, weights) into r. 0 or -1. */
static int conv_run_create(vfr_engine *e, engine_conv *c, int B, int threads, conv_run *r) {
  memset(r, 0, sizeof *r);
  r->B = B, r->threads = threads;
  dnnl_primitive_desc_t pd = conv_pd(e, c, B);
  if (!pd) return -1;
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  r->scratch_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  int bad = dnnl_primitive_create(&r->prim, pd) != dnnl_success ||
            dnnl_memory_create(&r->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                               e->engine, DNNL_MEMORY_NONE) != dnnl_success ||
            dnnl_memory_create(&r->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                               e->engine, DNNL_MEMORY_NONE) != dnnl_success ||
            dnnl_memory_create(&r->bias, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1),
                               e->engine, DNNL_MEMORY_NONE) != dnnl_success ||
            dnnl_memory_create(&r->wei, wmd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  if (!bad && r->scratch_bytes)
    bad = dnnl_memory_create(&r->scratch, smd, e->engine, DNNL_MEMORY_NONE) != dnnl_success;
  /* the weights in this layout: another batch size's, or reordered from (cout, cin, k, k) */
  for (int i = 0; !bad && i < c->n_runs && !r->wdata; i++) {
    const dnnl_memory_desc_t *other;
    if (dnnl_memory_get_memory_desc(c->runs[i].wei, &other) == dnnl_success &&
        dnnl_memory_desc_equal(other, wmd))
      r->wdata = c->runs[i].wdata;
  }
  if (!bad && !r->wdata) {
    size_t bytes = dnnl_memory_desc_get_size(wmd);
    r->wdata = aligned_alloc(64, (bytes + 63) / 64 * 64);
    r->owns_w = 1;
    const engine_conv_shape *s = &c->s;
    dnnl_dims_t wd = {s->cout, s->cin, s->k, s->k};
    dnnl_memory_desc_t umd;
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    bad = !r->wdata ||
          dnnl_memory_desc_init_by_tag(&umd, 4, wd, dnnl_f32, dnnl_oihw) != dnnl_success ||
          dnnl_memory_create(&user, &umd, e->engine, (void *)c->w) != dnnl_success ||
          dnnl_memory_set_data_handle_v2(r->wei, r->wdata, e->stream) != dnnl_success ||
          dnnl_reorder_primitive_desc_create(&rpd, &umd, e->engine, wmd, e->engine, NULL) !=
              dnnl_success ||
          dnnl_primitive_create(&reorder, rpd) != dnnl_success;
    if (!bad) {
      dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, r->wei}};
      bad = dnnl_primitive_execute(reorder, e->stream, 2, args) != dnnl_success ||
            dnnl_stream_wait(e->stream) != dnnl_success;
    }
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
  }
  dnnl_primitive_desc_destroy(pd);
  if (bad) {
    conv_run_free(r);
    return -1;
  }
  return 0;
}

int engine_conv_forward(vfr_engine *e, engine_conv *c, int B, const float *x, float *y,
                        vfr_error *err) {
  if (B < 1) return VFR_OK;
  int saved = omp_get_max_threads(), threads = e->threads > 0 ? e->threads : saved;
  if (threads != saved) omp_set_num_threads(threads);
  pthread_mutex_lock(&e->lock);
  conv_run *r = NULL;
  for (int i = 0; i < c->n_runs && !r; i++)
    if (c->runs[i].B == B && c->runs[i].threads == threads) r = &c->runs[i];
  int bad = 0;
  if (!r) {
    conv_run *runs = realloc(c->runs, (size_t)(c->n_runs + 1) * sizeof *runs);
    bad = !runs;
    if (runs) c->runs = runs;
    if (!bad) bad = conv_run_create(e, c, B, threads, &c->runs[c->n_runs]);
    if (!bad) r = &c->runs[c->n_runs++];
  }
  if (!bad && r->scratch_bytes > e->scratch_bytes) {
    void *p = aligned_alloc(64, (r->scratch_bytes + 63) / 64 * 64);
    bad = !p;
    if (p) {
      free(e->scratch);
      e->scratch = p;
      e->scratch_bytes = r->scratch_bytes;
    }
  }
  if (!bad) {
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, r->src}, {DNNL_ARG_WEIGHTS, r->wei},
                               {DNNL_ARG_BIAS, r->bias}, {DNNL_ARG_DST, r->dst},
                               {DNNL_ARG_SCRATCHPAD, r->scratch}};
    dnnl_memory_set_data_handle_v2(r->src, (void *)x, e->stream);
    dnnl_memory_set_data_handle_v2(r->wei, r->wdata, e->stream);
    dnnl_memory_set_data_handle_v2(r->bias, (void *)c->b, e->stream);
    dnnl_memory_set_data_handle_v2(r->dst, y, e->stream);
    if (r->scratch) dnnl_memory_set_data_handle_v2(r->scratch, e->scratch, e->stream);
    bad = dnnl_primitive_execute(r->prim, e->stream, r->scratch ? 5 : 4, args) != dnnl_success ||
          dnnl_stream_wait(e->stream) != dnnl_success;
  }
  pthread_mutex_unlock(&e->lock);
  if (threads != saved) omp_set_num_threads(saved);
  if (!bad) return VFR_OK;
  const engine_conv_shape *s = &c->s;
  return vfr_fail(err, VFR_EINTERNAL, "engine: oneDNN refuses the convolution %d->%d k%d stride "
                  "%d on %d x %dx%d", s->cin, s->cout, s->k, s->stride, B, s->h, s->w);
}
