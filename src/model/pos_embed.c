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

void bicubic_taps(int o, int in_size, int out_size, float w[4], int idx[4]) {
  const float A = -0.75f;
  float scale = (float)in_size / (float)out_size;
  float r = scale * (o + 0.5f) - 0.5f;
  int i0 = (int)floorf(r);
  float t = r - (float)i0;
  w[0] = cubic_far(t + 1, A);
  w[1] = cubic_near(t, A);
  w[2] = cubic_near(1 - t, A);
  w[3] = cubic_far(2 - t, A);
  for (int i = 0; i < 4; i++) idx[i] = clampi(i0 - 1 + i, 0, in_size - 1);
}

/* Plain bicubic (no antialias), A = -0.75. */
static void bicubic_plain(float *out, const float *inp, int IH, int IW, int OH, int OW, int C) {
  for (int oy = 0; oy < OH; oy++) {
    float wy[4];
    int ys[4];
    bicubic_taps(oy, IH, OH, wy, ys);
    for (int ox = 0; ox < OW; ox++) {
      float wx[4];
      int xs[4];
      bicubic_taps(ox, IW, OW, wx, xs);
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

int bicubic_aa_taps(int o, int in_size, int out_size, float *w, int *start, int *size) {
  float scale = (float)in_size / (float)out_size;
  float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
  float center = scale * (o + 0.5f);
  float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  int xmin = (int)(center - support + 0.5f);
  if (xmin < 0) xmin = 0;
  int xmax = (int)(center + support + 0.5f);
  if (xmax > in_size) xmax = in_size;
  int n = xmax - xmin;
  if (n > BICUBIC_AA_MAX_TAPS) return -1;
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
  float w[BICUBIC_AA_MAX_TAPS];
  for (int o = 0; o < out_len; o++) {
    int start, n;
    if (bicubic_aa_taps(o, in_len, out_len, w, &start, &n) != 0) return -1;
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

int dinov2_grid_side(int n_pos) {
  if (n_pos < 2) return -1;
  int G = (int)floor(sqrt((double)(n_pos - 1)));
  while ((G + 1) * (G + 1) <= n_pos - 1) G++; /* guard against sqrt rounding */
  return G * G == n_pos - 1 ? G : -1;
}

int dinov2_pos_embed(float *out, const float *pos, float *tmp, int n_pos, int C, int H, int W,
                     int P, int aa) {
  if (n_pos < 2 || C <= 0 || P <= 0 || H < P || W < P) return -1;
  int G = dinov2_grid_side(n_pos);
  if (G < 0) return -1;
  int gh = H / P, gw = W / P;
  if (gh * gw == G * G && H == W) {
    for (size_t i = 0; i < (size_t)n_pos * C; i++) out[i] = pos[i];
    return 0;
  }
  for (int c = 0; c < C; c++) out[c] = pos[c];
  return interpolate_bicubic(out + C, pos + C, tmp, G, G, gh, gw, C, aa);
}
