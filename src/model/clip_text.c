/* The CLIP text tower forward pass (fp32), Hugging Face's CLIPTextTransformer semantics:
 *   x = token_embedding[ids] + position_embedding[0..T)
 *   per layer: x += out_proj(causal_attention(layer_norm1(x)));  x += fc2(act(fc1(layer_norm2(x))))
 *   text_embeds = text_projection(final_layer_norm(x[b, eot_position(b)]))
 * Weights are used in place from the safetensors mapping when they are aligned F32, else
 * converted once at load. A forward call allocates its activations once, before the layers. */
#include "model/clip_text.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"

typedef struct text_layer {
  const float *ln1_w, *ln1_b;                     /* (D) */
  const float *q_w, *k_w, *v_w, *o_w;             /* (D,D) */
  const float *q_b, *k_b, *v_b, *o_b;             /* (D) */
  const float *ln2_w, *ln2_b;                     /* (D) */
  const float *fc1_w, *fc1_b;                     /* (I,D), (I) */
  const float *fc2_w, *fc2_b;                     /* (D,I), (D) */
} text_layer;

struct vfr_clip_text {
  vfr_text_config cfg;
  vfr_safetensors *own_file;         /* set when loaded from a folder */
  const float *token_embedding;      /* (V,D) */
  const float *position_embedding;   /* (P,D) */
  text_layer *layers;                /* (L) */
  const float *final_ln_w, *final_ln_b; /* (D) */
  const float *projection;           /* (E,D) */
  float **owned;                     /* converted tensors, freed with the tower */
  int n_owned, cap_owned;
  vfr_engine *engine;                /* the products, on the caller's OpenMP team */
};

/* Tensor `name` (formatted) as F32 of shape (d0) or (d0,d1) into *out. */
static int get_tensor(vfr_clip_text *m, const vfr_safetensors *st, const float **out, int64_t d0,
                      int64_t d1, vfr_error *err, const char *fmt, int layer) {
  char name[160];
  snprintf(name, sizeof name, fmt, layer);
  int64_t shape[2] = {d0, d1};
  float *owned = NULL;
  if (m->n_owned == m->cap_owned) {
    int cap = m->cap_owned ? 2 * m->cap_owned : 64;
    float **p = realloc(m->owned, (size_t)cap * sizeof *p);
    if (!p) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(st));
    m->owned = p;
    m->cap_owned = cap;
  }
  int rc = vfr_safetensors_get_f32(st, name, d1 > 0 ? 2 : 1, shape, out, &owned, err);
  if (rc == VFR_OK && owned) m->owned[m->n_owned++] = owned;
  return rc;
}

#define GET(ptr, d0, d1, fmt, layer)                                       \
  do {                                                                     \
    int rc_ = get_tensor(m, st, &(ptr), (d0), (d1), err, (fmt), (layer));  \
    if (rc_) {                                                             \
      vfr_clip_text_free(m);                                               \
      return rc_;                                                          \
    }                                                                      \
  } while (0)

