/* Image sets: an ImageFolder tree, a flat folder of images, or a CSV file list. */
#ifndef VFROBUST_DATASET_H
#define VFROBUST_DATASET_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_dataset_item {
  char *path;   /* the image file, as a path usable from the current directory */
  char *name;   /* the path relative to the dataset root (stable across machines) */
  int label;    /* class index into class_names, or -1 when unlabelled */
} vfr_dataset_item;

typedef struct vfr_dataset {
  int count;
  vfr_dataset_item *items;  /* (count) in a deterministic order */
  int class_count;
  char **class_names;       /* (class_count), sorted byte-wise */
  int ignored_count;
  char **ignored;           /* (ignored_count) "NAME: reason" for each file of a folder that
                               is not used: not a regular file (a FIFO, a device), or an
                               image format that is not supported (GIF, TIFF, BMP, ...) */
} vfr_dataset;

/* Lists the images of `path`:
 *  - a folder with sub-folders: ImageFolder layout, one sub-folder per class; classes sorted
 *    by name, images found recursively in each, sorted by path (as torchvision does);
 *  - a folder with images only: an unlabelled set, sorted by name;
 *  - a .csv file: a header row naming a `path` column (also `image` or `file`) and an
 *    optional `label` column (class names or integers); relative paths are resolved against
 *    the CSV's folder; class names sorted byte-wise give the label indices.
 * Images are files ending in .jpg .jpeg .png .webp (any case). Hidden entries (".x") are
 * skipped. Files are examined (stat) before any is opened: a file with an image name that is
 * not a regular file, and an image of an unsupported format, are listed in `ignored`, never
 * opened. An empty set is an error. */
VFR_API int vfr_dataset_open(const char *path, vfr_dataset *out, vfr_error *err);
VFR_API void vfr_dataset_free(vfr_dataset *ds);

/* Keeps the items i with i % shards == shard (splits a study across processes). */
VFR_API int vfr_dataset_shard(vfr_dataset *ds, int shard, int shards, vfr_error *err);

/* Keeps at most `per_class` images of each class (all when <= 0), and at most `limit`
 * in all (all when <= 0), preserving order. With per_class: the first per_class images of
 * each class, then the first `limit` of those. Without per_class, `limit` draws a sample
 * stratified by class and seeded (vfr_dataset_limit_seeded with seed 0). */
VFR_API void vfr_dataset_limit(vfr_dataset *ds, int per_class, int limit);

/* As vfr_dataset_limit; a limit without per_class keeps a stratified sample of `limit`
 * images: each class (the unlabelled images forming one more) gets its share of limit in
 * proportion to its size (largest remainders, ties in a seeded order), and within a class
 * the images are a seeded random choice; the kept images stay in dataset order. The same
 * listing, limit and seed always keep the same images. */
VFR_API void vfr_dataset_limit_seeded(vfr_dataset *ds, int per_class, int limit, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
