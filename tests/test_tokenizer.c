/* The CLIP tokenizer: loader errors on broken folders, the merge loop on a tiny made-up
 * vocabulary, the text cleanup steps, truncation, and concurrent use, plus the real CLIP
 * vocabulary (from $VFROBUST_SHARED/data/clip) on a few texts. ref_tokenizer.py compares
 * thousands of texts against an independent Python implementation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/tokenizer_text.h"
#include "vfrobust.h"
#include "vfr_check.h"

static char tmp_dir[] = "/tmp/vfr_test_tokenizer_XXXXXX";

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    printf("cannot write %s\n", path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
}

static void remove_file(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
  unlink(path);
}

/* OpenAI's byte-to-unicode map, written out independently of the library's. */
static unsigned byte_char(int b) {
  static unsigned table[256];
  static int ready = 0;
  if (!ready) {
    int extra = 0;
    for (int c = 0; c < 256; c++) {
      int keep = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
      table[c] = keep ? (unsigned)c : 256u + (unsigned)extra++;
    }
    ready = 1;
  }
  return table[b];
}

/* A vocab.json with the 512 byte tokens (id b for byte b, 256 + b for byte b + "</w>"), the
 * given extra tokens (ids 512..), and the two special tokens after them. */
static void write_vocab(const char *const *extra, int n_extra, int with_specials) {
  size_t cap = 64 * 1024, n = 0;
  char *s = malloc(cap);
  n += (size_t)snprintf(s + n, cap - n, "{");
  for (int k = 0; k < 512; k++) {
    unsigned c = byte_char(k % 256);
    unsigned char u[4];
    int len = vfr_utf8_put(c, u);
    const char *escape = (c == '"' || c == '\\') ? "\\" : "";
    n += (size_t)snprintf(s + n, cap - n, "%s\"%s%.*s%s\": %d", k ? ", " : "", escape, len, (char *)u,
                          k >= 256 ? "</w>" : "", k);
  }
  for (int k = 0; k < n_extra; k++) n += (size_t)snprintf(s + n, cap - n, ", \"%s\": %d", extra[k], 512 + k);
  if (with_specials)
    n += (size_t)snprintf(s + n, cap - n, ", \"<|startoftext|>\": %d, \"<|endoftext|>\": %d",
                          512 + n_extra, 513 + n_extra);
  snprintf(s + n, cap - n, "}\n");
  write_file("vocab.json", s);
  free(s);
}

static void expect_load_error(int code, const char *needle, const char *what) {
  vfr_tokenizer *tok = (vfr_tokenizer *)1;
  vfr_error e;
  vfr_error_clear(&e);
  int rc = vfr_tokenizer_load(tmp_dir, &tok, &e);
  CHECK(rc == code && (tok == NULL) == (code != VFR_OK) && strstr(e.message, needle) && !strchr(e.message, '\n'),
        "%s: rc %d, message \"%s\" (want code %d, \"%s\")", what, rc, e.message, code, needle);
  if (rc == VFR_OK) vfr_tokenizer_free(tok);
}

