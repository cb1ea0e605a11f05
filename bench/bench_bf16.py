"""bf16 vs fp32 compute in one run: linear-layer and embedding throughput, and the embedding error.

  /usr/bin/python3 bench/bench_bf16.py [--quick] [--threads N] [--skip-linear]

1. The linear layer alone (src/model/ops.c through ctypes, same threads for both):
   linear_forward (the oneDNN engine, fp32) vs linear_forward_bf16 (the AVX512-BF16 kernel,
   the input rounding included) at ViT-B's MLP shapes with 8192 rows (a micro-batch), in
   GFLOP/s and as a ratio.
2. CLIP ViT-B/16 at its real shape (random weights, tests/modelref.py), batch 32 (8 with
   --quick): images/s of vfr_model_embed_pixels with precision fp32 and bf16, the ratio, and
   the bf16 embeddings' error against the fp32 ones (worst cosine, worst max|diff|/||fp32||;
   the fp32 path matches the PyTorch reference to ~1e-7, tests/ref_model_torch.py).
3. Where the CPU has AMX: the own AMX kernel (src/model/gemm_amx.c, amx_linear) against
   oneDNN's bf16 matmul (bench/onednn_sgemm.c, compiled here with cc) at ViT-B/16's batch-32
   shapes, GFLOP/s and the ratio; the engine uses the own kernel where it wins (2048 or more
   inputs).
Needs a CPU with avx512_bf16 (else it says so and exits 0). Timings are the minimum over
repeats after a warm-up, fp32 and bf16 runs interleaved. Both wall time and process CPU time
(all threads, OMP_WAIT_POLICY=passive so that waiting threads do not spin) are reported: on a
machine shared with other jobs the wall-time ratio is only indicative, and the CPU-time ratio
(the work each precision needs) is the steadier one.
Paths: VFROBUST_INTERNAL_LIB, else build/libvfrobust_internal.so (the kernels are internal
functions, which libvfrobust.so does not export).
"""
import argparse
import os
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--quick", action="store_true", help="batch 8 instead of 32, fewer repeats")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--skip-linear", action="store_true", help="only the ViT-B/16 embedding part")
args = ap.parse_args()
# One OpenMP team for the engine and our loops; OpenBLAS is not on this path.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import ctypes as C  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import modelref as M  # noqa: E402
import vfr_testlib as T  # noqa: E402

torch.set_num_threads(args.threads)
BATCH = 8 if args.quick else 32
REPEATS = 1 if args.quick else 2


Error = T.abi.vfr_error


class Bf16Weight(C.Structure):  # src/model/gemm_bf16.h
    _fields_ = [("data", C.c_void_p), ("OC", C.c_int), ("C", C.c_int), ("Kp", C.c_int)]


