/* AdamW (decoupled weight decay, bias-corrected moments) as torch.optim.AdamW, and the
 * warmup + cosine learning-rate schedule of the fine-tuning loop. */
#ifndef VFR_FINETUNE_ADAMW_H
#define VFR_FINETUNE_ADAMW_H

#include <stddef.h>

/* Hyperparameters in double: the update coefficients (1 - beta, the bias corrections) are
 * formed in double and only then rounded to float (1 - 0.999f is 1.3e-5 off 0.001). */
typedef struct adamw_params {
  double beta1, beta2; /* moment decay rates, 0 <= beta < 1 */
  double eps;          /* added to sqrt(v_hat) */
  double weight_decay; /* decoupled: param *= 1 - lr * weight_decay */
} adamw_params;

/* torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
adamw_params adamw_default_params(void);

/* One AdamW step of n parameters at learning rate lr; step is 1 for the first step (it sets
 * the bias corrections 1 - beta^step). param, m, v are updated in place; m and v start at 0.
 *   param -= lr * wd * param
 *   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
 *   param -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
 * param, grad, m, v are (n). */
void adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                const adamw_params *p, long step, int threads);

/* Learning rate at step s (0-based) of `total` steps: linear warmup over the first `warmup`
 * steps, lr_max * (s + 1) / warmup, then a half cosine from lr_max down to lr_min over the
 * remaining total - warmup steps: lr_min + (lr_max - lr_min) (1 + cos(pi (s - warmup) /
 * (total - warmup))) / 2. Steps at or past total give lr_min. */
double lr_warmup_cosine(long s, long total, long warmup, double lr_max, double lr_min);

#endif
