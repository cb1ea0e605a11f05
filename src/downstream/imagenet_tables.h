/* CLIP's zero-shot ImageNet data compiled into the library (imagenet_tables.c, generated
 * from data/imagenet/ by scripts/gen_imagenet_tables.py): the 1,000 synsets in index order
 * with CLIP's class names, and the named prompt template sets. */
#ifndef VFR_DOWNSTREAM_IMAGENET_TABLES_H
#define VFR_DOWNSTREAM_IMAGENET_TABLES_H

enum { VFR_IMAGENET_CLASS_COUNT = 1000, VFR_TEMPLATE_SET_COUNT = 2 };

typedef struct vfr_imagenet_class {
  const char *synset;    /* "n01440764" (sorted: the index order) */
  const char *clip_name; /* "tench" */
} vfr_imagenet_class;

typedef struct vfr_template_set {
  const char *name;             /* "openai80", "simple" */
  const char *const *templates; /* each with one "{}" */
  int count;
} vfr_template_set;

extern const vfr_imagenet_class VFR_IMAGENET_CLASSES[VFR_IMAGENET_CLASS_COUNT];
extern const vfr_template_set VFR_TEMPLATE_SETS[VFR_TEMPLATE_SET_COUNT];

#endif
