/* The CLIP tokenizer: vocab.json and merges.txt loading, the pre-tokenizer and the BPE
 * merge loop. Text cleanup lives in tokenizer_text.c. */
#include "vfrobust/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_tables.h"
#include "model/tokenizer_text.h"

/* CLIP reads merges.txt lines 1 .. 49152-256-2 (after the "#version" line). */
#define MAX_MERGES (49152 - 256 - 2)
/* Bounds on inputs. A text is cleaned whole (12 bytes of memory per byte) and a word's
 * merge loop needs about 60 bytes per byte: 1 MiB keeps the worst case near 64 MiB. */
#define MAX_TEXT_BYTES ((size_t)1 << 20)
#define MAX_MERGES_FILE_BYTES ((long)64 << 20)

/* merge (left, right) -> rank and merged token, in an open-addressing table of cap slots
 * (a power of two); an empty slot has rank -1. */
typedef struct merge_slot {
  int32_t left, right, rank, merged;
} merge_slot;

struct vfr_tokenizer {
  int32_t sot, eot;
  int32_t byte_id[256];     /* the token of one byte inside a word */
  int32_t byte_end_id[256]; /* the token of one byte ending a word ("</w>" appended) */
  merge_slot *merges;       /* (merge_cap) */
  size_t merge_cap;
  int n_merges;
};

static size_t hash_pair(int32_t left, int32_t right) {
  uint64_t x = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
  x ^= x >> 33; /* the 64-bit finaliser of MurmurHash3 */
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return (size_t)x;
}

static const merge_slot *find_merge(const vfr_tokenizer *tok, int32_t left, int32_t right) {
  size_t mask = tok->merge_cap - 1;
  for (size_t i = hash_pair(left, right) & mask;; i = (i + 1) & mask) {
    const merge_slot *s = &tok->merges[i];
    if (s->rank < 0) return NULL;
    if (s->left == left && s->right == right) return s;
  }
}

/* A later duplicate of a merge replaces the earlier one's rank, as a Python dict would. */
static void put_merge(vfr_tokenizer *tok, int32_t left, int32_t right, int32_t rank,
                      int32_t merged) {
  size_t mask = tok->merge_cap - 1;
  size_t i = hash_pair(left, right) & mask;
  while (tok->merges[i].rank >= 0 && !(tok->merges[i].left == left && tok->merges[i].right == right))
    i = (i + 1) & mask;
  tok->merges[i] = (merge_slot){left, right, rank, merged};
}

/* OpenAI's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others
 * (controls, space, soft hyphen) for U+0100 onwards in byte order. */
static uint32_t byte_to_unicode(int b) {
  int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  if (printable) return (uint32_t)b;
  int n = 0;
  for (int c = 0; c < b; c++)
    if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
  return 256 + (uint32_t)n;
}

/* vocab[key] as a token id, or -1 when absent. */
static int32_t vocab_id(json_t *vocab, const char *key) {
  json_t *v = json_object_get(vocab, key);
  return v ? (int32_t)json_integer_value(v) : -1;
}

static int load_vocab(const char *path, json_t **out, vfr_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open: %s", path, strerror(errno));
  json_error_t jerr;
  json_t *vocab = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
  fclose(f);
  if (!vocab)
    return vfr_fail(err, VFR_EFORMAT, "%s: malformed JSON at line %d: %s", path, jerr.line,
                    jerr.text);
  if (!json_is_object(vocab)) {
    json_decref(vocab);
    return vfr_fail(err, VFR_EFORMAT, "%s: expected an object mapping tokens to ids", path);
  }
  const char *key;
  json_t *value;
  json_object_foreach(vocab, key, value) {
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > INT32_MAX) {
      int rc = vfr_fail(err, VFR_EFORMAT, "%s: the id of token \"%.40s\" is not an integer in [0, 2^31)",
                        path, key);
      json_decref(vocab);
      return rc;
    }
  }
  *out = vocab;
  return VFR_OK;
}

