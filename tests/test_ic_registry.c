/* The ImageNet-C rows of the catalog, the presets, severity levels in a study plan, the
 * hue:0 level, and the ic_* ops' argument handling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune/train_internal.h"
#include "perturb/ic_ops.h"
#include "study/plan.h"
#include "vfrobust/perturb.h"
#include "vfr_check.h"

/* The reference's corruption_tuple order: imagenet-c is the first 15, imagenet-c-all all 19. */
static const char *const reference_order[19] = {
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression", "speckle_noise", "gaussian_blur",
    "spatter", "saturate"};

static int reference_rank(const char *ic_name) {
  for (int i = 0; i < 19; i++)
    if (!strcmp(ic_name + 3, reference_order[i])) return i + 1;
  return -1;
}

static void presets(void) {
  const vfr_op *ops[64];
  CHECK(vfr_preset_count() == 4 && vfr_preset_name(4) == NULL && vfr_preset_name(-1) == NULL,
        "preset names");
  CHECK(vfr_preset_ops("nope", ops, 64) == -1 && vfr_preset_ops(NULL, ops, 64) == -1, "unknown preset");
  int n = vfr_preset_ops("editing9", ops, 64);
  const char *editing9[] = {"jpeg", "brightness", "contrast", "saturation", "sharpness",
                            "hue", "gaussian_blur", "gaussian_noise", "rescale"};
  CHECK(n == 9, "editing9 has %d ops", n);
  for (int i = 0; i < 9 && i < n; i++) CHECK(!strcmp(ops[i]->name, editing9[i]), "editing9[%d] = %s", i, ops[i]->name);
  CHECK(vfr_preset_ops("all", ops, 64) == vfr_op_count(), "all");
  CHECK(vfr_preset_ops("all", ops, 2) == vfr_op_count() && ops[1] == vfr_op_at(1), "all, short capacity");

  /* every ic_ row: severity 1..5, discrete, identity 0, its rank the reference's number + 1,
   * in imagenet-c iff rank <= 15, and imagenet-c(-all) list exactly these rows in rank order */
  int n_ic = 0, n_ic15 = 0;
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    if (strncmp(op->name, "ic_", 3)) {
      CHECK(!(op->presets & (VFR_PRESET_IMAGENET_C | VFR_PRESET_IMAGENET_C_EXTRA)), "%s in an ImageNet-C preset", op->name);
      continue;
    }
    n_ic++;
    int rank = reference_rank(op->name);
    CHECK(rank > 0 && op->preset_rank == rank, "%s: rank %d, want %d", op->name, op->preset_rank, rank);
    unsigned want = rank <= 15 ? VFR_PRESET_IMAGENET_C : VFR_PRESET_IMAGENET_C_EXTRA;
    CHECK(op->presets == want, "%s: presets %u, want %u", op->name, op->presets, want);
    n_ic15 += rank <= 15;
    CHECK(op->param && !strcmp(op->param, "severity") && op->lo == 1 && op->hi == 5 && op->min == 0 &&
              op->max == 5 && op->integer && op->discrete && op->has_identity && op->identity == 0 &&
              !op->identity_lossy,
          "%s: severity parameter", op->name);
  }
  int got = vfr_preset_ops("imagenet-c", ops, 64);
  CHECK(got == n_ic15, "imagenet-c lists %d of %d", got, n_ic15);
  for (int i = 1; i < got; i++) CHECK(ops[i - 1]->preset_rank < ops[i]->preset_rank, "imagenet-c order at %d", i);
  got = vfr_preset_ops("imagenet-c-all", ops, 64);
  CHECK(got == n_ic, "imagenet-c-all lists %d of %d", got, n_ic);
  for (int i = 1; i < got; i++) CHECK(ops[i - 1]->preset_rank < ops[i]->preset_rank, "imagenet-c-all order at %d", i);
  /* all 19, in the reference's order; the first 15 are imagenet-c */
  CHECK(got == 19 && n_ic15 == 15, "imagenet-c-all has %d ops (want 19), imagenet-c %d (want 15)", got, n_ic15);
  for (int i = 0; i < got && i < 19; i++)
    CHECK(!strcmp(ops[i]->name + 3, reference_order[i]), "imagenet-c-all[%d] = %s, want ic_%s", i, ops[i]->name,
          reference_order[i]);
}

