/* End-to-end smoke test of the model engine on tiny random-weight folders written here:
 * loading, info, shape errors, batching invariance, embed_images == preprocess +
 * embed_pixels, and pooling options. (The comparison against PyTorch at real shapes is
 * tests/ref_model_torch.py.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "vfrobust.h"

static int passed, failed;
static void check(int ok, const char *what) {
  if (ok) passed++;
  else failed++;
  printf("%-60s %s\n", what, ok ? "ok" : "FAIL");
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

enum { MAX_T = 64 };
typedef struct { vfr_tensor_out t[MAX_T]; int n; char names[MAX_T][160]; } tensors;

static void add(tensors *ts, const char *name, float scale, float offset, int ndim, long a, long b,
                long c, long d) {
  vfr_tensor_out *t = &ts->t[ts->n];
  snprintf(ts->names[ts->n], sizeof ts->names[0], "%s", name);
  t->name = ts->names[ts->n];
  t->ndim = ndim;
  long dims[4] = {a, b, c, d}, n = 1;
  for (int i = 0; i < ndim; i++) t->shape[i] = dims[i], n *= dims[i];
  float *v = malloc((size_t)n * sizeof *v);
  for (long i = 0; i < n; i++) v[i] = offset + scale * frand();
  t->data = v;
  ts->n++;
}

static void free_tensors(tensors *ts) {
  for (int i = 0; i < ts->n; i++) free((void *)ts->t[i].data);
  ts->n = 0;
}

static void write_text(const char *dir, const char *file, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  FILE *f = fopen(p, "w");
  if (f) fputs(text, f), fclose(f);
}

/* A DINOv2-with-registers folder: D=32, 2 layers, 4 heads, patch 14, 8x8 trained grid,
 * 2 registers, input 56 (a 4x4 grid: the position embeddings are resampled).
 * bad_shape makes one weight the wrong shape. */
static int write_dino(const char *dir, int bad_shape) {
  mkdir(dir, 0755);
  tensors ts = {0};
  int D = 32, M = 128, P = 14, G = 8, R = 2;
  add(&ts, "embeddings.cls_token", 1, 0, 3, 1, 1, D, 0);
  add(&ts, "embeddings.mask_token", 0, 0, 2, 1, D, 0, 0);
  add(&ts, "embeddings.position_embeddings", 0.5f, 0, 3, 1, 1 + G * G, D, 0);
  add(&ts, "embeddings.patch_embeddings.projection.weight", 0.05f, 0, 4, D, 3, P, P);
  add(&ts, "embeddings.patch_embeddings.projection.bias", 0.05f, 0, 1, D, 0, 0, 0);
  add(&ts, "embeddings.register_tokens", 1, 0, 3, 1, R, D, 0);
  for (int l = 0; l < 2; l++) {
    char n[160];
#define N(s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, s), n)
    add(&ts, N("norm1.weight"), 0.1f, 1, 1, D, 0, 0, 0);
    add(&ts, N("norm1.bias"), 0.1f, 0, 1, D, 0, 0, 0);
    const char *lin[] = {"attention.attention.query", "attention.attention.key",
                         "attention.attention.value", "attention.output.dense"};
    for (int i = 0; i < 4; i++) {
      char w[64];
      snprintf(w, sizeof w, "%s.weight", lin[i]);
      add(&ts, N(w), 0.18f, 0, 2, D, (bad_shape && l == 1 && i == 2) ? D + 1 : D, 0, 0);
      snprintf(w, sizeof w, "%s.bias", lin[i]);
      add(&ts, N(w), 0.05f, 0, 1, D, 0, 0, 0);
    }
    add(&ts, N("layer_scale1.lambda1"), 0.2f, 0.5f, 1, D, 0, 0, 0);
    add(&ts, N("norm2.weight"), 0.1f, 1, 1, D, 0, 0, 0);
    add(&ts, N("norm2.bias"), 0.1f, 0, 1, D, 0, 0, 0);
    add(&ts, N("mlp.fc1.weight"), 0.18f, 0, 2, M, D, 0, 0);
    add(&ts, N("mlp.fc1.bias"), 0.05f, 0, 1, M, 0, 0, 0);
    add(&ts, N("mlp.fc2.weight"), 0.09f, 0, 2, D, M, 0, 0);
    add(&ts, N("mlp.fc2.bias"), 0.05f, 0, 1, D, 0, 0, 0);
    add(&ts, N("layer_scale2.lambda1"), 0.2f, 0.5f, 1, D, 0, 0, 0);
#undef N
  }
  add(&ts, "layernorm.weight", 0.1f, 1, 1, D, 0, 0, 0);
  add(&ts, "layernorm.bias", 0.1f, 0, 1, D, 0, 0, 0);
  char p[512];
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  vfr_error err;
  int rc = vfr_safetensors_write(p, ts.t, ts.n, NULL, &err);
  if (rc) printf("write: %s\n", err.message);
  free_tensors(&ts);
  write_text(dir, "config.json",
             "{\"model_type\": \"dinov2_with_registers\", \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"mlp_ratio\": 4, "
             "\"patch_size\": 14, \"image_size\": 112, \"hidden_act\": \"gelu\", "
             "\"layer_norm_eps\": 1e-6, \"num_register_tokens\": 2, \"layerscale_value\": 1.0}");
  write_text(dir, "preprocessor_config.json",
             "{\"crop_size\": {\"height\": 56, \"width\": 56}, \"do_center_crop\": true, "
             "\"do_normalize\": true, \"do_rescale\": true, \"do_resize\": true, "
             "\"image_mean\": [0.485, 0.456, 0.406], \"image_std\": [0.229, 0.224, 0.225], "
             "\"resample\": 3, \"rescale_factor\": 0.00392156862745098, "
             "\"size\": {\"shortest_edge\": 64}}");
  return rc;
}

