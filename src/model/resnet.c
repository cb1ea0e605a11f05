/* The ModifiedResNet tower (see resnet.h): loading with BatchNorm folded, and the forward
 * pass in channels-last layout on the model's engine. */
#include "model/resnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_arch.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { ACT_FLOATS = 1 << 25, BN_EPS_NUM = 1 };

/* A convolution with its BatchNorm folded in: y = conv(x, w) + b, run by the engine. */
typedef struct rn_conv {
  int cin, cout, k, stride, pad;
  float *w; /* (cout, cin, k, k) */
  float *b; /* (cout) */
  engine_conv *ec;
} rn_conv;

typedef struct rn_block {
  rn_conv c1, c2, c3, down; /* down.w NULL: identity shortcut */
  int stride;               /* the average pool before conv3 and the shortcut (1: none) */
} rn_block;

typedef struct rn_tower {
  const char *dir;
  vfr_engine *engine;
  int threads;
  int width, heads, S, E, C; /* stem width, pool heads, input size, output, pool width 32w */
  int G;                     /* the last stage's grid (G x G) */
  int n_blocks;
  rn_conv stem[3];
  rn_block *blocks;
  const float *pos;          /* (1 + (S/32)^2, C) */
  const float *qkv_w[3], *qkv_b[3]; /* (C,C), (C) */
  const float *c_w, *c_b;    /* (E,C), (E) */
  float *mem;                /* activations for `micro` images: 5 buffers (the pool's too) */
  int micro;
  int cb;                    /* the engine's channel block: activations (B, C/cb, H, W, cb) */
  size_t act;                /* floats of one image's activation buffer */
  double flops;
} rn_tower;

#define TRY(x)                     \
  do {                             \
    int rc_ = (x);                 \
    if (rc_ != VFR_OK) return rc_; \
  } while (0)

/* Reads conv `cname` (cout, cin, k, k) and BatchNorm `bname`, folds them:
 * w' = w * g / sqrt(var + eps), b' = beta - mean * g / sqrt(var + eps) (eps 1e-5). */
static int load_conv(fam_store *s, const char *cname, const char *bname, int cin, int cout, int k,
                     int stride, rn_conv *c, vfr_error *err) {
  char n[240];
  const float *w, *bn[4];
  int64_t ws[4] = {cout, cin, k, k}, bs[1] = {cout};
  snprintf(n, sizeof n, "%s.weight", cname);
  TRY(fam_get(s, n, 4, ws, &w, err));
  for (int i = 0; i < 4; i++) {
    snprintf(n, sizeof n, "%s.%s", bname, RESNET_BN_PARTS[i]);
    TRY(fam_get(s, n, 1, bs, &bn[i], err));
  }
  c->cin = cin, c->cout = cout, c->k = k, c->stride = stride, c->pad = k / 2;
  size_t K = (size_t)cin * k * k;
  c->w = malloc((size_t)cout * K * sizeof(float));
  c->b = malloc((size_t)cout * sizeof(float));
  if (!c->w || !c->b) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(s->st));
  for (int o = 0; o < cout; o++) {
    double scale = (double)bn[0][o] / sqrt((double)bn[3][o] + 1e-5);
    c->b[o] = (float)((double)bn[1][o] - (double)bn[2][o] * scale);
    for (size_t i = 0; i < K; i++) c->w[(size_t)o * K + i] = (float)(w[(size_t)o * K + i] * scale);
  }
  return VFR_OK;
}

/* Hands c to the engine for inputs of h x h (planar: the pixels), its epilogue fixed. */
static int conv_prepare(rn_tower *t, rn_conv *c, int h, int planar, int relu, int residual,
                        vfr_error *err) {
  engine_conv_shape sh = {c->cin, c->cout, c->k, c->stride, c->pad, h, h, planar, relu, residual};
  int rc = engine_conv_create(t->engine, &sh, c->w, c->b, &c->ec, err);
  if (rc && err) {
    char m[VFR_ERROR_MESSAGE_MAX];
    snprintf(m, sizeof m, "%s", err->message);
    return vfr_fail(err, rc, "%s: %s", t->dir, m);
  }
  return rc;
}

static void conv_free(rn_conv *c) {
  engine_conv_free(c->ec);
  free(c->w);
  free(c->b);
}

