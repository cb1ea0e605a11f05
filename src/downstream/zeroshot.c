/* CLIP zero-shot classification (see zeroshot.h and docs/downstream.md). */
#include "downstream/zeroshot.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downstream/imagenet_tables.h"
#include "model/clip_text.h"
#include "vfrobust/tokenizer.h"

#define TEMPLATES_MAX_BYTES (1 << 20)
#define TEMPLATES_MAX_COUNT 4096

void vfr_zeroshot_templates_free(char **templates, int count) {
  if (!templates) return;
  for (int i = 0; i < count; i++) free(templates[i]);
  free(templates);
}

static int add_template(char ***list, int *count, const char *text, size_t len, const char *path,
                        int line, vfr_error *err) {
  const char *hole = NULL;
  for (size_t i = 0; i + 1 < len; i++)
    if (text[i] == '{' && text[i + 1] == '}') {
      if (hole) return vfr_fail(err, VFR_EINVAL, "%s: line %d: more than one \"{}\"", path, line);
      hole = text + i;
    }
  if (!hole) return vfr_fail(err, VFR_EINVAL, "%s: line %d: no \"{}\" for the class name", path, line);
  if (*count >= TEMPLATES_MAX_COUNT)
    return vfr_fail(err, VFR_ELIMIT, "%s: more than %d templates", path, TEMPLATES_MAX_COUNT);
  char **grown = realloc(*list, sizeof(char *) * (size_t)(*count + 1));
  if (!grown) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  *list = grown;
  char *copy = malloc(len + 1);
  if (!copy) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  memcpy(copy, text, len);
  copy[len] = '\0';
  (*list)[(*count)++] = copy;
  return VFR_OK;
}

