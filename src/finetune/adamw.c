/* AdamW and the warmup + cosine schedule (see adamw.h). */
#include "finetune/adamw.h"

#include <math.h>

#define OMP_THREADS(t) ((t) > 0 ? (t) : omp_default_threads())
#ifdef _OPENMP
#include <omp.h>
static int omp_default_threads(void) { return omp_get_max_threads(); }
#else
static int omp_default_threads(void) { return 1; }
#endif

adamw_params adamw_default_params(void) {
  adamw_params p = {0.9f, 0.999f, 1e-8f, 0.01f};
  return p;
}

void adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                const adamw_params *p, long step, int threads) {
  double bc1 = 1.0 - pow(p->beta1, (double)step);
  double bc2 = 1.0 - pow(p->beta2, (double)step);
  float step_size = (float)(lr / bc1);
  float bc2_sqrt = (float)sqrt(bc2);
  float decay = (float)(1.0 - lr * p->weight_decay);
  float b1 = (float)p->beta1, b2 = (float)p->beta2, eps = (float)p->eps;
  float one_b1 = (float)(1.0 - p->beta1), one_b2 = (float)(1.0 - p->beta2);
#pragma omp parallel for num_threads(OMP_THREADS(threads)) schedule(static)
  for (size_t i = 0; i < n; i++) {
    float g = grad[i];
    float x = param[i] * decay;
    float mi = b1 * m[i] + one_b1 * g;
    float vi = b2 * v[i] + one_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = x - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
}

double lr_warmup_cosine(long s, long total, long warmup, double lr_max, double lr_min) {
  if (s < 0) s = 0;
  if (s < warmup) return lr_max * (double)(s + 1) / (double)warmup;
  if (s >= total) return lr_min;
  double progress = (double)(s - warmup) / (double)(total - warmup);
  return lr_min + (lr_max - lr_min) * 0.5 * (1.0 + cos(M_PI * progress));
}
