"""Embedding throughput of vfrobust vs PyTorch, as ratios measured in one run (SPEC section 7).

  /usr/bin/python3 bench/bench_embed.py [--quick] [--threads N] [--skip-memory]

For CLIP ViT-B/16 and ViT-B/32 at their real shapes (random weights, the same Hugging Face
folder for both sides), on the same preprocessed pixels and the same thread count:
  - images/second of libvfrobust's forward pass (vfr_model_embed_pixels through ctypes, so
    process start and image decoding are not measured) and of the PyTorch reference model
    (tests/modelref.py, fp32, torch.no_grad) at batch 1 and batch 32; the speed-up ratio;
  - the achieved model GFLOP/s (FLOPs per image from the config) as a fraction of this
    machine's OpenBLAS sgemm rate, measured in the same run (NumPy float32 matmul);
  - the two sides' embeddings agree (max |diff| / ||ref|| printed).
Then peak memory (max RSS) of `vfrobust model-info` and of `vfrobust embed` on one image for a
ViT-L/14 folder, as a ratio to the vision weights' bytes.
Paths: VFROBUST_LIB / VFROBUST_BIN, else build/libvfrobust.so and build/vfrobust.
"""
import argparse
import os
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--quick", action="store_true", help="batch 8 instead of 32, fewer repeats")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--skip-memory", action="store_true", help="skip the ViT-L/14 memory check")
args = ap.parse_args()
# Thread counts must be fixed before NumPy/PyTorch load OpenBLAS/OpenMP.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import ctypes as C  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import modelref as M  # noqa: E402
import vfr_testlib as T  # noqa: E402

torch.set_num_threads(args.threads)
BIG_BATCH = 8 if args.quick else 32
REPEATS = 2 if args.quick else 3  # timed runs at batch 1


class Error(C.Structure):
    _fields_ = [("code", C.c_int), ("message", C.c_char * 512)]


class ModelParams(C.Structure):
    _fields_ = [("threads", C.c_int), ("pooling", C.c_int), ("max_batch", C.c_int), ("precision", C.c_int)]


class ModelInfo(C.Structure):
    _fields_ = [("family", C.c_char * 16), ("model_type", C.c_char * 48)] + \
        [(n, C.c_int) for n in ("hidden_size", "num_layers", "num_heads", "intermediate_size",
                                "patch_size", "image_size", "num_register_tokens",
                                "input_height", "input_width", "num_tokens", "embed_dim")] + \
        [("num_parameters", C.c_int64), ("flops_per_image", C.c_double),
         ("weight_bytes", C.c_int64)]


def load_lib():
    lib = T.load_lib()
    lib.vfr_model_default_params.restype = ModelParams
    lib.vfr_model_load.argtypes = [C.c_char_p, C.POINTER(ModelParams), C.POINTER(C.c_void_p),
                                   C.POINTER(Error)]
    lib.vfr_model_free.argtypes = [C.c_void_p]
    lib.vfr_model_get_info.argtypes = [C.c_void_p, C.POINTER(ModelInfo)]
    lib.vfr_model_embed_pixels.argtypes = [C.c_void_p, C.c_void_p, C.c_int, C.c_void_p,
                                           C.POINTER(Error)]
    return lib


