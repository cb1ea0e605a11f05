/* The public API's common shape, through libvfrobust.so alone (include/ only): a progress
 * callback that returns non-zero cancels a study with VFR_ECANCELED and the study resumes;
 * vfr_free releases what the encoders and parsers hand back; vfr_classify_eval takes a
 * params struct. Data: a few images written here; the model is the bundled models/ one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfrobust.h"

static int passed, failed;
static void check(int ok, const char *what) {
  if (ok) passed++;
  else failed++;
  printf("%-64s %s\n", what, ok ? "ok" : "FAIL");
}

typedef struct counter {
  int calls;       /* reports received */
  int cancel_at;   /* cancel on this call (1-based); 0: never */
  int last_resumed;
} counter;

static int on_progress(void *user, const vfr_progress *p) {
  counter *c = user;
  c->calls++;
  c->last_resumed = p->resumed;
  return c->cancel_at > 0 && c->calls >= c->cancel_at;
}

static int on_train(void *user, const vfr_classify_progress *p) {
  int *calls = user;
  (*calls)++;
  return !strcmp(p->phase, "train"); /* cancel at the first step */
}

static int on_finetune(void *user, const vfr_finetune_progress *p) {
  int *calls = user;
  (*calls)++;
  return !strcmp(p->phase, "train");
}

