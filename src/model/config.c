/* Hugging Face config.json and preprocessor_config.json, read with Jansson.
 *
 * Keys and defaults follow the transformers configuration classes (CLIPConfig,
 * CLIPVisionConfig, CLIPTextConfig, Dinov2Config, Dinov2WithRegistersConfig) and image
 * processors (CLIPImageProcessor, BitImageProcessor); docs/checkpoints.md lists them.
 * A key that is present must have the right JSON type (else an error naming the file and
 * the key); a missing key takes the default; values that no real model has (zero or
 * enormous sizes, heads that do not divide the width) are refused before any allocation
 * is sized from them. */
#include "core/json_names.h"
#include "core/try.h"
#include "model/config.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (16u << 20) /* config files are a few kB */

/* Where we are, for messages: the file and the sub-object ("vision_config.") being read. */
typedef struct ctx {
  const char *file;
  const char *prefix;
} ctx;

/* A string from the file as it may appear in a one-line message: control characters
 * become '?', long strings are cut with "...". */
static const char *printable(const char *text, char *buf, size_t cap) {
  size_t n = 0;
  for (; text[n] && n + 4 < cap; n++)
    buf[n] = ((unsigned char)text[n] < 0x20 || text[n] == 0x7f) ? '?' : text[n];
  if (text[n]) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

/* Parses `len` bytes of JSON into *root, which must be an object. */
static int parse_json_object(const char *text, size_t len, const char *file, json_t **root,
                             vfr_error *err) {
  *root = NULL;
  json_error_t jerr;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    char why[sizeof jerr.text];
    return vfr_fail(err, VFR_EFORMAT, "%s: not valid JSON (line %d, column %d: %s)", file,
                    jerr.line, jerr.column, printable(jerr.text, why, sizeof why));
  }
  if (!json_is_object(j)) {
    int rc = vfr_fail(err, VFR_EFORMAT, "%s: must hold a JSON object, not %s", file, vfr_json_type_name(j));
    json_decref(j);
    return rc;
  }
  *root = j;
  return VFR_OK;
}

/* Reads a whole JSON file into *root (an object). missing_ok: *root = NULL and VFR_OK
 * when the file does not exist. */
static int load_json_file(const char *file, int missing_ok, json_t **root, vfr_error *err) {
  *root = NULL;
  FILE *f = fopen(file, "rb");
  if (!f) {
    if (missing_ok && errno == ENOENT) return VFR_OK;
    return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", file, strerror(errno));
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = buf ? VFR_OK : vfr_fail(err, VFR_ENOMEM, "%s: out of memory", file);
  while (rc == VFR_OK) {
    if (len == cap) {
      char *bigger = cap < CONFIG_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
      if (!bigger) {
        rc = cap < CONFIG_MAX_BYTES
                 ? vfr_fail(err, VFR_ENOMEM, "%s: out of memory", file)
                 : vfr_fail(err, VFR_ELIMIT, "%s: larger than %u bytes, not a config file", file,
                            CONFIG_MAX_BYTES);
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) rc = vfr_fail(err, VFR_EIO, "%s: read error", file);
      break;
    }
  }
  fclose(f);
  if (rc == VFR_OK) rc = parse_json_object(buf, len, file, root, err);
  free(buf);
  return rc;
}

/* ---- typed getters: absent -> keep *out (the default); wrong type -> error ---------- */

static int get_int(const ctx *c, const json_t *obj, const char *key, long long lo, long long hi,
                   int *out, vfr_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v) return VFR_OK;
  if (!json_is_integer(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' must be an integer, not %s", c->file,
                    c->prefix, key, vfr_json_type_name(v));
  long long x = json_integer_value(v);
  if (x < lo || x > hi)
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' = %lld is out of range [%lld, %lld]",
                    c->file, c->prefix, key, x, lo, hi);
  *out = (int)x;
  return VFR_OK;
}

static int fits_float(double x) { return isfinite(x) && fabs(x) <= FLT_MAX; }

/* A number (integer or real) into a double, finite even as a float. */
static int get_number(const ctx *c, const json_t *obj, const char *key, double *out,
                      vfr_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v) return VFR_OK;
  if (!json_is_number(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' must be a number, not %s", c->file,
                    c->prefix, key, vfr_json_type_name(v));
  double x = json_number_value(v);
  if (!fits_float(x))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' = %g does not fit a float", c->file,
                    c->prefix, key, x);
  *out = x;
  return VFR_OK;
}

/* A positive number below `hi` into a float. */
static int get_positive(const ctx *c, const json_t *obj, const char *key, double hi, float *out,
                        vfr_error *err) {
  double x = *out;
  int rc = get_number(c, obj, key, &x, err);
  if (rc) return rc;
  if (!(x > 0) || x >= hi || !((float)x > 0)) /* also refuse what underflows to 0 as float */
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' = %g must be in (0, %g)", c->file, c->prefix,
                    key, x, hi);
  *out = (float)x;
  return VFR_OK;
}

