/* Transposed bicubic resampling (see pos_embed_backward.h). The taps come from the same
 * functions the forward uses (model/pos_embed.h), so the backward is the transpose of the
 * map the forward applied, not of a nearby one. */
#include "finetune/pos_embed_backward.h"
#include "model/pos_embed.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Plain bicubic (A = -0.75, clamped neighbours): out[oy,ox] = sum_ij wy[j] wx[i] inp[ys[j],xs[i]],
 * so dinp[ys[j],xs[i]] += wy[j] wx[i] dout[oy,ox]. Border clamping makes several taps land
 * on one cell; the += sums them, as the transpose must. */
static void bicubic_plain_backward(float *dinp, const float *dout, int IH, int IW, int OH, int OW,
                                   int C) {
  for (int oy = 0; oy < OH; oy++) {
    float wy[4];
    int ys[4];
    bicubic_taps(oy, IH, OH, wy, ys);
    for (int ox = 0; ox < OW; ox++) {
      float wx[4];
      int xs[4];
      bicubic_taps(ox, IW, OW, wx, xs);
      const float *g = dout + ((size_t)oy * OW + ox) * C;
      for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) {
          float w = wy[j] * wx[i];
          float *d = dinp + ((size_t)ys[j] * IW + xs[i]) * C;
          for (int c = 0; c < C; c++) d[c] += w * g[c];
        }
    }
  }
}

/* Transpose of one antialiased pass along an axis: din[l, start+j] += w[j] dout[l, o]
 * (strides as in the forward pass: `lines` lines, C channels per sample). */
static int aa_pass_backward(float *din, const float *dout, int lines, int in_len, int out_len,
                            int C, size_t in_line_stride, size_t in_sample_stride,
                            size_t out_line_stride, size_t out_sample_stride) {
  float w[BICUBIC_AA_MAX_TAPS];
  for (int o = 0; o < out_len; o++) {
    int start, n;
    if (bicubic_aa_taps(o, in_len, out_len, w, &start, &n) != 0) return -1;
    for (int l = 0; l < lines; l++) {
      const float *g = dout + (size_t)l * out_line_stride + (size_t)o * out_sample_stride;
      for (int j = 0; j < n; j++) {
        float *d = din + (size_t)l * in_line_stride + (size_t)(start + j) * in_sample_stride;
        for (int c = 0; c < C; c++) d[c] += w[j] * g[c];
      }
    }
  }
  return 0;
}

int interpolate_bicubic_backward(float *dinp, const float *dout, float *tmp, int IH, int IW, int OH,
                                 int OW, int C, int aa) {
  if (IH <= 0 || IW <= 0 || OH <= 0 || OW <= 0 || C <= 0) return -1;
  if (!aa) {
    bicubic_plain_backward(dinp, dout, IH, IW, OH, OW, C);
    return 0;
  }
  /* The forward ran width then height: inp (IH,IW,C) -> tmp (IH,OW,C) -> out (OH,OW,C).
   * Transposed, height first: dout -> dtmp (IH,OW,C) -> dinp. */
  memset(tmp, 0, (size_t)IH * OW * C * sizeof(float));
  if (aa_pass_backward(tmp, dout, OW, IH, OH, C, C, (size_t)OW * C, C, (size_t)OW * C) != 0)
    return -1;
  if (aa_pass_backward(dinp, tmp, IH, IW, OW, C, (size_t)IW * C, C, (size_t)OW * C, C) != 0)
    return -1;
  return 0;
}

int dinov2_pos_embed_backward(float *dpos, const float *dout, float *tmp, int n_pos, int C, int H,
                              int W, int P, int aa) {
  if (n_pos < 2 || C <= 0 || P <= 0 || H < P || W < P) return -1;
  int G = dinov2_grid_side(n_pos);
  if (G < 0) return -1;
  int gh = H / P, gw = W / P;
  if (gh * gw == G * G && H == W) {
    for (size_t i = 0; i < (size_t)n_pos * C; i++) dpos[i] += dout[i];
    return 0;
  }
  for (int c = 0; c < C; c++) dpos[c] += dout[c];
  return interpolate_bicubic_backward(dpos + C, dout + C, tmp, G, G, gh, gw, C, aa);
}