/* A study over an ImageNet-C op uses severities 1..5 as its levels, whatever --levels >= 5. */
static void study_levels(void) {
  vfr_error e;
  study_plan plan;
  const int ms[] = {5, 10, 64};
  for (int t = 0; t < 3; t++) {
    int rc = study_plan_make("ic_contrast,ic_brightness:2..4,jpeg:1..2", ms[t], &plan, &e);
    CHECK(rc == VFR_OK, "plan: %s", e.message);
    if (rc) continue;
    CHECK(plan.ops[0].m == 5, "--levels %d: ic_contrast has %d levels", ms[t], plan.ops[0].m);
    for (int k = 0; k < plan.ops[0].m; k++)
      CHECK(plan.ops[0].levels[k] == k + 1 && !plan.ops[0].identity[k], "level %d = %g", k, plan.ops[0].levels[k]);
    CHECK(plan.ops[1].m == 3 && plan.ops[1].levels[0] == 2 && plan.ops[1].levels[2] == 4, "ic_brightness:2..4");
    CHECK(plan.ops[2].m == ms[t], "a non-discrete integer domain keeps its m levels");
    study_plan_free(&plan);
  }
  int rc = study_plan_make("ic_pixelate", 3, &plan, &e); /* fewer levels: evenly spaced */
  CHECK(rc == VFR_OK && plan.ops[0].m == 3 && plan.ops[0].levels[0] == 1 && plan.ops[0].levels[1] == 3 &&
            plan.ops[0].levels[2] == 5,
        "--levels 3: 1, 3, 5");
  if (!rc) study_plan_free(&plan);
  rc = study_plan_make("ic_shot_noise:0..2", 10, &plan, &e); /* severity 0 is the clean image */
  CHECK(rc == VFR_OK && plan.ops[0].m == 3 && plan.ops[0].identity[0] && !plan.ops[0].identity[1], "severity 0 is identity");
  if (!rc) study_plan_free(&plan);
  rc = study_plan_make("imagenet-c", 10, &plan, &e);
  CHECK(rc == VFR_OK && plan.op_count == vfr_preset_ops("imagenet-c", NULL, 0), "imagenet-c study: %s", e.message);
  for (int j = 0; !rc && j < plan.op_count; j++) CHECK(plan.ops[j].m == 5, "%s: %d levels", plan.ops[j].name, plan.ops[j].m);
  if (!rc) study_plan_free(&plan);
}

/* hue:0 changes pixels (Pillow's 8-bit HSV round trip), so a study computes it instead of
 * reusing the clean embedding; brightness:1 is an exact identity and is reused. */
static void hue_zero(void) {
  vfr_error e;
  vfr_image img = {0}, out = {0};
  vfr_image_alloc(&img, 16, 16, 3, &e);
  for (size_t i = 0; i < (size_t)16 * 16 * 3; i++) img.data[i] = (uint8_t)(i * 53 % 256);
  CHECK(vfr_hue(&img, 0.0, &out, &e) == VFR_OK && memcmp(out.data, img.data, (size_t)16 * 16 * 3),
        "hue 0 is an exact identity on this image: the premise of identity_lossy is gone");
  vfr_image_free(&out);
  study_plan plan;
  int rc = study_plan_make("hue:-0.1..0.1,brightness:0.5..1.5", 3, &plan, &e);
  CHECK(rc == VFR_OK, "plan: %s", e.message);
  if (!rc) {
    CHECK(plan.ops[0].levels[1] == 0 && !plan.ops[0].identity[1], "hue:0 must be recomputed");
    CHECK(plan.ops[1].levels[1] == 1 && plan.ops[1].identity[1], "brightness:1 reuses the clean embedding");
    vfr_image a = {0};
    rc = study_plan_apply(&plan, plan.ops[0].first_row + 1, &img, "x.png", 0, &a, &e);
    vfr_hue(&img, 0.0, &out, &e);
    CHECK(rc == VFR_OK && a.data && out.data && !memcmp(a.data, out.data, (size_t)16 * 16 * 3),
          "the study's hue:0 row is the real round trip");
    vfr_image_free(&a);
    vfr_image_free(&out);
    study_plan_free(&plan);
  }
  vfr_image_free(&img);
}

/* Fine-tuning draws each severity of a discrete domain equally often (not the end points
 * at half weight, as rounding a uniform value would). */