static int read_file(const char *path, long max_bytes, char **out, long *n_out, vfr_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open: %s", path, strerror(errno));
  char *buf = NULL;
  long n = 0;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return vfr_fail(err, VFR_EIO, "%s: cannot read", path);
  }
  if (n > max_bytes) {
    fclose(f);
    return vfr_fail(err, VFR_ELIMIT, "%s: %ld bytes, more than the %ld allowed", path, n, max_bytes);
  }
  buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return vfr_fail(err, VFR_ENOMEM, "%s: cannot allocate %ld bytes", path, n);
  }
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return vfr_fail(err, VFR_EIO, "%s: cannot read", path);
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *n_out = n;
  return VFR_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Parses merges.txt (text, NUL-terminated) into tok->merges, resolving tokens in vocab. */
static int parse_merges(vfr_tokenizer *tok, const char *path, char *text, json_t *vocab,
                        vfr_error *err) {
  int n_lines = 0;
  for (const char *p = text; *p; p++) n_lines += *p == '\n';
  size_t cap = 16;
  while (cap < 2 * (size_t)(n_lines + 1)) cap *= 2;
  tok->merges = malloc(cap * sizeof *tok->merges);
  if (!tok->merges) return vfr_fail(err, VFR_ENOMEM, "%s: cannot allocate the merge table", path);
  for (size_t i = 0; i < cap; i++) tok->merges[i].rank = -1;
  tok->merge_cap = cap;

  char joined[2048];
  int line_no = 0;
  char *line = text;
  while (line && *line && tok->n_merges < MAX_MERGES) {
    char *end = strchr(line, '\n');
    char *next = end ? end + 1 : NULL;
    if (end) *end = '\0';
    line_no++;
    char *fields[3] = {NULL, NULL, NULL};
    int n_fields = 0;
    for (char *p = line; *p;) {
      while (is_blank(*p)) *p++ = '\0';
      if (!*p) break;
      if (n_fields < 3) fields[n_fields] = p;
      n_fields++;
      while (*p && !is_blank(*p)) p++;
    }
    if (line_no == 1 && n_fields > 0 && fields[0][0] == '#') { /* "#version: 0.2" */
      line = next;
      continue;
    }
    if (n_fields != 2)
      return vfr_fail(err, VFR_EFORMAT, "%s: line %d: expected two tokens separated by a space, found %d",
                      path, line_no, n_fields);
    if (strlen(fields[0]) + strlen(fields[1]) >= sizeof joined)
      return vfr_fail(err, VFR_EFORMAT, "%s: line %d: token too long", path, line_no);
    int32_t left = vocab_id(vocab, fields[0]);
    int32_t right = vocab_id(vocab, fields[1]);
    snprintf(joined, sizeof joined, "%s%s", fields[0], fields[1]);
    int32_t merged = vocab_id(vocab, joined);
    const char *missing = left < 0 ? fields[0] : right < 0 ? fields[1] : merged < 0 ? joined : NULL;
    if (missing)
      return vfr_fail(err, VFR_EFORMAT, "%s: line %d: token \"%.40s\" is not in vocab.json", path,
                      line_no, missing);
    put_merge(tok, left, right, tok->n_merges++, merged);
    line = next;
  }
  return VFR_OK;
}

/* Fills the special and single-byte token ids from vocab. */
static int resolve_base_tokens(vfr_tokenizer *tok, const char *path, json_t *vocab, vfr_error *err) {
  tok->sot = vocab_id(vocab, "<|startoftext|>");
  tok->eot = vocab_id(vocab, "<|endoftext|>");
  if (tok->sot < 0 || tok->eot < 0)
    return vfr_fail(err, VFR_EFORMAT, "%s: no %s token", path,
                    tok->sot < 0 ? "<|startoftext|>" : "<|endoftext|>");
  for (int b = 0; b < 256; b++) {
    char key[16];
    int n = vfr_utf8_put(byte_to_unicode(b), (unsigned char *)key);
    key[n] = '\0';
    tok->byte_id[b] = vocab_id(vocab, key);
    memcpy(key + n, "</w>", 5);
    tok->byte_end_id[b] = vocab_id(vocab, key);
    if (tok->byte_id[b] < 0 || tok->byte_end_id[b] < 0)
      return vfr_fail(err, VFR_EFORMAT, "%s: no token for byte 0x%02X", path, b);
  }
  return VFR_OK;
}

