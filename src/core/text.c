/* UTF-8 text from file-name bytes (see text.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_text.h"
#include "core/text.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (!n) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
  if (c == 0xed && p[1] > 0x9f) return 0; /* surrogate */
  if (c == 0xf0 && p[1] < 0x90) return 0; /* overlong */
  if (c == 0xf4 && p[1] > 0x8f) return 0; /* above U+10FFFF */
  return n;
}

char *vfr_text_utf8(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *out = malloc(4 * n + 1);
  if (!out) return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t k = 0;
  while (*p) {
    size_t len = utf8_len(p);
    if (len) {
      memcpy(out + k, p, len);
      k += len;
      p += len;
    } else {
      snprintf(out + k, 5, "\\x%02x", *p++);
      k += 4;
    }
  }
  out[k] = '\0';
  return out;
}

json_t *vfr_json_text(const char *s) {
  char *t = vfr_text_utf8(s);
  if (!t) return NULL;
  json_t *j = json_string(t);
  free(t);
  return j;
}
