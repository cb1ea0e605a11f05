/* SPEC and LIST parsing, level generation, the registry and chain application. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust.h"
#include "vfr_check.h"

static void valid(const char *text, int kind, const char *op, double lo, double hi,
                  const char *canonical) {
  vfr_spec s;
  vfr_error e;
  int rc = vfr_spec_parse(text, &s, &e);
  CHECK(rc == VFR_OK, "%s: unexpected error %s", text, e.message);
  if (rc) return;
  CHECK((int)s.kind == kind, "%s: kind %d, want %d", text, s.kind, kind);
  if (op) CHECK(s.op && !strcmp(s.op->name, op), "%s: op %s", text, s.op ? s.op->name : "NULL");
  if (kind != VFR_SPEC_CHAIN)
    CHECK(s.lo == lo && s.hi == hi, "%s: domain %g..%g, want %g..%g", text, s.lo, s.hi, lo, hi);
  CHECK(!strcmp(s.text, canonical), "%s: text `%s`, want `%s`", text, s.text, canonical);
}

/* The message must contain every one of the (NULL-terminated) fragments. */
static void invalid(const char *text, int code, ...) {
  vfr_spec s;
  vfr_error e;
  vfr_error_clear(&e);
  int rc = vfr_spec_parse(text, &s, &e);
  CHECK(rc == code && (int)e.code == code, "`%s`: code %d, want %d (%s)", text, rc, code, e.message);
  CHECK(strchr(e.message, '\n') == NULL && e.message[0], "`%s`: message must be one line", text);
  CHECK(s.kind == 0 && s.chain.n == 0 && s.op == NULL, "`%s`: spec not cleared on error", text);
  va_list ap;
  va_start(ap, code);
  for (const char *frag; (frag = va_arg(ap, const char *));)
    CHECK(strstr(e.message, frag) != NULL, "`%s`: message `%s` lacks `%s`", text, e.message, frag);
  va_end(ap);
}

static void levels(const char *text, int m, int n_want, const double *want) {
  vfr_spec s;
  vfr_error e;
  vfr_chain chains[16];
  double values[16];
  int n = -1;
  int rc = vfr_spec_parse(text, &s, &e);
  if (rc == VFR_OK) rc = vfr_spec_levels(&s, m, chains, values, 16, &n, &e);
  CHECK(rc == VFR_OK, "levels %s: %s", text, e.message);
  CHECK(n == n_want, "levels %s m=%d: %d levels, want %d", text, m, n, n_want);
  for (int i = 0; i < n && i < n_want; i++) {
    CHECK(fabs(values[i] - want[i]) < 1e-12, "levels %s [%d]: %.17g, want %g", text, i, values[i],
          want[i]);
    CHECK(chains[i].n >= 1 && chains[i].steps[0].value == values[i], "levels %s [%d]: chain", text, i);
  }
}

static void list(const char *text, int code, int n_want, const char *first, const char *last) {
  vfr_spec *specs = NULL;
  int n = -1;
  vfr_error e;
  vfr_error_clear(&e);
  int rc = vfr_spec_list_parse(text, &specs, &n, &e);
  CHECK(rc == code, "list `%s`: code %d, want %d (%s)", text, rc, code, e.message);
  if (rc == VFR_OK) {
    CHECK(n == n_want, "list `%s`: %d specs, want %d", text, n, n_want);
    if (n >= 1) CHECK(!strcmp(specs[0].text, first), "list `%s`: first `%s`", text, specs[0].text);
    if (n >= 1 && last) CHECK(!strcmp(specs[n - 1].text, last), "list `%s`: last `%s`", text, specs[n - 1].text);
  } else {
    CHECK(specs == NULL && n == 0, "list `%s`: output not cleared on error", text);
    if (first) CHECK(strstr(e.message, first) != NULL, "list `%s`: message `%s` lacks `%s`", text, e.message, first);
  }
  free(specs);
}

