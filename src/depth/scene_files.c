/* A folder of synthetic RGB-D scenes (vfr_scenes_write in include/vfrobust/depth.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vfrobust/dataset.h"
#include "vfrobust/depth.h"

int vfr_scenes_write(const char *out_dir, const char *textures_dir, int count, uint64_t seed, int width, int height,
                     vfr_error *err) {
  if (count < 1 || count > 99999) return vfr_fail(err, VFR_EINVAL, "scenes: count %d (1 to 99999)", count);
  vfr_dataset ds;
  int rc = vfr_dataset_open(textures_dir, &ds, err);
  if (rc) return rc;
  vfr_image *tex = calloc((size_t)ds.count, sizeof *tex);
  int n = 0;
  if (!tex) rc = vfr_fail(err, VFR_ENOMEM, "%s: out of memory", textures_dir);
  for (int i = 0; !rc && i < ds.count; i++) {
    vfr_error e;
    if (vfr_image_load(ds.items[i].path, NULL, &tex[n], &e) == VFR_OK) n++;
  }
  vfr_dataset_free(&ds);
  if (!rc && n == 0) rc = vfr_fail(err, VFR_EINVAL, "%s: no texture image could be read", textures_dir);
  if (!rc && mkdir(out_dir, 0755) != 0 && errno != EEXIST)
    rc = vfr_fail(err, VFR_EIO, "%s: cannot create folder (%s)", out_dir, strerror(errno));
  for (int i = 0; !rc && i < count; i++) {
    vfr_image rgb = {0};
    vfr_depth_map depth = {0};
    rc = vfr_scene_render(tex, n, seed + (uint64_t)i, width, height, &rgb, &depth, err);
    char path[4200];
    if (!rc) {
      snprintf(path, sizeof path, "%s/%05d.png", out_dir, i);
      rc = vfr_image_save(&rgb, path, 0, err);
    }
    if (!rc) {
      snprintf(path, sizeof path, "%s/%05d_depth.png", out_dir, i);
      rc = vfr_depth_png_write(path, &depth, 1000.0, err);
    }
    vfr_image_free(&rgb);
    vfr_depth_map_free(&depth);
  }
  for (int i = 0; i < n; i++) vfr_image_free(&tex[i]);
  free(tex);
  return rc;
}
