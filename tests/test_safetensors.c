/* safetensors: C round trip (write -> open -> get_f32), the in-memory variant, and
 * robustness sweeps over damaged copies of a valid file (every truncation, every single
 * header byte replaced) that must fail with a message naming the file, never crash.
 * Values are checked against the data written; the format itself is checked against an
 * independent Python parser in ref_safetensors.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "vfr_check.h"

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

/* Writes three tensors, reads them back from disk and from memory. */
static void test_round_trip(const char *dir, unsigned char **file_bytes, size_t *file_size) {
  char path[512];
  snprintf(path, sizeof path, "%s/rt.safetensors", dir);
  float a[2 * 3 * 4], b[5], scalar[1] = {3.25f};
  for (int i = 0; i < 24; i++) a[i] = (float)sin(i * 0.37) * 100.0f;
  for (int i = 0; i < 5; i++) b[i] = -1.0f / (float)(i + 1);
  vfr_tensor_out outs[4] = {
      {.name = "vision_model.encoder.layers.0.mlp.fc1.weight", .ndim = 3, .shape = {2, 3, 4}, .data = a},
      {.name = "b", .ndim = 1, .shape = {5}, .data = b},
      {.name = "s", .ndim = 0, .data = scalar},
      {.name = "empty", .ndim = 2, .shape = {0, 7}, .data = NULL},
  };
  vfr_error err;
  int rc = vfr_safetensors_write(path, outs, 4, "{\"format\":\"pt\"}", &err);
  CHECK(rc == VFR_OK, "write: %s", err.message);
  char tmp[520];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(access(tmp, F_OK) != 0, "temporary file left behind");

  vfr_safetensors *st = NULL;
  rc = vfr_safetensors_open(path, &st, &err);
  CHECK(rc == VFR_OK, "open: %s", err.message);
  if (rc) return;
  CHECK(vfr_safetensors_count(st) == 4, "count %d", vfr_safetensors_count(st));
  const char *order[4] = {outs[0].name, "b", "s", "empty"};
  for (int i = 0; i < 4; i++) {
    const vfr_tensor_info *t = vfr_safetensors_at(st, i);
    CHECK(t && strcmp(t->name, order[i]) == 0, "at(%d) is %s", i, t ? t->name : "NULL");
  }
  CHECK(vfr_safetensors_at(st, 4) == NULL && vfr_safetensors_at(st, -1) == NULL, "at out of range");
  CHECK(strcmp(vfr_safetensors_metadata(st, "format"), "pt") == 0, "metadata");
  CHECK(vfr_safetensors_metadata(st, "nothing") == NULL, "absent metadata");
  const float *data;
  float *owned;
  int64_t shape_a[3] = {2, 3, 4};
  rc = vfr_safetensors_get_f32(st, outs[0].name, 3, shape_a, &data, &owned, &err);
  CHECK(rc == VFR_OK && owned == NULL, "get a: %s", err.message);
  CHECK(rc == VFR_OK && memcmp(data, a, sizeof a) == 0, "values of a differ");
  int64_t shape_b[1] = {5};
  rc = vfr_safetensors_get_f32(st, "b", 1, shape_b, &data, &owned, &err);
  CHECK(rc == VFR_OK && memcmp(data, b, sizeof b) == 0, "values of b differ");
  /* b lies in the mapping; a copy does not; released pages read back from the file */
  CHECK(vfr_safetensors_holds(st, data, sizeof b), "b not held in the file");
  CHECK(!vfr_safetensors_holds(st, data, (size_t)1 << 40), "a range past the end is held");
  CHECK(!vfr_safetensors_holds(st, b, sizeof b), "a caller's array is held");
  vfr_safetensors_release(st, data, sizeof b);
  vfr_safetensors_release(st, b, sizeof b); /* not the file's: left alone */
  CHECK(memcmp(data, b, sizeof b) == 0, "values of b differ after release");
  rc = vfr_safetensors_get_f32(st, "s", 0, NULL, &data, &owned, &err);
  CHECK(rc == VFR_OK && data[0] == 3.25f, "scalar");
  int64_t shape_e[2] = {0, 7};
  rc = vfr_safetensors_get_f32(st, "empty", 2, shape_e, &data, &owned, &err);
  CHECK(rc == VFR_OK, "empty tensor: %s", err.message);
  free(owned);
  int64_t wrong[3] = {2, 4, 3};
  rc = vfr_safetensors_get_f32(st, outs[0].name, 3, wrong, &data, &owned, &err);
  CHECK(rc == VFR_EFORMAT && strstr(err.message, "has shape [2, 3, 4], expected [2, 4, 3]") &&
            strstr(err.message, path),
        "wrong shape message: %s", err.message);
  rc = vfr_safetensors_get_f32(st, "missing.weight", 1, shape_b, &data, &owned, &err);
  CHECK(rc != VFR_OK && strstr(err.message, "no tensor 'missing.weight'") &&
            strstr(err.message, path),
        "missing tensor message: %s", err.message);
  vfr_safetensors_close(st);

  *file_bytes = read_file(path, file_size);
  CHECK(*file_bytes != NULL, "re-read %s", path);
  if (!*file_bytes) return;
  rc = vfr_safetensors_open_memory(*file_bytes, *file_size, "mem.safetensors", &st, &err);
  CHECK(rc == VFR_OK, "open_memory: %s", err.message);
  if (rc == VFR_OK) {
    rc = vfr_safetensors_get_f32(st, "b", 1, shape_b, &data, &owned, &err);
    CHECK(rc == VFR_OK && memcmp(data, b, sizeof b) == 0, "memory values of b differ");
    vfr_safetensors_close(st);
  }
}

