/* Bad image input must give one clear line naming the file, never a crash: empty and
 * truncated files, garbage, wrong extensions, decompression bombs, API misuse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vfrobust.h"

static int passed, failed;

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL test_image_bad_input: %s\n", what);
  }
}

static char dir[256];

static const char *path_of(const char *name) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *path, const void *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(buf, 1, len, f) != len)) {
    printf("FAIL test_image_bad_input: cannot write %s\n", path);
    exit(1);
  }
  fclose(f);
}

/* Loading `path` must fail with `code`, one line naming the file, containing `needle`. */
static void expect_load_error(const char *path, int code, const char *needle, const char *what) {
  vfr_image img = {0};
  vfr_error err = {0};
  int rc = vfr_image_load(path, NULL, &img, &err);
  char msg[1200];
  snprintf(msg, sizeof msg, "%s: got rc %d \"%s\" (want %d with \"%s\")", what, rc, err.message,
           code, needle ? needle : "");
  check(rc == code && (int)err.code == code && strstr(err.message, path) &&
            !strchr(err.message, '\n') && (!needle || strstr(err.message, needle)) && !img.data,
        msg);
  vfr_image_free(&img);
}

static vfr_image pattern(int w, int h, int c) {
  vfr_image img;
  vfr_error err;
  if (vfr_image_alloc(&img, w, h, c, &err)) {
    printf("FAIL test_image_bad_input: %s\n", err.message);
    exit(1);
  }
  uint32_t s = 99; /* pseudo-random, so that the PNG barely compresses */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w * c; x++)
      img.data[y * img.stride + x] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
  return img;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/vfr_image_bad_XXXXXX");
  if (!mkdtemp(dir)) {
    printf("FAIL test_image_bad_input: mkdtemp\n");
    return 1;
  }
  vfr_error err;
  vfr_image img = pattern(40, 30, 3), got = {0};
  uint8_t *jpg = NULL, *png = NULL, *webp = NULL;
  size_t jpg_len = 0, png_len = 0, webp_len = 0;
  check(vfr_jpeg_encode(&img, 90, &jpg, &jpg_len, &err) == 0, "encode JPEG");
  check(vfr_png_encode(&img, &png, &png_len, &err) == 0, "encode PNG");
  check(vfr_webp_encode(&img, 80, &webp, &webp_len, &err) == 0, "encode WebP");
  if (!jpg || !png || !webp) return 1;

  /* empty file, missing file, garbage */
  write_file(path_of("empty.jpg"), "", 0);
  expect_load_error(path_of("empty.jpg"), VFR_EFORMAT, "empty", "empty file");
  expect_load_error(path_of("missing.png"), VFR_EIO, "cannot open", "missing file");
  uint8_t garbage[4096];
  uint32_t s = 12345;
  for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
  write_file(path_of("garbage.png"), garbage, sizeof garbage);
  expect_load_error(path_of("garbage.png"), VFR_EFORMAT, "not a JPEG, PNG or WebP", "garbage");
  /* right magic, garbage after it */
  const char *magics[] = {"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "RIFF\x10\x00\x00\x00WEBPVP8 "};
  const size_t magic_len[] = {3, 8, 16};
  for (int m = 0; m < 3; m++) {
    uint8_t buf[512];
    memcpy(buf, garbage, sizeof buf);
    memcpy(buf, magics[m], magic_len[m]);
    check(vfr_image_decode(buf, sizeof buf, "g", NULL, &got, &err) == VFR_EFORMAT && !got.data &&
              strncmp(err.message, "g: ", 3) == 0,
          "magic followed by garbage is a format error");
  }

  /* truncated files: an error, never a partial image */
  const size_t cuts[] = {2, 3, 20, 50, 90};
  check(png_len > 100 && jpg_len > 100, "test files are long enough to cut");
  printf("test files: JPEG %zu, PNG %zu, WebP %zu bytes\n", jpg_len, png_len, webp_len);
  for (int i = 0; i < 5; i++) {
    char name[64];
    snprintf(name, sizeof name, "cut%zu.jpg", cuts[i]);
    write_file(path_of(name), jpg, cuts[i]);
    expect_load_error(path_of(name), VFR_EFORMAT, NULL, "truncated JPEG (short)");
    snprintf(name, sizeof name, "cut%zu.png", cuts[i]);
    write_file(path_of(name), png, cuts[i]);
    expect_load_error(path_of(name), VFR_EFORMAT, NULL, "truncated PNG (short)");
  }
  write_file(path_of("half.jpg"), jpg, jpg_len / 2);
  expect_load_error(path_of("half.jpg"), VFR_EFORMAT, "truncated JPEG", "JPEG cut in half");
  write_file(path_of("noeoi.jpg"), jpg, jpg_len - 2);
  expect_load_error(path_of("noeoi.jpg"), VFR_EFORMAT, "truncated JPEG", "JPEG without EOI");
  write_file(path_of("half.png"), png, png_len / 2);
  expect_load_error(path_of("half.png"), VFR_EFORMAT, "truncated PNG", "PNG cut in half");
  write_file(path_of("half.webp"), webp, webp_len / 2);
  expect_load_error(path_of("half.webp"), VFR_EFORMAT, "WebP", "WebP cut in half");
  /* every prefix of the three files: no crash; JPEG and WebP never decode (as Pillow);
   * a PNG prefix decodes only when it holds all the image data (as Pillow), and then
   * to the exact pixels */
  int prefix_ok = 1, png_tail_ok = 0;
  for (int f = 0; f < 3; f++) {
    const uint8_t *b = f == 0 ? jpg : f == 1 ? png : webp;
    size_t n = f == 0 ? jpg_len : f == 1 ? png_len : webp_len;
    for (size_t k = 0; k < n; k++) {
      if (vfr_image_decode(b, k, "prefix", NULL, &got, &err) == 0) {
        if (f != 1 || k < n / 2 || got.width != 40 || got.height != 30 ||
            memcmp(got.data, img.data, img.stride * 30) != 0)
          prefix_ok = 0;
        png_tail_ok |= f == 1 && k == n - 12; /* only IEND missing */
        vfr_image_free(&got);
      } else if (got.data) {
        prefix_ok = 0;
      }
    }
  }
  check(prefix_ok, "prefixes of a JPEG, PNG and WebP fail, or give the exact image");
  check(png_tail_ok, "a PNG missing only its IEND chunk decodes");

  /* content decides the format, not the name */
  write_file(path_of("really_a_png.jpg"), png, png_len);
  check(vfr_image_load(path_of("really_a_png.jpg"), NULL, &got, &err) == 0 && got.width == 40 &&
            got.height == 30 && got.channels == 3 &&
            memcmp(got.data, img.data, img.stride * 30) == 0,
        "a PNG named .jpg decodes to its exact pixels");
  vfr_image_free(&got);

  /* 1x1 images */
  vfr_image one = pattern(1, 1, 3);
  uint8_t *b1 = NULL;
  size_t n1 = 0;
  check(vfr_png_encode(&one, &b1, &n1, &err) == 0 &&
            vfr_image_decode(b1, n1, "one.png", NULL, &got, &err) == 0 && got.width == 1 &&
            got.height == 1 && memcmp(got.data, one.data, 3) == 0,
        "1x1 PNG round-trips");
  vfr_image_free(&got);
  free(b1);
  check(vfr_jpeg_encode(&one, 75, &b1, &n1, &err) == 0 &&
            vfr_image_decode(b1, n1, "one.jpg", NULL, &got, &err) == 0 && got.width == 1 &&
            got.height == 1,
        "1x1 JPEG decodes");
  vfr_image_free(&got);
  free(b1);
  vfr_image_free(&one);

  /* decompression bombs: refused from the header, before any pixel buffer */
  uint8_t bomb[8 + 25 + 12 + 12];
  memcpy(bomb, "\x89PNG\r\n\x1a\n", 8);
  uint8_t *ihdr = bomb + 8;
  put_be32(ihdr, 13);
  memcpy(ihdr + 4, "IHDR", 4);
  put_be32(ihdr + 8, 100000);
  put_be32(ihdr + 12, 100000);
  memcpy(ihdr + 16, "\x08\x02\x00\x00\x00", 5);
  put_be32(ihdr + 21, (uint32_t)crc32(0, ihdr + 4, 17));
  memcpy(bomb + 33, "\x00\x00\x00\x00IDAT", 8); /* an empty IDAT ends the header chunks */
  put_be32(bomb + 41, (uint32_t)crc32(0, (const uint8_t *)"IDAT", 4));
  memcpy(bomb + 45, "\x00\x00\x00\x00IEND\xae\x42\x60\x82", 12);
  write_file(path_of("bomb.png"), bomb, sizeof bomb);
  clock_t t0 = clock();
  expect_load_error(path_of("bomb.png"), VFR_ELIMIT, "100000x100000", "100000x100000 PNG");
  check((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5, "the PNG bomb is refused fast");

  uint8_t *jb = malloc(jpg_len);
  memcpy(jb, jpg, jpg_len);
  int patched = 0;
  for (size_t i = 2; i + 9 < jpg_len; i++)
    if (jb[i] == 0xFF && jb[i + 1] == 0xC0) { /* SOF0: length, precision, height, width */
      jb[i + 5] = jb[i + 6] = jb[i + 7] = jb[i + 8] = 0xF0;
      patched = 1;
      break;
    }
  check(patched, "found the JPEG SOF0 marker");
  write_file(path_of("bomb.jpg"), jb, jpg_len);
  expect_load_error(path_of("bomb.jpg"), VFR_ELIMIT, "61680x61680", "61680x61680 JPEG");
  free(jb);

  uint8_t *wb = malloc(webp_len);
  memcpy(wb, webp, webp_len);
  patched = 0;
  for (size_t i = 12; i + 10 < webp_len; i++)
    if (wb[i] == 0x9d && wb[i + 1] == 0x01 && wb[i + 2] == 0x2a) { /* VP8 start code */
      wb[i + 3] = 0xff, wb[i + 4] = 0x3f, wb[i + 5] = 0xff, wb[i + 6] = 0x3f;
      patched = 1;
      break;
    }
  check(patched, "found the VP8 start code");
  write_file(path_of("bomb.webp"), wb, webp_len);
  expect_load_error(path_of("bomb.webp"), VFR_ELIMIT, "16383x16383", "16383x16383 WebP");
  free(wb);

  /* the caller's pixel limit */
  vfr_decode_params p = vfr_decode_default_params();
  check(p.max_pixels == VFR_DEFAULT_MAX_PIXELS, "default pixel limit is Pillow's");
  p.max_pixels = 40 * 30 - 1;
  check(vfr_image_decode(png, png_len, "x.png", &p, &got, &err) == VFR_ELIMIT, "limit - 1 refused");
  p.max_pixels = 40 * 30;
  check(vfr_image_decode(png, png_len, "x.png", &p, &got, &err) == 0, "limit exactly accepted");
  vfr_image_free(&got);

  /* API misuse */
  vfr_image empty = {0};
  check(vfr_resize(&empty, 4, 4, VFR_FILTER_BICUBIC, &got, &err) == VFR_EINVAL, "resize empty");
  check(vfr_resize(&img, 0, 4, VFR_FILTER_BICUBIC, &got, &err) == VFR_EINVAL, "resize to 0 wide");
  check(vfr_resize(&img, 4, 4, (vfr_filter)17, &got, &err) == VFR_EINVAL, "unknown filter");
  check(vfr_jpeg_encode(&img, 0, &b1, &n1, &err) == VFR_EINVAL && !b1, "JPEG quality 0");
  check(vfr_jpeg_encode(&img, 101, &b1, &n1, &err) == VFR_EINVAL && !b1, "JPEG quality 101");
  check(vfr_webp_encode(&img, 101.f, &b1, &n1, &err) == VFR_EINVAL && !b1, "WebP quality 101");
  vfr_image rgba = pattern(5, 5, 4);
  check(vfr_jpeg_encode(&rgba, 90, &b1, &n1, &err) == VFR_EINVAL && !b1, "JPEG of RGBA refused");
  vfr_image_free(&rgba);
  check(vfr_crop(&img, 30, 0, 11, 5, &got, &err) == VFR_EINVAL, "crop past the right edge");
  check(vfr_crop(&img, -1, 0, 5, 5, &got, &err) == VFR_EINVAL, "crop at negative x");
  check(vfr_center_crop(&img, 41, 30, &got, &err) == VFR_EINVAL, "center crop larger than image");
  check(vfr_image_gray_to_rgb(&img, &got, &err) == VFR_EINVAL, "gray to RGB of an RGB image");
  check(vfr_image_alloc(&got, 1 << 30, 1 << 30, 4, &err) != 0 && !got.data, "huge alloc refused");
  check(vfr_image_decode(NULL, 0, "null", NULL, &got, &err) == VFR_EFORMAT, "NULL buffer");
  check(vfr_image_save(&img, path_of("out.bmp"), 90, &err) == VFR_EINVAL, "unknown extension");
  check(vfr_image_copy(&empty, &got, &err) == 0 && !got.data, "copy of the empty image");

  /* save/load by extension */
  const char *exts[] = {"out.png", "out.JPG", "out.jpeg", "out.webp"};
  for (int i = 0; i < 4; i++) {
    int ok = vfr_image_save(&img, path_of(exts[i]), 90, &err) == 0 &&
             vfr_image_load(path_of(exts[i]), NULL, &got, &err) == 0 && got.width == 40 &&
             got.height == 30;
    vfr_format want = i == 0 ? VFR_FORMAT_PNG : i == 3 ? VFR_FORMAT_WEBP : VFR_FORMAT_JPEG;
    FILE *f = fopen(path_of(exts[i]), "rb");
    uint8_t head[16] = {0};
    size_t hn = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    ok = ok && vfr_sniff_format(head, hn) == want;
    if (i == 0) ok = ok && memcmp(got.data, img.data, img.stride * 30) == 0;
    check(ok, exts[i]);
    vfr_image_free(&got);
  }

  free(jpg);
  free(png);
  free(webp);
  vfr_image_free(&img);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
  printf("test_image_bad_input: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