/* true/false; null keeps the default (as Python's None would select it). */
static int get_bool(const ctx *c, const json_t *obj, const char *key, int *out, vfr_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return VFR_OK;
  if (!json_is_boolean(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' must be true or false, not %s", c->file,
                    c->prefix, key, vfr_json_type_name(v));
  *out = json_is_true(v);
  return VFR_OK;
}

/* The string value of `key`, or NULL when absent; error when not a string. */
static int get_string(const ctx *c, const json_t *obj, const char *key, const char **out,
                      vfr_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v) return VFR_OK;
  if (!json_is_string(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' must be a string, not %s", c->file,
                    c->prefix, key, vfr_json_type_name(v));
  *out = json_string_value(v);
  return VFR_OK;
}

static int get_activation(const ctx *c, const json_t *obj, vfr_activation *out, vfr_error *err) {
  const char *name = NULL;
  int rc = get_string(c, obj, "hidden_act", &name, err);
  if (rc || !name) return rc;
  if (strcmp(name, "quick_gelu") == 0) *out = VFR_ACT_QUICK_GELU;
  else if (strcmp(name, "gelu") == 0) *out = VFR_ACT_GELU;
  else if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0)
    *out = VFR_ACT_GELU_TANH;
  else {
    char shown[48];
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: key '%shidden_act' = '%s' is not supported "
                    "(quick_gelu, gelu, gelu_new, gelu_pytorch_tanh are)", c->file, c->prefix,
                    printable(name, shown, sizeof shown));
  }
  return VFR_OK;
}

/* A sub-object such as "vision_config"; absent or null -> NULL (all defaults). */
static int get_object(const ctx *c, const json_t *obj, const char *key, json_t **out,
                      vfr_error *err) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v)) return VFR_OK;
  if (!json_is_object(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s%s' must be an object, not %s", c->file,
                    c->prefix, key, vfr_json_type_name(v));
  *out = v;
  return VFR_OK;
}

#define TRY VFR_TRY

/* Sizes are refused beyond these; they are far above every released checkpoint. */
#define MAX_WIDTH 65536
#define MAX_LAYERS 1024
#define MAX_MLP (1 << 20)
#define MAX_IMAGE 16384

/* ---- vision towers ----------------------------------------------------------------- */

/* Keys shared by CLIPVisionConfig and the DINOv2 configs. */
static int read_vit_common(const ctx *c, const json_t *o, vfr_vit_config *v, vfr_error *err) {
  TRY(get_int(c, o, "hidden_size", 1, MAX_WIDTH, &v->hidden_size, err));
  TRY(get_int(c, o, "num_hidden_layers", 1, MAX_LAYERS, &v->num_layers, err));
  TRY(get_int(c, o, "num_attention_heads", 1, MAX_WIDTH, &v->num_heads, err));
  TRY(get_int(c, o, "patch_size", 1, MAX_IMAGE, &v->patch_size, err));
  TRY(get_int(c, o, "image_size", 1, MAX_IMAGE, &v->image_size, err));
  TRY(get_int(c, o, "num_channels", 1, 64, &v->num_channels, err));
  TRY(get_positive(c, o, "layer_norm_eps", 1.0, &v->layer_norm_eps, err));
  TRY(get_activation(c, o, &v->act, err));
  return VFR_OK;
}

static int check_vit(const ctx *c, const vfr_vit_config *v, vfr_error *err) {
  if (v->hidden_size % v->num_heads)
    return vfr_fail(err, VFR_EFORMAT, "%s: %shidden_size %d is not divisible by "
                    "num_attention_heads %d", c->file, c->prefix, v->hidden_size, v->num_heads);
  if (v->patch_size > v->image_size)
    return vfr_fail(err, VFR_EFORMAT, "%s: %spatch_size %d is larger than image_size %d", c->file,
                    c->prefix, v->patch_size, v->image_size);
  return VFR_OK;
}

/* CLIPVisionConfig defaults. */
static void clip_vision_defaults(vfr_vit_config *v) {
  v->family = VFR_FAMILY_CLIP;
  v->hidden_size = 768;
  v->intermediate_size = 3072;
  v->projection_dim = 512;
  v->num_layers = 12;
  v->num_heads = 12;
  v->num_channels = 3;
  v->image_size = 224;
  v->patch_size = 32;
  v->act = VFR_ACT_QUICK_GELU;
  v->layer_norm_eps = 1e-5f;
  v->use_swiglu = 0;
  v->num_register_tokens = 0;
  v->layerscale_value = 0.0f; /* CLIP has no layer scale */
  v->qkv_bias = 1;
}

/* Reads a CLIPVisionConfig dictionary `o` (may be NULL), then `override` (the legacy
 * vision_config_dict, may be NULL) on top of it. */
