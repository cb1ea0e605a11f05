/* --perturb-after-preprocess: the model-sized 8-bit crop an image becomes before
 * normalisation (resize of the short side with the processor's filter, centre crop). */
#include <string.h>

#include "model/config.h"
#include "model/preprocess.h"
#include "study/study_internal.h"

static vfr_filter pil_filter(int resample) {
  switch (resample) {
    case 0: return VFR_FILTER_NEAREST;
    case 1: return VFR_FILTER_LANCZOS;
    case 2: return VFR_FILTER_BILINEAR;
    case 4: return VFR_FILTER_BOX;
    case 5: return VFR_FILTER_HAMMING;
    default: return VFR_FILTER_BICUBIC;
  }
}

int study_prepare_image(const char *model_dir, const char *family, const vfr_image *in, const char *name,
                        vfr_image *out, vfr_error *err) {
  vfr_preprocess_config pre;
  vfr_family fam = !strcmp(family, "dinov2") ? VFR_FAMILY_DINOV2 : VFR_FAMILY_CLIP;
  int rc = vfr_preprocess_config_read(model_dir, fam, &pre, err);
  if (rc) return rc;
  vfr_image resized = {0};
  const vfr_image *src = in;
  if (pre.do_resize) {
    int w, h;
    preprocess_resize_size(in->width, in->height, pre.shortest_edge, &w, &h);
    rc = vfr_resize(in, w, h, pil_filter(pre.resample), &resized, err);
    if (rc) return vfr_fail(err, rc, "%s: %s", name, err ? err->message : "resize failed");
    src = &resized;
  }
  if (pre.do_center_crop) rc = vfr_center_crop(src, pre.crop_width, pre.crop_height, out, err);
  else rc = vfr_image_copy(src, out, err);
  vfr_image_free(&resized);
  return rc;
}