static void registry(void) {
  int editing_ops = 0; /* the rows besides the ImageNet-C ones (tests/test_ic_registry.c) */
  for (int i = 0; i < vfr_op_count(); i++) editing_ops += strncmp(vfr_op_at(i)->name, "ic_", 3) != 0;
  CHECK(editing_ops == 16, "catalog has %d non-ImageNet-C ops", editing_ops);
  const char *editing9[] = {"jpeg", "brightness", "contrast", "saturation", "sharpness",
                            "hue", "gaussian_blur", "gaussian_noise", "rescale"};
  for (int i = 0; i < 9; i++)
    CHECK(vfr_op_at(i) && !strcmp(vfr_op_at(i)->name, editing9[i]), "op %d is not %s", i, editing9[i]);
  CHECK(vfr_op_at(-1) == NULL && vfr_op_at(vfr_op_count()) == NULL, "op_at out of range");
  CHECK(vfr_op_find("nope") == NULL && vfr_op_find(NULL) == NULL, "find unknown");
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    CHECK(vfr_op_find(op->name) == op, "find %s", op->name);
    vfr_error e;
    CHECK(vfr_op_check_value(op, op->lo, &e) == VFR_OK, "%s: lo %g invalid: %s", op->name, op->lo, e.message);
    CHECK(vfr_op_check_value(op, op->hi, &e) == VFR_OK, "%s: hi %g invalid: %s", op->name, op->hi, e.message);
    if (op->has_identity)
      CHECK(vfr_op_check_value(op, op->identity, &e) == VFR_OK, "%s: identity invalid", op->name);
    CHECK(vfr_op_check_value(op, NAN, &e) == VFR_EINVAL && strstr(e.message, op->name),
          "%s: NaN accepted", op->name);
  }
}

/* Identity levels leave the image unchanged; a chain is the composition of its steps. */
static void apply(void) {
  vfr_image img = {0}, out = {0}, a = {0}, b = {0}, gray = {0};
  vfr_error e;
  if (vfr_image_alloc(&img, 13, 9, 3, &e)) {
    CHECK(0, "alloc: %s", e.message);
    return;
  }
  for (size_t i = 0; i < (size_t)13 * 9 * 3; i++) img.data[i] = (uint8_t)(i * 37 % 251);
  size_t bytes = (size_t)13 * 9 * 3;
  for (int i = 0; i < vfr_op_count(); i++) {
    const vfr_op *op = vfr_op_at(i);
    if (!op->has_identity) continue;
    vfr_chain c = {1, {{op, op->identity}}};
    int rc = vfr_perturb_apply(&img, &c, 7, &out, &e);
    CHECK(rc == VFR_OK && out.width == 13 && out.height == 9 && out.channels == 3, "%s: %s",
          op->name, rc ? e.message : "size");
    if (rc == VFR_OK && !strcmp(op->name, "hue")) {
      /* torchvision's hue goes through Pillow's 8-bit HSV even at 0: a lossy round trip. */
      int worst = 0;
      for (size_t k = 0; k < bytes; k++) {
        int d = abs((int)out.data[k] - (int)img.data[k]);
        worst = d > worst ? d : worst;
      }
      CHECK(worst > 0 && worst <= 8, "hue at 0: worst difference %d (want 1..8)", worst);
    } else if (rc == VFR_OK) {
      CHECK(!memcmp(out.data, img.data, bytes), "%s at identity %g changed the image", op->name,
            op->identity);
    }
    vfr_image_free(&out);
  }
  vfr_spec s;
  /* Step 0 gets the chain's seed itself. */
  int rc = vfr_spec_parse("gaussian_noise:0.05+brightness:1.3+contrast:f=0.7", &s, &e);
  CHECK(rc == VFR_OK && s.chain.n == 3, "chain parse: %s", e.message);
  rc = vfr_perturb_apply(&img, &s.chain, 42, &out, &e);
  CHECK(rc == VFR_OK, "chain apply: %s", e.message);
  vfr_gaussian_noise(&img, 0.05, 42, &a, &e);
  vfr_brightness(&a, 1.3, &b, &e);
  vfr_image_free(&a);
  vfr_contrast(&b, 0.7, &a, &e);
  CHECK(rc == VFR_OK && a.data && !memcmp(out.data, a.data, bytes), "chain != composition of steps");
  vfr_image_free(&a);
  vfr_image_free(&b);
  vfr_image_free(&out);
  vfr_chain empty = {0};
  CHECK(vfr_perturb_apply(&img, &empty, 0, &out, &e) == VFR_OK && !memcmp(out.data, img.data, bytes),
        "empty chain must copy");
  vfr_image_free(&out);
  /* Non-RGB input and invalid values give one-line errors, never a crash. */
  vfr_image_alloc(&gray, 5, 5, 1, &e);
  CHECK(vfr_brightness(&gray, 1.2, &out, &e) == VFR_EINVAL && strstr(e.message, "brightness") &&
            strstr(e.message, "RGB") && out.data == NULL,
        "gray input: %s", e.message);
  CHECK(vfr_brightness(NULL, 1.2, &out, &e) == VFR_EINVAL, "NULL input accepted");
  CHECK(vfr_jpeg_roundtrip(&img, 0, &out, &e) == VFR_EINVAL && strstr(e.message, "1..100"),
        "jpeg q=0: %s", e.message);
  CHECK(vfr_posterize(&img, 9, &out, &e) == VFR_EINVAL, "posterize 9 accepted");
  CHECK(vfr_rotate(&img, 10, VFR_FILTER_LANCZOS, &out, &e) == VFR_EINVAL, "rotate lanczos accepted");
  CHECK(vfr_gaussian_blur(&img, -1, &out, &e) == VFR_EINVAL, "blur -1 accepted");
  CHECK(vfr_hue(&img, 0.7, &out, &e) == VFR_EINVAL, "hue 0.7 accepted");
  vfr_chain bad = {1, {{vfr_op_find("jpeg"), 500}}};
  CHECK(vfr_perturb_apply(&img, &bad, 0, &out, &e) == VFR_EINVAL && strstr(e.message, "jpeg"),
        "chain with jpeg 500: %s", e.message);
  CHECK(vfr_perturb_apply(&img, &s.chain, 0, &img, &e) == VFR_EINVAL, "in == out accepted");
  /* Contact sheet: 2 rows x 3 levels of 13x9 cells; label column 4 + 8*10 ("brightness"),
   * 4-pixel gaps, a 14-pixel value line under each row of cells. */
  vfr_spec rows[2];
  vfr_spec_parse("brightness", &rows[0], &e);
  vfr_spec_parse("flip", &rows[1], &e);
  rc = vfr_contact_sheet(&img, rows, 2, 3, 64, 0, &out, &e);
  CHECK(rc == VFR_OK && out.width == 84 + 3 * 13 + 4 * 4 && out.height == 2 * (9 + 14) + 3 * 4,
        "sheet %dx%d (%s)", out.width, out.height, rc ? e.message : "");
  if (rc == VFR_OK) { /* cell (row 0, level 1) is brightness 1.0 = the image itself */
    int same = 1, x0 = 84 + 4 + (13 + 4), dark = 0;
    for (int y = 0; y < 9; y++)
      same &= !memcmp(out.data + (size_t)(4 + y) * out.stride + 3 * x0,
                      img.data + (size_t)y * img.stride, 13 * 3);
    CHECK(same, "sheet cell (0, 1) is not the unperturbed image");
    for (int y = 0; y < out.height; y++) /* the labels are drawn in the label column */
      for (int x = 4; x < 84; x++) dark += out.data[(size_t)y * out.stride + 3 * x] < 128;
    CHECK(dark > 50, "sheet has no labels (%d dark pixels)", dark);
  }
  vfr_image_free(&out);
  vfr_image_free(&gray);
  vfr_image_free(&img);
}

