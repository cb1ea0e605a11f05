"""Model preprocessing (vfr_model_preprocess) against the Hugging Face image-processor steps
written here in NumPy + Pillow: resize of the short side (long side truncated), center crop
with the processor's zero padding where the image is smaller than the crop, rescale in
float64 stored as float32, normalise in float32. Exact equality is expected."""
import ctypes as C
import math
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as M  # noqa: E402  (only to write a model folder)
import vfr_testlib as T  # noqa: E402

ck = T.Checker("ref_preprocess")
lib = T.load_lib()


Error, Image_ = T.abi.vfr_error, T.abi.vfr_image


T.model_prototypes(lib)


def reference(pil, pp):
    """The processor's steps on a PIL RGB image; returns float32 (3, ch, cw)."""
    size, crop = pp["size"], pp["crop_size"]
    shortest = size if isinstance(size, int) else size["shortest_edge"]
    ch, cw = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"])
    if pp.get("do_resize", True):
        w, h = pil.size
        short, long_ = min(w, h), max(w, h)
        if short != shortest:
            new_long = int(shortest * long_ / short)
            pil = pil.resize((shortest, new_long) if w <= h else (new_long, shortest), Image.BICUBIC)
    a = np.asarray(pil)
    h, w = a.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if ch > h or cw > w:  # pad with zeros, centred, then crop in padded coordinates
        nh, nw = max(ch, h), max(cw, w)
        tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
        padded = np.zeros((nh, nw, 3), np.uint8)
        padded[tp:tp + h, lp:lp + w] = a
        a, top, left = padded, top + tp, left + lp
        h, w = nh, nw
    a = a[max(0, top):min(h, top + ch), max(0, left):min(w, left + cw)]
    x = (a.astype(np.float64) * pp["rescale_factor"]).astype(np.float32)
    x = (x - np.asarray(pp["image_mean"], np.float32)) / np.asarray(pp["image_std"], np.float32)
    return x.transpose(2, 0, 1)


tmp = tempfile.mkdtemp(prefix="vfr_pre_")
cfg = M.clip_config(32, 1, 2, 64, 8, 32, 16)
model = M.randomize(M.build_model(cfg), 5)
rng = np.random.RandomState(7)
images = [Image.fromarray(rng.randint(0, 256, (h, w, 3), dtype=np.uint8)) for (w, h) in
          ((20, 12), (40, 25), (33, 50), (31, 32), (32, 32), (7, 90), (100, 61))]
cases = 0
for name, pp in (("resize", M.clip_preprocessor(32, 32)),
                 ("no-resize", dict(M.clip_preprocessor(32, 32), do_resize=False)),
                 ("resize-smaller-than-crop", M.clip_preprocessor(24, 32))):
    folder = os.path.join(tmp, name)
    M.write_hf_folder(folder, cfg, pp, model)
    params = lib.vfr_model_default_params()
    handle, err = C.c_void_p(), Error()
    if not ck.check(lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err)) == 0,
                    f"{name}: load: {err.message.decode()}"):
        continue
    for im in images:
        arr = np.ascontiguousarray(np.asarray(im))
        vi = Image_(im.width, im.height, 3, im.width * 3, arr.ctypes.data)
        out = np.zeros((3, 32, 32), np.float32)
        rc = lib.vfr_model_preprocess(handle, C.byref(vi), b"img", out.ctypes.data, C.byref(err))
        want = reference(im, pp)
        cases += 1
        ck.check(rc == 0 and np.array_equal(out, want),
                 f"{name} {im.width}x{im.height}: rc {rc}, max diff {np.max(np.abs(out - want)) if rc == 0 else '-'}")
    lib.vfr_model_free(handle)
print(f"{cases} (config, image) cases compared, padding cases included")
shutil.rmtree(tmp, ignore_errors=True)
ck.finish()
