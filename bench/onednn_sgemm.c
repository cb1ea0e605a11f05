/* The machine's matrix-product rate through oneDNN, for bench_embed.py:
 *   onednn_sgemm M N K REPS [f32|bf16]
 * prints "GFLOPS IMPL": the best of REPS runs of C (M,N) = A (M,K) @ B (K,N) with a
 * primitive created once (bf16: bf16 inputs, fp32 output), on OMP_NUM_THREADS threads.
 * Built by bench_embed.py with: cc -O2 -fopenmp onednn_sgemm.c -ldnnl */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x)                                          \
  do {                                                    \
    if ((x) != dnnl_success) {                            \
      fprintf(stderr, "onednn_sgemm: %s failed\n", #x);   \
      return 1;                                           \
    }                                                     \
  } while (0)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: onednn_sgemm M N K REPS [f32|bf16]\n");
    return 2;
  }
  dnnl_dim_t M = atol(argv[1]), N = atol(argv[2]), K = atol(argv[3]);
  int reps = atoi(argv[4]);
  int bf16 = argc > 5 && !strcmp(argv[5], "bf16");
  dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
  dnnl_engine_t eng;
  dnnl_stream_t st;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
  dnnl_memory_desc_t amd, bmd, cmd;
  dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
  CHECK(dnnl_memory_desc_init_by_tag(&amd, 2, ad, in, dnnl_ab));
  CHECK(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, in, dnnl_ab));
  CHECK(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab));
  dnnl_matmul_desc_t desc;
  CHECK(dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd));
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL));
  const char *impl = "?";
  CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  dnnl_primitive_t prim;
  CHECK(dnnl_primitive_create(&prim, pd));
  dnnl_memory_t a, b, c;
  CHECK(dnnl_memory_create(&a, &amd, eng, DNNL_MEMORY_ALLOCATE));
  CHECK(dnnl_memory_create(&b, &bmd, eng, DNNL_MEMORY_ALLOCATE));
  CHECK(dnnl_memory_create(&c, &cmd, eng, DNNL_MEMORY_ALLOCATE));
  void *pa, *pb;
  CHECK(dnnl_memory_get_data_handle(a, &pa));
  CHECK(dnnl_memory_get_data_handle(b, &pb));
  size_t es = bf16 ? 2 : 4;
  memset(pa, 0x3c, (size_t)(M * K) * es); /* small finite values either way */
  memset(pb, 0x3c, (size_t)(K * N) * es);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  double best = 1e30;
  for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
    double t0 = now();
    CHECK(dnnl_primitive_execute(prim, st, 3, args));
    CHECK(dnnl_stream_wait(st));
    double t = now() - t0;
    if (r > 0 && t < best) best = t;
  }
  printf("%.1f %s\n", 2.0 * M * N * K / best / 1e9, impl);
  return 0;
}
