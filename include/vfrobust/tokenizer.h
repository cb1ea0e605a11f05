/* The CLIP text tokenizer: byte-level BPE over vocab.json and merges.txt of a Hugging Face
 * CLIP folder, with the semantics of OpenAI CLIP's SimpleTokenizer run without ftfy.
 *
 *   vfr_tokenizer *tok;
 *   if (vfr_tokenizer_load("clip-vit-base-patch32", &tok, &err)) ...
 *   int32_t ids[77]; int n;
 *   vfr_tokenize(tok, "a photo of a dog", 77, ids, &n, 1, &err);
 *   // ids = 49406 320 1125 539 320 1929 49407, n = 7
 *   vfr_tokenizer_free(tok);
 *
 * A loaded tokenizer is read-only: several threads may tokenize with it at once.
 * docs/tokenizer.md describes the cleanup, the pre-tokenizer and the merge loop. */
#ifndef VFROBUST_TOKENIZER_H
#define VFROBUST_TOKENIZER_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_tokenizer vfr_tokenizer;

/* The context length of every CLIP text tower. */
#define VFR_CLIP_CONTEXT_LENGTH 77

/* Loads dir/vocab.json (an object token -> id, with <|startoftext|> and <|endoftext|>)
 * and dir/merges.txt (one "left right" merge per line, in rank order; a first line starting
 * with '#' is a comment; as in CLIP, at most 48,894 merges are read). Errors name the file
 * (and line): VFR_EIO when unreadable, VFR_EFORMAT when malformed or inconsistent. */
VFR_API int vfr_tokenizer_load(const char *dir, vfr_tokenizer **out, vfr_error *err);

VFR_API void vfr_tokenizer_free(vfr_tokenizer *tok);

/* The id of <|startoftext|> and of <|endoftext|> (49406 and 49407 in CLIP). */
VFR_API int32_t vfr_tokenizer_sot(const vfr_tokenizer *tok);
VFR_API int32_t vfr_tokenizer_eot(const vfr_tokenizer *tok);

/* Tokenizes utf8_text (NUL-terminated UTF-8) into ids, which is (context_length):
 * [<|startoftext|>] + BPE ids + [<|endoftext|>], *n_ids of them, as OpenAI's
 * clip.tokenize(text, context_length, truncate) does. When that is longer than
 * context_length (>= 2): with truncate set, the first context_length ids are kept and the
 * last is made <|endoftext|>; without it, fails with VFR_ELIMIT. Tokenizing stops as soon as
 * context_length is reached, so long texts cost little beyond their cleanup.
 * ids[*n_ids..] are left untouched: padding is the caller's. OpenAI pads with 0, Hugging Face's
 * CLIPTokenizer pads with <|endoftext|>; the text tower reads the <|endoftext|> position and
 * its causal mask keeps padding from reaching it, so either gives the same embedding.
 * Invalid UTF-8 fails with VFR_EINVAL; a text over 1 MiB with VFR_ELIMIT. */
VFR_API int vfr_tokenize(const vfr_tokenizer *tok, const char *utf8_text, int context_length,
                 int32_t *ids, int *n_ids, int truncate, vfr_error *err);

#ifdef __cplusplus
}
#endif
#endif
