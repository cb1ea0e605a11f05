/* The CLIP text tower forward pass (fp32), Hugging Face's CLIPTextTransformer semantics
 * (open_clip's text transformer is the same computation; its tensors are named by the
 * family's catalogue, family_open_clip.c, and it pools at the largest token id):
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

#include "model/family.h"
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
  fam_store store;                   /* converted tensors, freed with the tower */
  vfr_engine *engine;                /* the products, on the caller's OpenMP team */
};

/* The member of m a text catalogue field binds (block fields: of m->layers[layer]). */
static const float **text_field_ptr(vfr_clip_text *m, int field, int layer) {
  text_layer *l = field >= TF_LN1_W ? &m->layers[layer] : NULL;
  switch ((text_field)field) {
  case TF_TOKEN: return &m->token_embedding;
  case TF_POS: return &m->position_embedding;
  case TF_FINAL_LN_W: return &m->final_ln_w;
  case TF_FINAL_LN_B: return &m->final_ln_b;
  case TF_PROJ: return &m->projection;
  case TF_LN1_W: return &l->ln1_w;
  case TF_LN1_B: return &l->ln1_b;
  case TF_Q_W: return &l->q_w;
  case TF_K_W: return &l->k_w;
  case TF_V_W: return &l->v_w;
  case TF_Q_B: return &l->q_b;
  case TF_K_B: return &l->k_b;
  case TF_V_B: return &l->v_b;
  case TF_O_W: return &l->o_w;
  case TF_O_B: return &l->o_b;
  case TF_LN2_W: return &l->ln2_w;
  case TF_LN2_B: return &l->ln2_b;
  case TF_FC1_W: return &l->fc1_w;
  case TF_FC1_B: return &l->fc1_b;
  case TF_FC2_W: return &l->fc2_w;
  case TF_FC2_B: return &l->fc2_b;
  default: return NULL;
  }
}

int vfr_clip_text_from(const vfr_model_config *cfg, const vfr_safetensors *st, vfr_clip_text **out,
                       vfr_error *err) {
  *out = NULL;
  const model_family *f = family_of(cfg->vision.family);
  if (!cfg->text.present || !f || !f->text)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: the model has no text tower", vfr_safetensors_path(st));
  vfr_clip_text *m = calloc(1, sizeof *m);
  if (!m) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(st));
  m->cfg = cfg->text;
  m->store.st = st;
  int rc = engine_create(0, VFR_PRECISION_FP32, &m->engine, err);
  if (rc) {
    free(m);
    return rc;
  }
  m->layers = calloc((size_t)cfg->text.num_layers, sizeof *m->layers);
  if (!m->layers) {
    vfr_clip_text_free(m);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", vfr_safetensors_path(st));
  }
  int64_t sizes[FD_COUNT];
  fam_sizes(cfg, sizes);
  for (int r = 0; r < f->n_text && rc == VFR_OK; r++) {
    const fam_tensor *row = &f->text[r];
    int n = row->block ? cfg->text.num_layers : 1;
    for (int i = 0; i < n && rc == VFR_OK; i++) {
      char full[240];
      fam_row_name(row, "", i, full, sizeof full);
      const float **ptr[3] = {text_field_ptr(m, row->field, i), NULL, NULL};
      if (row->fused == 3) {
        ptr[1] = text_field_ptr(m, row->field + 1, i);
        ptr[2] = text_field_ptr(m, row->field + 2, i);
      }
      rc = fam_bind_row(&m->store, row, full, sizes, ptr, err);
    }
  }
  if (rc) {
    vfr_clip_text_free(m);
    return rc;
  }
  *out = m;
  return VFR_OK;
}

int vfr_clip_text_load(const char *dir, vfr_clip_text **out, vfr_error *err) {
  *out = NULL;
  vfr_model_config cfg;
  int rc = vfr_model_config_read(dir, &cfg, err);
  if (rc) return rc;
  if (!cfg.text.present)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s/%s: model_type '%s' has no text tower", dir,
                    cfg.config_file, cfg.vision.model_type);
  size_t n = strlen(dir) + 64;
  char *path = malloc(n);
  if (!path) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  snprintf(path, n, "%s/%s", dir, cfg.weights_file);
  vfr_safetensors *st = NULL;
  rc = vfr_safetensors_open(path, &st, err);
  free(path);
  if (rc) return rc;
  rc = vfr_clip_text_from(&cfg, st, out, err);
  if (rc) {
    vfr_safetensors_close(st);
    return rc;
  }
  (*out)->own_file = st;
  return VFR_OK;
}

void vfr_clip_text_free(vfr_clip_text *m) {
  if (!m) return;
  fam_store_free(&m->store);
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
static int eot_position(const int32_t *ids, int T, int eos_token_id, int argmax) {
  int best = 0;
  for (int t = 0; t < T; t++) {
    if (argmax || eos_token_id == 2) {
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
    int t = eot_position(ids + (size_t)b * T, T, c->eos_token_id, c->argmax_pool);
    memcpy(pooled + (size_t)b * D, x + ((size_t)b * T + t) * D, (size_t)D * sizeof *x);
  }
  layernorm_forward(pooled, pooled, m->final_ln_w, m->final_ln_b, B, D, c->layer_norm_eps, threads);
  matmul_forward(out, pooled, m->projection, NULL, B, D, E, e);
  free(mem);
  omp_set_num_threads(saved_threads);
  return VFR_OK;
}
