/* bf16 matrix products with fp32 accumulation (AVX512-BF16, vdpbf16ps), for the linear
 * layers of the vision forward pass when bf16 compute is asked for.
 *
 *   y[r, o] = sum_k bf16(a[r, k]) * bf16(w[o, k])   accumulated in fp32
 *
 * Rounding is to nearest even; denormal inputs count as zero (as the instructions do).
 * The weight (OC,C) is packed once into panels of 16 output columns, k taken in pairs:
 * data[((ob * K2) + kp) * 32 + j * 2 + e] = bf16(w[ob*16 + j, 2*kp + e]), K2 = Kp/2,
 * Kp = C rounded up to even, zero beyond OC and C. Activations are rows of Kp bf16
 * (bf16_round_rows), so that each (a[r,2kp], a[r,2kp+1]) pair is one 32-bit word.
 *
 * The kernel runs only where bf16_cpu_supported() says so: it is compiled for AVX-512 with
 * a target attribute, the rest of the library stays portable. Calling it elsewhere is a
 * programming error (the model loader refuses bf16 first). */
#ifndef VFR_MODEL_GEMM_BF16_H
#define VFR_MODEL_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the CPU has AVX512-F/BW/VL and AVX512-BF16 and the OS saves the AVX-512 state
 * (CPUID leaf 7 subleaf 1 EAX bit 5, XGETBV); 0 otherwise, and on non-x86 builds.
 * A non-empty VFROBUST_NO_BF16 in the environment also gives 0 (to test the refusal). */
int bf16_cpu_supported(void);

/* x rounded to the nearest bf16, ties to even; NaN stays NaN; denormals become +-0. */
uint16_t bf16_from_float(float x);
float bf16_to_float(uint16_t h);

/* A weight (OC,C) in the panel layout above. */
typedef struct bf16_weight {
  uint16_t *data; /* (ceil(OC/16), Kp/2, 16, 2), 64-byte aligned */
  int OC, C, Kp;  /* logical shape; C rounded up to even */
} bf16_weight;

/* Packs weight (OC,C) into w (w->data allocated). Returns 0, or -1 when out of memory. */
int bf16_weight_pack(bf16_weight *w, const float *weight, int OC, int C);
void bf16_weight_free(bf16_weight *w);

/* Even row width of the bf16 activations of a product with inner size C. */
static inline int bf16_row_width(int C) { return (C + 1) & ~1; }

/* a[r, :] = bf16(inp[r, :]) for r in [r0, r1), zero-padded to Kp = bf16_row_width(C).
 * a is (N, Kp), inp is (N, C). */
void bf16_round_rows(uint16_t *a, const float *inp, int C, int r0, int r1);

/* y[r, o] = sum_k a[r, k] * w[o, k] for r in [r0, r1), o in [o0, o1), overwriting y.
 * y is (N, ldy) fp32, a is (N, w->Kp) bf16 rows, o0 a multiple of 16. */
void gemm_bf16(float *y, int ldy, const uint16_t *a, const bf16_weight *w, int r0, int r1, int o0,
               int o1);

#endif
