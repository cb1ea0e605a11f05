/* Text cleanup of the CLIP tokenizer, reproducing Python's html.unescape, str.strip,
 * the regex module's \s and str.lower on code points. */
#include "model/tokenizer_text.h"

#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_tables.h"

uint32_t vfr_uc_flags(uint32_t cp) {
  int lo = 0, hi = vfr_uc_n_ranges - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (cp < vfr_uc_ranges[mid].lo) hi = mid - 1;
    else if (cp > vfr_uc_ranges[mid].hi) lo = mid + 1;
    else return vfr_uc_ranges[mid].flags;
  }
  return 0;
}

/* The .to of the pair whose .from is key, or `missing`. */
static uint32_t pair_lookup(const vfr_uc_pair *pairs, int n, uint32_t key, uint32_t missing) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (key < pairs[mid].from) hi = mid - 1;
    else if (key > pairs[mid].from) lo = mid + 1;
    else return pairs[mid].to;
  }
  return missing;
}

int vfr_utf8_put(uint32_t cp, unsigned char *out) {
  if (cp < 0x80) {
    out[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (unsigned char)(0xC0 | (cp >> 6));
    out[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (cp >> 12));
    out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (cp >> 18));
  out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

int vfr_utf8_decode(const char *s, size_t n, uint32_t *cps, size_t *n_cps, const char *what,
                    vfr_error *err) {
  const unsigned char *b = (const unsigned char *)s;
  size_t i = 0, k = 0;
  while (i < n) {
    uint32_t c = b[i];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + (size_t)len > n) goto bad;
    if (len > 1) {
      c &= 0x3F >> (len - 1);
      for (int j = 1; j < len; j++) {
        if ((b[i + j] & 0xC0) != 0x80) goto bad;
        c = (c << 6) | (b[i + j] & 0x3F);
      }
      static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
      if (c < min_of_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto bad;
    }
    cps[k++] = c;
    i += (size_t)len;
  }
  *n_cps = k;
  return VFR_OK;
bad:
  return vfr_fail(err, VFR_EINVAL, "%s: invalid UTF-8 at byte %zu", what, i);
}

/* ---- html.unescape -------------------------------------------------------------- */

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static uint32_t hex_value(uint32_t c) {
  return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The HTML5 value of a numeric reference &#num; as html.unescape gives it: a replacement
 * for some C1 and NUL numbers, U+FFFD out of range, nothing for non-characters and most C0
 * and C1 controls. Returns the number of code points written to out (0 or 1). */
static size_t charref_value(uint32_t num, uint32_t *out) {
  uint32_t fix = pair_lookup(vfr_html_charref_fixes, vfr_html_n_charref_fixes, num, UINT32_MAX);
  if (fix != UINT32_MAX) {
    out[0] = fix;
    return 1;
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out[0] = 0xFFFD;
    return 1;
  }
  if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
      (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
    return 0;
  out[0] = num;
  return 1;
}

static int entity_cmp(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const vfr_html_entity *)elem)->name);
}

/* The entity named by the code points name (n), or NULL. */
static const char *entity_lookup(const uint32_t *name, size_t n) {
  char key[34];
  if (n > 33) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == 0 || name[i] >= 0x80) return NULL; /* every entity name is ASCII */
    key[i] = (char)name[i];
  }
  key[n] = '\0';
  const vfr_html_entity *e =
      bsearch(key, vfr_html_entities, (size_t)vfr_html_n_entities, sizeof *e, entity_cmp);
  return e ? e->value : NULL;
}

/* Appends the code points of the UTF-8 string s (from the entity table) to out. */
static size_t put_utf8_string(const char *s, uint32_t *out) {
  size_t n = 0;
  size_t len = strlen(s);
  vfr_utf8_decode(s, len, out, &n, "entity", NULL); /* the generated table is valid UTF-8 */
  return n;
}

static int stops_entity_name(uint32_t c) {
  return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
         c == ';';
}

/* html.unescape: every match of
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * is replaced, scanning left to right; a match's replacement is never less compact than
 * its source, so out never needs more room than in. */