static void rn_free(void *self) {
  rn_tower *t = self;
  if (!t) return;
  for (int i = 0; i < 3; i++) conv_free(&t->stem[i]);
  for (int i = 0; t->blocks && i < t->n_blocks; i++) {
    conv_free(&t->blocks[i].c1);
    conv_free(&t->blocks[i].c2);
    conv_free(&t->blocks[i].c3);
    conv_free(&t->blocks[i].down);
  }
  free(t->blocks);
  free(t->mem);
  free(t);
}

/* ---- forward pieces (B images of h x w; activations blocked (B, C/cb, h, w, cb)) ------- */

/* y = conv(x) + b with the epilogue fixed at conv_prepare (ReLU; the residual y holds). */
static int conv_forward(const rn_tower *t, const rn_conv *c, float *y, const float *x, int B,
                        vfr_error *err) {
  return engine_conv_forward(t->engine, c->ec, B, x, y, err);
}

/* y (B,h/s,w/s,C) = s x s average pool of x (B,h,w,C) (stride s, no padding). */
static void avgpool_forward(const rn_tower *t, float *y, const float *x, int B, int h, int w,
                            int C, int s) {
  int ho = h / s, wo = w / s;
  float inv = 1.0f / (float)(s * s);
#pragma omp parallel for collapse(2) num_threads(t->threads) schedule(static)
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++) {
        float *d = y + (((size_t)b * ho + oy) * wo + ox) * C;
        for (int c = 0; c < C; c++) d[c] = 0;
        for (int ky = 0; ky < s; ky++)
          for (int kx = 0; kx < s; kx++) {
            const float *src = x + (((size_t)b * h + oy * s + ky) * w + ox * s + kx) * C;
            for (int c = 0; c < C; c++) d[c] += src[c];
          }
        for (int c = 0; c < C; c++) d[c] *= inv;
      }
}

/* y = s x s average pool of the blocked x (B,C/cb,h,w,cb): per channel block, as channels-last. */
static void avgpool_blocked(const rn_tower *t, float *y, const float *x, int B, int h, int w,
                            int C, int s) {
  avgpool_forward(t, y, x, B * ((C + t->cb - 1) / t->cb), h, w, t->cb, s);
}

/* out (B,E) = c_proj(attention of the mean token over [mean, x] + pos), x (B,C/cb,n,cb) the
 * final map's n positions, blocked. */