def best_times(fns, repeats):
    """[(min wall s, min CPU s)] of each fn, after a warm-up each, the runs interleaved."""
    for fn in fns:
        fn()
    best = [[float("inf"), float("inf")] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t, c = time.perf_counter(), time.process_time()
            fn()
            best[i][0] = min(best[i][0], time.perf_counter() - t)
            best[i][1] = min(best[i][1], time.process_time() - c)
    return best


def bench_linear(lib):
    lib.linear_forward.argtypes = ([C.c_void_p, C.c_void_p, C.c_void_p, C.c_void_p] + [C.c_int] * 4
                                   + [C.c_void_p])
    lib.engine_create.argtypes = [C.c_int, C.c_int, C.POINTER(C.c_void_p), C.c_void_p]
    lib.engine_free.argtypes = [C.c_void_p]
    eng = C.c_void_p()  # the fp32 path's engine (src/model/engine.h)
    if lib.engine_create(args.threads, 0, C.byref(eng), None):
        sys.exit("bench_bf16: cannot create the engine")
    lib.linear_forward_bf16.argtypes = [C.c_void_p, C.c_void_p, C.POINTER(Bf16Weight),
                                        C.c_void_p, C.c_void_p] + [C.c_int] * 5
    lib.bf16_weight_pack.argtypes = [C.POINTER(Bf16Weight), C.c_void_p, C.c_int, C.c_int]
    lib.bf16_weight_free.argtypes = [C.POINTER(Bf16Weight)]
    N = 8192
    rs = np.random.RandomState(1)
    print(f"\nlinear layer, {N} rows, {args.threads} threads (bias, no activation)")
    print(f"  {'C -> OC':>12s} {'fp32 GFLOP/s':>13s} {'bf16 GFLOP/s':>13s} {'ratio':>6s} "
          f"{'CPU-time ratio':>15s} {'max|diff|/max|y|':>17s}")
    for Cin, OC in ((768, 3072), (3072, 768), (768, 768)):
        x = rs.randn(N, Cin).astype(np.float32)
        w = (rs.randn(OC, Cin) * 0.03).astype(np.float32)
        b = rs.randn(OC).astype(np.float32)
        y32, y16 = np.zeros((N, OC), np.float32), np.zeros((N, OC), np.float32)
        abuf = np.zeros((N, Cin + (Cin & 1)), np.uint16)
        bw = Bf16Weight()
        if lib.bf16_weight_pack(C.byref(bw), w.ctypes.data, OC, Cin):
            sys.exit("bench_bf16: out of memory")
        (t32, c32), (t16, c16) = best_times(
            [lambda: lib.linear_forward(y32.ctypes.data, x.ctypes.data, w.ctypes.data,
                                        b.ctypes.data, N, Cin, OC, 0, eng),
             lambda: lib.linear_forward_bf16(y16.ctypes.data, x.ctypes.data, C.byref(bw),
                                             b.ctypes.data, abuf.ctypes.data, N, Cin, OC, 0,
                                             args.threads)], 3)
        lib.bf16_weight_free(C.byref(bw))
        f = 2.0 * N * Cin * OC
        d = float(np.abs(y16 - y32).max() / np.abs(y32).max())
        print(f"  {f'{Cin} -> {OC}':>12s} {f / t32 / 1e9:13.1f} {f / t16 / 1e9:13.1f} "
              f"{t32 / t16:6.2f} {c32 / c16:15.2f} {d:17.2e}", flush=True)
    lib.engine_free(eng)


class AmxWeight(C.Structure):  # src/model/gemm_amx.h
    _fields_ = [("data", C.c_void_p), ("OC", C.c_int), ("C", C.c_int)]


class AmxEpilogue(C.Structure):
    _fields_ = [("bias", C.c_void_p), ("act", C.c_int), ("scale", C.c_void_p),
                ("accumulate", C.c_int)]


def onednn_bf16(tmp, M, N, K):
    """oneDNN's bf16 matmul (M,K) @ (K,N) -> fp32 GFLOP/s (bench/onednn_sgemm.c), 0 if absent."""
    import subprocess
    exe = os.path.join(tmp, "onednn_sgemm")
    if not os.path.exists(exe):
        r = subprocess.run(["cc", "-O2", "-fopenmp", os.path.join(HERE, "onednn_sgemm.c"), "-o",
                            exe, "-ldnnl"], capture_output=True, text=True)
        if r.returncode:
            return 0.0
    p = subprocess.run([exe, str(M), str(N), str(K), "20", "bf16"], capture_output=True,
                       text=True)
    return float(p.stdout.split()[0]) if p.returncode == 0 else 0.0


def bench_amx(lib, tmp):
    """The own AMX kernel (gemm_amx.h) against oneDNN's bf16 matmul at the ViT-B/16 shapes,
    rows of a batch of 32 and of one image at ViT-B/16 (197 tokens) and ViT-B/32 (50), fp32
    output without epilogue on both sides, the best of 20 runs each."""
    lib.amx_weight_pack.argtypes = [C.POINTER(AmxWeight), C.c_void_p, C.c_int, C.c_int]
    lib.amx_weight_free.argtypes = [C.POINTER(AmxWeight)]
    lib.amx_linear.argtypes = [C.c_void_p, C.c_int, C.c_void_p, C.POINTER(AmxWeight), C.c_int,
                               C.POINTER(AmxEpilogue), C.c_int, C.c_void_p, C.c_size_t]
    lib.amx_linear_scratch_bytes.argtypes = [C.POINTER(AmxWeight), C.c_int, C.c_int]
    lib.amx_linear_scratch_bytes.restype = C.c_size_t
    rs = np.random.RandomState(3)
    print(f"\nAMX bf16 products, {args.threads} threads, fp32 out, GFLOP/s")
    print(f"  {'rows':>5s} {'C -> OC':>12s} {'own AMX':>8s} {'oneDNN':>8s} {'ratio':>6s}")
    for N, Cin, OC in ((N, Cin, OC) for N in (6304, 197, 50)
                       for Cin, OC in ((768, 3072), (3072, 768), (768, 768))):
        w = (rs.randn(OC, Cin) * 0.03).astype(np.float32)
        a = rs.randint(0x3000, 0x4000, size=(N, Cin)).astype(np.uint16)  # bf16 bit patterns
        y = np.zeros((N, OC), np.float32)
        aw = AmxWeight()
        if lib.amx_weight_pack(C.byref(aw), w.ctypes.data, OC, Cin):
            sys.exit("bench_bf16: out of memory")
        need = lib.amx_linear_scratch_bytes(C.byref(aw), N, args.threads) + 63
        scratch = np.zeros(need, np.uint8)  # as the engine keeps one
        (t, _), = best_times([lambda: lib.amx_linear(y.ctypes.data, 0, a.ctypes.data,
                                                     C.byref(aw), N, None, args.threads,
                                                     scratch.ctypes.data, need)], 20)
        lib.amx_weight_free(C.byref(aw))
        own, ref = 2.0 * N * Cin * OC / t / 1e9, onednn_bf16(tmp, N, OC, Cin)
        print(f"  {N:5d} {f'{Cin} -> {OC}':>12s} {own:8.0f} {ref:8.0f} "
              f"{own / ref if ref else float('nan'):6.2f}", flush=True)


def bench_model(lib, tmp):
    T.model_prototypes(lib)
    config, pp = M.PRESETS["clip-vit-b16"]()
    model = M.randomize(M.build_model(config), 101)
    folder = os.path.join(tmp, "clip-vit-b16")
    M.write_hf_folder(folder, config, pp, model)
    del model
    rs = np.random.RandomState(7)
    from PIL import Image
    imgs = [Image.fromarray(rs.randint(0, 256, (240 + 7 * i, 320, 3), dtype=np.uint8))
            for i in range(BATCH)]
    pixels = np.ascontiguousarray(np.stack([M.preprocess(im, pp) for im in imgs]), np.float32)
    flops = M.vision_flops(config, 224, 224)
    handles, outs, runs = [], [], []
    for prec in (0, 1):
        params = lib.vfr_model_default_params()
        params.threads, params.max_batch, params.precision = args.threads, BATCH, prec
        handle, err = C.c_void_p(), Error()
        if lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err)):
            sys.exit(f"bench_bf16: {err.message.decode()}")
        out = np.zeros((BATCH, 512), np.float32)
        handles.append(handle)
        outs.append(out)

        def run(handle=handle, out=out, err=err):
            if lib.vfr_model_embed_pixels(handle, pixels.ctypes.data, BATCH, out.ctypes.data,
                                          C.byref(err)):
                sys.exit(f"bench_bf16: {err.message.decode()}")
        runs.append(run)
    (w32, c32), (w16, c16) = best_times(runs, REPEATS)
    for h in handles:
        lib.vfr_model_free(h)
    for name, w, c in (("fp32", w32, c32), ("bf16", w16, c16)):
        print(f"  {name}: {BATCH / w:.2f} images/s wall ({flops * BATCH / w / 1e9:.0f} GFLOP/s), "
              f"{BATCH / c:.2f} images per CPU-second", flush=True)
    ref, got = outs[0].astype(np.float64), outs[1].astype(np.float64)
    cos = min(float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g))) for r, g in zip(ref, got))
    rel = float((np.abs(got - ref).max(axis=1) / np.linalg.norm(ref, axis=1)).max())
    print(f"\nCLIP ViT-B/16 batch {BATCH}, {args.threads} threads: bf16/fp32 throughput ratio "
          f"{w32 / w16:.2f} by wall time, {c32 / c16:.2f} by CPU time")
    print(f"bf16 embedding error vs fp32: worst cosine {cos:.6f}, worst max|diff|/||fp32|| "
          f"{rel:.2e}")


def main():
    lib = T.load_internal_lib()
    if not lib.bf16_cpu_supported():
        print("bench_bf16: this CPU lacks AVX512-BF16 (or VFROBUST_NO_BF16 is set); nothing to "
              "measure")
        return
    print(f"bench_bf16: threads {args.threads}, batch {BATCH}, os.getloadavg() at start "
          f"{os.getloadavg()[0]:.2f}")
    if not args.skip_linear:
        bench_linear(lib)
    tmp = tempfile.mkdtemp(prefix="vfr_bench_bf16_")
    try:
        if lib.amx_cpu_supported() and not args.skip_linear:
            bench_amx(lib, tmp)
        print(f"\nCLIP ViT-B/16 (random weights), batch {BATCH}, fp32 and bf16 interleaved")
        bench_model(lib, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f} (other jobs make the numbers "
          f"indicative only)")


if __name__ == "__main__":
    main()
