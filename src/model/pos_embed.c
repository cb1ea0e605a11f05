/* Position-embedding grids resampled as PyTorch's F.interpolate(mode='bicubic',
 * align_corners=False) does, with and without antialias, and the DINOv2 rule for
 * which grid an input size needs. */
#include "model/pos_embed.h"

#include <math.h>
#include <stddef.h>

/* ---- bicubic resampling ------------------------------------------------------- */

/* The cubic convolution kernel of parameter A on |x| < 1 and 1 <= |x| < 2. */
static float cubic_near(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
static float cubic_far(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Plain bicubic (no antialias), A = -0.75. */
static void bicubic_plain(float *out, const float *inp, int IH, int IW, int OH, int OW, int C) {
  const float A = -0.75f;
  float sy = (float)IH / (float)OH, sx = (float)IW / (float)OW;
  for (int oy = 0; oy < OH; oy++) {
    float ry = sy * (oy + 0.5f) - 0.5f;
    int y0 = (int)floorf(ry);
    float ty = ry - (float)y0;
    float wy[4] = {cubic_far(ty + 1, A), cubic_near(ty, A), cubic_near(1 - ty, A),
                   cubic_far(2 - ty, A)};
    for (int ox = 0; ox < OW; ox++) {
      float rx = sx * (ox + 0.5f) - 0.5f;
      int x0 = (int)floorf(rx);
      float tx = rx - (float)x0;
      float wx[4] = {cubic_far(tx + 1, A), cubic_near(tx, A), cubic_near(1 - tx, A),
                     cubic_far(2 - tx, A)};
      int xs[4], ys[4];
      for (int i = 0; i < 4; i++) {
        xs[i] = clampi(x0 - 1 + i, 0, IW - 1);
        ys[i] = clampi(y0 - 1 + i, 0, IH - 1);
      }
      float *o = out + ((size_t)oy * OW + ox) * C;
      for (int c = 0; c < C; c++) {
        float rows[4];
        for (int j = 0; j < 4; j++) {
          const float *r = inp + (size_t)ys[j] * IW * C + c;
          rows[j] = r[(size_t)xs[0] * C] * wx[0] + r[(size_t)xs[1] * C] * wx[1] +
                    r[(size_t)xs[2] * C] * wx[2] + r[(size_t)xs[3] * C] * wx[3];
        }
        o[c] = rows[0] * wy[0] + rows[1] * wy[1] + rows[2] * wy[2] + rows[3] * wy[3];
      }
    }
  }
}

/* Keys' a = -0.5 filter of the antialiased path. */
static float aa_cubic(float x) {
  const float A = -0.5f;
  if (x < 0) x = -x;
  if (x < 1) return cubic_near(x, A);
  if (x < 2) return cubic_far(x, A);
  return 0;
}

/* Antialiased weights of output index i: w[0..*size) for inputs *start.. (at most 64
 * taps: ample for the grids resampled here, scale <= 16). Returns 0 or -1. */
enum { AA_MAX_TAPS = 64 };
static int aa_weights(int i, int in_size, float scale, float support, float *w, int *start,
                      int *size) {
  float center = scale * (i + 0.5f);
  float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  int xmin = (int)(center - support + 0.5f);
  if (xmin < 0) xmin = 0;
  int xmax = (int)(center + support + 0.5f);
  if (xmax > in_size) xmax = in_size;
  int n = xmax - xmin;
  if (n > AA_MAX_TAPS) return -1;
  float total = 0;
  for (int j = 0; j < n; j++) {
    w[j] = aa_cubic(((float)(j + xmin) - center + 0.5f) * invscale);
    total += w[j];
  }
  if (total != 0)
    for (int j = 0; j < n; j++) w[j] /= total;
  *start = xmin;
  *size = n;
  return 0;
}

/* One antialiased pass along an axis: `lines` independent lines of `in_len` samples,
 * sample s of line l at inp[l*line_stride + s*sample_stride + c] (C channels). */
static int aa_pass(float *out, const float *inp, int lines, int in_len, int out_len, int C,
                   size_t in_line_stride, size_t in_sample_stride, size_t out_line_stride,
                   size_t out_sample_stride) {
  float scale = (float)in_len / (float)out_len;
  float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
  float w[AA_MAX_TAPS];
  for (int o = 0; o < out_len; o++) {
    int start, n;
    if (aa_weights(o, in_len, scale, support, w, &start, &n) != 0) return -1;
    for (int l = 0; l < lines; l++) {
      float *dst = out + (size_t)l * out_line_stride + (size_t)o * out_sample_stride;
      for (int c = 0; c < C; c++) {
        const float *src = inp + (size_t)l * in_line_stride + (size_t)start * in_sample_stride + c;
        float acc = 0;
        for (int j = 0; j < n; j++) acc += w[j] * src[(size_t)j * in_sample_stride];
        dst[c] = acc;
      }
    }
  }
  return 0;
}

int interpolate_bicubic(float *out, const float *inp, float *tmp, int IH, int IW, int OH, int OW,
                        int C, int aa) {
  if (IH <= 0 || IW <= 0 || OH <= 0 || OW <= 0 || C <= 0) return -1;
  if (!aa) {
    bicubic_plain(out, inp, IH, IW, OH, OW, C);
    return 0;
  }
  /* width pass: inp (IH,IW,C) -> tmp (IH,OW,C); height pass: tmp -> out (OH,OW,C). */
  if (aa_pass(tmp, inp, IH, IW, OW, C, (size_t)IW * C, C, (size_t)OW * C, C) != 0) return -1;
  if (aa_pass(out, tmp, OW, IH, OH, C, C, (size_t)OW * C, C, (size_t)OW * C) != 0) return -1;
  return 0;
}

int dinov2_pos_embed(float *out, const float *pos, float *tmp, int n_pos, int C, int H, int W,
                     int P, int aa) {
  if (n_pos < 2 || C <= 0 || P <= 0 || H < P || W < P) return -1;
  int G = (int)floor(sqrt((double)(n_pos - 1)));
  while ((G + 1) * (G + 1) <= n_pos - 1) G++; /* guard against sqrt rounding */
  if (G * G != n_pos - 1) return -1;
  int gh = H / P, gw = W / P;
  if (gh * gw == G * G && H == W) {
    for (size_t i = 0; i < (size_t)n_pos * C; i++) out[i] = pos[i];
    return 0;
  }
  for (int c = 0; c < C; c++) out[c] = pos[c];
  return interpolate_bicubic(out + C, pos + C, tmp, G, G, gh, gw, C, aa);
}