static int read_clip_vision(const ctx *c, const json_t *o, const json_t *override,
                            vfr_vit_config *v, vfr_error *err) {
  const json_t *layers[2] = {o, override};
  ctx cs[2] = {*c, {c->file, "vision_config_dict."}};
  for (int i = 0; i < 2; i++) {
    if (!layers[i]) continue;
    TRY(read_vit_common(&cs[i], layers[i], v, err));
    TRY(get_int(&cs[i], layers[i], "intermediate_size", 1, MAX_MLP, &v->intermediate_size, err));
    TRY(get_int(&cs[i], layers[i], "projection_dim", 1, MAX_WIDTH, &v->projection_dim, err));
  }
  return check_vit(c, v, err);
}

/* Dinov2Config / Dinov2WithRegistersConfig, keys at the top level of config.json. */
static int read_dinov2(const ctx *c, const json_t *o, int with_registers, vfr_vit_config *v,
                       vfr_error *err) {
  v->family = VFR_FAMILY_DINOV2;
  v->hidden_size = 768;
  v->num_layers = 12;
  v->num_heads = 12;
  v->act = VFR_ACT_GELU;
  v->layer_norm_eps = 1e-6f;
  v->image_size = 224;
  /* The two classes differ here: Dinov2Config 14, Dinov2WithRegistersConfig 16. */
  v->patch_size = with_registers ? 16 : 14;
  v->num_channels = 3;
  v->qkv_bias = 1;
  v->layerscale_value = 1.0f;
  v->use_swiglu = 0;
  v->num_register_tokens = with_registers ? 4 : 0;
  v->projection_dim = 0;
  TRY(read_vit_common(c, o, v, err));
  TRY(get_bool(c, o, "qkv_bias", &v->qkv_bias, err));
  TRY(get_bool(c, o, "use_swiglu_ffn", &v->use_swiglu, err));
  double layerscale = v->layerscale_value;
  TRY(get_number(c, o, "layerscale_value", &layerscale, err));
  v->layerscale_value = (float)layerscale;
  if (with_registers)
    TRY(get_int(c, o, "num_register_tokens", 0, 1024, &v->num_register_tokens, err));
  /* The MLP width is int(hidden_size * mlp_ratio), as the model classes compute it. */
  double mlp_ratio = 4.0;
  TRY(get_number(c, o, "mlp_ratio", &mlp_ratio, err));
  double width = floor((double)v->hidden_size * mlp_ratio);
  if (!(width >= 1 && width <= MAX_MLP))
    return vfr_fail(err, VFR_EFORMAT, "%s: key 'mlp_ratio' = %g gives an MLP width of %g "
                    "(must be 1..%d)", c->file, mlp_ratio, width, MAX_MLP);
  v->intermediate_size = (int)width;
  return check_vit(c, v, err);
}

/* ---- CLIP text tower ------------------------------------------------------------------- */

static int read_clip_text(const ctx *c, const json_t *o, const json_t *override,
                          vfr_text_config *t, vfr_error *err) {
  const ctx *outer = c;
  /* CLIPTextConfig defaults. eos_token_id: the current class defaults to 49407; the
   * configs saved with the original checkpoints say 2, which makes the model pool at the
   * argmax of the token ids instead (the consumer checks for 2). */
  t->present = 1;
  t->vocab_size = 49408;
  t->hidden_size = 512;
  t->intermediate_size = 2048;
  t->projection_dim = 512;
  t->num_layers = 12;
  t->num_heads = 8;
  t->max_position_embeddings = 77;
  t->act = VFR_ACT_QUICK_GELU;
  t->layer_norm_eps = 1e-5f;
  t->eos_token_id = 49407;
  const json_t *layers[2] = {o, override};
  ctx cs[2] = {*c, {c->file, "text_config_dict."}};
  for (int i = 0; i < 2; i++) {
    const json_t *l = layers[i];
    if (!l) continue;
    c = &cs[i];
    TRY(get_int(c, l, "vocab_size", 1, 1 << 24, &t->vocab_size, err));
    TRY(get_int(c, l, "hidden_size", 1, MAX_WIDTH, &t->hidden_size, err));
    TRY(get_int(c, l, "intermediate_size", 1, MAX_MLP, &t->intermediate_size, err));
    TRY(get_int(c, l, "projection_dim", 1, MAX_WIDTH, &t->projection_dim, err));
    TRY(get_int(c, l, "num_hidden_layers", 1, MAX_LAYERS, &t->num_layers, err));
    TRY(get_int(c, l, "num_attention_heads", 1, MAX_WIDTH, &t->num_heads, err));
    TRY(get_int(c, l, "max_position_embeddings", 1, MAX_WIDTH, &t->max_position_embeddings, err));
    TRY(get_positive(c, l, "layer_norm_eps", 1.0, &t->layer_norm_eps, err));
    TRY(get_activation(c, l, &t->act, err));
    TRY(get_int(c, l, "eos_token_id", 0, 1 << 24, &t->eos_token_id, err));
  }
  if (t->hidden_size % t->num_heads)
    return vfr_fail(err, VFR_EFORMAT, "%s: %shidden_size %d is not divisible by "
                    "num_attention_heads %d", outer->file, outer->prefix, t->hidden_size,
                    t->num_heads);
  return VFR_OK;
}