static void make_image(vfr_image *img, int w, int h, int seed) {
  vfr_image_alloc(img, w, h, 3, NULL);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        img->data[(size_t)y * img->stride + 3 * x + c] =
            (uint8_t)((x * (3 + c) + y * (5 + seed) + seed * 40 + ((x ^ y) & 7) * 9) & 255);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

int main(void) {
  char dir[] = "/tmp/vfr_test_model_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char good[600], bad[600];
  snprintf(good, sizeof good, "%s/good", dir);
  snprintf(bad, sizeof bad, "%s/bad", dir);
  check(write_dino(good, 0) == 0 && write_dino(bad, 1) == 0, "write tiny folders");

  vfr_error err;
  vfr_model *m = NULL;
  vfr_model_params p = vfr_model_default_params();
  p.max_batch = 2;
  p.threads = 2;
  int rc = vfr_model_load(good, &p, &m, &err);
  check(rc == 0, "load dinov2_with_registers folder");
  if (rc) {
    printf("  %s\n", err.message);
    return 1;
  }
  vfr_model_info info;
  vfr_model_get_info(m, &info);
  /* params: cls 32 + pos 65*32 + patch 32*588+32 + reg 64 + 2 layers + final 64 */
  long long layer = 4 * (32 * 32 + 32) + 32 + 4 * 32 + 128 * 32 + 128 + 32 * 128 + 32 + 32;
  long long params = 32 + 65 * 32 + 32 * 588 + 32 + 64 + 2 * layer + 64;
  check(!strcmp(info.family, "dinov2") && !strcmp(info.model_type, "dinov2_with_registers") &&
            info.hidden_size == 32 && info.num_layers == 2 && info.num_register_tokens == 2 &&
            info.input_height == 56 && info.num_tokens == 1 + 2 + 16 && info.embed_dim == 32,
        "info: family, sizes, tokens");
  check(info.num_parameters == params, "info: parameter count");
  check(info.flops_per_image > 0, "info: flops per image");

  enum { N = 3 };
  vfr_image imgs[N];
  make_image(&imgs[0], 90, 70, 0);
  make_image(&imgs[1], 64, 64, 1);
  make_image(&imgs[2], 41, 133, 2);
  float *batch = malloc(N * 32 * sizeof(float)), *one = malloc(32 * sizeof(float));
  float *pixels = malloc((size_t)3 * 56 * 56 * sizeof(float));
  rc = vfr_model_embed_images(m, imgs, N, batch, &err);
  check(rc == 0, "embed 3 images in batches of 2");
  double worst = 0;
  int finite = 1;
  for (int i = 0; i < N && rc == 0; i++) {
    rc = vfr_model_preprocess(m, &imgs[i], "img", pixels, &err) ||
         vfr_model_embed_pixels(m, pixels, 1, one, &err);
    worst = fmax(worst, max_abs_diff(one, batch + i * 32, 32));
    for (int c = 0; c < 32; c++) finite &= isfinite(batch[i * 32 + c]);
  }
  printf("  batch vs single max abs diff %.3g\n", worst);
  check(rc == 0 && worst < 1e-5 && finite, "batched == one at a time (1e-5)");
  check(max_abs_diff(batch, batch + 32, 32) > 1e-3, "different images, different embeddings");
  vfr_model_free(m);

  /* cls+mean pooling: the first half is the CLS embedding */
  p.pooling = VFR_POOLING_CLS_MEAN;
  rc = vfr_model_load(good, &p, &m, &err);
  float *cm = malloc(N * 64 * sizeof(float));
  if (!rc) rc = vfr_model_embed_images(m, imgs, N, cm, &err);
  if (!rc) vfr_model_get_info(m, &info);
  double d = 0;
  for (int i = 0; i < N; i++) d = fmax(d, max_abs_diff(cm + i * 64, batch + i * 32, 32));
  check(rc == 0 && info.embed_dim == 64 && d < 1e-5, "cls+mean pooling: [CLS, mean], 2*D");
  vfr_model_free(m);

  /* a weight of the wrong shape: error names file, tensor and both shapes */
  rc = vfr_model_load(bad, NULL, &m, &err);
  printf("  %s\n", err.message);
  check(rc != 0 && m == NULL && strstr(err.message, "model.safetensors") &&
            strstr(err.message, "encoder.layer.1.attention.attention.value.weight") &&
            strstr(err.message, "33") && strstr(err.message, "32"),
        "wrong shape: one-line error naming file, tensor, shapes");

  /* a missing folder */
  char none[700];
  snprintf(none, sizeof none, "%s/none", dir);
  rc = vfr_model_load(none, NULL, &m, &err);
  printf("  %s\n", err.message);
  check(rc != 0 && strstr(err.message, none), "missing folder: error names it");

  /* bad arguments */
  vfr_model_params q = vfr_model_default_params();
  q.max_batch = 0;
  check(vfr_model_load(good, &q, &m, &err) == VFR_EINVAL, "max_batch 0 rejected");

  for (int i = 0; i < N; i++) vfr_image_free(&imgs[i]);
  free(batch), free(one), free(pixels), free(cm);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) printf("  could not remove %s\n", dir);
  printf("test_model_smoke: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