int vfr_clip_text_from(const vfr_text_config *cfg, const vfr_safetensors *st, vfr_clip_text **out,
                       vfr_error *err) {
  *out = NULL;
  if (!cfg->present)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: the model has no text tower", vfr_safetensors_path(st));
  vfr_clip_text *m = calloc(1, sizeof *m);
  if (!m) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(st));
  m->cfg = *cfg;
  int rc = engine_create(0, VFR_PRECISION_FP32, &m->engine, err);
  if (rc) {
    free(m);
    return rc;
  }
  m->layers = calloc((size_t)cfg->num_layers, sizeof *m->layers);
  if (!m->layers) {
    vfr_clip_text_free(m);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(st));
  }
  const int64_t V = cfg->vocab_size, D = cfg->hidden_size, I = cfg->intermediate_size;
  const int64_t P = cfg->max_position_embeddings, E = cfg->projection_dim;
  GET(m->token_embedding, V, D, "text_model.embeddings.token_embedding.weight", 0);
  GET(m->position_embedding, P, D, "text_model.embeddings.position_embedding.weight", 0);
  for (int l = 0; l < cfg->num_layers; l++) {
    text_layer *t = &m->layers[l];
    GET(t->ln1_w, D, 0, "text_model.encoder.layers.%d.layer_norm1.weight", l);
    GET(t->ln1_b, D, 0, "text_model.encoder.layers.%d.layer_norm1.bias", l);
    GET(t->q_w, D, D, "text_model.encoder.layers.%d.self_attn.q_proj.weight", l);
    GET(t->q_b, D, 0, "text_model.encoder.layers.%d.self_attn.q_proj.bias", l);
    GET(t->k_w, D, D, "text_model.encoder.layers.%d.self_attn.k_proj.weight", l);
    GET(t->k_b, D, 0, "text_model.encoder.layers.%d.self_attn.k_proj.bias", l);
    GET(t->v_w, D, D, "text_model.encoder.layers.%d.self_attn.v_proj.weight", l);
    GET(t->v_b, D, 0, "text_model.encoder.layers.%d.self_attn.v_proj.bias", l);
    GET(t->o_w, D, D, "text_model.encoder.layers.%d.self_attn.out_proj.weight", l);
    GET(t->o_b, D, 0, "text_model.encoder.layers.%d.self_attn.out_proj.bias", l);
    GET(t->ln2_w, D, 0, "text_model.encoder.layers.%d.layer_norm2.weight", l);
    GET(t->ln2_b, D, 0, "text_model.encoder.layers.%d.layer_norm2.bias", l);
    GET(t->fc1_w, I, D, "text_model.encoder.layers.%d.mlp.fc1.weight", l);
    GET(t->fc1_b, I, 0, "text_model.encoder.layers.%d.mlp.fc1.bias", l);
    GET(t->fc2_w, D, I, "text_model.encoder.layers.%d.mlp.fc2.weight", l);
    GET(t->fc2_b, D, 0, "text_model.encoder.layers.%d.mlp.fc2.bias", l);
  }
  GET(m->final_ln_w, D, 0, "text_model.final_layer_norm.weight", 0);
  GET(m->final_ln_b, D, 0, "text_model.final_layer_norm.bias", 0);
  GET(m->projection, E, D, "text_projection.weight", 0);
  *out = m;
  return VFR_OK;
}

int vfr_clip_text_load(const char *dir, vfr_clip_text **out, vfr_error *err) {
  *out = NULL;
  vfr_model_config cfg;
  int rc = vfr_model_config_read(dir, &cfg, err);
  if (rc) return rc;
  if (!cfg.text.present)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/config.json: model_type '%s' has no text tower", dir,
                    cfg.vision.model_type);
  size_t n = strlen(dir) + 32;
  char *path = malloc(n);
  if (!path) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  snprintf(path, n, "%s/model.safetensors", dir);
  vfr_safetensors *st = NULL;
  rc = vfr_safetensors_open(path, &st, err);
  free(path);
  if (rc) return rc;
  rc = vfr_clip_text_from(&cfg.text, st, out, err);
  if (rc) {
    vfr_safetensors_close(st);
    return rc;
  }
  (*out)->own_file = st;
  return VFR_OK;
}

void vfr_clip_text_free(vfr_clip_text *m) {
  if (!m) return;
  for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m->owned);
  free(m->layers);
  vfr_safetensors_close(m->own_file);
  engine_free(m->engine);
  free(m);
}

int vfr_clip_text_dim(const vfr_clip_text *m) { return m->cfg.projection_dim; }

/* Causal multi-head self-attention without the projections: position t of a sequence sees
 * positions 0..t, out[b,t,h] = sum_j softmax_j(q[b,t,h] . k[b,j,h] * hd^-0.5) v[b,j,h].
 * out, q, k, v are (B,T,C) with C = NH*hd; scratch is (n_threads,T). */
static void causal_attention_forward(float *out, float *scratch, const float *q, const float *k,
                                     const float *v, int B, int T, int C, int NH, int n_threads) {
  const int hd = C / NH;
  const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(3) schedule(static) num_threads(n_threads)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        float *w = scratch + (size_t)omp_get_thread_num() * T;
        const float *qt = q + ((size_t)b * T + t) * C + h * hd;
        float max = -INFINITY;
        for (int j = 0; j <= t; j++) {
          const float *kj = k + ((size_t)b * T + j) * C + h * hd;
          float dot = 0.0f;
          for (int i = 0; i < hd; i++) dot += qt[i] * kj[i];
          w[j] = dot * scale;
          if (w[j] > max) max = w[j];
        }
        float sum = 0.0f;
        for (int j = 0; j <= t; j++) {
          w[j] = expf(w[j] - max);
          sum += w[j];
        }
        float *ot = out + ((size_t)b * T + t) * C + h * hd;
        for (int i = 0; i < hd; i++) ot[i] = 0.0f;
        for (int j = 0; j <= t; j++) {
          const float *vj = v + ((size_t)b * T + j) * C + h * hd;
          const float p = w[j] / sum;
          for (int i = 0; i < hd; i++) ot[i] += p * vj[i];
        }
      }
}

