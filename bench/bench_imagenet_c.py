"""Speed of our ImageNet-C ops against the Python reference, single thread, one run.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_imagenet_c.py [OP...]
(library from VFROBUST_LIB, default build/libvfrobust.so). Each op runs at severities 1..5
on the same 224x224 photo in-process: ours through ctypes (vfr_op_apply, the output freed,
no array conversion), the reference as the Python functions of the reference tests
(tests/ic_reference_*.py: NumPy, scikit-image, SciPy, OpenCV, Pillow), as the research
stack runs it. Timing alternates rounds of ours and the reference's (each round all five
severities) and keeps each side's best round, so machine load hits both sides alike. Times
are the process's CPU time (time.process_time): both sides run on this one thread, and on
a shared machine CPU time is far steadier than wall time (which also counts the time the
process waits to be scheduled). Prints per op both times (for the five severities together) and the ratio reference time /
our time (> 1: we are faster).
"""
import ctypes
import importlib
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before the library (and its OpenMP) loads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
os.environ.setdefault("VFROBUST_LIB", os.path.join(HERE, "..", "build", "libvfrobust.so"))

import ic_harness as H  # noqa: E402

# Each module's REFERENCES maps op names to f(x, severity, seed) -> uint8 array.
REFERENCE_MODULES = ["ic_reference_noise_digital", "ic_reference_blur_weather"]
SEED = 12345
ROUNDS = 7


def references():
    refs = {}
    for m in REFERENCE_MODULES:
        try:
            refs.update(importlib.import_module(m).REFERENCES)
        except ImportError as e:
            print(f"(skipping {m}: {e})")
    return refs


def time_ours(handle, arr):
    img = H.T.image_view(arr)
    err = H.T.abi.vfr_error()
    H.lib.vfr_image_free.argtypes = [H.T.IMG_P]
    t0 = time.process_time()
    for sev in range(1, 6):
        out = H.T.abi.vfr_image()
        if H.lib.vfr_op_apply(handle, ctypes.byref(img), float(sev), SEED, ctypes.byref(out), ctypes.byref(err)):
            raise RuntimeError(err.message.decode())
        H.lib.vfr_image_free(ctypes.byref(out))
    return time.process_time() - t0


def time_ref(ref, arr):
    t0 = time.process_time()
    for sev in range(1, 6):
        ref(arr, sev, SEED)
    return time.process_time() - t0


def main():
    want = sys.argv[1:]
    arr = H.test_images()["photo224"]
    refs = references()
    print(f"224x224, severities 1..5 per round, best of {ROUNDS} rounds, OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']}")
    print(f"{'op':22s} {'ours ms':>10s} {'reference ms':>13s} {'ratio':>9s}")
    for name, ref in refs.items():
        if want and name not in want:
            continue
        handle = H.op(name)
        ours, theirs = float("inf"), float("inf")
        for _ in range(ROUNDS):
            ours = min(ours, time_ours(handle, arr))
            theirs = min(theirs, time_ref(ref, arr))
        print(f"{name:22s} {ours * 1e3:10.3f} {theirs * 1e3:13.3f} {theirs / ours:8.1f}x", flush=True)


if __name__ == "__main__":
    main()