int main(void) {
  valid("jpeg:50", VFR_SPEC_LEVEL, "jpeg", 50, 50, "jpeg:q=50");
  valid("brightness:1.3", VFR_SPEC_LEVEL, "brightness", 1.3, 1.3, "brightness:f=1.3");
  valid("hue:-0.05", VFR_SPEC_LEVEL, "hue", -0.05, -0.05, "hue:h=-0.05");
  valid("gaussian_blur:0..3", VFR_SPEC_DOMAIN, "gaussian_blur", 0, 3, "gaussian_blur:sigma=0..3");
  valid("jpeg", VFR_SPEC_DOMAIN, "jpeg", 10, 100, "jpeg:q=10..100");
  valid("jpeg:q=30..90", VFR_SPEC_DOMAIN, "jpeg", 30, 90, "jpeg:q=30..90");
  valid("brightness:f=1.2", VFR_SPEC_LEVEL, "brightness", 1.2, 1.2, "brightness:f=1.2");
  valid("hue:-0.1..0.1", VFR_SPEC_DOMAIN, "hue", -0.1, 0.1, "hue:h=-0.1..0.1");
  valid("brightness:1.5..0.5", VFR_SPEC_DOMAIN, "brightness", 1.5, 0.5, "brightness:f=1.5..0.5");
  valid("flip", VFR_SPEC_LEVEL, "flip", 1, 1, "flip");
  valid(" saturation ", VFR_SPEC_DOMAIN, "saturation", 0, 2, "saturation:f=0..2");
  valid("gaussian_noise:1e-2", VFR_SPEC_LEVEL, "gaussian_noise", 0.01, 0.01, "gaussian_noise:sigma=0.01");
  valid("jpeg:50+brightness:1.2", VFR_SPEC_CHAIN, NULL, 0, 0, "jpeg:q=50+brightness:f=1.2");
  valid("jpeg:q=50+brightness:f=1.2+flip", VFR_SPEC_CHAIN, NULL, 0, 0,
        "jpeg:q=50+brightness:f=1.2+flip");
  {
    vfr_spec s;
    vfr_error e;
    vfr_spec_parse("jpeg:50+brightness:1.2", &s, &e);
    CHECK(s.chain.n == 2 && !strcmp(s.chain.steps[0].op->name, "jpeg") &&
              s.chain.steps[0].value == 50 && !strcmp(s.chain.steps[1].op->name, "brightness") &&
              s.chain.steps[1].value == 1.2,
          "chain steps");
  }

  invalid("jpeg:150", VFR_EINVAL, "jpeg", "150", "1..100", NULL);
  invalid("jpeg:50.5", VFR_EINVAL, "jpeg", "integer", NULL);
  invalid("jpeg:0..100", VFR_EINVAL, "jpeg", "1..100", NULL);
  invalid("frobnicate:3", VFR_EINVAL, "frobnicate", "unknown", "jpeg", "gaussian_blur", "pixelate", NULL);
  invalid("jpeg:x=50", VFR_EINVAL, "jpeg", "`x`", "`q`", NULL);
  invalid("jpeg:abc", VFR_EINVAL, "jpeg", "abc", NULL);
  invalid("jpeg:", VFR_EINVAL, "jpeg", NULL);
  invalid("jpeg:10..abc", VFR_EINVAL, "jpeg", NULL);
  invalid("jpeg:10..100+brightness:1.2", VFR_EINVAL, "jpeg", "domain", NULL);
  invalid("brightness:1.2+jpeg", VFR_EINVAL, "jpeg", "domain", NULL);
  invalid("flip:1", VFR_EINVAL, "flip", "no parameter", NULL);
  invalid("", VFR_EINVAL, "empty", NULL);
  invalid("jpeg:50+", VFR_EINVAL, "empty", NULL);
  invalid("flip+flip+flip+flip+flip+flip+flip+flip+flip", VFR_EINVAL, "at most 8", NULL);
  invalid("rescale:0", VFR_EINVAL, "rescale", ">0..16", NULL);
  invalid("gaussian_blur:-1", VFR_EINVAL, "gaussian_blur", "0..1000", NULL);
  invalid("brightness:nan", VFR_EINVAL, "brightness", NULL);
  invalid("brightness:inf", VFR_EINVAL, "brightness", NULL);
  invalid("hue:0.6", VFR_EINVAL, "hue", "-0.5..0.5", NULL);
  invalid("editing9", VFR_EINVAL, "preset", NULL);

  const double jpeg5[] = {10, 33, 55, 78, 100};
  levels("jpeg:10..100", 5, 5, jpeg5);
  levels("jpeg", 5, 5, jpeg5);
  const double blur4[] = {0, 1, 2, 3};
  levels("gaussian_blur:0..3", 4, 4, blur4);
  const double rev[] = {1.5, 1.0, 0.5};
  levels("brightness:1.5..0.5", 3, 3, rev);
  const double one[] = {0.25};
  levels("rescale", 1, 1, one);
  const double post[] = {2, 3, 4, 5, 6, 7, 8}; /* 2 + i: exact integers */
  levels("posterize", 7, 7, post);
  const double post4[] = {2, 4, 6, 8};
  levels("posterize:2..8", 4, 4, post4);
  const double q3[] = {1, 2, 2}; /* 1, 1.5 -> 2 (half away from zero), 2 */
  levels("jpeg:1..2", 3, 3, q3);
  const double lvl[] = {50};
  levels("jpeg:50", 10, 1, lvl);
  {
    vfr_spec s;
    vfr_error e;
    vfr_chain c[4];
    int n;
    vfr_spec_parse("jpeg", &s, &e);
    CHECK(vfr_spec_levels(&s, 0, c, NULL, 4, &n, &e) == VFR_EINVAL, "m=0 accepted");
    CHECK(vfr_spec_levels(&s, 5, c, NULL, 4, &n, &e) == VFR_EINVAL, "capacity overrun accepted");
  }

  list("editing9", VFR_OK, 9, "jpeg:q=10..100", "rescale:s=0.25..1");
  list("all", VFR_OK, vfr_op_count(), "jpeg:q=10..100", NULL);
  list("jpeg:50, brightness", VFR_OK, 2, "jpeg:q=50", "brightness:f=0.5..1.5");
  list("editing9,flip", VFR_OK, 10, "jpeg:q=10..100", "flip");
  list("jpeg:30..90+brightness:1.2", VFR_EINVAL, 0, "domain", NULL);
  list("imagenet-c", VFR_OK, vfr_preset_ops("imagenet-c", NULL, 0), "ic_gaussian_noise:severity=1..5",
       "ic_jpeg_compression:severity=1..5");
  list("imagenet-c-all", VFR_OK, vfr_preset_ops("imagenet-c-all", NULL, 0),
       "ic_gaussian_noise:severity=1..5", "ic_saturate:severity=1..5");
  list("imagenet-c:3", VFR_EINVAL, 0, "preset", NULL);
  list("jpeg,,brightness", VFR_EINVAL, 0, "empty", NULL);
  list("", VFR_EINVAL, 0, "empty", NULL);
  list("jpeg,nope", VFR_EINVAL, 0, "nope", NULL);

  registry();
  apply();
  printf("test_perturb_spec: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