int main(void) {
  const char *src = getenv("VFROBUST_SRC");
  char tmpl[] = "/tmp/vfr_api_shape_XXXXXX", data[4200], model[4200], out[4200], path[9000];
  if (!mkdtemp(tmpl)) return 1;
  snprintf(data, sizeof data, "%s/data", tmpl);
  snprintf(out, sizeof out, "%s/out", tmpl);
  snprintf(model, sizeof model, "%s/models/clip-vit-tiny-patch4-cifar10", src ? src : ".");
  mkdir(data, 0755);
  vfr_error err;
  vfr_error_clear(&err);

  /* four 40x36 images */
  for (int i = 0; i < 4; i++) {
    vfr_image img = {0};
    vfr_image_alloc(&img, 40, 36, 3, &err);
    for (int y = 0; y < img.height; y++)
      for (int x = 0; x < img.width * 3; x++) img.data[y * img.stride + x] = (uint8_t)(x * 5 + y * 3 + i * 61);
    snprintf(path, sizeof path, "%s/img%d.png", data, i);
    check(vfr_image_save(&img, path, 0, &err) == VFR_OK, "write a test image");
    /* an encoder's buffer goes back through vfr_free */
    uint8_t *buf = NULL;
    size_t len = 0;
    if (i == 0) {
      check(vfr_png_encode(&img, &buf, &len, &err) == VFR_OK && buf && len > 8 && !memcmp(buf + 1, "PNG", 3),
            "vfr_png_encode returns a PNG buffer");
      vfr_free(buf);
    }
    vfr_image_free(&img);
  }
  vfr_free(NULL);
  vfr_spec *specs = NULL;
  int n_specs = 0;
  check(vfr_spec_list_parse("jpeg:50,brightness", &specs, &n_specs, &err) == VFR_OK && n_specs == 2 &&
            specs[0].kind == VFR_SPEC_LEVEL && specs[1].kind == VFR_SPEC_DOMAIN,
        "vfr_spec_list_parse: typed kinds, buffer released by vfr_free");
  vfr_free(specs);
  check(!strcmp(vfr_status_name(VFR_ECANCELED), "cancelled"), "VFR_ECANCELED has a name");

  /* a study cancelled by its callback after the second image, then resumed */
  vfr_eval_params p = vfr_eval_default_params();
  p.model_dir = model;
  p.data = data;
  p.ops = "brightness";
  p.levels = 3;
  p.out_dir = out;
  p.threads = 1;
  p.batch = 4;
  counter c = {0, 2, 0};
  p.progress = on_progress;
  p.progress_user = &c;
  vfr_study_session session;
  int rc = vfr_study_begin(&p, &session, &err);
  check(rc == VFR_OK, "vfr_study_begin");
  if (rc) printf("  %s\n", err.message);
  rc = vfr_eval_compute(&p, &err);
  check(rc == VFR_ECANCELED && err.code == VFR_ECANCELED && strstr(err.message, "cancelled after 2 of 4"),
        "a non-zero return cancels the study (VFR_ECANCELED)");
  printf("  message: %s\n", err.message);
  check(c.calls == 2, "no report after the cancelling one");
  vfr_study_end(&session);

  c = (counter){0, 0, 0};
  p.resume = 1;
  rc = vfr_study_begin(&p, &session, &err);
  if (!rc) rc = vfr_eval_compute(&p, &err);
  check(rc == VFR_OK && c.calls == 4 && c.last_resumed == 2, "resume keeps the 2 images done before the cancel");
  if (!rc) rc = vfr_eval_merge(&p, &err);
  snprintf(path, sizeof path, "%s/per_image.csv", out);
  check(rc == VFR_OK && access(path, R_OK) == 0, "the resumed study merges");
  if (rc) printf("  %s\n", err.message);
  vfr_study_end(&session);
  char *md = NULL;
  rc = vfr_report_markdown(out, &md, &err);
  check(rc == VFR_OK && md && strstr(md, "brightness"), "vfr_report_markdown text, released by vfr_free");
  vfr_free(md);

  /* vfr_classify_eval takes its settings as a struct */
  vfr_classify_eval_params cp = vfr_classify_eval_default_params();
  check(cp.batch == 64 && cp.limit == 0 && cp.threads == 0 && !cp.model_dir, "classify eval defaults");
  vfr_classify_result r;
  check(vfr_classify_eval(NULL, &r, &err) == VFR_EINVAL, "vfr_classify_eval(NULL) is VFR_EINVAL");
  check(vfr_classify_eval(&cp, &r, &err) == VFR_EINVAL && strstr(err.message, "required"),
        "vfr_classify_eval without a model names what is missing");
  cp.model_dir = model;
  cp.data_path = data;
  rc = vfr_classify_eval(&cp, &r, &err);
  check(rc == VFR_EFORMAT && strstr(err.message, "no labels"), "vfr_classify_eval on unlabelled images: an error");
  vfr_classify_result_free(&r);

  /* training cancelled by its callback after one step: a checkpoint, and resume finishes */
  char labelled[4300], recipe[4200], trained[4300];
  snprintf(labelled, sizeof labelled, "%s/labelled", tmpl);
  snprintf(trained, sizeof trained, "%s/trained", tmpl);
  snprintf(recipe, sizeof recipe, "%s/models/recipes/clip-vit-tiny-patch4", src ? src : ".");
  mkdir(labelled, 0755);
  for (int i = 0; i < 4; i++) {
    char from[4300], cls[4400];
    snprintf(cls, sizeof cls, "%s/%s", labelled, i % 2 ? "b" : "a");
    mkdir(cls, 0755);
    snprintf(from, sizeof from, "%s/img%d.png", data, i);
    snprintf(path, sizeof path, "%s/img%d.png", cls, i);
    check(link(from, path) == 0, "a labelled copy");
  }
  vfr_classify_params tp = vfr_classify_default_params();
  tp.model_dir = recipe;
  tp.data_path = labelled;
  tp.out_dir = trained;
  tp.epochs = 2;
  tp.batch = 2;
  tp.threads = 1;
  int train_calls = 0;
  tp.progress = on_train;
  tp.progress_user = &train_calls;
  rc = vfr_classify_train(&tp, &err);
  check(rc == VFR_ECANCELED && train_calls == 1 && strstr(err.message, "cancelled after step 1"),
        "vfr_classify_train: a non-zero return cancels after the step");
  printf("  message: %s\n", err.message);
  snprintf(path, sizeof path, "%s/checkpoint.bin", trained);
  check(access(path, R_OK) == 0, "the cancelled training left its checkpoint");
  tp.resume = 1;
  tp.progress = NULL;
  rc = vfr_classify_train(&tp, &err);
  snprintf(path, sizeof path, "%s/train.json", trained);
  check(rc == VFR_OK && access(path, R_OK) == 0, "the resumed training finishes");
  if (rc) printf("  %s\n", err.message);

  /* fine-tuning likewise */
  char tuned[4300];
  snprintf(tuned, sizeof tuned, "%s/tuned", tmpl);
  vfr_finetune_params fp = vfr_finetune_default_params();
  fp.model_dir = model;
  fp.data_path = labelled;
  fp.ops = "jpeg";
  fp.out_dir = tuned;
  fp.batch = 2;
  fp.threads = 1;
  int ft_calls = 0;
  fp.progress = on_finetune;
  fp.progress_user = &ft_calls;
  rc = vfr_finetune_run(&fp, &err);
  check(rc == VFR_ECANCELED && strstr(err.message, "cancelled after step 1"),
        "vfr_finetune_run: a non-zero return cancels after the step");
  printf("  message: %s\n", err.message);
  fp.resume = 1;
  fp.progress = NULL;
  rc = vfr_finetune_run(&fp, &err);
  snprintf(path, sizeof path, "%s/finetune.json", tuned);
  check(rc == VFR_OK && access(path, R_OK) == 0, "the resumed fine-tuning finishes");
  if (rc) printf("  %s\n", err.message);

  /* downstream: its train-embedding callback has the same shape */
  char ds_out[4300];
  snprintf(ds_out, sizeof ds_out, "%s/downstream", tmpl);
  vfr_downstream_params dp = vfr_downstream_default_params();
  dp.study.model_dir = model;
  dp.study.data = labelled;
  dp.study.ops = "brightness";
  dp.study.levels = 2;
  dp.study.out_dir = ds_out;
  dp.study.threads = 1;
  dp.train_dir = labelled;
  dp.protocol = VFR_PROTOCOL_KNN;
  c = (counter){0, 1, 0};
  dp.train_progress = on_progress;
  dp.train_progress_user = &c;
  vfr_downstream_summary ds;
  rc = vfr_downstream_run(&dp, &ds, &err);
  check(rc == VFR_ECANCELED && c.calls == 1 && strstr(err.message, "cancelled after"),
        "vfr_downstream_run: the train callback cancels");
  printf("  message: %s\n", err.message);

  printf("test_api_shape: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