/* The position pooled for row ids (T): the first eos_token_id, or with the legacy
 * eos_token_id 2 the first largest id (HF's argmax); 0 when there is no eos token. */
static int eot_position(const int32_t *ids, int T, int eos_token_id) {
  int best = 0;
  for (int t = 0; t < T; t++) {
    if (eos_token_id == 2) {
      if (ids[t] > ids[best]) best = t;
    } else if (ids[t] == eos_token_id) {
      return t;
    }
  }
  return best;
}

int vfr_clip_text_forward(const vfr_clip_text *m, const int32_t *ids, int B, int T, float *out,
                          int threads, vfr_error *err) {
  const vfr_text_config *c = &m->cfg;
  const int D = c->hidden_size, I = c->intermediate_size, NH = c->num_heads, E = c->projection_dim;
  if (B < 1 || T < 1 || T > c->max_position_embeddings || B > (1 << 24) / T)
    return vfr_fail(err, VFR_EINVAL, "text tower: %d sequences of %d tokens (want 1..%d tokens)", B, T,
                    c->max_position_embeddings);
  for (int64_t i = 0; i < (int64_t)B * T; i++)
    if (ids[i] < 0 || ids[i] >= c->vocab_size)
      return vfr_fail(err, VFR_EINVAL, "text tower: token id %d at sequence %d, position %d is outside "
                      "the vocabulary of %d", (int)ids[i], (int)(i / T), (int)(i % T), c->vocab_size);
  /* The engine runs on the calling thread's team: `threads` sets it for this call. */
  const int saved_threads = omp_get_max_threads();
  if (threads > 0) omp_set_num_threads(threads);
  const int n_threads = threads > 0 ? threads : saved_threads;
  vfr_engine *e = m->engine;
  const size_t N = (size_t)B * T;
  /* Activations: x, h, q, k, v, att are (N,D); fc is (N,I); pooled is (B,D). */
  size_t n_floats = 6 * N * D + N * I + (size_t)B * D + (size_t)n_threads * T;
  float *mem = malloc(n_floats * sizeof *mem);
  if (!mem) {
    omp_set_num_threads(saved_threads);
    return vfr_fail(err, VFR_ENOMEM, "text tower: cannot allocate activations for %d sequences", B);
  }
  float *x = mem, *h = x + N * D, *q = h + N * D, *k = q + N * D, *v = k + N * D, *att = v + N * D;
  float *fc = att + N * D, *pooled = fc + N * I, *scratch = pooled + (size_t)B * D;

  for (size_t n = 0; n < N; n++) {
    const float *tok = m->token_embedding + (size_t)ids[n] * D;
    const float *pos = m->position_embedding + (n % T) * D;
    for (int i = 0; i < D; i++) x[n * D + i] = tok[i] + pos[i];
  }
  for (int l = 0; l < c->num_layers; l++) {
    const text_layer *L = &m->layers[l];
    layernorm_forward(h, x, L->ln1_w, L->ln1_b, (int)N, D, c->layer_norm_eps, threads);
    linear_qkv_forward(q, k, v, h, L->q_w, L->q_b, L->k_w, L->k_b, L->v_w, L->v_b, (int)N, D, D,
                       e);
    causal_attention_forward(att, scratch, q, k, v, B, T, D, NH, n_threads);
    linear_residual_forward(x, att, L->o_w, L->o_b, NULL, (int)N, D, D, e);
    layernorm_forward(h, x, L->ln2_w, L->ln2_b, (int)N, D, c->layer_norm_eps, threads);
    linear_forward(fc, h, L->fc1_w, L->fc1_b, (int)N, D, I, (int)c->act, e);
    linear_residual_forward(x, fc, L->fc2_w, L->fc2_b, NULL, (int)N, I, D, e);
  }
  /* final_layer_norm works row by row: only the pooled rows need it. */
  for (int b = 0; b < B; b++) {
    int t = eot_position(ids + (size_t)b * T, T, c->eos_token_id);
    memcpy(pooled + (size_t)b * D, x + ((size_t)b * T + t) * D, (size_t)D * sizeof *x);
  }
  layernorm_forward(pooled, pooled, m->final_ln_w, m->final_ln_b, B, D, c->layer_norm_eps, threads);
  matmul_forward(out, pooled, m->projection, NULL, B, D, E, e);
  free(mem);
  omp_set_num_threads(saved_threads);
  return VFR_OK;
}
