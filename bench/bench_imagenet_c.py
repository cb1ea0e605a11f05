"""Speed of our ImageNet-C ops against the Python reference, single thread, one run.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_imagenet_c.py [--calls] [--model] [OP...]
(library from VFROBUST_LIB, default build/libvfrobust.so). Each op runs at severities 1..5
on the same 224x224 photo in-process: ours through ctypes (vfr_op_apply, the output freed,
no array conversion), the reference as the Python functions of the reference tests
(tests/ic_reference_*.py: NumPy, scikit-image, SciPy, OpenCV, Pillow), as the research
stack runs it. Timing alternates rounds of ours and the reference's (each round all five
severities) and keeps each side's best round, so machine load hits both sides alike. Times
are the process's CPU time (time.process_time): both sides run on this one thread, and on
a shared machine CPU time is far steadier than wall time (which also counts the time the
process waits to be scheduled). Prints per op both times (for the five severities together) and the ratio reference time /
our time (> 1: we are faster). glibc's malloc keeps its heap in this process (see
MALLOC_KEEP below), so the reference's NumPy temporaries cost no fresh pages per call.

Two more views, each optional:
  --calls   where the reference's time goes: per op, cProfile (CPU-time clock, C functions
            included) over three rounds after a warm-up; prints the share of the reference's
            time spent inside compiled calls (NumPy's samplers, SciPy's filters, OpenCV,
            Pillow's codecs: what Python calls but does not run itself), the largest of those
            calls and its share. Where that share is high, a 50x ratio would need us to run
            the same arithmetic about 50 x share times faster than that C code.
  --model   the study's context: one CLIP ViT-B/32 embedding (random weights at the real
            shape, tests/modelref.py, fp32, batch 1, one thread; the best of 3) against each
            op's time per image and severity, ours and the reference's, as a percentage of it.
"""
import ctypes
import importlib
import os
import sys
import time

# glibc's malloc by default maps each block over its threshold afresh and returns a freed
# heap top beyond 128 KiB to the system, so a reference that makes ~1 MB NumPy temporaries
# takes new zeroed pages (page faults) on every call: brightness and saturate ran 3-4x
# slower so. Both sides run here with the heap kept (the process restarts itself once with
# these two settings, read when malloc starts): the reference at its best.
MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 28), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
if any(os.environ.get(k) != v for k, v in MALLOC_KEEP.items()):
    os.environ.update(MALLOC_KEEP)
    os.execv(sys.executable, [sys.executable] + sys.argv)
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


def reference_calls(ref, arr, rounds=3):
    """(share of the reference's time inside C functions, the largest one's name, its share)."""
    import cProfile
    import pstats
    time_ref(ref, arr)
    prof = cProfile.Profile(time.process_time, builtins=True)
    prof.enable()
    for _ in range(rounds):
        time_ref(ref, arr)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    compiled = [(tt, fn) for (file, _, fn), (_, _, tt, _, _) in stats.items() if file == "~"]
    top_tt, top = max(compiled) if compiled else (0.0, "-")
    top = top.replace("<method ", "").replace("<built-in method ", "").strip("<>")
    return sum(tt for tt, _ in compiled) / total, top, top_tt / total


def embedding_ms():
    """Best-of-3 milliseconds of one CLIP ViT-B/32 fp32 embedding (batch 1, one thread)."""
    import shutil
    import tempfile
    import numpy as np
    import modelref as M
    T = H.T
    lib = T.model_prototypes(H.lib)
    config, pp = M.PRESETS["clip-vit-b32"]()
    tmp = tempfile.mkdtemp(prefix="vfr_bench_ic_")
    try:
        folder = os.path.join(tmp, "clip-vit-b32")
        M.write_hf_folder(folder, config, pp, M.randomize(M.build_model(config), 100).eval())
        params = lib.vfr_model_default_params()
        params.threads, params.max_batch, params.precision = 1, 1, 0
        handle, err = ctypes.c_void_p(), T.abi.vfr_error()
        if lib.vfr_model_load(folder.encode(), ctypes.byref(params), ctypes.byref(handle), ctypes.byref(err)):
            raise RuntimeError(err.message.decode())
        info = T.abi.vfr_model_info()
        lib.vfr_model_get_info(handle, ctypes.byref(info))
        x = np.random.RandomState(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        out = np.zeros((1, info.embed_dim), np.float32)
        best = float("inf")
        for i in range(4):  # a warm-up, then the best of 3
            t0 = time.process_time()
            if lib.vfr_model_embed_pixels(handle, x.ctypes.data, 1, out.ctypes.data, ctypes.byref(err)):
                raise RuntimeError(err.message.decode())
            if i:
                best = min(best, time.process_time() - t0)
        lib.vfr_model_free(handle)
        return best * 1e3
    finally:
        shutil.rmtree(tmp)


def main():
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    unknown = flags - {"--calls", "--model"}
    if unknown:
        sys.exit(f"bench_imagenet_c: unknown option {sorted(unknown)[0]} (--calls, --model)")
    want = [a for a in sys.argv[1:] if not a.startswith("--")]
    embed = embedding_ms() if "--model" in flags else None
    if embed is not None:
        print(f"one CLIP ViT-B/32 embedding (fp32, batch 1, 1 thread): {embed:.1f} ms")
    arr = H.test_images()["photo224"]
    refs = references()
    print(f"224x224, severities 1..5 per round, best of {ROUNDS} rounds, OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']}")
    head = f"{'op':22s} {'ours ms':>10s} {'reference ms':>13s} {'ratio':>9s}"
    if embed is not None:
        head += f" {'ours/embed':>11s} {'ref/embed':>10s}"
    if "--calls" in flags:
        head += f" {'ref in C':>9s}  largest C call"
    print(head)
    for name, ref in refs.items():
        if want and name not in want:
            continue
        handle = H.op(name)
        ours, theirs = float("inf"), float("inf")
        for _ in range(ROUNDS):
            ours = min(ours, time_ours(handle, arr))
            theirs = min(theirs, time_ref(ref, arr))
        line = f"{name:22s} {ours * 1e3:10.3f} {theirs * 1e3:13.3f} {theirs / ours:8.1f}x"
        if embed is not None:  # per image and severity: a round is five severities
            line += f" {100 * ours * 1e3 / 5 / embed:10.2f}% {100 * theirs * 1e3 / 5 / embed:9.1f}%"
        if "--calls" in flags:
            share, top, top_share = reference_calls(ref, arr)
            line += f" {100 * share:8.0f}%  {top} ({100 * top_share:.0f}%)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