static void attnpool_forward(const rn_tower *t, float *out, const float *x, int B, int n,
                             float *tok, float *scr) {
  int C = t->C, L = n + 1, NH = t->heads, hd = C / NH, cb = t->cb, nb = (C + cb - 1) / cb;
  /* tok (B,L,C) = [mean(x), x] + pos */
#pragma omp parallel for num_threads(t->threads) schedule(static)
  for (int b = 0; b < B; b++) {
    float *tb = tok + (size_t)b * L * C;
    const float *xb = x + (size_t)b * nb * n * cb;
    for (int c = 0; c < C; c++) {
      const float *xc = xb + (size_t)(c / cb) * n * cb + c % cb; /* x(b, i, c) = xc[i * cb] */
      double s = 0;
      for (int i = 0; i < n; i++) s += xc[(size_t)i * cb];
      tb[c] = (float)(s / n) + t->pos[c];
      for (int i = 0; i < n; i++)
        tb[(size_t)(i + 1) * C + c] = xc[(size_t)i * cb] + t->pos[(size_t)(i + 1) * C + c];
    }
  }
  /* Only the first token's query is needed (the tower outputs token 0), so the keys and
   * values of all L tokens are never formed: per head h (rows h*hd.. of the projections),
   *   score_j = q_h . (Wk_h tok_j + bk_h) = (Wk_h^T q_h) . tok_j + const (softmax drops it)
   *   out_h = sum_j p_j (Wv_h tok_j + bv_h) = Wv_h (sum_j p_j tok_j) + bv_h  (sum_j p_j = 1) */
  float *q0 = scr;                        /* (B,C) */
  float *qk = q0 + (size_t)B * C;         /* (B,NH,C): Wk_h^T q_h */
  float *wt = qk + (size_t)B * NH * C;    /* (B,NH,C): sum_j p_j tok_j */
  float *sc = wt + (size_t)B * NH * C;    /* (B,NH,L): scores, then p */
  float *att = sc + (size_t)B * NH * L;   /* (B,C): the heads' outputs */
  engine_epilogue eq = {t->qkv_b[0], 0, NULL, 0}, ec = {t->c_b, 0, NULL, 0};
  engine_gemm(t->engine, 0, 1, B, C, C, 1.0f, tok, (int64_t)L * C, t->qkv_w[0], C, q0, C, &eq);
  /* qk[b,h,:] = q0[b, h*hd..] (B,hd) @ Wk rows h*hd.. (hd,C) */
  engine_gemm_batched(t->engine, 1, NH, B, C, hd, 1.0f, q0, (engine_strides){(int64_t)B * C, hd, C, 1},
                      t->qkv_w[1], (engine_strides){(int64_t)C * C, (int64_t)hd * C, C, 1}, qk,
                      (engine_strides){(int64_t)B * NH * C, C, (int64_t)NH * C, 1}, 0);
  /* sc[b] (NH,L) = scale * qk[b] (NH,C) @ tok[b]^T (C,L) */
  float scale = 1.0f / sqrtf((float)hd);
  engine_gemm_batched(t->engine, B, 1, NH, L, C, scale, qk, (engine_strides){(int64_t)NH * C, (int64_t)NH * C, C, 1},
                      tok, (engine_strides){(int64_t)L * C, (int64_t)L * C, 1, C}, sc,
                      (engine_strides){(int64_t)NH * L, (int64_t)NH * L, L, 1}, 0);
#pragma omp parallel for num_threads(t->threads) schedule(static)
  for (int r = 0; r < B * NH; r++) {
    float *p = sc + (size_t)r * L, mx = -INFINITY;
    for (int j = 0; j < L; j++) mx = p[j] > mx ? p[j] : mx;
    double sum = 0;
    for (int j = 0; j < L; j++) sum += (p[j] = expf(p[j] - mx));
    for (int j = 0; j < L; j++) p[j] = (float)(p[j] / sum);
  }
  /* wt[b] (NH,C) = p[b] (NH,L) @ tok[b] (L,C) */
  engine_gemm_batched(t->engine, B, 1, NH, C, L, 1.0f, sc, (engine_strides){(int64_t)NH * L, (int64_t)NH * L, L, 1},
                      tok, (engine_strides){(int64_t)L * C, (int64_t)L * C, C, 1}, wt,
                      (engine_strides){(int64_t)NH * C, (int64_t)NH * C, C, 1}, 0);
  /* att[b, h*hd..] = wt[b,h] (B,C) @ Wv rows h*hd.. transposed (C,hd), + bv */
  engine_gemm_batched(t->engine, 1, NH, B, hd, C, 1.0f, wt, (engine_strides){(int64_t)B * NH * C, C, (int64_t)NH * C, 1},
                      t->qkv_w[2], (engine_strides){(int64_t)C * C, (int64_t)hd * C, 1, C}, att,
                      (engine_strides){(int64_t)B * C, hd, C, 1}, 0);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) att[(size_t)b * C + c] += t->qkv_b[2][c];
  engine_linear(t->engine, out, att, t->c_w, B, C, t->E, &ec);
}

/* B <= t->micro images: pixels (B,3,S,S) planar -> *map, the last stage's feature map
 * (B,C/cb,G,G,cb) blocked (one of the activation buffers; the other four are free). */
