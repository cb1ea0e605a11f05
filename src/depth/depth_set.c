/* RGB-D sets: a folder of images with depth PNGs beside them, or a CSV list
 * (vfr_depth_set_open in include/vfrobust/depth.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/files.h"
#include "study/csv.h"
#include "vfrobust/depth.h"

typedef struct item_list {
  vfr_depth_item *items;
  int count, cap;
} item_list;

static int push(item_list *l, const char *image, const char *depth, const char *name, double scale) {
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    vfr_depth_item *n = realloc(l->items, sizeof *n * (size_t)cap);
    if (!n) return VFR_ENOMEM;
    l->items = n;
    l->cap = cap;
  }
  vfr_depth_item *it = &l->items[l->count];
  it->image = strdup(image);
  it->depth = strdup(depth);
  it->name = strdup(name);
  it->scale = scale;
  if (!it->image || !it->depth || !it->name) {
    free(it->image);
    free(it->depth);
    free(it->name);
    return VFR_ENOMEM;
  }
  l->count++;
  return VFR_OK;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcasecmp(s + n - k, suffix);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The depth PNG of image `path` (NAME_depth.png, or NAME.png for a non-PNG image). */
static int depth_of(const char *path, char *out, size_t size) {
  const char *dot = strrchr(path, '.');
  if (!dot) return 0;
  size_t stem = (size_t)(dot - path);
  snprintf(out, size, "%.*s_depth.png", (int)stem, path);
  if (is_file(out)) return 1;
  if (ends_with(path, ".png")) return 0;
  snprintf(out, size, "%.*s.png", (int)stem, path);
  return is_file(out);
}

static int is_image_name(const char *name) {
  if (ends_with(name, "_depth.png")) return 0;
  return ends_with(name, ".jpg") || ends_with(name, ".jpeg") || ends_with(name, ".png") || ends_with(name, ".webp");
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const vfr_depth_item *)a)->name, ((const vfr_depth_item *)b)->name);
}

/* Walks root/rel recursively. A PNG that is some other image's depth map is not an image. */
static int walk(const char *root, const char *rel, double scale, item_list *l, vfr_error *err) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
  DIR *d = opendir(dir);
  if (!d) return vfr_fail(err, VFR_EIO, "%s: cannot list (%s)", dir, strerror(errno));
  struct dirent *e;
  int rc = VFR_OK;
  while (!rc && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[8300], name[4400], depth[8400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    snprintf(name, sizeof name, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      rc = walk(root, name, scale, l, err);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !is_image_name(e->d_name) || !depth_of(path, depth, sizeof depth)) continue;
    if (ends_with(e->d_name, ".png")) {
      /* NAME.png beside NAME.jpg is that image's depth, not an image. */
      char stem[8300];
      snprintf(stem, sizeof stem, "%.*s", (int)(strlen(path) - 4), path);
      const char *ext[] = {".jpg", ".jpeg", ".webp", ".JPG", ".JPEG"};
      int taken = 0;
      for (int k = 0; k < 5 && !taken; k++) {
        char other[8400];
        snprintf(other, sizeof other, "%s%s", stem, ext[k]);
        taken = is_file(other);
      }
      if (taken) continue;
    }
    if (push(l, path, depth, name, scale)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", dir);
  }
  closedir(d);
  return rc;
}

static int read_csv(const char *path, double scale, item_list *l, vfr_error *err) {
  vfr_csv csv;
  int rc = vfr_csv_read(path, &csv, err);
  if (rc) return rc;
  char base[4096];
  snprintf(base, sizeof base, "%s", path);
  char *slash = strrchr(base, '/');
  if (slash) slash[1] = '\0';
  else base[0] = '\0';
  for (int r = 0; !rc && r < csv.row_count; r++) {
    const vfr_csv_row *row = &csv.rows[r];
    if (row->count == 1 && !row->fields[0][0]) continue;
    if (r == 0 && row->count >= 2 && !strcasecmp(row->fields[1], "depth")) continue;
    if (row->count < 2 || row->count > 3 || !row->fields[0][0] || !row->fields[1][0]) {
      rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: expected image,depth[,scale]", path, row->line);
      break;
    }
    double s = scale;
    if (row->count == 3 && row->fields[2][0]) {
      char *end;
      s = strtod(row->fields[2], &end);
      if (*end || !(s > 0)) {
        rc = vfr_fail(err, VFR_EFORMAT, "%s:%d: scale %s is not a positive number", path, row->line, row->fields[2]);
        break;
      }
    }
    char image[8300], depth[8300];
    snprintf(image, sizeof image, "%s%s", row->fields[0][0] == '/' ? "" : base, row->fields[0]);
    snprintf(depth, sizeof depth, "%s%s", row->fields[1][0] == '/' ? "" : base, row->fields[1]);
    if (push(l, image, depth, row->fields[0], s)) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", path);
  }
  vfr_csv_free(&csv);
  return rc;
}

int vfr_depth_set_open(const char *path, double scale, vfr_depth_set *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  if (!path) return vfr_fail(err, VFR_EINVAL, "depth set: no path given");
  if (!(scale > 0)) return vfr_fail(err, VFR_EINVAL, "%s: depth scale %g must be positive", path, scale);
  struct stat st;
  if (stat(path, &st) != 0) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  item_list l = {0};
  int rc;
  if (S_ISDIR(st.st_mode)) {
    rc = walk(path, "", scale, &l, err);
    if (!rc) qsort(l.items, (size_t)l.count, sizeof *l.items, cmp_name);
  } else {
    rc = read_csv(path, scale, &l, err);
  }
  out->items = l.items;
  out->count = l.count;
  if (!rc && l.count == 0)
    rc = vfr_fail(err, VFR_EINVAL, "%s: no image with a depth PNG beside it (NAME_depth.png, or NAME.png for NAME.jpg)",
                  path);
  if (rc) vfr_depth_set_free(out);
  return rc;
}

void vfr_depth_set_free(vfr_depth_set *set) {
  if (!set) return;
  for (int i = 0; i < set->count; i++) {
    free(set->items[i].image);
    free(set->items[i].depth);
    free(set->items[i].name);
  }
  free(set->items);
  memset(set, 0, sizeof *set);
}

int vfr_depth_set_write_csv(const vfr_depth_set *set, const char *path, vfr_error *err) {
  char tmp[4200];
  FILE *f = vfr_atomic_open(path, tmp, sizeof tmp, err);
  if (!f) return err ? err->code : VFR_EIO;
  fputs("path,depth,scale\n", f);
  for (int i = 0; i < set->count; i++) {
    vfr_csv_write_field(f, set->items[i].image);
    fputc(',', f);
    vfr_csv_write_field(f, set->items[i].depth);
    fprintf(f, ",%.17g\n", set->items[i].scale);
  }
  return vfr_atomic_commit(f, tmp, path, err);
}