def best_time(fn, repeats):
    """Minimum wall time of fn() over repeats runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sgemm_rate():
    n = 2048
    rs = np.random.RandomState(0)
    a, b = rs.rand(n, n).astype(np.float32), rs.rand(n, n).astype(np.float32)
    t = best_time(lambda: a @ b, 5)
    return 2.0 * n ** 3 / t / 1e9


def bench_model(lib, tmp, name, seed):
    config, pp = M.PRESETS[name]()
    model = M.randomize(M.build_model(config), seed).eval()
    folder = os.path.join(tmp, name)
    M.write_hf_folder(folder, config, pp, model)
    rs = np.random.RandomState(seed)
    from PIL import Image
    imgs = [Image.fromarray(rs.randint(0, 256, (240 + 7 * i, 320, 3), dtype=np.uint8))
            for i in range(BIG_BATCH)]
    pixels = np.ascontiguousarray(np.stack([M.preprocess(im, pp) for im in imgs]))

    params = lib.vfr_model_default_params()
    params.threads, params.max_batch = args.threads, BIG_BATCH
    handle, err = C.c_void_p(), Error()
    if lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err)):
        sys.exit(f"bench_embed: {err.message.decode()}")
    info = ModelInfo()
    lib.vfr_model_get_info(handle, C.byref(info))
    flops = M.vision_flops(config, info.input_height, info.input_width)
    rows = []
    for b in (1, BIG_BATCH):
        x = np.ascontiguousarray(pixels[:b])
        out = np.zeros((b, info.embed_dim), np.float32)

        def run_c():
            if lib.vfr_model_embed_pixels(handle, x.ctypes.data, b, out.ctypes.data, C.byref(err)):
                sys.exit(f"bench_embed: {err.message.decode()}")

        xt = torch.from_numpy(x)

        def run_torch():
            with torch.no_grad():
                return model(xt)

        reps = REPEATS if b == 1 else 1  # a batch of 32 ViT-B/16 images is ~1 TFLOP
        t_c = best_time(run_c, reps)
        t_t = best_time(run_torch, reps)
        ref = run_torch().numpy().astype(np.float64)
        diff = float((np.abs(out - ref).max(axis=1) / np.linalg.norm(ref, axis=1)).max())
        gf = flops * b / t_c / 1e9
        rows.append((name, b, b / t_c, b / t_t, t_t / t_c, gf, diff))
    lib.vfr_model_free(handle)
    shutil.rmtree(folder)
    print(f"  {name}: FLOPs/image {flops / 1e9:.2f} G (library reports "
          f"{info.flops_per_image / 1e9:.2f} G), tokens {info.num_tokens}", flush=True)
    return rows


def max_rss_kib(cmd):
    """Peak RSS of cmd, measured in a fresh process whose only child is cmd."""
    probe = ("import resource, subprocess, sys; "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.stderr.write(r.stderr.decode())")
    p = subprocess.run([sys.executable, "-c", probe] + cmd, capture_output=True, text=True)
    rc, kib = p.stdout.split()
    return int(rc), int(kib), p.stderr.strip()


def bench_memory(tmp):
    config, pp = M.PRESETS["clip-vit-l14"]()
    model = M.randomize(M.build_model(config), 5)
    folder = os.path.join(tmp, "clip-vit-l14")
    M.write_hf_folder(folder, config, pp, model)
    vision_bytes = sum(p.numel() * 4 for n, p in model.named_parameters()
                       if n.startswith(("vision_model.", "visual_projection.")))
    file_bytes = os.path.getsize(os.path.join(folder, "model.safetensors"))
    del model  # free the 1.5 GB before the measured runs
    from PIL import Image
    img = os.path.join(tmp, "one.png")
    Image.fromarray(np.full((224, 224, 3), 128, np.uint8)).save(img)
    print(f"\nPeak memory, CLIP ViT-L/14 (vision weights {vision_bytes / 2**20:.0f} MiB, "
          f"file {file_bytes / 2**20:.0f} MiB)")
    for what, cmd in (("model-info", [T.BIN, "model-info", folder]),
                      ("embed 1 image", [T.BIN, "embed", "--model", folder, "--threads",
                                         str(args.threads), "--out",
                                         os.path.join(tmp, "one.npy"), img])):
        rc, kib, err = max_rss_kib(cmd)
        status = "" if rc == 0 else f"  (exit {rc}: {err[:120]})"
        print(f"  {what:14s} max RSS {kib / 1024:8.0f} MiB = {kib * 1024 / vision_bytes:.2f}x "
              f"the vision weights (bar <= 1.2x){status}")
    shutil.rmtree(folder)


def main():
    print(f"bench_embed: threads {args.threads}, batches 1 and {BIG_BATCH}, torch "
          f"{torch.__version__}, numpy {np.__version__}")
    lib = load_lib()
    peak = sgemm_rate()
    print(f"OpenBLAS sgemm (NumPy float32 2048^3): {peak:.1f} GFLOP/s", flush=True)
    tmp = tempfile.mkdtemp(prefix="vfr_bench_embed_")
    try:
        rows = []
        for i, name in enumerate(("clip-vit-b32", "clip-vit-b16")):
            rows += bench_model(lib, tmp, name, 100 + i)
        peak2 = sgemm_rate()
        print(f"OpenBLAS sgemm again after the models: {peak2:.1f} GFLOP/s (load drift check); "
              f"'of sgemm' below is against the higher, {max(peak, peak2):.1f}")
        peak = max(peak, peak2)
        print(f"\n{'model':14s} {'batch':>5s} {'vfrobust img/s':>15s} {'torch img/s':>12s} "
              f"{'ratio':>6s} {'bar':>5s} {'GFLOP/s':>8s} {'of sgemm':>9s} {'max|diff|/|ref|':>16s}")
        for name, b, ips_c, ips_t, ratio, gf, diff in rows:
            bar = 1.5 if b == 1 else 1.2
            print(f"{name:14s} {b:5d} {ips_c:15.2f} {ips_t:12.2f} {ratio:6.2f} {bar:5.1f} "
                  f"{gf:8.1f} {100 * gf / peak:8.0f}% {diff:16.2e}")
        if not args.skip_memory:
            bench_memory(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