/* ---- config.json ------------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* CLIPConfig: both towers, projection_dim and logit scale at the top level. */
static int read_clip(const ctx *top, const json_t *root, vfr_model_config *out, vfr_error *err) {
  const char *file = top->file;
  json_t *vision, *vision_dict, *text, *text_dict;
  TRY(get_object(top, root, "vision_config", &vision, err));
  TRY(get_object(top, root, "vision_config_dict", &vision_dict, err));
  TRY(get_object(top, root, "text_config", &text, err));
  TRY(get_object(top, root, "text_config_dict", &text_dict, err));
  clip_vision_defaults(&out->vision);
  ctx vc = {file, "vision_config."}, tc = {file, "text_config."};
  TRY(read_clip_vision(&vc, vision, vision_dict, &out->vision, err));
  TRY(read_clip_text(&tc, text, text_dict, &out->text, err));
  /* CLIPModel sizes both projections from the top-level projection_dim. */
  int projection_dim = 512;
  TRY(get_int(top, root, "projection_dim", 1, MAX_WIDTH, &projection_dim, err));
  out->vision.projection_dim = projection_dim;
  out->text.projection_dim = projection_dim;
  double logit_scale = 2.6592;
  TRY(get_number(top, root, "logit_scale_init_value", &logit_scale, err));
  out->logit_scale_init = (float)logit_scale;
  return VFR_OK;
}

static int read_clip_vision_only(const ctx *top, const json_t *root, vfr_model_config *out,
                                 vfr_error *err) {
  clip_vision_defaults(&out->vision);
  return read_clip_vision(top, root, NULL, &out->vision, err);
}

static int read_dinov2_plain(const ctx *top, const json_t *root, vfr_model_config *out,
                             vfr_error *err) {
  return read_dinov2(top, root, 0, &out->vision, err);
}

static int read_dinov2_registers(const ctx *top, const json_t *root, vfr_model_config *out,
                                 vfr_error *err) {
  return read_dinov2(top, root, 1, &out->vision, err);
}

/* config.json's model_type -> its reader: the one table of Hugging Face model types. */
static const struct {
  const char *model_type;
  int (*read)(const ctx *top, const json_t *root, vfr_model_config *out, vfr_error *err);
} MODEL_TYPES[] = {
    {"clip", read_clip},
    {"clip_vision_model", read_clip_vision_only},
    {"dinov2", read_dinov2_plain},
    {"dinov2_with_registers", read_dinov2_registers},
};

static int read_model_config(const char *file, const json_t *root, vfr_model_config *out,
                             vfr_error *err) {
  ctx top = {file, ""};
  const char *model_type = NULL;
  TRY(get_string(&top, root, "model_type", &model_type, err));
  if (!model_type)
    return vfr_fail(err, VFR_EFORMAT, "%s: no 'model_type' key (expected clip, "
                    "clip_vision_model, dinov2 or dinov2_with_registers)", file);
  size_t i = 0, n = sizeof MODEL_TYPES / sizeof *MODEL_TYPES;
  while (i < n && strcmp(MODEL_TYPES[i].model_type, model_type) != 0) i++;
  if (i == n) {
    char shown[56];
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: model_type '%s' is not supported (clip, "
                    "clip_vision_model, dinov2 and dinov2_with_registers are)", file,
                    printable(model_type, shown, sizeof shown));
  }
  TRY(MODEL_TYPES[i].read(&top, root, out, err));
  snprintf(out->vision.model_type, sizeof out->vision.model_type, "%s", model_type);
  snprintf(out->weights_file, sizeof out->weights_file, "model.safetensors");
  snprintf(out->config_file, sizeof out->config_file, "config.json");
  return VFR_OK;
}

/* ---- open_clip_config.json ------------------------------------------------------------ */

/* Keys of open_clip's CLIPVisionCfg / CLIPTextCfg whose non-default values change the
 * architecture in ways not implemented here: refused rather than silently ignored. A
 * value equal to the default (null, false, or the string given) is accepted. */
static int refuse_unsupported(const ctx *c, const json_t *o, const char *const *keys,
                              vfr_error *err) {
  for (int i = 0; keys[i]; i += 2) {
    json_t *v = json_object_get(o, keys[i]);
    const char *ok = keys[i + 1];
    if (!v || json_is_null(v) || json_is_false(v)) continue;
    if (ok && json_is_string(v) && !strcmp(json_string_value(v), ok)) continue;
    if (ok && !strcmp(ok, "{}") && json_is_object(v) && json_object_size(v) == 0) continue;
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: key '%s%s' is not supported (only its default)",
                    c->file, c->prefix, keys[i]);
  }
  return VFR_OK;
}

