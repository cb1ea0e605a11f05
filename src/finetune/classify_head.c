/* Linear head and softmax cross-entropy with label smoothing (see classify_head.h). */
#include "finetune/classify_head.h"

#include <math.h>
#include <string.h>

void head_forward(float *logits, const float *z, const float *W, const float *b, int B, int E,
                  int C, vfr_engine *eng) {
  engine_epilogue ep = {b, 0, NULL, 0};
  engine_linear(eng, logits, z, W, B, E, C, &ep);
}

double cross_entropy(const float *logits, const int *labels, int B, int C, double smoothing,
                     double scale, float *dlogits, int *correct) {
  double total = 0;
  int right = 0;
  for (int i = 0; i < B; i++) {
    const float *l = logits + (size_t)i * C;
    float *dl = dlogits + (size_t)i * C;
    int best = 0;
    double mx = l[0];
    for (int c = 1; c < C; c++)
      if (l[c] > mx) {
        mx = l[c];
        best = c;
      }
    right += best == labels[i];
    double sum = 0;
    for (int c = 0; c < C; c++) sum += exp((double)l[c] - mx);
    double lse = mx + log(sum);
    double loss = 0;
    for (int c = 0; c < C; c++) {
      double q = smoothing / C + (c == labels[i] ? 1.0 - smoothing : 0.0);
      double p = exp((double)l[c] - lse);
      loss -= q * ((double)l[c] - lse);
      dl[c] = (float)(scale * (p - q) / B);
    }
    total += loss;
  }
  if (correct) *correct = right;
  return total / B;
}

void head_backward(float *dz, float *dW, float *db, const float *dlogits, const float *z,
                   const float *W, int B, int E, int C, vfr_engine *eng) {
  engine_epilogue acc = {NULL, 0, NULL, 1};
  engine_gemm(eng, 0, 0, B, E, C, 1.0f, dlogits, C, W, E, dz, E, NULL);
  engine_gemm(eng, 1, 0, C, E, B, 1.0f, dlogits, C, z, E, dW, E, &acc);
  for (int i = 0; i < B; i++)
    for (int c = 0; c < C; c++) db[c] += dlogits[(size_t)i * C + c];
}
