/* Listing the images of a dataset: ImageFolder trees, flat folders, CSV lists. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/splitmix.h"
#include "study/csv.h"
#include "vfrobust/dataset.h"

/* A growable list of strings. */
typedef struct strlist {
  char **v;
  int n, cap;
} strlist;

static int strlist_push(strlist *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s))) return -1;
  l->n++;
  return 0;
}

static void strlist_free(strlist *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_image_extension(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  char ext[8];
  size_t n = strlen(dot + 1);
  if (n == 0 || n >= sizeof ext) return 0;
  for (size_t i = 0; i <= n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
  return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png") || !strcmp(ext, "webp");
}

/* The format of an image file this tool does not read ("GIF"), or NULL. */
static const char *unsupported_format(const char *name) {
  static const char *const ext[][2] = {{"gif", "GIF"},   {"tif", "TIFF"},  {"tiff", "TIFF"}, {"bmp", "BMP"},
                                       {"heic", "HEIC"}, {"heif", "HEIF"}, {"avif", "AVIF"}, {"jxl", "JPEG XL"},
                                       {"ico", "ICO"},   {"jp2", "JPEG 2000"}};
  const char *dot = strrchr(name, '.');
  if (!dot) return NULL;
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (!strcasecmp(dot + 1, ext[i][0])) return ext[i][1];
  return NULL;
}

static const char *file_kind(mode_t m) {
  return S_ISFIFO(m) ? "a named pipe" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static int push_ignored(strlist *l, const char *name, const char *why) {
  size_t n = strlen(name) + strlen(why) + 3;
  char *s = malloc(n);
  if (!s) return -1;
  snprintf(s, n, "%s: %s", name, why);
  int rc = strlist_push(l, s);
  free(s);
  return rc;
}

static char *join(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  int slash = na > 0 && a[na - 1] != '/';
  char *s = malloc(na + nb + 2);
  if (!s) return NULL;
  memcpy(s, a, na);
  if (slash) s[na++] = '/';
  memcpy(s + na, b, nb + 1);
  return s;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends the images under dir (recursively), with names relative to `rel`, sorted; files
 * with image names that cannot be used go to `ignored`. Nothing is opened but folders. */
static int walk(const char *dir, const char *rel, strlist *out, strlist *ignored, int depth, vfr_error *err) {
  if (depth > 32) return vfr_fail(err, VFR_ELIMIT, "%s: folders nested too deep", dir);
  DIR *d = opendir(dir);
  if (!d) return vfr_fail(err, VFR_EIO, "%s: cannot open folder (%s)", dir, strerror(errno));
  strlist names = {0};
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (strlist_push(&names, e->d_name)) { rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir); break; }
  }
  closedir(d);
  if (rc) { strlist_free(&names); return rc; }
  if (names.n > 1) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
  for (int i = 0; i < names.n && !rc; i++) {
    char *full = join(dir, names.v[i]);
    char *relname = rel[0] ? join(rel, names.v[i]) : strdup(names.v[i]);
    struct stat st;
    const char *format = NULL;
    int listed = 0;
    if (!full || !relname) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
    else if (stat(full, &st) != 0) {
      if (has_image_extension(names.v[i]) || unsupported_format(names.v[i]))
        listed = push_ignored(ignored, relname, strerror(errno)) ? -1 : 1;
    } else if (S_ISDIR(st.st_mode)) rc = walk(full, relname, out, ignored, depth + 1, err);
    else if (has_image_extension(names.v[i])) {
      listed = S_ISREG(st.st_mode) ? strlist_push(out, relname) : push_ignored(ignored, relname, file_kind(st.st_mode));
    } else if ((format = unsupported_format(names.v[i]))) {
      char why[64];
      snprintf(why, sizeof why, "unsupported format (%s)", format);
      listed = push_ignored(ignored, relname, why);
    }
    if (!rc && listed < 0) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
    free(full);
    free(relname);
  }
  strlist_free(&names);
  return rc;
}

static int add_item(vfr_dataset *ds, int *cap, const char *root, const char *name, int label) {
  if (ds->count == *cap) {
    int c = *cap ? 2 * *cap : 256;
    vfr_dataset_item *v = realloc(ds->items, (size_t)c * sizeof *v);
    if (!v) return -1;
    ds->items = v;
    *cap = c;
  }
  vfr_dataset_item *it = &ds->items[ds->count];
  it->path = (name[0] == '/') ? strdup(name) : join(root, name);
  it->name = strdup(name);
  it->label = label;
  if (!it->path || !it->name) {
    free(it->path);
    free(it->name);
    return -1;
  }
  ds->count++;
  return 0;
}

static int open_folder(const char *root, vfr_dataset *ds, vfr_error *err) {
  /* Classes are the sub-folders; loose files next to them make it unlabelled only
   * when there are no sub-folders at all. */
  DIR *d = opendir(root);
  if (!d) return vfr_fail(err, VFR_EIO, "%s: cannot open folder (%s)", root, strerror(errno));
  strlist classes = {0};
  struct dirent *e;
  int rc = 0, cap = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *full = join(root, e->d_name);
    if (!full) { rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", root); break; }
    if (is_dir(full) && strlist_push(&classes, e->d_name))
      rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", root);
    free(full);
    if (rc) break;
  }
  closedir(d);
  if (rc) { strlist_free(&classes); return rc; }
  if (classes.n > 1) qsort(classes.v, (size_t)classes.n, sizeof *classes.v, cmp_str);

  strlist files = {0}, ignored = {0};
  if (classes.n == 0) {
    rc = walk(root, "", &files, &ignored, 0, err);
    for (int i = 0; i < files.n && !rc; i++)
      if (add_item(ds, &cap, root, files.v[i], -1)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", root);
  } else {
    for (int c = 0; c < classes.n && !rc; c++) {
      char *dir = join(root, classes.v[c]);
      if (!dir) { rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", root); break; }
      strlist_free(&files);
      rc = walk(dir, classes.v[c], &files, &ignored, 1, err);
      free(dir);
      for (int i = 0; i < files.n && !rc; i++)
        if (add_item(ds, &cap, root, files.v[i], c)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", root);
    }
    if (!rc) {
      ds->class_names = classes.v;
      ds->class_count = classes.n;
      classes.v = NULL;
      classes.n = 0;
    }
  }
  if (!rc) {
    ds->ignored = ignored.v;
    ds->ignored_count = ignored.n;
    ignored.v = NULL;
    ignored.n = 0;
  }
  strlist_free(&ignored);
  strlist_free(&files);
  strlist_free(&classes);
  return rc;
}

static int find_column(const vfr_csv_row *header, const char *const *names) {
  for (int i = 0; i < header->count; i++)
    for (int k = 0; names[k]; k++)
      if (!strcmp(header->fields[i], names[k])) return i;
  return -1;
}

static int open_csv(const char *path, vfr_dataset *ds, vfr_error *err) {
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  if (csv.row_count < 1) {
    vfr_csv_free(&csv);
    return vfr_fail(err, VFR_EFORMAT, "%s: empty CSV (a header row with a `path` column is needed)", path);
  }
  static const char *const path_names[] = {"path", "image", "file", NULL};
  static const char *const label_names[] = {"label", "class", NULL};
  int pcol = find_column(&csv.rows[0], path_names);
  int lcol = find_column(&csv.rows[0], label_names);
  if (pcol < 0) {
    vfr_csv_free(&csv);
    return vfr_fail(err, VFR_EFORMAT, "%s: the header row has no `path` column", path);
  }
  /* Root for relative paths: the CSV's folder. */
  char *root = strdup(path);
  if (!root) { vfr_csv_free(&csv); return vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path); }
  char *slash = strrchr(root, '/');
  if (slash) slash[1] = '\0';
  else root[0] = '\0';

  strlist classes = {0};
  if (lcol >= 0) {
    for (int r = 1; r < csv.row_count && !rc; r++) {
      const vfr_csv_row *row = &csv.rows[r];
      if (lcol >= row->count) continue;
      int seen = 0;
      for (int c = 0; c < classes.n && !seen; c++) seen = !strcmp(classes.v[c], row->fields[lcol]);
      if (!seen && strlist_push(&classes, row->fields[lcol])) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
    }
    if (classes.n > 1) qsort(classes.v, (size_t)classes.n, sizeof *classes.v, cmp_str);
  }
  int cap = 0;
  for (int r = 1; r < csv.row_count && !rc; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && row->fields[0][0] == '\0') continue; /* blank line */
    if (pcol >= row->count || (lcol >= 0 && lcol >= row->count)) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d has %d fields, the header has %d", path,
                    row->line, row->count, csv.rows[0].count);
      break;
    }
    int label = -1;
    if (lcol >= 0) {
      const char *name = row->fields[lcol];
      char **hit = bsearch(&name, classes.v, (size_t)classes.n, sizeof *classes.v, cmp_str);
      label = (int)(hit - classes.v);
    }
    if (row->fields[pcol][0] == '\0') {
      rc = vfr_fail(err, VFR_EFORMAT, "%s: line %d has an empty path", path, row->line);
      break;
    }
    if (add_item(ds, &cap, root, row->fields[pcol], label)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  free(root);
  vfr_csv_free(&csv);
  if (!rc && lcol >= 0) {
    ds->class_names = classes.v;
    ds->class_count = classes.n;
  } else {
    strlist_free(&classes);
  }
  return rc;
}

void vfr_dataset_free(vfr_dataset *ds) {
  if (!ds) return;
  for (int i = 0; i < ds->count; i++) {
    free(ds->items[i].path);
    free(ds->items[i].name);
  }
  free(ds->items);
  for (int i = 0; i < ds->class_count; i++) free(ds->class_names[i]);
  free(ds->class_names);
  for (int i = 0; i < ds->ignored_count; i++) free(ds->ignored[i]);
  free(ds->ignored);
  memset(ds, 0, sizeof *ds);
}

int vfr_dataset_open(const char *path, vfr_dataset *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  struct stat st;
  if (stat(path, &st) != 0) return vfr_fail(err, VFR_EIO, "%s: %s", path, strerror(errno));
  int rc;
  if (S_ISDIR(st.st_mode)) {
    rc = open_folder(path, out, err);
  } else {
    size_t n = strlen(path);
    if (n < 4 || strcasecmp(path + n - 4, ".csv") != 0)
      return vfr_fail(err, VFR_EINVAL, "%s: not a folder or a .csv file list", path);
    if (!S_ISREG(st.st_mode)) return vfr_fail(err, VFR_EINVAL, "%s: %s, not a .csv file list", path, file_kind(st.st_mode));
    rc = open_csv(path, out, err);
  }
  if (!rc && out->count == 0 && out->ignored_count > 0)
    rc = vfr_fail(err, VFR_EINVAL, "%s: no usable images (.jpg .jpeg .png .webp); %d ignored, e.g. %s", path,
                  out->ignored_count, out->ignored[0]);
  else if (!rc && out->count == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no images found (.jpg .jpeg .png .webp)", path);
  if (rc) vfr_dataset_free(out);
  return rc;
}

int vfr_dataset_shard(vfr_dataset *ds, int shard, int shards, vfr_error *err) {
  if (shards < 1 || shard < 0 || shard >= shards)
    return vfr_fail(err, VFR_EINVAL, "shard %d of %d is not valid", shard, shards);
  int k = 0;
  for (int i = 0; i < ds->count; i++) {
    if (i % shards == shard) ds->items[k++] = ds->items[i];
    else {
      free(ds->items[i].path);
      free(ds->items[i].name);
    }
  }
  ds->count = k;
  return VFR_OK;
}

/* SplitMix64: the seeded draws of the sample. */
static uint64_t mix(uint64_t *s) { return vfr_splitmix_next(s); }

static uint64_t draw_below(uint64_t *s, uint64_t n) { /* uniform in 0..n-1 (n >= 1) */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
  do v = mix(s);
  while (v >= limit);
  return v % n;
}

/* Keeps a stratified seeded sample of `limit` < ds->count items (see dataset.h). */
static void sample_stratified(vfr_dataset *ds, int limit, uint64_t seed) {
  int S = ds->class_count + 1; /* stratum s: class s, or S-1 for the unlabelled */
  int n = ds->count;
  int *size = calloc((size_t)S, sizeof *size), *quota = calloc((size_t)S, sizeof *quota);
  int *order = malloc(sizeof *order * (size_t)S), *idx = malloc(sizeof *idx * (size_t)n);
  double *frac = malloc(sizeof *frac * (size_t)S);
  char *keep = calloc((size_t)n, 1);
  if (!size || !quota || !order || !idx || !frac || !keep) { /* no memory: the first `limit` */
    for (int i = limit; i < n; i++) {
      free(ds->items[i].path);
      free(ds->items[i].name);
    }
    if (limit < n) ds->count = limit;
    goto done;
  }
  for (int i = 0; i < n; i++) size[ds->items[i].label >= 0 ? ds->items[i].label : S - 1]++;
  int given = 0;
  for (int s = 0; s < S; s++) {
    double q = (double)limit * size[s] / n;
    quota[s] = (int)q;
    frac[s] = q - quota[s];
    given += quota[s];
    order[s] = s;
  }
  uint64_t st = seed ^ 0x5d1c0a7ef00dULL;
  for (int s = S - 1; s > 0; s--) { /* a seeded order breaks ties among equal remainders */
    int j = (int)draw_below(&st, (uint64_t)s + 1), t = order[s];
    order[s] = order[j];
    order[j] = t;
  }
  while (given < limit) { /* the largest remainders, first in the seeded order on ties */
    int best = -1;
    for (int k = 0; k < S; k++) {
      int s = order[k];
      if (quota[s] < size[s] && (best < 0 || frac[s] > frac[best])) best = s;
    }
    if (best < 0) break;
    quota[best]++;
    frac[best] = -1;
    given++;
  }
  for (int s = 0; s < S; s++) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if ((ds->items[i].label >= 0 ? ds->items[i].label : S - 1) == s) idx[m++] = i;
    uint64_t cs = seed;
    const char *name = s < S - 1 ? ds->class_names[s] : "";
    for (const char *c = name; *c; c++) cs = (cs ^ (unsigned char)*c) * 1099511628211ULL;
    cs ^= (uint64_t)s * 0x9e3779b97f4a7c15ULL;
    for (int k = 0; k < quota[s] && k < m; k++) { /* a partial Fisher-Yates shuffle */
      int j = k + (int)draw_below(&cs, (uint64_t)(m - k)), t = idx[k];
      idx[k] = idx[j];
      idx[j] = t;
      keep[idx[k]] = 1;
    }
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (keep[i]) ds->items[k++] = ds->items[i];
    else {
      free(ds->items[i].path);
      free(ds->items[i].name);
    }
  }
  ds->count = k;
done:
  free(size);
  free(quota);
  free(order);
  free(idx);
  free(frac);
  free(keep);
}

void vfr_dataset_limit(vfr_dataset *ds, int per_class, int limit) { vfr_dataset_limit_seeded(ds, per_class, limit, 0); }

void vfr_dataset_limit_seeded(vfr_dataset *ds, int per_class, int limit, uint64_t seed) {
  if (per_class <= 0 && limit > 0) {
    if (limit < ds->count) sample_stratified(ds, limit, seed);
    return;
  }
  int k = 0;
  int *taken = NULL;
  if (per_class > 0 && ds->class_count > 0) taken = calloc((size_t)ds->class_count, sizeof *taken);
  for (int i = 0; i < ds->count; i++) {
    vfr_dataset_item it = ds->items[i];
    int keep = limit <= 0 || k < limit;
    if (keep && taken && it.label >= 0) keep = taken[it.label] < per_class;
    if (keep) {
      if (taken && it.label >= 0) taken[it.label]++;
      ds->items[k++] = it;
    } else {
      free(it.path);
      free(it.name);
    }
  }
  ds->count = k;
  free(taken);
}