/* image_size: an int or [h, w] with h == w. */
static int read_oc_image_size(const ctx *c, const json_t *o, int *out, vfr_error *err) {
  json_t *v = json_object_get(o, "image_size");
  if (v && json_is_array(v)) {
    json_t *h = json_array_get(v, 0), *w = json_array_get(v, 1);
    if (json_array_size(v) != 2 || !json_is_integer(h) || !json_is_integer(w) ||
        json_integer_value(h) != json_integer_value(w) || json_integer_value(h) < 1 ||
        json_integer_value(h) > MAX_IMAGE)
      return vfr_fail(err, VFR_EUNSUPPORTED, "%s: key '%simage_size' must be an integer or a "
                      "square [h, w]", c->file, c->prefix);
    *out = (int)json_integer_value(h);
    return VFR_OK;
  }
  return get_int(c, o, "image_size", 1, MAX_IMAGE, out, err);
}

static int read_mlp_width(const ctx *c, const json_t *o, int width, int *out, vfr_error *err) {
  double ratio = 4.0;
  TRY(get_number(c, o, "mlp_ratio", &ratio, err));
  double w = floor((double)width * ratio);
  if (!(w >= 1 && w <= MAX_MLP))
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%smlp_ratio' = %g gives an MLP width of %g",
                    c->file, c->prefix, ratio, w);
  *out = (int)w;
  return VFR_OK;
}

static const char *const OC_VISION_UNSUPPORTED[] = {
    "timm_model_name", NULL, "ls_init_value", NULL, "attentional_pool", NULL,
    "attn_pooler_queries", NULL, "no_ln_pre", NULL, "final_ln_after_pool", NULL,
    "output_tokens", NULL, "input_patchnorm", NULL, "pool_type", "tok",
    "pos_embed_type", "learnable", "act_kwargs", "{}", "norm_kwargs", "{}", "patch_bias", NULL,
    NULL};
static const char *const OC_TEXT_UNSUPPORTED[] = {
    "hf_model_name", NULL, "ls_init_value", NULL, "embed_cls", NULL, "pool_type", "argmax",
    "proj_bias", NULL, "no_causal_mask", NULL, "act_kwargs", "{}", "norm_kwargs", "{}",
    "proj_type", "linear", "output_tokens", NULL, NULL};

/* model_cfg of open_clip_config.json (open_clip's CLIP(embed_dim, vision_cfg, text_cfg,
 * quick_gelu)): defaults as CLIPVisionCfg / CLIPTextCfg. */