int vfr_zeroshot_templates_read(const char *path, char ***templates, int *count, vfr_error *err) {
  *templates = NULL;
  *count = 0;
  if (!path) {
    const char *t = VFR_ZEROSHOT_DEFAULT_TEMPLATE;
    return add_template(templates, count, t, strlen(t), "default template", 1, err);
  }
  for (int s = 0; s < VFR_TEMPLATE_SET_COUNT; s++) {
    const vfr_template_set *set = &VFR_TEMPLATE_SETS[s];
    if (strcmp(path, set->name) != 0) continue;
    int rc = VFR_OK;
    for (int i = 0; i < set->count && !rc; i++)
      rc = add_template(templates, count, set->templates[i], strlen(set->templates[i]), set->name,
                        i + 1, err);
    if (rc) {
      vfr_zeroshot_templates_free(*templates, *count);
      *templates = NULL;
      *count = 0;
    }
    return rc;
  }
  FILE *f = fopen(path, "rb");
  if (!f) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  char *text = malloc(TEMPLATES_MAX_BYTES + 1);
  if (!text) {
    fclose(f);
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  size_t len = fread(text, 1, TEMPLATES_MAX_BYTES + 1, f);
  int bad_read = ferror(f);
  fclose(f);
  int rc = VFR_OK;
  if (bad_read) rc = vfr_fail(err, VFR_EIO, "%s: cannot read", path);
  else if (len > TEMPLATES_MAX_BYTES) rc = vfr_fail(err, VFR_ELIMIT, "%s: larger than 1 MiB", path);
  else if (memchr(text, '\0', len)) rc = vfr_fail(err, VFR_EFORMAT, "%s: holds a NUL byte (not a text file)", path);
  size_t start = 0;
  for (int line = 1; !rc && start < len; line++) {
    size_t end = start;
    while (end < len && text[end] != '\n') end++;
    size_t stop = end;
    while (stop > start && (text[stop - 1] == '\r' || text[stop - 1] == ' ' || text[stop - 1] == '\t')) stop--;
    size_t first = start;
    while (first < stop && (text[first] == ' ' || text[first] == '\t')) first++;
    if (stop > first) rc = add_template(templates, count, text + first, stop - first, path, line, err);
    start = end + 1;
  }
  free(text);
  if (!rc && *count == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no templates (one per line, each with \"{}\")", path);
  if (rc) {
    vfr_zeroshot_templates_free(*templates, *count);
    *templates = NULL;
    *count = 0;
  }
  return rc;
}

static int by_synset(const void *key, const void *row) {
  return strcmp((const char *)key, ((const vfr_imagenet_class *)row)->synset);
}

int vfr_zeroshot_class_names(const char *classes, char *const *folder_names, int n,
                             const char ***names, vfr_error *err) {
  *names = NULL;
  if (classes && strcmp(classes, "imagenet") != 0)
    return vfr_fail(err, VFR_EINVAL, "%s: unknown class names (imagenet is the one built-in set)",
                    classes);
  const char **out = malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
  if (!out) return vfr_fail(err, VFR_ENOMEM, "zero-shot: out of memory");
  for (int i = 0; i < n; i++) {
    out[i] = folder_names[i];
    if (!classes) continue;
    const vfr_imagenet_class *c = bsearch(folder_names[i], VFR_IMAGENET_CLASSES,
                                          VFR_IMAGENET_CLASS_COUNT, sizeof *c, by_synset);
    if (!c) {
      free(out);
      return vfr_fail(err, VFR_EINVAL, "class '%s' is not an ImageNet synset (--classes imagenet "
                      "maps folders named like n01440764 to CLIP's class names)", folder_names[i]);
    }
    out[i] = c->clip_name;
  }
  *names = out;
  return VFR_OK;
}

int vfr_zeroshot_class_text(const char *class_name, char *out, size_t out_size, vfr_error *err) {
  size_t n = strlen(class_name);
  if (n + 1 > out_size) return vfr_fail(err, VFR_ELIMIT, "%s: class name too long", class_name);
  for (size_t i = 0; i <= n; i++) out[i] = class_name[i] == '_' ? ' ' : class_name[i];
  return VFR_OK;
}

/* template with its "{}" replaced by text; malloc'ed. */
static char *fill_template(const char *templ, const char *text) {
  const char *hole = strstr(templ, "{}");
  size_t before = (size_t)(hole - templ), tl = strlen(text), after = strlen(hole + 2);
  char *s = malloc(before + tl + after + 1);
  if (!s) return NULL;
  memcpy(s, templ, before);
  memcpy(s + before, text, tl);
  memcpy(s + before + tl, hole + 2, after + 1);
  return s;
}

static void normalize(float *v, int d) {
  double ss = 0;
  for (int j = 0; j < d; j++) ss += (double)v[j] * v[j];
  double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
  for (int j = 0; j < d; j++) v[j] = (float)(v[j] * inv);
}

int vfr_zeroshot_class_embeddings(const char *model_dir, const char *const *class_names,
                                  int class_count, char *const *templates, int template_count,
                                  int threads, float **class_embeddings, int *dim,
                                  vfr_error *err) {
  *class_embeddings = NULL;
  *dim = 0;
  if (class_count < 1 || template_count < 1)
    return vfr_fail(err, VFR_EINVAL, "%s: zero-shot needs at least one class and one template", model_dir);
  vfr_tokenizer *tok = NULL;
  vfr_clip_text *text = NULL;
  int rc = vfr_tokenizer_load(model_dir, &tok, err);
  if (!rc) rc = vfr_clip_text_load(model_dir, &text, err);
  if (rc) {
    vfr_tokenizer_free(tok);
    return rc;
  }
  const int T = VFR_CLIP_CONTEXT_LENGTH, d = vfr_clip_text_dim(text), B = template_count;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * T);   /* (B, T) */
  float *emb = malloc(sizeof(float) * (size_t)B * d);        /* (B, d) */
  float *classes = calloc((size_t)class_count * d, sizeof(float)); /* (class_count, d) */
  char name[1024];
  if (!ids || !emb || !classes) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", model_dir);
  for (int c = 0; c < class_count && !rc; c++) {
    rc = vfr_zeroshot_class_text(class_names[c], name, sizeof name, err);
    int longest = 2;
    for (int t = 0; t < B && !rc; t++) {
      char *prompt = fill_template(templates[t], name);
      if (!prompt) {
        rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", model_dir);
        break;
      }
      int n = 0;
      /* OpenAI pads with 0; the tower pools at the end-of-text token, which padding after it
       * cannot reach through the causal mask. Prompts longer than the context are cut, as
       * CLIP's evaluation does with truncate=True. */
      for (int j = 0; j < T; j++) ids[(size_t)t * T + j] = 0;
      rc = vfr_tokenize(tok, prompt, T, ids + (size_t)t * T, &n, 1, err);
      if (rc && err) {
        char why[VFR_ERROR_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", err->message);
        vfr_fail(err, rc, "class '%s', prompt \"%s\": %s", class_names[c], prompt, why);
      }
      free(prompt);
      if (n > longest) longest = n;
    }
    if (rc) break;
    /* Only the first `longest` positions matter: run the tower on (B, longest). */
    if (longest < T)
      for (int t = 1; t < B; t++) memmove(ids + (size_t)t * longest, ids + (size_t)t * T, sizeof(int32_t) * longest);
    rc = vfr_clip_text_forward(text, ids, B, longest, emb, threads, err);
    if (rc) break;
    float *row = classes + (size_t)c * d;
    for (int t = 0; t < B; t++) {
      normalize(emb + (size_t)t * d, d);
      for (int j = 0; j < d; j++) row[j] += emb[(size_t)t * d + j] / (float)B;
    }
    normalize(row, d);
  }
  free(ids);
  free(emb);
  vfr_clip_text_free(text);
  vfr_tokenizer_free(tok);
  if (rc) {
    free(classes);
    return rc;
  }
  *class_embeddings = classes;
  *dim = d;
  return VFR_OK;
}

int vfr_zeroshot_classify(const float *class_embeddings, int class_count, int d,
                          const float *query, int n, int *predicted, vfr_error *err) {
  if (class_count < 1 || d < 1 || n < 0) return vfr_fail(err, VFR_EINVAL, "zero-shot: bad sizes");
  for (int i = 0; i < n; i++) {
    const float *q = query + (size_t)i * d;
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)q[j] * q[j];
    if (!(ss > 0) || !isfinite(ss)) return vfr_fail(err, VFR_EINVAL, "zero-shot: query %d has a zero or non-finite norm", i);
    /* The norm of the query is common to all classes: the argmax of the dot product is the
     * argmax of the cosine. */
    int best = 0;
    double best_dot = -INFINITY;
    for (int c = 0; c < class_count; c++) {
      const float *w = class_embeddings + (size_t)c * d;
      double dot = 0;
      for (int j = 0; j < d; j++) dot += (double)q[j] * w[j];
      if (dot > best_dot) {
        best_dot = dot;
        best = c;
      }
    }
    predicted[i] = best;
  }
  return VFR_OK;
}
