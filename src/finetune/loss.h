/* The robustness fine-tuning loss of SPEC section 5 and its pieces: L2-normalisation and
 * cosine similarity of embedding rows, forward and backward.
 *
 *   L = L1 + lambda * L2,  L1 = -mean_b cos(f'(x_b), f'(P x_b)),  L2 = -mean_b cos(f(x_b), f'(x_b))
 *
 * f' is the model being tuned, f the frozen original. Norms are clamped below at
 * VFR_COS_EPS (as F.normalize does), so a zero row gives cosine 0 and zero gradients. */
#ifndef VFR_FINETUNE_LOSS_H
#define VFR_FINETUNE_LOSS_H

#define VFR_COS_EPS 1e-12

/* out = inp / max(||inp||, eps) per row; norm (N) receives max(||inp||, eps).
 * out, inp are (N,C) (may alias). */
void l2normalize_forward(float *out, float *norm, const float *inp, int N, int C);

/* dinp (N,C) += gradient of l2normalize_forward given dout (N,C), its out (N,C) and norm (N):
 * dinp = (dout - out * <dout, out>) / norm, or dout / eps on a row whose norm was clamped
 * (there the map is inp / eps). */
void l2normalize_backward(float *dinp, const float *dout, const float *out, const float *norm,
                          int N, int C);

/* cos[n] = <a_n, b_n> / (max(|a_n|,eps) max(|b_n|,eps)), accumulated in double;
 * a, b are (N,C), cos is (N). */
void cosine_forward(float *cos, const float *a, const float *b, int N, int C);

/* da, db (N,C) += dcos[n] * d cos[n] / d a_n, d b_n, given dcos (N) and a, b (N,C).
 * Either gradient may be NULL. */
void cosine_backward(float *da, float *db, const float *dcos, const float *a, const float *b, int N,
                     int C);

/* The loss L above for a batch of B embeddings of width E:
 * tuned_clean = f'(x) (B,E), tuned_pert = f'(P x) (B,E), frozen_clean = f(x) (B,E).
 * d_tuned_clean, d_tuned_pert (B,E) += dL/d f'(x), dL/d f'(P x) (either may be NULL).
 * l1, l2 (may be NULL) receive the two terms. Returns L. */
double robust_loss(const float *tuned_clean, const float *tuned_pert, const float *frozen_clean,
                   int B, int E, double lambda, float *d_tuned_clean, float *d_tuned_pert,
                   double *l1, double *l2);

/* Variants of robust_loss, any combination of these flags (0 is robust_loss, bit for bit):
 *   ROBUST_L2_BOTH_VIEWS  the stay-close term on the perturbed view too:
 *       L2 = -mean_b (cos(f(x_b), f'(x_b)) + cos(f(x_b), f'(P x_b))) / 2
 *       (f'(P x) pulled to the original clean embedding as well as to f'(x));
 *   ROBUST_L1_STOP_CLEAN  L1's value unchanged, but its gradient reaches only the perturbed
 *       view: f'(x) is L1's target, as if detached (only L2 moves f'(x)). */
enum { ROBUST_L2_BOTH_VIEWS = 1, ROBUST_L1_STOP_CLEAN = 2 };
double robust_loss_views(const float *tuned_clean, const float *tuned_pert,
                         const float *frozen_clean, int B, int E, double lambda, int flags,
                         float *d_tuned_clean, float *d_tuned_pert, double *l1, double *l2);

#endif