/* Every prefix of a valid file must be refused cleanly (only the full file opens). */
static void test_truncations(const unsigned char *bytes, size_t size) {
  int bad = 0;
  for (size_t n = 0; n < size; n++) {
    vfr_safetensors *st = NULL;
    vfr_error err;
    int rc = vfr_safetensors_open_memory(bytes, n, "cut.safetensors", &st, &err);
    if (rc == VFR_OK || st || !strstr(err.message, "cut.safetensors") || strchr(err.message, '\n')) {
      bad++;
      if (bad < 5) printf("truncation at %zu: rc %d, '%s'\n", n, rc, rc ? err.message : "opened");
    }
    vfr_safetensors_close(st);
  }
  CHECK(bad == 0, "%d of %zu truncations were not refused cleanly", bad, size);
}

/* Replacing any one header byte by a few values must never crash; when it opens, every
 * tensor must still lie inside the data buffer. */
static void test_header_mutations(const unsigned char *bytes, size_t size) {
  unsigned char *copy = malloc(size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
  const unsigned char values[] = {0, '"', '9', '-', ',', '[', '}', 0xff, ' '};
  long opened = 0, refused = 0, bad = 0;
  for (size_t pos = 0; pos < 8 + hlen && pos < size; pos++) {
    for (size_t v = 0; v < sizeof values; v++) {
      memcpy(copy, bytes, size);
      if (copy[pos] == values[v]) continue;
      copy[pos] = values[v];
      vfr_safetensors *st = NULL;
      vfr_error err;
      int rc = vfr_safetensors_open_memory(copy, size, "mut.safetensors", &st, &err);
      if (rc == VFR_OK) {
        opened++;
        for (int i = 0; i < vfr_safetensors_count(st); i++) {
          const vfr_tensor_info *t = vfr_safetensors_at(st, i);
          const unsigned char *p = t->data;
          if (p < copy + 8 + hlen || p + t->nbytes > copy + size) bad++;
        }
        vfr_safetensors_close(st);
      } else {
        refused++;
        if (!strstr(err.message, "mut.safetensors")) bad++;
      }
    }
  }
  free(copy);
  printf("header mutations: %ld opened, %ld refused\n", opened, refused);
  CHECK(bad == 0 && refused > 0, "%ld mutated files misbehaved", bad);
}

static void test_half(void) {
  /* A few exact values; ref_safetensors.py compares all 65536 against NumPy. */
  CHECK(vfr_f16_to_f32(0x3c00) == 1.0f, "f16 1.0");
  CHECK(vfr_f16_to_f32(0xc000) == -2.0f, "f16 -2.0");
  CHECK(vfr_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "f16 smallest subnormal");
  CHECK(vfr_f16_to_f32(0x7bff) == 65504.0f, "f16 max");
  CHECK(isinf(vfr_f16_to_f32(0x7c00)), "f16 inf");
  CHECK(isnan(vfr_f16_to_f32(0x7e00)), "f16 nan");
  CHECK(vfr_bf16_to_f32(0x3f80) == 1.0f, "bf16 1.0");
  CHECK(vfr_f32_to_f16(65520.0f) == 0x7c00, "f16 overflow rounds to inf");
  CHECK(vfr_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00, "f16 tie to even (down)");
  CHECK(vfr_f32_to_bf16(1.0f + ldexpf(1.0f, -8)) == 0x3f80, "bf16 tie to even (down)");
  for (uint32_t h = 0; h < 65536; h++) {
    float f = vfr_f16_to_f32((uint16_t)h);
    if (isnan(f)) continue;
    if (vfr_f32_to_f16(f) != h) {
      CHECK(0, "f16 0x%04x does not survive a round trip", h);
      break;
    }
  }
}

int main(void) {
  char dir[] = "/tmp/vfr_test_safetensors_XXXXXX";
  if (!mkdtemp(dir)) {
    printf("test_safetensors: cannot create a temporary folder\n");
    return 1;
  }
  unsigned char *bytes = NULL;
  size_t size = 0;
  test_half();
  test_round_trip(dir, &bytes, &size);
  if (bytes) {
    test_truncations(bytes, size);
    test_header_mutations(bytes, size);
  }
  free(bytes);
  char path[600];
  snprintf(path, sizeof path, "%s/rt.safetensors", dir);
  unlink(path);
  rmdir(dir);
  printf("test_safetensors: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