static int read_open_clip(const char *file, const json_t *root, vfr_model_config *out,
                          vfr_error *err) {
  ctx top = {file, ""};
  json_t *mc, *vcfg, *tcfg;
  TRY(get_object(&top, root, "model_cfg", &mc, err));
  if (!mc) return vfr_fail(err, VFR_EFORMAT, "%s: no 'model_cfg' object", file);
  ctx mctx = {file, "model_cfg."};
  TRY(get_object(&mctx, mc, "vision_cfg", &vcfg, err));
  TRY(get_object(&mctx, mc, "text_cfg", &tcfg, err));
  if (!vcfg) return vfr_fail(err, VFR_EFORMAT, "%s: no 'model_cfg.vision_cfg' object", file);
  if (json_object_get(mc, "custom_text") && json_is_true(json_object_get(mc, "custom_text")) &&
      tcfg && json_object_get(tcfg, "hf_model_name"))
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: Hugging Face text towers are not supported", file);
  int embed_dim = 0, quick = 0;
  TRY(get_int(&mctx, mc, "embed_dim", 1, MAX_WIDTH, &embed_dim, err));
  if (!embed_dim) return vfr_fail(err, VFR_EFORMAT, "%s: no 'model_cfg.embed_dim'", file);
  TRY(get_bool(&mctx, mc, "quick_gelu", &quick, err));
  vfr_vit_config *v = &out->vision;
  ctx vc = {file, "model_cfg.vision_cfg."};
  TRY(refuse_unsupported(&vc, vcfg, OC_VISION_UNSUPPORTED, err));
  v->num_channels = 3;
  v->image_size = 224;
  v->layer_norm_eps = 1e-5f;
  v->act = quick ? VFR_ACT_QUICK_GELU : VFR_ACT_GELU;
  v->qkv_bias = 1;
  v->projection_dim = embed_dim;
  v->hidden_size = 768;
  TRY(read_oc_image_size(&vc, vcfg, &v->image_size, err));
  TRY(get_int(&vc, vcfg, "width", 1, MAX_WIDTH, &v->hidden_size, err));
  int head_width = 64;
  TRY(get_int(&vc, vcfg, "head_width", 1, MAX_WIDTH, &head_width, err));
  json_t *layers = json_object_get(vcfg, "layers");
  if (layers && json_is_array(layers)) { /* ModifiedResNet: four stage depths */
    v->family = VFR_FAMILY_OPEN_CLIP_RESNET;
    if (json_array_size(layers) != 4)
      return vfr_fail(err, VFR_EFORMAT, "%s: key 'model_cfg.vision_cfg.layers' must list 4 stage "
                      "depths", file);
    for (int i = 0; i < 4; i++) {
      json_t *e = json_array_get(layers, (size_t)i);
      if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > MAX_LAYERS)
        return vfr_fail(err, VFR_EFORMAT, "%s: key 'model_cfg.vision_cfg.layers'[%d] must be an "
                        "integer in 1..%d", file, i, MAX_LAYERS);
      v->resnet_layers[i] = (int)json_integer_value(e);
      v->num_layers += v->resnet_layers[i];
    }
    if (v->hidden_size % 2 || (32 * v->hidden_size) % head_width)
      return vfr_fail(err, VFR_EFORMAT, "%s: vision_cfg.width %d does not suit head_width %d",
                      file, v->hidden_size, head_width);
    v->num_heads = 32 * v->hidden_size / head_width;
    v->patch_size = 32; /* the tower's total stride */
    if (v->image_size % 32)
      return vfr_fail(err, VFR_EUNSUPPORTED, "%s: vision_cfg.image_size %d is not a multiple of "
                      "32", file, v->image_size);
    snprintf(v->model_type, sizeof v->model_type, "open_clip_resnet");
  } else {
    v->family = VFR_FAMILY_OPEN_CLIP;
    v->num_layers = 12;
    v->patch_size = 16;
    TRY(get_int(&vc, vcfg, "layers", 1, MAX_LAYERS, &v->num_layers, err));
    TRY(get_int(&vc, vcfg, "patch_size", 1, MAX_IMAGE, &v->patch_size, err));
    if (v->hidden_size % head_width)
      return vfr_fail(err, VFR_EFORMAT, "%s: vision_cfg.width %d is not a multiple of head_width "
                      "%d", file, v->hidden_size, head_width);
    v->num_heads = v->hidden_size / head_width;
    TRY(read_mlp_width(&vc, vcfg, v->hidden_size, &v->intermediate_size, err));
    TRY(check_vit(&vc, v, err));
    snprintf(v->model_type, sizeof v->model_type, "open_clip");
  }
  if (tcfg) {
    vfr_text_config *t = &out->text;
    ctx tc = {file, "model_cfg.text_cfg."};
    TRY(refuse_unsupported(&tc, tcfg, OC_TEXT_UNSUPPORTED, err));
    t->present = 1;
    t->vocab_size = 49408;
    t->max_position_embeddings = 77;
    t->hidden_size = 512;
    t->num_heads = 8;
    t->num_layers = 12;
    t->layer_norm_eps = 1e-5f;
    t->act = v->act;
    t->projection_dim = embed_dim;
    t->eos_token_id = 49407;
    t->argmax_pool = 1;
    TRY(get_int(&tc, tcfg, "context_length", 1, MAX_WIDTH, &t->max_position_embeddings, err));
    TRY(get_int(&tc, tcfg, "vocab_size", 1, 1 << 24, &t->vocab_size, err));
    TRY(get_int(&tc, tcfg, "width", 1, MAX_WIDTH, &t->hidden_size, err));
    TRY(get_int(&tc, tcfg, "heads", 1, MAX_WIDTH, &t->num_heads, err));
    TRY(get_int(&tc, tcfg, "layers", 1, MAX_LAYERS, &t->num_layers, err));
    TRY(read_mlp_width(&tc, tcfg, t->hidden_size, &t->intermediate_size, err));
    if (t->hidden_size % t->num_heads)
      return vfr_fail(err, VFR_EFORMAT, "%s: text_cfg.width %d is not divisible by heads %d",
                      file, t->hidden_size, t->num_heads);
  }
  out->logit_scale_init = 2.6592f;
  snprintf(out->weights_file, sizeof out->weights_file, "open_clip_model.safetensors");
  snprintf(out->config_file, sizeof out->config_file, "open_clip_config.json");
  return VFR_OK;
}

