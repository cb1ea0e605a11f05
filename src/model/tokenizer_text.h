/* Text cleanup of the CLIP tokenizer, on Unicode code points: UTF-8 decoding, HTML
 * unescaping, whitespace cleanup, lower-casing and the character classes of the
 * pre-tokenizer. Each step reproduces the Python function OpenAI's tokenizer calls. */
#ifndef VFR_MODEL_TOKENIZER_TEXT_H
#define VFR_MODEL_TOKENIZER_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"

/* The VFR_UC_* flags of code point cp (see tokenizer_tables.h). */
uint32_t vfr_uc_flags(uint32_t cp);

/* Writes cp as UTF-8 into out (4 bytes room); returns the number of bytes. */
int vfr_utf8_put(uint32_t cp, unsigned char *out);

/* Decodes n bytes of strict UTF-8 (no surrogates, no overlongs) into cps, which has room for
 * n code points; sets *n_cps. Fails with VFR_EINVAL naming `what` and the byte offset. */
int vfr_utf8_decode(const char *s, size_t n, uint32_t *cps, size_t *n_cps, const char *what,
                    vfr_error *err);

/* Python's html.unescape(): in is (n) code points, out has room for n (never grows). */
size_t vfr_html_unescape(const uint32_t *in, size_t n, uint32_t *out);

/* Python's str.strip() (str.isspace() characters) in place; returns the new length. */
size_t vfr_strip_space(uint32_t *cps, size_t n);

/* The regex `\s+` -> " " substitution, in place; returns the new length. */
size_t vfr_collapse_space(uint32_t *cps, size_t n);

/* Python's str.lower(), Final_Sigma included: in is (n), out has room for 2n. */
size_t vfr_lower(const uint32_t *in, size_t n, uint32_t *out);

/* The whole cleanup of OpenAI's CLIP tokenizer without ftfy:
 *   lower(whitespace_clean(strip(unescape(unescape(text)))))
 * on text, n bytes of UTF-8. Returns in *out (malloc'd, free it) the *n_out code points. */
int vfr_clip_clean_text(const char *text, size_t n, uint32_t **out, size_t *n_out,
                        vfr_error *err);

#endif