static int rn_trunk(rn_tower *t, const float *pixels, int B, float **map, vfr_error *err) {
  size_t A = (size_t)t->micro * t->act;
  float *buf[5] = {t->mem, t->mem + A, t->mem + 2 * A, t->mem + 3 * A, t->mem + 4 * A};
  int h = (t->S + 1) / 2; /* the stem: 3x3 stride 2 pad 1 on the planar pixels, then 3x3 */
  TRY(conv_forward(t, &t->stem[0], buf[1], pixels, B, err));
  TRY(conv_forward(t, &t->stem[1], buf[0], buf[1], B, err));
  TRY(conv_forward(t, &t->stem[2], buf[1], buf[0], B, err));
  avgpool_blocked(t, buf[0], buf[1], B, h, h, t->width, 2);
  h /= 2;
  float *cur = buf[0], *nxt = buf[1];
  for (int i = 0; i < t->n_blocks; i++) {
    const rn_block *bl = &t->blocks[i];
    float *t1 = buf[2], *t2 = buf[3], *t3 = buf[4];
    TRY(conv_forward(t, &bl->c1, t1, cur, B, err));
    TRY(conv_forward(t, &bl->c2, t2, t1, B, err));
    int s = bl->stride, ho = h / s;
    const float *mid = t2;
    if (s > 1) {
      avgpool_blocked(t, t3, t2, B, h, h, bl->c2.cout, s);
      mid = t3;
    }
    /* relu(conv3(mid) + b + shortcut): the product adds the shortcut its output holds, in
     * place over the block's input for an identity shortcut */
    if (bl->down.w) {
      const float *src = cur;
      if (s > 1) {
        avgpool_blocked(t, t1, cur, B, h, h, bl->c1.cin, s);
        src = t1;
      }
      TRY(conv_forward(t, &bl->down, nxt, src, B, err));
      TRY(conv_forward(t, &bl->c3, nxt, mid, B, err));
      float *tmp = cur;
      cur = nxt;
      nxt = tmp;
    } else {
      TRY(conv_forward(t, &bl->c3, cur, mid, B, err));
    }
    h = ho;
  }
  *map = cur;
  return VFR_OK;
}

/* B <= t->micro images: pixels (B,3,S,S) planar -> out (B,E). */
static int rn_forward(rn_tower *t, const float *pixels, int B, float *out, vfr_error *err) {
  size_t A = (size_t)t->micro * t->act;
  float *cur;
  TRY(rn_trunk(t, pixels, B, &cur, err));
  /* the pool's scratch: tok (B,L,C) in buf[0] or buf[1] (whichever cur is not), the rest
   * in buf[2..4] */
  float *tok = cur == t->mem ? t->mem + A : t->mem;
  attnpool_forward(t, out, cur, B, t->G * t->G, tok, t->mem + 2 * A);
  return VFR_OK;
}

/* out (B, 1 + G*G, C) = [mean over the positions, the positions row by row] of the
 * blocked feature map x (B,C/cb,G,G,cb); the mean as the attention pool forms it. */
static void feature_tokens(const rn_tower *t, float *out, const float *x, int B) {
  const int n = t->G * t->G, C = t->C, cb = t->cb, nb = (C + cb - 1) / cb;
#pragma omp parallel for num_threads(t->threads) schedule(static)
  for (int b = 0; b < B; b++) {
    const float *xb = x + (size_t)b * nb * n * cb;
    float *ob = out + (size_t)b * (n + 1) * C;
    for (int c = 0; c < C; c++) {
      const float *xc = xb + (size_t)(c / cb) * n * cb + c % cb; /* x(b, i, c) = xc[i * cb] */
      double s = 0;
      for (int i = 0; i < n; i++) s += xc[(size_t)i * cb];
      ob[c] = (float)(s / n);
      for (int i = 0; i < n; i++) ob[(size_t)(i + 1) * C + c] = xc[(size_t)i * cb];
    }
  }
}

static int reserve(rn_tower *t, vfr_error *err) {
  if (t->mem) return VFR_OK;
  size_t n = (5 * (size_t)t->micro * t->act + 15) / 16 * 16; /* whole 64-byte lines */
  t->mem = aligned_alloc(64, n * sizeof(float));
  if (!t->mem)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the activations (%zu floats)", t->dir, n);
  return VFR_OK;
}

static int rn_embed(void *self, const float *pixels, int B, float *out, vfr_error *err) {
  rn_tower *t = self;
  TRY(reserve(t, err));
  size_t per = (size_t)3 * t->S * t->S;
  for (int s = 0; s < B; s += t->micro) {
    int b = B - s < t->micro ? B - s : t->micro;
    TRY(rn_forward(t, pixels + (size_t)s * per, b, out + (size_t)s * t->E, err));
  }
  return VFR_OK;
}