int vfr_tokenizer_load(const char *dir, vfr_tokenizer **out, vfr_error *err) {
  if (!dir || !out) return vfr_fail(err, VFR_EINVAL, "tokenizer: no directory given");
  *out = NULL;
  size_t n_dir = strlen(dir);
  char *vocab_path = malloc(n_dir + 16), *merges_path = malloc(n_dir + 16);
  vfr_tokenizer *tok = calloc(1, sizeof *tok);
  json_t *vocab = NULL;
  char *text = NULL;
  long n_text = 0;
  int rc = VFR_OK;
  if (!vocab_path || !merges_path || !tok) {
    rc = vfr_fail(err, VFR_ENOMEM, "%s: cannot allocate the tokenizer", dir);
    goto done;
  }
  snprintf(vocab_path, n_dir + 16, "%s/vocab.json", dir);
  snprintf(merges_path, n_dir + 16, "%s/merges.txt", dir);
  if ((rc = load_vocab(vocab_path, &vocab, err))) goto done;
  if ((rc = resolve_base_tokens(tok, vocab_path, vocab, err))) goto done;
  if ((rc = read_file(merges_path, MAX_MERGES_FILE_BYTES, &text, &n_text, err))) goto done;
  if (strlen(text) != (size_t)n_text) {
    rc = vfr_fail(err, VFR_EFORMAT, "%s: contains a NUL byte", merges_path);
    goto done;
  }
  while (n_text > 0 && (is_blank(text[n_text - 1]) || text[n_text - 1] == '\n')) text[--n_text] = '\0';
  if ((rc = parse_merges(tok, merges_path, text, vocab, err))) goto done;
  *out = tok;
  tok = NULL;
done:
  json_decref(vocab);
  free(text);
  free(vocab_path);
  free(merges_path);
  vfr_tokenizer_free(tok);
  return rc;
}

void vfr_tokenizer_free(vfr_tokenizer *tok) {
  if (!tok) return;
  free(tok->merges);
  free(tok);
}

int32_t vfr_tokenizer_sot(const vfr_tokenizer *tok) { return tok->sot; }
int32_t vfr_tokenizer_eot(const vfr_tokenizer *tok) { return tok->eot; }

/* ---- BPE ------------------------------------------------------------------------ */

/* A candidate merge of the symbol at node `pos` with the next one. */
typedef struct heap_item {
  int32_t rank, pos;
} heap_item;

