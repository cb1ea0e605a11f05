"""OpenCV's 8-bit INTER_CUBIC resize as frost uses it (vfr_icf_cv_resize_cubic_u8 in
src/perturb/ic_filters.c: a window of the resized image, a ring of horizontal rows, the
AVX-512 block permutations and vertical float path) against cv2.resize itself (Debian's
python3-opencv): on random and flat images of 1 and 3 channels, enlarged by the factors frost
uses (1.1 and the ones an image larger than the overlay needs) and others, shrunk a little
and by half, every window equal to the crop of cv2's full result, including windows at the
right and bottom edges (where OpenCV's vector loop ends and its integer tail begins) and
one-pixel windows. Every byte must be identical."""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfr_testlib as T  # noqa: E402

try:
    import cv2
except ImportError:
    print("SKIP ref_cv_resize_cubic: no cv2 (python3-opencv)")
    sys.exit(0)

cv2.setNumThreads(1)
C = T.Checker("ref_cv_resize_cubic")
lib = T.load_internal_lib()
f = lib.vfr_icf_cv_resize_cubic_u8
U8P = ctypes.POINTER(ctypes.c_uint8)
f.argtypes = [U8P, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
              ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, U8P, T.ERR_P]
f.restype = ctypes.c_int


def ours(src, dw, dh, ox, oy, ow, oh):
    sh, sw = src.shape[:2]
    c = 1 if src.ndim == 2 else src.shape[2]
    src = np.ascontiguousarray(src)
    out = np.zeros((oh, ow * c), np.uint8)
    err = T.abi.vfr_error()
    rc = f(src.ctypes.data_as(U8P), sw, sh, c, dw, dh, ox, oy, ow, oh, out.ctypes.data_as(U8P),
           ctypes.byref(err))
    if rc:
        raise RuntimeError(err.message.decode())
    return out.reshape(src.shape[:0] + ((oh, ow) if c == 1 else (oh, ow, c)))


rng = np.random.RandomState(3)
cases = 0
for (sw, sh) in [(900, 600), (560, 315), (53, 41), (7, 5), (227, 160)]:
    for c in (3, 1):
        for kind in ("noise", "smooth", "flat"):
            shape = (sh, sw, c) if c > 1 else (sh, sw)
            if kind == "noise":
                src = rng.randint(0, 256, shape).astype(np.uint8)
            elif kind == "smooth":
                yy, xx = np.mgrid[0:sh, 0:sw]
                base = 127.5 + 127.5 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
                src = np.clip(base[..., None] if c > 1 else base, 0, 255).astype(np.uint8)
                src = np.broadcast_to(src, shape).copy()
            else:
                src = np.full(shape, 200, np.uint8)
                src[::4] = 255
            for scale in (1.1, 1.37, 2.0, 3.3, 0.9, 0.5):
                dw, dh = int(np.ceil(sw * scale)), int(np.ceil(sh * scale))
                if dw < 1 or dh < 1:
                    continue
                full = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_CUBIC)
                wins = [(0, 0, dw, dh), (dw - 1, dh - 1, 1, 1)]
                for _ in range(3):
                    ow, oh = rng.randint(1, dw + 1), rng.randint(1, dh + 1)
                    wins.append((rng.randint(0, dw - ow + 1), rng.randint(0, dh - oh + 1), ow, oh))
                ow = min(dw, 224)
                wins.append((dw - ow, max(dh - 40, 0), ow, min(dh, 40)))  # the right edge
                for ox, oy, ow, oh in wins:
                    got = ours(src, dw, dh, ox, oy, ow, oh)
                    want = full[oy:oy + oh, ox:ox + ow]
                    diff = int(np.count_nonzero(got != want))
                    C.check(diff == 0, f"{sw}x{sh}x{c} {kind} -> {dw}x{dh}, window {ox},{oy} "
                                       f"{ow}x{oh}: {diff} of {want.size} bytes differ")
                    cases += 1
C.check(cases > 400, f"{cases} windows checked")
C.finish()