int vfr_model_config_parse(const char *text, size_t len, const char *name, vfr_model_config *out,
                           vfr_error *err) {
  if (!text || !out) return vfr_fail(err, VFR_EINVAL, "vfr_model_config_parse: NULL argument");
  if (!name) name = "config.json";
  memset(out, 0, sizeof *out);
  json_t *root;
  int rc = parse_json_object(text, len, name, &root, err);
  if (rc == VFR_OK) rc = read_model_config(name, root, out, err);
  json_decref(root);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int vfr_model_config_read(const char *dir, vfr_model_config *out, vfr_error *err) {
  if (!dir || !out) return vfr_fail(err, VFR_EINVAL, "vfr_model_config_read: NULL argument");
  memset(out, 0, sizeof *out);
  char *file = join_path(dir, "config.json");
  if (!file) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  json_t *root;
  int rc = load_json_file(file, 1, &root, err);
  if (rc == VFR_OK && root) {
    rc = read_model_config(file, root, out, err);
  } else if (rc == VFR_OK) {
    free(file);
    file = join_path(dir, "open_clip_config.json");
    if (!file) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
    rc = load_json_file(file, 1, &root, err);
    if (rc == VFR_OK && root) rc = read_open_clip(file, root, out, err);
    else if (rc == VFR_OK)
      rc = vfr_fail(err, VFR_EIO, "%s/config.json: cannot open (%s), and there is no "
                    "open_clip_config.json either", dir, strerror(ENOENT));
  }
  json_decref(root);
  free(file);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

/* ---- preprocessor_config.json ------------------------------------------------------------ */

static void preprocess_defaults(vfr_family family, vfr_preprocess_config *p) {
  /* CLIPImageProcessor's constants; DINOv2's processor files carry ImageNet statistics
   * and a 256 resize. */
  static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
  static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
  int dino = family == VFR_FAMILY_DINOV2;
  p->do_resize = 1;
  p->shortest_edge = dino ? 256 : 224;
  p->resample = 3; /* bicubic */
  p->do_center_crop = 1;
  p->crop_height = p->crop_width = 224;
  p->do_rescale = 1;
  p->rescale_factor = 1.0f / 255.0f;
  p->do_normalize = 1;
  memcpy(p->mean, dino ? imagenet_mean : clip_mean, sizeof p->mean);
  memcpy(p->std, dino ? imagenet_std : clip_std, sizeof p->std);
  p->do_convert_rgb = 1;
}

/* "size": an int (legacy: the shortest edge) or {"shortest_edge": n}. */
static int read_size(const ctx *c, const json_t *o, vfr_preprocess_config *p, vfr_error *err) {
  json_t *v = json_object_get(o, "size");
  if (!v || json_is_null(v)) return VFR_OK;
  if (json_is_integer(v)) return get_int(c, o, "size", 1, MAX_IMAGE, &p->shortest_edge, err);
  if (!json_is_object(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key 'size' must be an integer or an object, not %s",
                    c->file, vfr_json_type_name(v));
  if (json_object_get(v, "shortest_edge")) {
    ctx sc = {c->file, "size."};
    return get_int(&sc, v, "shortest_edge", 1, MAX_IMAGE, &p->shortest_edge, err);
  }
  if (json_object_get(v, "height") || json_object_get(v, "width"))
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: key 'size' as {height, width} (resize to a fixed "
                    "size) is not supported; use {\"shortest_edge\": n}", c->file);
  return vfr_fail(err, VFR_EFORMAT, "%s: key 'size' has no 'shortest_edge'", c->file);
}

/* "crop_size": an int (square) or {"height": h, "width": w}. */
static int read_crop(const ctx *c, const json_t *o, vfr_preprocess_config *p, vfr_error *err) {
  json_t *v = json_object_get(o, "crop_size");
  if (!v || json_is_null(v)) return VFR_OK;
  if (json_is_integer(v)) {
    TRY(get_int(c, o, "crop_size", 1, MAX_IMAGE, &p->crop_height, err));
    p->crop_width = p->crop_height;
    return VFR_OK;
  }
  if (!json_is_object(v))
    return vfr_fail(err, VFR_EFORMAT, "%s: key 'crop_size' must be an integer or an object, not %s",
                    c->file, vfr_json_type_name(v));
  if (!json_object_get(v, "height") || !json_object_get(v, "width"))
    return vfr_fail(err, VFR_EFORMAT, "%s: key 'crop_size' needs both 'height' and 'width'",
                    c->file);
  ctx cc = {c->file, "crop_size."};
  TRY(get_int(&cc, v, "height", 1, MAX_IMAGE, &p->crop_height, err));
  return get_int(&cc, v, "width", 1, MAX_IMAGE, &p->crop_width, err);
}

/* "image_mean"/"image_std": a number (all channels) or a list of 3 numbers. */
static int read_triple(const ctx *c, const json_t *o, const char *key, int positive, float out[3],
                       vfr_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return VFR_OK;
  double x[3];
  if (json_is_number(v)) {
    x[0] = x[1] = x[2] = json_number_value(v);
  } else if (json_is_array(v) && json_array_size(v) == 3) {
    for (size_t i = 0; i < 3; i++) {
      json_t *e = json_array_get(v, i);
      if (!json_is_number(e))
        return vfr_fail(err, VFR_EFORMAT, "%s: key '%s'[%zu] must be a number, not %s", c->file,
                        key, i, vfr_json_type_name(e));
      x[i] = json_number_value(e);
    }
  } else {
    return vfr_fail(err, VFR_EFORMAT, "%s: key '%s' must be a list of 3 numbers", c->file, key);
  }
  for (int i = 0; i < 3; i++) {
    if (!fits_float(x[i]) || (positive && !((float)x[i] > 0)))
      return vfr_fail(err, VFR_EFORMAT, "%s: key '%s'[%d] = %g is not %s", c->file, key, i, x[i],
                      positive ? "a positive number" : "finite");
    out[i] = (float)x[i];
  }
  return VFR_OK;
}

static int read_preprocess(const char *file, const json_t *o, vfr_preprocess_config *p,
                           vfr_error *err) {
  ctx c = {file, ""};
  TRY(get_bool(&c, o, "do_resize", &p->do_resize, err));
  TRY(read_size(&c, o, p, err));
  TRY(get_int(&c, o, "resample", 0, 5, &p->resample, err));
  TRY(get_bool(&c, o, "do_center_crop", &p->do_center_crop, err));
  TRY(read_crop(&c, o, p, err));
  TRY(get_bool(&c, o, "do_rescale", &p->do_rescale, err));
  TRY(get_positive(&c, o, "rescale_factor", 1e6, &p->rescale_factor, err));
  TRY(get_bool(&c, o, "do_normalize", &p->do_normalize, err));
  TRY(read_triple(&c, o, "image_mean", 0, p->mean, err));
  TRY(read_triple(&c, o, "image_std", 1, p->std, err));
  TRY(get_bool(&c, o, "do_convert_rgb", &p->do_convert_rgb, err));
  return VFR_OK;
}

/* open_clip_config.json's preprocess_cfg (open_clip's PreprocessCfg, eval transform):
 * resize the short side to image_size then center crop ('shortest'), or resize to
 * image_size x image_size ('squash'); bicubic or bilinear; ToTensor (x / 255); normalise. */
static int read_open_clip_preprocess(const char *file, const json_t *root,
                                     vfr_preprocess_config *p, vfr_error *err) {
  ctx top = {file, ""};
  json_t *mc = NULL, *vcfg = NULL, *pc = NULL;
  TRY(get_object(&top, root, "model_cfg", &mc, err));
  ctx mctx = {file, "model_cfg."};
  if (mc) TRY(get_object(&mctx, mc, "vision_cfg", &vcfg, err));
  int size = 224;
  ctx vc = {file, "model_cfg.vision_cfg."};
  if (vcfg) TRY(read_oc_image_size(&vc, vcfg, &size, err));
  TRY(get_object(&top, root, "preprocess_cfg", &pc, err));
  p->shortest_edge = p->crop_height = p->crop_width = size;
  p->crop_round = 1;
  p->rescale_divide = 1;
  if (!pc) return VFR_OK;
  ctx pctx = {file, "preprocess_cfg."};
  TRY(read_triple(&pctx, pc, "mean", 0, p->mean, err));
  TRY(read_triple(&pctx, pc, "std", 1, p->std, err));
  const char *interp = NULL, *mode = NULL;
  TRY(get_string(&pctx, pc, "interpolation", &interp, err));
  TRY(get_string(&pctx, pc, "resize_mode", &mode, err));
  if (interp && !strcmp(interp, "bilinear")) p->resample = 2;
  else if (interp && strcmp(interp, "bicubic") != 0)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: preprocess_cfg.interpolation '%.32s' is not "
                    "supported (bicubic, bilinear)", file, interp);
  if (mode && !strcmp(mode, "squash")) p->squash = 1;
  else if (mode && strcmp(mode, "shortest") != 0)
    return vfr_fail(err, VFR_EUNSUPPORTED, "%s: preprocess_cfg.resize_mode '%.32s' is not "
                    "supported (shortest, squash)", file, mode);
  return VFR_OK;
}

int vfr_preprocess_config_parse(const char *text, size_t len, const char *name,
                                vfr_family family, vfr_preprocess_config *out, vfr_error *err) {
  if (!text || !out) return vfr_fail(err, VFR_EINVAL, "vfr_preprocess_config_parse: NULL argument");
  if (family != VFR_FAMILY_CLIP && family != VFR_FAMILY_DINOV2)
    return vfr_fail(err, VFR_EINVAL, "vfr_preprocess_config_parse: unknown family %d", (int)family);
  if (!name) name = "preprocessor_config.json";
  preprocess_defaults(family, out);
  json_t *root;
  int rc = parse_json_object(text, len, name, &root, err);
  if (rc == VFR_OK) rc = read_preprocess(name, root, out, err);
  json_decref(root);
  if (rc) preprocess_defaults(family, out);
  return rc;
}

int vfr_preprocess_config_read(const char *dir, vfr_family family, vfr_preprocess_config *out,
                               vfr_error *err) {
  if (!dir || !out) return vfr_fail(err, VFR_EINVAL, "vfr_preprocess_config_read: NULL argument");
  if (family < VFR_FAMILY_CLIP || family > VFR_FAMILY_OPEN_CLIP_RESNET)
    return vfr_fail(err, VFR_EINVAL, "vfr_preprocess_config_read: unknown family %d", (int)family);
  preprocess_defaults(family, out);
  int oc = family == VFR_FAMILY_OPEN_CLIP || family == VFR_FAMILY_OPEN_CLIP_RESNET;
  char *file = join_path(dir, oc ? "open_clip_config.json" : "preprocessor_config.json");
  if (!file) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  json_t *root;
  int rc = load_json_file(file, !oc, &root, err);
  if (rc == VFR_OK && root)
    rc = oc ? read_open_clip_preprocess(file, root, out, err) : read_preprocess(file, root, out, err);
  json_decref(root);
  free(file);
  if (rc) preprocess_defaults(family, out);
  return rc;
}