static int item_less(heap_item a, heap_item b) {
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(heap_item *h, int *n, heap_item x) {
  int i = (*n)++;
  while (i > 0 && item_less(x, h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = x;
}

static heap_item heap_pop(heap_item *h, int *n) {
  heap_item top = h[0], x = h[--*n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && item_less(h[c + 1], h[c])) c++;
    if (!item_less(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = x;
  return top;
}

/* Work memory of one word's merge loop, for words of up to cap bytes. */
typedef struct bpe_work {
  int32_t *sym, *next, *prev; /* each (cap): a doubly linked list of symbols; sym -1 is gone */
  heap_item *heap, *pending;  /* each (3 * cap) */
  int cap;
} bpe_work;

static void bpe_work_free(bpe_work *w) {
  free(w->sym);
  free(w->next);
  free(w->prev);
  free(w->heap);
  free(w->pending);
  memset(w, 0, sizeof *w);
}

static int bpe_work_reserve(bpe_work *w, int n) {
  if (n <= w->cap) return 1;
  bpe_work_free(w);
  w->sym = malloc((size_t)n * sizeof *w->sym);
  w->next = malloc((size_t)n * sizeof *w->next);
  w->prev = malloc((size_t)n * sizeof *w->prev);
  w->heap = malloc(3 * (size_t)n * sizeof *w->heap);
  w->pending = malloc(3 * (size_t)n * sizeof *w->pending);
  if (!w->sym || !w->next || !w->prev || !w->heap || !w->pending) {
    bpe_work_free(w);
    return 0;
  }
  w->cap = n;
  return 1;
}

/* Queues the merge of node i with its successor, if that pair is a known merge. */
static void queue_pair(const vfr_tokenizer *tok, bpe_work *w, int i, heap_item *q, int *n_q) {
  if (i < 0 || w->next[i] < 0) return;
  const merge_slot *m = find_merge(tok, w->sym[i], w->sym[w->next[i]]);
  if (m) q[(*n_q)++] = (heap_item){m->rank, i};
}

/* CLIP's merge loop on the word bytes (n >= 1): repeatedly take the lowest-ranked adjacent
 * pair and merge all its occurrences left to right, until no pair is a known merge. The
 * heap holds candidate pairs by (rank, position); pairs created while one rank is being
 * merged wait in `pending` until that rank is done, so each rank is one left-to-right pass
 * over the word as it stood, exactly as in the reference loop. A merge keeps its left node,
 * so the result is the chain of w->next from node 0. */
static void bpe_word(const vfr_tokenizer *tok, const unsigned char *bytes, int n, bpe_work *w) {
  for (int i = 0; i < n; i++) {
    w->sym[i] = i == n - 1 ? tok->byte_end_id[bytes[i]] : tok->byte_id[bytes[i]];
    w->next[i] = i + 1 < n ? i + 1 : -1;
    w->prev[i] = i - 1;
  }
  int n_heap = 0, n_pending = 0;
  for (int i = 0; i + 1 < n; i++) queue_pair(tok, w, i, w->pending, &n_pending);
  for (int k = 0; k < n_pending; k++) heap_push(w->heap, &n_heap, w->pending[k]);
  n_pending = 0;
  while (n_heap > 0) {
    heap_item it = heap_pop(w->heap, &n_heap);
    int i = it.pos, j = w->next[i];
    const merge_slot *m = (w->sym[i] >= 0 && j >= 0) ? find_merge(tok, w->sym[i], w->sym[j]) : NULL;
    if (m && m->rank == it.rank) { /* still there: merge node j into node i */
      w->sym[i] = m->merged;
      w->sym[j] = -1;
      w->next[i] = w->next[j];
      if (w->next[j] >= 0) w->prev[w->next[j]] = i;
      queue_pair(tok, w, w->prev[i], w->pending, &n_pending);
      queue_pair(tok, w, i, w->pending, &n_pending);
    }
    if (n_heap == 0 || w->heap[0].rank != it.rank) { /* this rank's pass is over */
      for (int k = 0; k < n_pending; k++) heap_push(w->heap, &n_heap, w->pending[k]);
      n_pending = 0;
    }
  }
}

/* ---- pre-tokenizer -------------------------------------------------------------- */

/* The branches of the pattern
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * matched case-insensitively on lower-cased text: the only other code point that then
 * matches a literal letter is U+017F (long s), which folds to 's'. */
static int literal_at(const uint32_t *t, size_t n, size_t i, const char *lit) {
  for (size_t k = 0; lit[k]; k++) {
    if (i + k >= n) return 0;
    uint32_t c = t[i + k];
    if (!(c == (unsigned char)lit[k] || (lit[k] == 's' && c == 0x17F))) return 0;
  }
  return 1;
}

/* Length of the pre-token starting at t[i], or 0 when t[i] starts none (whitespace, U+0345). */
static size_t pretoken_at(const uint32_t *t, size_t n, size_t i) {
  static const char *const literals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                         "'ve", "'m", "'ll", "'d"};
  for (size_t k = 0; k < sizeof literals / sizeof *literals; k++)
    if (literal_at(t, n, i, literals[k])) return strlen(literals[k]);
  uint32_t f = vfr_uc_flags(t[i]);
  size_t j = i + 1;
  if (f & VFR_UC_LETTER) {
    while (j < n && (vfr_uc_flags(t[j]) & VFR_UC_LETTER)) j++;
    return j - i;
  }
  if (f & VFR_UC_NUMBER) return 1;
  const uint32_t not_other = VFR_UC_LETTER | VFR_UC_NUMBER | VFR_UC_SPACE_REGEX | VFR_UC_FOLDS_TO_LETTER;
  if (f & not_other) return 0;
  while (j < n && !(vfr_uc_flags(t[j]) & not_other)) j++;
  return j - i;
}

/* ---- tokenize ------------------------------------------------------------------- */

typedef struct id_sink {
  int32_t *ids; /* (cap) */
  int n, cap, overflow;
} id_sink;

static void sink_put(id_sink *s, int32_t id) {
  if (s->n < s->cap) s->ids[s->n++] = id;
  else s->overflow = 1;
}

int vfr_tokenize(const vfr_tokenizer *tok, const char *utf8_text, int context_length,
                 int32_t *ids, int *n_ids, int truncate, vfr_error *err) {
  if (n_ids) *n_ids = 0;
  if (!tok || !utf8_text || !ids || !n_ids)
    return vfr_fail(err, VFR_EINVAL, "tokenize: missing tokenizer, text or output");
  if (context_length < 2)
    return vfr_fail(err, VFR_EINVAL, "tokenize: context length %d is below 2", context_length);
  size_t n_bytes = strlen(utf8_text);
  if (n_bytes > MAX_TEXT_BYTES)
    return vfr_fail(err, VFR_ELIMIT, "text: %zu bytes, more than the %zu a text may have",
                    n_bytes, MAX_TEXT_BYTES);
  uint32_t *text = NULL;
  size_t n = 0;
  int rc = vfr_clip_clean_text(utf8_text, n_bytes, &text, &n, err);
  if (rc) return rc;

  id_sink out = {ids, 0, context_length, 0};
  sink_put(&out, tok->sot);
  bpe_work work = {0};
  unsigned char *bytes = NULL;
  size_t bytes_cap = 0;
  for (size_t i = 0; i < n && !out.overflow;) {
    size_t len = pretoken_at(text, n, i);
    if (len == 0) {
      i++;
      continue;
    }
    if (4 * len > bytes_cap) {
      free(bytes);
      bytes_cap = 4 * len;
      bytes = malloc(bytes_cap);
      if (!bytes) {
        rc = vfr_fail(err, VFR_ENOMEM, "text: cannot allocate a word of %zu characters", len);
        break;
      }
    }
    int nb = 0;
    for (size_t k = 0; k < len; k++) nb += vfr_utf8_put(text[i + k], bytes + nb);
    i += len;
    if (nb == 15 && !memcmp(bytes, "<|startoftext|>", 15)) {
      sink_put(&out, tok->sot);
      continue;
    }
    if (nb == 13 && !memcmp(bytes, "<|endoftext|>", 13)) {
      sink_put(&out, tok->eot);
      continue;
    }
    if (!bpe_work_reserve(&work, nb)) {
      rc = vfr_fail(err, VFR_ENOMEM, "text: cannot allocate a word of %d bytes", nb);
      break;
    }
    bpe_word(tok, bytes, nb, &work);
    for (int s = 0; s >= 0 && !out.overflow; s = work.next[s])
      sink_put(&out, work.sym[s]);
  }
  free(bytes);
  bpe_work_free(&work);
  free(text);
  if (rc) return rc;

  if (!out.overflow && out.n < context_length) sink_put(&out, tok->eot);
  else out.overflow = 1;
  if (out.overflow) {
    if (!truncate)
      return vfr_fail(err, VFR_ELIMIT, "text: more than %d tokens with start and end: too long for the context",
                      context_length);
    ids[context_length - 1] = tok->eot;
  }
  *n_ids = out.n;
  return VFR_OK;
}