static void test_loader_errors(void) {
  expect_load_error(VFR_EIO, "vocab.json: cannot open", "missing vocab.json");
  write_file("vocab.json", "{\"a\": 1,");
  expect_load_error(VFR_EFORMAT, "vocab.json: malformed JSON at line 1", "truncated JSON");
  write_file("vocab.json", "[1, 2]");
  expect_load_error(VFR_EFORMAT, "vocab.json: expected an object", "JSON array");
  write_file("vocab.json", "{\"a\": \"one\"}");
  expect_load_error(VFR_EFORMAT, "the id of token \"a\" is not an integer", "string id");
  write_file("vocab.json", "{\"a\": -3}");
  expect_load_error(VFR_EFORMAT, "is not an integer in [0, 2^31)", "negative id");
  write_file("vocab.json", "{\"a\": 1, \"a\": 2}");
  expect_load_error(VFR_EFORMAT, "vocab.json: malformed JSON", "duplicate key");
  write_vocab(NULL, 0, 0);
  expect_load_error(VFR_EFORMAT, "vocab.json: no <|startoftext|> token", "no special tokens");
  write_file("vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
  expect_load_error(VFR_EFORMAT, "vocab.json: no token for byte 0x00", "no byte tokens");

  static const char *const extra[] = {"ab", "ab</w>"};
  write_vocab(extra, 2, 1);
  expect_load_error(VFR_EIO, "merges.txt: cannot open", "missing merges.txt");
  write_file("merges.txt", "#version: 0.2\na b\na b c\n");
  expect_load_error(VFR_EFORMAT, "merges.txt: line 3: expected two tokens separated by a space, found 3",
                    "three fields");
  write_file("merges.txt", "#version: 0.2\na b\n\na b</w>\n");
  expect_load_error(VFR_EFORMAT, "merges.txt: line 3: expected two tokens", "empty line inside");
  write_file("merges.txt", "#version: 0.2\nab c\n");
  expect_load_error(VFR_EFORMAT, "merges.txt: line 2: token \"abc\" is not in vocab.json",
                    "merged token not in vocab");
  write_file("merges.txt", "#version: 0.2\nzz b\n");
  expect_load_error(VFR_EFORMAT, "merges.txt: line 2: token \"zz\" is not in vocab.json", "unknown left");
  write_file("merges.txt", "#version: 0.2\na b\r\na b</w>\r\n");
  expect_load_error(VFR_OK, "", "CRLF line ends");
  write_file("merges.txt", "#version: 0.2\n");
  expect_load_error(VFR_OK, "", "no merges at all");
  write_file("merges.txt", "#version: 0.2\na b\n\n \r\n\n");
  expect_load_error(VFR_OK, "", "blank lines at the end");
  remove_file("merges.txt");
  remove_file("vocab.json");
}

/* Tokenizes text with tok and compares the ids with want (n_want of them). */
static void expect_ids(const vfr_tokenizer *tok, const char *text, int context, const int32_t *want,
                       int n_want, const char *what) {
  int32_t ids[128];
  int n = -1;
  vfr_error e;
  int rc = vfr_tokenize(tok, text, context, ids, &n, 1, &e);
  int same = rc == 0 && n == n_want;
  for (int k = 0; same && k < n; k++) same = ids[k] == want[k];
  CHECK(same, "%s: rc %d, %d ids:%s%d %d %d %d ...", what, rc, n, rc ? e.message : " ", n > 0 ? ids[0] : -1,
        n > 1 ? ids[1] : -1, n > 2 ? ids[2] : -1, n > 3 ? ids[3] : -1);
}

/* The merge loop on a made-up vocabulary where the answers follow from the rules by hand. */
static void test_merge_rules(void) {
  /* ids: 512 aa, 513 aa</w>, 514 aaaa</w>, 515 bc</w>, 516 ab, 517 <|startoftext|>, 518 <|endoftext|> */
  static const char *const extra[] = {"aa", "aa</w>", "aaaa</w>", "bc</w>", "ab"};
  write_vocab(extra, 5, 1);
  write_file("merges.txt", "#version: 0.2\na a\na a</w>\naa aa</w>\nb c</w>\na b\n");
  vfr_tokenizer *tok = NULL;
  vfr_error e;
  int rc = vfr_tokenizer_load(tmp_dir, &tok, &e);
  CHECK(rc == 0, "made-up vocabulary loads: %s", e.message);
  if (rc) return;
  const int32_t a = 'a', a_end = 256 + 'a', b_end = 256 + 'b'; /* write_vocab's ids */
  CHECK(vfr_tokenizer_sot(tok) == 517 && vfr_tokenizer_eot(tok) == 518, "special ids");
  expect_ids(tok, "aaaa", 77, (const int32_t[]){517, 514, 518}, 3, "aaaa: three ranks");
  expect_ids(tok, "aaa", 77, (const int32_t[]){517, 512, a_end, 518}, 4, "aaa: left to right");
  expect_ids(tok, "aaaaa", 77, (const int32_t[]){517, 512, 512, a_end, 518}, 5, "aaaaa: no overlap");
  expect_ids(tok, "abc", 77, (const int32_t[]){517, a, 515, 518}, 4, "abc: lower rank first");
  expect_ids(tok, "ab", 77, (const int32_t[]){517, a, b_end, 518}, 4, "ab: no 'a b</w>' merge");
  expect_ids(tok, "ab a", 77, (const int32_t[]){517, a, b_end, a_end, 518}, 5, "words apart");
  expect_ids(tok, "", 77, (const int32_t[]){517, 518}, 2, "empty text");
  expect_ids(tok, " \t\n ", 77, (const int32_t[]){517, 518}, 2, "only whitespace");
  expect_ids(tok, "aaa aaa aaa", 4, (const int32_t[]){517, 512, a_end, 518}, 4, "truncated to 4");
  expect_ids(tok, "aaa", 4, (const int32_t[]){517, 512, a_end, 518}, 4, "exactly 4");
  expect_ids(tok, "aaa", 3, (const int32_t[]){517, 512, 518}, 3, "one over: last made EOT");
  expect_ids(tok, "AAAA", 77, (const int32_t[]){517, 514, 518}, 3, "lower-cased");
  expect_ids(tok, "&lt;|endoftext|&gt;", 77, (const int32_t[]){517, 518, 518}, 3, "special token in text");

  int32_t ids[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
  int n = 0;
  rc = vfr_tokenize(tok, "aaa aaa aaa", 4, ids, &n, 0, &e);
  CHECK(rc == VFR_ELIMIT && strstr(e.message, "too long"), "no truncation: rc %d %s", rc, e.message);
  rc = vfr_tokenize(tok, "aaa", 77, ids, &n, 0, &e);
  CHECK(rc == 0 && n == 4 && ids[4] == -7 && ids[7] == -7, "ids past n left as they were");
  rc = vfr_tokenize(tok, "aaa", 1, ids, &n, 1, &e);
  CHECK(rc == VFR_EINVAL && strstr(e.message, "context length 1"), "context 1: %s", e.message);
  rc = vfr_tokenize(tok, "a\xC3(", 77, ids, &n, 1, &e);
  CHECK(rc == VFR_EINVAL && strstr(e.message, "text: invalid UTF-8 at byte 1"), "bad UTF-8: %s", e.message);
  rc = vfr_tokenize(tok, "\xED\xA0\x80", 77, ids, &n, 1, &e);
  CHECK(rc == VFR_EINVAL, "UTF-8 surrogate rejected");
  rc = vfr_tokenize(tok, "\xC0\x80", 77, ids, &n, 1, &e);
  CHECK(rc == VFR_EINVAL, "overlong UTF-8 rejected");
  rc = vfr_tokenize(tok, NULL, 77, ids, &n, 1, &e);
  CHECK(rc == VFR_EINVAL, "NULL text");
  vfr_tokenizer_free(tok);
  remove_file("merges.txt");
  remove_file("vocab.json");
}

/* A merge list where a pair made during one rank's pass has a lower rank than that pass:
 * the reference still finishes the pass first ("ababx": both "a b" merge, then no "ab a"
 * is left), so must we. */
static void test_merge_pass_order(void) {
  static const char *const extra[] = {"ab", "aba"}; /* ids 512, 513; specials 514, 515 */
  write_vocab(extra, 2, 1);
  write_file("merges.txt", "#version: 0.2\nab a\na b\n");
  vfr_tokenizer *tok = NULL;
  vfr_error e;
  int rc = vfr_tokenizer_load(tmp_dir, &tok, &e);
  CHECK(rc == 0, "second made-up vocabulary loads: %s", e.message);
  if (rc) return;
  expect_ids(tok, "ababx", 77, (const int32_t[]){514, 512, 512, 256 + 'x', 515}, 5, "ababx: pass before new pairs");
  expect_ids(tok, "abab", 77, (const int32_t[]){514, 513, 256 + 'b', 515}, 4, "abab: then the lower rank");
  vfr_tokenizer_free(tok);
  remove_file("merges.txt");
  remove_file("vocab.json");
}

/* The cleanup steps on their own; expected values are Python's (html.unescape, str.lower). */
static size_t cps_of(const char *s, uint32_t *out) {
  size_t n = 0;
  vfr_utf8_decode(s, strlen(s), out, &n, "t", NULL);
  return n;
}

static int same_cps(const uint32_t *a, size_t na, const char *want) {
  uint32_t w[256];
  size_t nw = cps_of(want, w);
  return na == nw && !memcmp(a, w, na * sizeof *a);
}

static void test_cleanup(void) {
  static const char *const unescape[][2] = {
      {"&amp;amp;", "&amp;"},      {"&ampx", "&x"},          {"&notit;", "\xC2\xACit;"},
      {"&#128;", "\xE2\x82\xAC"},  {"&#0;", "\xEF\xBF\xBD"}, {"&#1;x", "x"},
      {"&#xD800;", "\xEF\xBF\xBD"}, {"&#99999999999;", "\xEF\xBF\xBD"}, {"&#;", "&#;"},
      {"&unknown;", "&unknown;"},  {"&#x1F600;", "\xF0\x9F\x98\x80"},
      {"&NotNestedGreaterGreater;", "\xE2\xAA\xA2\xCC\xB8"}, {"&eacute", "\xC3\xA9"},
      {"&#65", "A"},               {"&#X41;y", "Ay"},        {"a & b &", "a & b &"}};
  for (size_t k = 0; k < sizeof unescape / sizeof *unescape; k++) {
    uint32_t in[256], out[256];
    size_t n = cps_of(unescape[k][0], in);
    size_t m = vfr_html_unescape(in, n, out);
    CHECK(m <= n && same_cps(out, m, unescape[k][1]), "html unescape of %s", unescape[k][0]);
  }
  static const char *const lower[][2] = {
      {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"},     /* ΟΔΟΣ -> οδος */
      {"\xCE\xA3\xCE\x91", "\xCF\x83\xCE\xB1"},                                     /* ΣΑ -> σα */
      {"\xCE\x91.\xCE\xA3", "\xCE\xB1.\xCF\x82"},                                   /* Α.Σ -> α.ς */
      {"\xCE\xA3", "\xCF\x83"},                                                     /* Σ -> σ */
      {"\xC4\xB0", "i\xCC\x87"},                                                    /* İ -> i̇ */
      {"\xC3\x80\xC3\x89\xD0\x96\xD0\x81", "\xC3\xA0\xC3\xA9\xD0\xB6\xD1\x91"},     /* ÀÉЖЁ */
      {"\xE2\x84\xAA", "k"},                                                        /* Kelvin */
      {"ABC xyz 123", "abc xyz 123"}};
  for (size_t k = 0; k < sizeof lower / sizeof *lower; k++) {
    uint32_t in[64], out[128];
    size_t n = cps_of(lower[k][0], in);
    size_t m = vfr_lower(in, n, out);
    CHECK(same_cps(out, m, lower[k][1]), "lower-case of %s", lower[k][0]);
  }
  uint32_t t[64];
  size_t n = cps_of("\x1c a \t\xC2\xA0 b\x1c\x1d", t);
  n = vfr_strip_space(t, n);
  CHECK(same_cps(t, n, "a \t\xC2\xA0 b"), "strip removes str.isspace() characters");
  n = vfr_collapse_space(t, n);
  CHECK(same_cps(t, n, "a b"), "\\s+ collapses to one space");
  n = cps_of("a\x1c b", t);
  n = vfr_collapse_space(t, n);
  CHECK(same_cps(t, n, "a\x1c b"), "U+001C is not \\s");
}

static const char *clip_dir(char *buf, size_t size) {
  const char *shared = getenv("VFROBUST_SHARED");
  if (!shared) return NULL;
  snprintf(buf, size, "%s/data/clip", shared);
  return buf;
}

static void test_real_vocabulary(void) {
  char dir[1024];
  if (!clip_dir(dir, sizeof dir)) {
    CHECK(0, "VFROBUST_SHARED is not set (ctest sets it)");
    return;
  }
  vfr_tokenizer *tok = NULL;
  vfr_error e;
  int rc = vfr_tokenizer_load(dir, &tok, &e);
  CHECK(rc == 0, "load the CLIP vocabulary: %s", e.message);
  if (rc) return;
  CHECK(vfr_tokenizer_sot(tok) == 49406 && vfr_tokenizer_eot(tok) == 49407, "CLIP special ids");
  expect_ids(tok, "a photo of a dog", 77, (const int32_t[]){49406, 320, 1125, 539, 320, 1929, 49407}, 7,
             "the known check");
  expect_ids(tok, "  A PHOTO   of a\tDog ", 77, (const int32_t[]){49406, 320, 1125, 539, 320, 1929, 49407}, 7,
             "case and whitespace");
  expect_ids(tok, "a photo of a dog", 5, (const int32_t[]){49406, 320, 1125, 539, 49407}, 5, "context 5");

  /* The same texts from several threads at once give the same ids. */
  enum { n_texts = 64 };
  static char texts[n_texts][160];
  static int32_t serial[n_texts][77], parallel[n_texts][77];
  int n_serial[n_texts], n_parallel[n_texts];
  for (int k = 0; k < n_texts; k++) {
    snprintf(texts[k], sizeof texts[k], "photo %d of a caf\xC3\xA9 &amp; %d dogs, it's \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 #%x",
             k, k * 37, k * 1001);
    vfr_tokenize(tok, texts[k], 77, serial[k], &n_serial[k], 1, NULL);
  }
  int errors = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : errors)
  for (int k = 0; k < n_texts; k++)
    errors += vfr_tokenize(tok, texts[k], 77, parallel[k], &n_parallel[k], 1, NULL) != 0;
  int same = errors == 0;
  for (int k = 0; same && k < n_texts; k++)
    same = n_serial[k] == n_parallel[k] && !memcmp(serial[k], parallel[k], (size_t)n_serial[k] * 4);
  CHECK(same, "threads agree with one thread");

  /* Random byte strings (entities, digits, UTF-8 pieces, invalid bytes): valid UTF-8 gives
   * start ... end with ids in the vocabulary, anything else a clean VFR_EINVAL. */
  static const char *const pieces[] = {"&", "#", ";", "x", "X", "1", "9", "a", "Z", " ", "\t", "'s",
                                       "amp", "lt;", "\xC3", "\xA9", "\xCE\xA3", "\xF0\x9F\x98\x80",
                                       "\xFF", "\xC4\xB0", "\xCD\x85", "<|endoftext|>", ".", "\x1c"};
  const int n_pieces = (int)(sizeof pieces / sizeof *pieces);
  unsigned rng = 12345;
  int n_valid = 0, n_invalid = 0, bad = 0;
  for (int k = 0; k < 3000; k++) {
    char text[512];
    size_t len = 0;
    rng = rng * 1103515245u + 12345u;
    int n_parts = (int)((rng >> 16) % 60);
    for (int p = 0; p < n_parts; p++) {
      rng = rng * 1103515245u + 12345u;
      const char *piece = pieces[(rng >> 16) % (unsigned)n_pieces];
      size_t pl = strlen(piece);
      if (len + pl >= sizeof text) break;
      memcpy(text + len, piece, pl);
      len += pl;
    }
    text[len] = '\0';
    int32_t ids[77];
    int n = 0;
    rc = vfr_tokenize(tok, text, 77, ids, &n, 1, &e);
    if (rc == VFR_EINVAL) {
      n_invalid++;
      bad += strstr(e.message, "invalid UTF-8") == NULL;
      continue;
    }
    n_valid++;
    bad += rc != 0 || n < 2 || n > 77 || ids[0] != 49406 || ids[n - 1] != 49407;
    for (int i = 0; i < n; i++) bad += ids[i] < 0 || ids[i] >= 49408;
  }
  CHECK(bad == 0 && n_valid > 100 && n_invalid > 100, "random bytes: %d valid, %d invalid, %d bad", n_valid,
        n_invalid, bad);

  /* A long text stops at the context; a text past the size limit (1 MiB) is refused. */
  size_t big = (size_t)1 << 20;
  char *s = malloc(big + 2);
  for (size_t k = 0; k <= big; k++) s[k] = "dog "[k % 4];
  s[big] = '\0';
  int32_t ids[77];
  int n = 0;
  rc = vfr_tokenize(tok, s, 77, ids, &n, 1, &e);
  CHECK(rc == 0 && n == 77 && ids[1] == 1929 && ids[75] == 1929 && ids[76] == 49407, "1 MiB of text: %d ids", n);
  s[big] = 'x';
  s[big + 1] = '\0';
  rc = vfr_tokenize(tok, s, 77, ids, &n, 1, &e);
  CHECK(rc == VFR_ELIMIT && strstr(e.message, "text: 1048577 bytes"), "1 MiB + 1 refused: %s", e.message);
  memset(s, 'a', big);
  s[big] = '\0';
  rc = vfr_tokenize(tok, s, 77, ids, &n, 1, &e);
  CHECK(rc == 0 && n == 77 && ids[76] == 49407, "a word of 1 MiB letters");
  free(s);
  vfr_tokenizer_free(tok);
}

int main(void) {
  if (!mkdtemp(tmp_dir)) {
    printf("cannot make a temporary folder\n");
    return 1;
  }
  test_loader_errors();
  test_merge_rules();
  test_merge_pass_order();
  test_cleanup();
  test_real_vocabulary();
  rmdir(tmp_dir);
  printf("test_tokenizer: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
