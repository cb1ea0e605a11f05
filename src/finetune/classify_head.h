/* The linear classification head of supervised training (classify.h) and its loss:
 * logits = z W^T + b on the projected embedding z, softmax cross-entropy with label
 * smoothing, forward and backward. */
#ifndef VFR_FINETUNE_CLASSIFY_HEAD_H
#define VFR_FINETUNE_CLASSIFY_HEAD_H

#include "model/engine.h"

/* logits (B,C) = z (B,E) W^T + b; W is (C,E), b is (C); the product on eng. */
void head_forward(float *logits, const float *z, const float *W, const float *b, int B, int E,
                  int C, vfr_engine *eng);

/* Mean over the B rows of the cross-entropy between softmax(logits) and the smoothed target
 * q = (1 - s) onehot(label) + s / C (s = smoothing in [0, 1)), computed in double.
 * dlogits (B,C) = scale * (softmax - q) / B: the gradient of scale * loss. *correct receives
 * how many rows have their label as the (first) largest logit. labels are in 0..C-1. */
double cross_entropy(const float *logits, const int *labels, int B, int C, double smoothing,
                     double scale, float *dlogits, int *correct);

/* Given dlogits (B,C): dz (B,E) = dlogits W (overwritten); dW (C,E) += dlogits^T z;
 * db (C) += column sums of dlogits. */
void head_backward(float *dz, float *dW, float *db, const float *dlogits, const float *z,
                   const float *W, int B, int E, int C, vfr_engine *eng);

#endif
