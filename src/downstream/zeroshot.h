/* CLIP zero-shot classification: one text embedding per class from prompt templates, and
 * the class of each image embedding by cosine similarity (docs/downstream.md). */
#ifndef VFR_DOWNSTREAM_ZEROSHOT_H
#define VFR_DOWNSTREAM_ZEROSHOT_H

#include <stddef.h>

#include "vfrobust/error.h"

/* The default template, as in CLIP's zero-shot evaluation of a single prompt. */
#define VFR_ZEROSHOT_DEFAULT_TEMPLATE "a photo of a {}."

/* Prompt templates: the built-in set named path ("openai80": CLIP's 80 ImageNet templates,
 * "simple": OpenCLIP's 7), else read from the file path (one per line; blank lines ignored;
 * each must contain "{}" exactly once), or the default template when path is NULL. *templates (count) and
 * its strings are malloc'ed; free with vfr_zeroshot_templates_free. */
int vfr_zeroshot_templates_read(const char *path, char ***templates, int *count, vfr_error *err);
void vfr_zeroshot_templates_free(char **templates, int count);

/* The text of each class: folder_names itself (classes NULL), or with classes "imagenet"
 * CLIP's class name of each synset folder name ("n01440764" -> "tench"); a name that is not
 * one of the 1,000 synsets is an error naming it. *names (n) is malloc'ed (free it, not its
 * strings, which are borrowed from folder_names or static). */
int vfr_zeroshot_class_names(const char *classes, char *const *folder_names, int n,
                             const char ***names, vfr_error *err);

/* A class folder name as text: underscores become spaces ("golden_retriever" -> "golden
 * retriever"). out has room for out_size bytes; a longer name is an error. */
int vfr_zeroshot_class_text(const char *class_name, char *out, size_t out_size, vfr_error *err);

/* The class embeddings of the CLIP folder model_dir (its tokenizer and text tower): for each
 * class, every template filled with the class text is embedded, each embedding L2-normalised,
 * their mean L2-normalised again. class_embeddings (class_count, *dim) is malloc'ed. */
int vfr_zeroshot_class_embeddings(const char *model_dir, const char *const *class_names,
                                  int class_count, char *const *templates, int template_count,
                                  int threads, float **class_embeddings, int *dim,
                                  vfr_error *err);

/* predicted (n) = argmax over classes of cos(query_i, class_embeddings_c), ties to the lowest
 * class; query is (n, d), class_embeddings (class_count, d) unit rows. A zero or non-finite
 * query row is an error. */
int vfr_zeroshot_classify(const float *class_embeddings, int class_count, int d,
                          const float *query, int n, int *predicted, vfr_error *err);

#endif
