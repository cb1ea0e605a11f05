/* Per-image result files: round trip, settings mismatch, another image or another state of
 * it, damage, absence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study/result_file.h"
#include "vfr_check.h"

int main(void) {
  char dir[] = "/tmp/vfr_result_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  float emb[6] = {1, 2, 3, 4, 5, 6.5f};
  vfr_image_result r = {.name = "a/x.jpg", .id = {10, 5}, .status = 0, .message = "", .rows = 2, .dim = 3, .embeddings = emb};
  vfr_image_identity id7 = r.id;
  vfr_error e;
  uint64_t fp = vfr_fingerprint(VFR_FINGERPRINT_INIT, "settings", 8);
  CHECK(vfr_result_write(dir, fp, &r, &e) == 0, "%s", e.message);
  vfr_image_result back;
  CHECK(vfr_result_read(dir, fp, "a/x.jpg", id7, &back, &e) == 0, "%s", e.message);
  CHECK(back.rows == 2 && back.dim == 3 && !memcmp(back.embeddings, emb, sizeof emb), "round trip");
  vfr_result_free(&back);
  CHECK(vfr_result_read(dir, fp + 1, "a/x.jpg", id7, &back, &e) == VFR_EFORMAT && strstr(e.message, "other settings"), "fingerprint");
  CHECK(vfr_result_read(dir, fp, "a/y.jpg", id7, &back, &e) == VFR_EIO, "absent");
  vfr_image_identity touched = {10, 6}, resized = {12, 5};
  CHECK(vfr_result_read(dir, fp, "a/x.jpg", touched, &back, &e) == VFR_EFORMAT && strstr(e.message, "changed"),
        "another modification time is another state of the image");
  CHECK(vfr_result_read(dir, fp, "a/x.jpg", resized, &back, &e) == VFR_EFORMAT, "another size");

  vfr_image_result skipped = {.name = "b.jpg", .id = {11, 6}, .status = 3, .message = "x.jpg: truncated JPEG", .rows = 0, .dim = 0};
  CHECK(vfr_result_write(dir, fp, &skipped, &e) == 0, "%s", e.message);
  CHECK(vfr_result_read(dir, fp, "b.jpg", skipped.id, &back, &e) == 0 && back.status == 3 && !strcmp(back.message, "x.jpg: truncated JPEG"),
        "skipped image keeps its reason");
  vfr_result_free(&back);

  /* damage: flip one byte, then truncate */
  char path[512];
  vfr_result_path(path, sizeof path, dir, "a/x.jpg");
  FILE *f = fopen(path, "r+b");
  fseek(f, 40, SEEK_SET);
  fputc(0x5a, f);
  fclose(f);
  CHECK(vfr_result_read(dir, fp, "a/x.jpg", id7, &back, &e) == VFR_EFORMAT && strstr(e.message, "checksum"), "flipped byte");
  CHECK(truncate(path, 20) == 0, "truncate");
  CHECK(vfr_result_read(dir, fp, "a/x.jpg", id7, &back, &e) == VFR_EFORMAT, "truncated");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) printf("note: could not remove %s\n", dir);
  printf("test_result_file: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
