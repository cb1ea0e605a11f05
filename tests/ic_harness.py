"""Plumbing for the ImageNet-C reference tests and bench/bench_imagenet_c.py (not a reference).

- apply(name, arr, severity, seed): runs the library's op `name` (e.g. "ic_contrast") through
  the registry (vfr_op_find + vfr_op_apply) on an (H, W, 3) uint8 array.
- test_images(): the named test images, (H, W, 3) uint8 each.
- compare(ours, ref): (identical values, total values, max |difference|).
- Table: accumulates per-op counts and prints the identical-fraction / max-diff table.
"""
import ctypes
import glob
import os

import numpy as np
from PIL import Image

import vfr_testlib as T


lib = T.load_lib()
lib.vfr_op_find.argtypes = [ctypes.c_char_p]
lib.vfr_op_find.restype = ctypes.c_void_p
lib.vfr_op_apply.argtypes = [ctypes.c_void_p, T.IMG_P, ctypes.c_double, ctypes.c_uint64, T.IMG_P, T.ERR_P]


def op(name):
    p = lib.vfr_op_find(name.encode())
    if not p:
        raise KeyError(f"{name}: not in the catalog")
    return p


def apply(name, arr, severity, seed, handle=None):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    img = T.image_view(arr)
    out, err = T.abi.vfr_image(), T.abi.vfr_error()
    rc = lib.vfr_op_apply(handle or op(name), ctypes.byref(img), float(severity), seed, ctypes.byref(out),
                          ctypes.byref(err))
    if rc:
        raise RuntimeError(f"{name}:{severity}: {err.message.decode()}")
    return T.image_take(lib, out)


def test_images():
    """224x224, 32x32, 500x375, gray converted to RGB, flat, photos, and saturated noise."""
    photo = np.array(Image.open(os.path.join(T.SRC, "examples", "sample.png")).convert("RGB"))
    cifar = sorted(glob.glob(os.path.join(T.DATA, "cifar10", "test", "cat", "*.jpg")))[:2]
    c32 = [np.array(Image.open(p).convert("RGB")) for p in cifar]
    big = Image.fromarray(c32[1]).resize((500, 375), Image.BICUBIC)
    yy, xx = np.mgrid[0:375, 0:500]
    grad = np.stack([xx * 255 // 499, yy * 255 // 374, (xx + yy) % 256], -1).astype(np.int32)
    big = np.clip((np.array(big).astype(np.int32) + grad) // 2, 0, 255).astype(np.uint8)
    gray = np.array(Image.fromarray(photo).convert("L").convert("RGB"))
    flat = np.zeros((48, 64, 3), np.uint8) + np.array([120, 61, 200], np.uint8)
    noise = np.random.RandomState(5).randint(0, 256, (37, 45, 3)).astype(np.uint8)
    noise[::3, ::2] = 255
    noise[1::4, 1::3] = 0
    return {
        "photo224": np.array(Image.fromarray(photo).resize((224, 224), Image.BICUBIC)),
        "cifar32": c32[0],
        "mixed500x375": big,
        "gray128": gray,
        "flat64x48": flat,
        "photo128": photo,
        "noise45x37": noise,
    }


def compare(ours, ref):
    if ours.shape != ref.shape:
        return 0, ref.size, 255
    d = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
    return int(np.count_nonzero(d == 0)), int(d.size), int(d.max())


class Table:
    def __init__(self):
        self.rows = {}

    def add(self, name, same, total, maxdiff):
        r = self.rows.setdefault(name, [0, 0, 0])
        r[0] += same
        r[1] += total
        r[2] = max(r[2], maxdiff)

    def print(self):
        print(f"{'op':22s} {'identical':>12s} {'of values':>12s} {'fraction':>10s} {'max diff':>8s}")
        for name, (same, total, mx) in self.rows.items():
            print(f"{name:22s} {same:12d} {total:12d} {100.0 * same / total:9.4f}% {mx:8d}")