static void finetune_draws(void) {
  vfr_finetune_params o;
  memset(&o, 0, sizeof o);
  o.seed = 11;
  vfr_spec spec[2];
  vfr_error e;
  vfr_spec_parse("ic_contrast", &spec[0], &e);
  vfr_spec_parse("ic_fog:4..2", &spec[1], &e);
  for (int sp = 0; sp < 2; sp++) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = &o;
    t.specs = &spec[sp];
    t.n_specs = 1;
    int count[6] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
      vfr_chain c;
      uint64_t noise_seed;
      int k;
      ft_draw_perturbation(&t, i / 8, i % 8, &c, &noise_seed, &k);
      int v = (int)c.steps[0].value;
      if (c.n == 1 && v >= 0 && v <= 5 && c.steps[0].value == v) count[v]++;
    }
    int lo = sp ? 2 : 1, hi = sp ? 4 : 5, total = 0;
    for (int v = lo; v <= hi; v++) {
      double share = (double)count[v] / n, want = 1.0 / (hi - lo + 1);
      CHECK(fabs(share - want) < 0.02, "%s: severity %d drawn %.3f of the time (want %.3f)", spec[sp].text, v,
            share, want);
      total += count[v];
    }
    CHECK(total == n, "%s: %d of %d draws outside the domain", spec[sp].text, n - total, n);
  }
}

static void arguments(void) {
  vfr_error e;
  vfr_image img = {0}, out = {0}, gray = {0};
  vfr_image_alloc(&img, 40, 33, 3, &e);
  for (size_t i = 0; i < (size_t)40 * 33 * 3; i++) img.data[i] = (uint8_t)(i * 29 % 256);
  vfr_image_alloc(&gray, 40, 33, 1, &e);
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    if (strncmp(op->name, "ic_", 3)) continue;
    CHECK(vfr_op_apply(op, &img, 0, 5, &out, &e) == VFR_OK && out.data &&
              !memcmp(out.data, img.data, (size_t)40 * 33 * 3),
          "%s: severity 0 is not the image", op->name);
    vfr_image_free(&out);
    for (int s = 1; s <= 5; s++) {
      int rc = vfr_op_apply(op, &img, s, 5, &out, &e);
      CHECK(rc == VFR_OK && out.width == 40 && out.height == 33 && out.channels == 3, "%s:%d: %s", op->name, s,
            rc ? e.message : "size");
      vfr_image_free(&out);
    }
    CHECK(vfr_op_apply(op, &img, 6, 5, &out, &e) == VFR_EINVAL && strstr(e.message, op->name) && !out.data,
          "%s: severity 6 accepted", op->name);
    CHECK(vfr_op_apply(op, &img, 2.5, 5, &out, &e) == VFR_EINVAL, "%s: severity 2.5 accepted", op->name);
    CHECK(op->apply(&gray, 3, 5, &out, &e) == VFR_EINVAL && strstr(e.message, "RGB") && !out.data,
          "%s: gray input: %s", op->name, e.message);
    CHECK(op->apply(&img, 3, 5, &img, &e) == VFR_EINVAL, "%s: in == out accepted", op->name);
  }
  CHECK(vfr_ic_contrast(&img, -1, 0, &out, &e) == VFR_EINVAL && strstr(e.message, "0..5"), "severity -1: %s", e.message);
  /* the seed: the same seed gives the same image, another seed another one; a seed of 2^32
   * or more folds its halves (S and S + (S << 32) ^ ... agree) */
  vfr_image a = {0}, b = {0};
  vfr_ic_gaussian_noise(&img, 3, 7, &a, &e);
  vfr_ic_gaussian_noise(&img, 3, 7, &b, &e);
  CHECK(a.data && b.data && !memcmp(a.data, b.data, (size_t)40 * 33 * 3), "same seed, other noise");
  vfr_image_free(&b);
  vfr_ic_gaussian_noise(&img, 3, ((uint64_t)5 << 32) | 2, &b, &e); /* folds to 5 ^ 2 = 7 */
  CHECK(a.data && b.data && !memcmp(a.data, b.data, (size_t)40 * 33 * 3), "64-bit seed does not fold to 7");
  vfr_image_free(&b);
  vfr_ic_gaussian_noise(&img, 3, 8, &b, &e);
  CHECK(a.data && b.data && memcmp(a.data, b.data, (size_t)40 * 33 * 3), "other seed, same noise");
  vfr_image_free(&a);
  vfr_image_free(&b);
  vfr_image_free(&gray);
  vfr_image_free(&img);
}

int main(void) {
  presets();
  study_levels();
  hue_zero();
  finetune_draws();
  arguments();
  printf("test_ic_registry: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