size_t vfr_html_unescape(const uint32_t *in, size_t n, uint32_t *out) {
  size_t i = 0, k = 0;
  while (i < n) {
    if (in[i] != '&') {
      out[k++] = in[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < n && in[j] == '#') {
      uint32_t num = 0; /* saturates above U+10FFFF: any larger number means U+FFFD */
      int hex = j + 1 < n && (in[j + 1] == 'x' || in[j + 1] == 'X') && j + 2 < n && is_hex(in[j + 2]);
      if (hex) {
        for (j = j + 2; j < n && is_hex(in[j]); j++)
          num = num > 0x10FFFF ? num : num * 16 + hex_value(in[j]);
      } else if (j + 1 < n && is_digit(in[j + 1])) {
        for (j = j + 1; j < n && is_digit(in[j]); j++)
          num = num > 0x10FFFF ? num : num * 10 + (in[j] - '0');
      } else {
        out[k++] = in[i++]; /* "&#" not followed by a number: no reference */
        continue;
      }
      if (j < n && in[j] == ';') j++;
      k += charref_value(num, out + k);
      i = j;
      continue;
    }
    size_t len = 0; /* the name: up to 32 code points, then an optional ';' */
    while (len < 32 && j + len < n && !stops_entity_name(in[j + len])) len++;
    if (len == 0) {
      out[k++] = in[i++];
      continue;
    }
    if (j + len < n && in[j + len] == ';') len++;
    const char *value = entity_lookup(in + j, len);
    size_t used = len;
    for (size_t x = len - 1; !value && x >= 2; x--) { /* the longest known prefix */
      value = entity_lookup(in + j, x);
      if (value) used = x;
    }
    if (!value) { /* not a reference: copied as it is */
      memmove(out + k, in + i, (1 + len) * sizeof *out);
      k += 1 + len;
    } else {
      k += put_utf8_string(value, out + k);
      memmove(out + k, in + j + used, (len - used) * sizeof *out);
      k += len - used;
    }
    i = j + len;
  }
  return k;
}

/* ---- whitespace and case ---------------------------------------------------------- */

size_t vfr_strip_space(uint32_t *cps, size_t n) {
  size_t a = 0, b = n;
  while (a < b && (vfr_uc_flags(cps[a]) & VFR_UC_SPACE_PY)) a++;
  while (b > a && (vfr_uc_flags(cps[b - 1]) & VFR_UC_SPACE_PY)) b--;
  memmove(cps, cps + a, (b - a) * sizeof *cps);
  return b - a;
}

size_t vfr_collapse_space(uint32_t *cps, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (vfr_uc_flags(cps[i]) & VFR_UC_SPACE_REGEX) {
      while (i < n && (vfr_uc_flags(cps[i]) & VFR_UC_SPACE_REGEX)) i++;
      cps[k++] = ' ';
    } else {
      cps[k++] = cps[i++];
    }
  }
  return k;
}

/* Final_Sigma: capital sigma at in[i] becomes final sigma when a cased letter precedes it
 * and none follows, skipping case-ignorable characters both ways. */
static int is_final_sigma(const uint32_t *in, size_t n, size_t i) {
  size_t j = i;
  uint32_t f = 0;
  while (j > 0) {
    f = vfr_uc_flags(in[--j]);
    if (!(f & VFR_UC_CASE_IGNORABLE)) break;
    f = 0;
  }
  if (!(f & VFR_UC_CASED)) return 0;
  for (j = i + 1; j < n; j++) {
    f = vfr_uc_flags(in[j]);
    if (!(f & VFR_UC_CASE_IGNORABLE)) return !(f & VFR_UC_CASED);
  }
  return 1;
}

size_t vfr_lower(const uint32_t *in, size_t n, uint32_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      out[k++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else if (c == 0x130) { /* capital I with dot above: "i" + combining dot above */
      out[k++] = 'i';
      out[k++] = 0x307;
    } else if (c == 0x3A3) {
      out[k++] = is_final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
    } else {
      out[k++] = pair_lookup(vfr_uc_lower, vfr_uc_n_lower, c, c);
    }
  }
  return k;
}

int vfr_clip_clean_text(const char *text, size_t n, uint32_t **out, size_t *n_out,
                        vfr_error *err) {
  *out = NULL;
  *n_out = 0;
  uint32_t *a = malloc((n + 1) * sizeof *a);
  uint32_t *b = malloc((2 * n + 1) * sizeof *b);
  if (!a || !b) {
    free(a);
    free(b);
    return vfr_fail(err, VFR_ENOMEM, "text: cannot allocate cleanup buffers for %zu bytes", n);
  }
  size_t m;
  int rc = vfr_utf8_decode(text, n, a, &m, "text", err);
  if (rc) {
    free(a);
    free(b);
    return rc;
  }
  m = vfr_html_unescape(a, m, b);
  m = vfr_html_unescape(b, m, a);
  m = vfr_strip_space(a, m);
  m = vfr_collapse_space(a, m);
  m = vfr_strip_space(a, m);
  m = vfr_lower(a, m, b);
  free(a);
  *out = b;
  *n_out = m;
  return VFR_OK;
}
