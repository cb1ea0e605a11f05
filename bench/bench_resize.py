"""Speed of vfr_resize against Pillow 9.4's Image.resize, single thread, one run.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_resize.py [LIB] [--reps-budget S]
LIB defaults to $VFROBUST_LIB, else build/libvfrobust.so; S is seconds per timing (0.3).
For the six filters on the typical cases of the project (3-channel RGB):
  - 1000x750 -> 299x224: the short side to 224, CLIP/DINOv2 preprocessing;
  - 224x224 -> 56x56 -> 224x224: the rescale perturbation's round trip (timed as one);
  - 32x32 -> 224x224: CIFAR upscale.
Both sides run in-process (ours through ctypes, Pillow through its Python API) on the same
pixels; the best of several repetitions is kept. Prints both times per case, the ratio
ours/Pillow speed (= Pillow time / our time; > 1 means we are faster) and the geometric mean.
Each output is also compared with Pillow's (a sanity check; tests/ref_image_pillow.py is
the real bit-exactness test).
"""
import ctypes
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before the library (and its OpenMP) loads

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
LIB = ARGS[0] if ARGS else os.environ.get(
    "VFROBUST_LIB", os.path.join(HERE, "..", "build", "libvfrobust.so"))
BUDGET = 0.3
for i, a in enumerate(sys.argv):
    if a == "--reps-budget":
        BUDGET = float(sys.argv[i + 1])


sys.path.insert(0, os.path.join(HERE, "..", "python"))
from vfrobust._lib import vfr_error as VfrError, vfr_image as VfrImage  # noqa: E402  (include/'s mirrors)


lib = ctypes.CDLL(LIB)
lib.vfr_image_free.argtypes = [ctypes.POINTER(VfrImage)]
lib.vfr_resize.argtypes = [ctypes.POINTER(VfrImage), ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.POINTER(VfrImage), ctypes.POINTER(VfrError)]

# Our enum order (include/vfrobust/image.h) and the matching Pillow filters.
FILTERS = [("NEAREST", 0, Image.NEAREST), ("BOX", 1, Image.BOX), ("BILINEAR", 2, Image.BILINEAR),
           ("HAMMING", 3, Image.HAMMING), ("BICUBIC", 4, Image.BICUBIC),
           ("LANCZOS", 5, Image.LANCZOS)]

# (label, source size, chain of target sizes)
CASES = [("1000x750->299x224", (1000, 750), [(299, 224)]),
         ("224->56->224", (224, 224), [(56, 56), (224, 224)]),
         ("32->224", (32, 32), [(224, 224)])]


def best_time(call, budget=BUDGET, min_reps=3):
    best, spent, reps = float("inf"), 0.0, 0
    while reps < min_reps or (spent < budget and reps < 500):
        t = time.perf_counter()
        call()
        dt = time.perf_counter() - t
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return best


def ours_chain(arr, chain, code, keep=False):
    """Runs the chain of resizes through vfr_resize; returns the last image as an array."""
    h, w, c = arr.shape
    cur = VfrImage(w, h, c, w * c, arr.ctypes.data)
    owned = None
    err = VfrError()
    for tw, th in chain:
        out = VfrImage()
        if lib.vfr_resize(ctypes.byref(cur), tw, th, code, ctypes.byref(out), ctypes.byref(err)):
            raise RuntimeError(err.message.decode())
        if owned is not None:
            lib.vfr_image_free(ctypes.byref(owned))
        owned = cur = out
    result = None
    if keep:
        raw = np.frombuffer(ctypes.string_at(cur.data, cur.stride * cur.height), np.uint8)
        result = raw.reshape(cur.height, cur.stride)[:, :cur.width * cur.channels].reshape(
            cur.height, cur.width, cur.channels)
    lib.vfr_image_free(ctypes.byref(owned))
    return result


def pil_chain(im, chain, filt):
    for size in chain:
        im = im.resize(size, filt)
    return im


def main():
    rng = np.random.default_rng(0)
    print(f"library {os.path.realpath(LIB)}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"{'filter':<9} {'case':<19} {'ours ms':>9} {'Pillow ms':>10} {'ours/Pillow':>12}")
    ratios, mismatches = [], 0
    for label, (w, h), chain in CASES:
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1)
        arr = np.clip(ramp + rng.integers(-30, 31, (h, w, 3)), 0, 255).astype(np.uint8)
        arr = np.ascontiguousarray(arr)
        im = Image.fromarray(arr, "RGB")
        for fname, code, filt in FILTERS:
            if not np.array_equal(ours_chain(arr, chain, code, keep=True),
                                  np.asarray(pil_chain(im, chain, filt))):
                mismatches += 1
                print(f"MISMATCH {fname} {label}")
            t_ours = best_time(lambda: ours_chain(arr, chain, code))
            t_pil = best_time(lambda: pil_chain(im, chain, filt))
            ratios.append(t_pil / t_ours)
            print(f"{fname:<9} {label:<19} {t_ours * 1e3:9.3f} {t_pil * 1e3:10.3f} "
                  f"{t_pil / t_ours:12.2f}", flush=True)
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean speed ours/Pillow: {geo:.2f}; slowest case ratio: {min(ratios):.2f}; "
          f"outputs differing from Pillow: {mismatches}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