/* final_norm: a ResNet has none (BatchNorm is inside the convolutions), so it is ignored. */
static int rn_tokens(void *self, const float *pixels, int B, int last_k, int final_norm, float *out,
                     vfr_error *err) {
  rn_tower *t = self;
  (void)final_norm;
  if (last_k != 1)
    return vfr_fail(err, VFR_EINVAL, "%s: last %d layers asked; a ResNet's dense features are its last "
                    "stage's feature map alone (1 layer)", t->dir, last_k);
  TRY(reserve(t, err));
  const size_t per = (size_t)3 * t->S * t->S, per_out = (size_t)(1 + t->G * t->G) * t->C;
  for (int s = 0; s < B; s += t->micro) {
    int b = B - s < t->micro ? B - s : t->micro;
    float *map;
    TRY(rn_trunk(t, pixels + (size_t)s * per, b, &map, err));
    feature_tokens(t, out + (size_t)s * per_out, map, b);
  }
  return VFR_OK;
}

static void rn_info(const void *self, vfr_model_info *out) {
  const rn_tower *t = self;
  out->hidden_size = t->width;
  out->num_layers = t->n_blocks;
  out->num_heads = t->heads;
  out->intermediate_size = t->C;
  out->patch_size = 32;
  out->image_size = t->S;
  out->num_tokens = 1 + t->G * t->G; /* as tokens returns them: the mean, then the grid */
  out->flops_per_image = t->flops;
}

static const model_arch RESNET_ARCH = {rn_embed, rn_tokens, rn_info, rn_free};

/* multiply-adds x 2 of a convolution at output size ho x wo */
static double conv_flops(const rn_conv *c, int ho, int wo) {
  return 2.0 * ho * wo * c->cout * (double)c->cin * c->k * c->k;
}

static int build(rn_tower *t, const tower_source *src, vfr_error *err) {
  const vfr_vit_config *v = &src->config->vision;
  fam_store *s = src->store;
  int wd = t->width;
  int stem_io[3][2] = {{3, wd / 2}, {wd / 2, wd / 2}, {wd / 2, wd}};
  int h = t->S, blk = t->cb;
  size_t act = 0;
#define CPAD(c) ((size_t)((c) + blk - 1) / blk * blk) /* channels with the last block's padding */
  for (int i = 0; i < 3; i++) {
    const resnet_conv_row *r = &RESNET_STEM[i];
    TRY(load_conv(s, r->conv, r->bn, stem_io[i][0], stem_io[i][1], r->k, r->stride, &t->stem[i], err));
    TRY(conv_prepare(t, &t->stem[i], h, i == 0, 1, 0, err));
    if (i == 0) h = (h + 1) / 2;
    t->flops += conv_flops(&t->stem[i], h, h);
    if ((size_t)h * h * CPAD(stem_io[i][1]) > act) act = (size_t)h * h * CPAD(stem_io[i][1]);
  }
  h /= 2;
  t->n_blocks = v->num_layers;
  t->blocks = calloc((size_t)t->n_blocks, sizeof *t->blocks);
  if (!t->blocks) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", src->dir);
  int inplanes = wd, bi = 0;
  for (int stage = 0; stage < 4; stage++) {
    int planes = wd << stage;
    for (int j = 0; j < v->resnet_layers[stage]; j++, bi++) {
      rn_block *b = &t->blocks[bi];
      int stride = (stage > 0 && j == 0) ? 2 : 1;
      char cn[4][160], bn[4][160];
      for (int k = 0; k < 4; k++) {
        snprintf(cn[k], sizeof cn[k], RESNET_BLOCK[k].conv, stage + 1, j);
        snprintf(bn[k], sizeof bn[k], RESNET_BLOCK[k].bn, stage + 1, j);
      }
      TRY(load_conv(s, cn[0], bn[0], inplanes, planes, 1, 1, &b->c1, err));
      TRY(load_conv(s, cn[1], bn[1], planes, planes, 3, 1, &b->c2, err));
      TRY(load_conv(s, cn[2], bn[2], planes, 4 * planes, 1, 1, &b->c3, err));
      if (stride > 1 || inplanes != 4 * planes)
        TRY(load_conv(s, cn[3], bn[3], inplanes, 4 * planes, 1, 1, &b->down, err));
      b->stride = stride;
      int ho = h / stride;
      TRY(conv_prepare(t, &b->c1, h, 0, 1, 0, err));
      TRY(conv_prepare(t, &b->c2, h, 0, 1, 0, err));
      TRY(conv_prepare(t, &b->c3, ho, 0, 1, 1, err));
      if (b->down.w) TRY(conv_prepare(t, &b->down, ho, 0, 0, 0, err));
      t->flops += conv_flops(&b->c1, h, h) + conv_flops(&b->c2, h, h) + conv_flops(&b->c3, ho, ho);
      if (b->down.w) t->flops += conv_flops(&b->down, ho, ho);
      /* the block's buffers: its input and the first two outputs at h, the rest at ho */
      size_t m = (size_t)h * h * CPAD(planes > inplanes ? planes : inplanes);
      if ((size_t)ho * ho * CPAD(4 * planes) > m) m = (size_t)ho * ho * CPAD(4 * planes);
      if (m > act) act = m;
      h = ho;
      inplanes = 4 * planes;
    }
  }
#undef CPAD
  t->G = h;
  int n = h * h, L = n + 1, C = t->C;
  if (inplanes != C)
    return vfr_fail(err, VFR_EINTERNAL, "%s: stage widths end at %d, not %d", src->dir, inplanes, C);
  int64_t ps[2] = {L, C}, ws[2] = {C, C}, bs[1] = {C}, cw[2] = {t->E, C}, cb[1] = {t->E};
  TRY(fam_get(s, RESNET_POOL_POS, 2, ps, &t->pos, err));
  for (int k = 0; k < 4; k++) {
    char n1[160], n2[160];
    snprintf(n1, sizeof n1, "%s.weight", RESNET_POOL_PROJ[k]);
    snprintf(n2, sizeof n2, "%s.bias", RESNET_POOL_PROJ[k]);
    const float **wp = k < 3 ? &t->qkv_w[k] : &t->c_w, **bp = k < 3 ? &t->qkv_b[k] : &t->c_b;
    TRY(fam_get(s, n1, 2, k < 3 ? ws : cw, wp, err));
    TRY(fam_get(s, n2, 1, k < 3 ? bs : cb, bp, err));
  }
  t->flops += 2.0 * (2.0 * L * C * C + C * C + 2.0 * L * C + (double)C * t->E);
  /* the pool's scratch must fit the activation buffers too: tok in one, the rest in three */
  size_t heads = (size_t)t->heads, pool = 2 * (size_t)C + 2 * heads * C + heads * L;
  if ((size_t)L * C > act) act = (size_t)L * C;
  if ((pool + 2) / 3 > act) act = (pool + 2) / 3;
  t->act = act;
  t->micro = (int)(ACT_FLOATS / (5 * act));
  if (t->micro < 1) t->micro = 1;
  if (t->micro > 32) t->micro = 32;
  return VFR_OK;
}

int resnet_tower_create(const tower_source *src, tower *out, vfr_error *err) {
  const vfr_vit_config *v = &src->config->vision;
  const vfr_preprocess_config *pp = src->pre;
  if (pp->crop_height != v->image_size || pp->crop_width != v->image_size)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: input %dx%d differs from image_size %d (the "
                    "attention pool's positions are fixed)", src->dir, pp->crop_width,
                    pp->crop_height, v->image_size);
  if (src->params->pooling != VFR_POOLING_CLS)
    return vfr_fail(err, VFR_EINVAL, "%s: cls+mean pooling is for DINOv2 models", src->dir);
  if (src->params->precision == VFR_PRECISION_BF16)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: ResNet towers run in fp32 only", src->dir);
  rn_tower *t = calloc(1, sizeof *t);
  if (!t) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", src->dir);
  t->dir = src->dir;
  t->engine = src->engine;
  t->threads = engine_threads(src->engine);
  t->cb = engine_conv_block(src->engine);
  t->width = v->hidden_size;
  t->heads = v->num_heads;
  t->S = v->image_size;
  t->E = v->projection_dim;
  t->C = 32 * v->hidden_size;
  int rc = build(t, src, err);
  if (rc) {
    rn_free(t);
    return rc;
  }
  out->arch = &RESNET_ARCH;
  out->self = t;
  out->H = out->W = t->S;
  out->E = t->E;
  /* the mean token, then the G x G grid; one feature map, C wide */
  out->tokens = (vfr_token_info){1 + t->G * t->G, 1, t->G, t->G, t->C, 1};
  return VFR_OK;
}
