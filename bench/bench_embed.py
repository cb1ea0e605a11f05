"""Embedding throughput of vfrobust vs PyTorch, against this machine's fp32 limit, in one run.

  /usr/bin/python3 bench/bench_embed.py [--quick] [--threads N] [--skip-memory] [--skip-large]

The machine's fp32 limit is measured first and again at the end (load drift check): the larger
of oneDNN's fp32 matmul 2048^3 (bench/onednn_sgemm.c, compiled here with cc) and NumPy's sgemm
2048^3 in a subprocess with OPENBLAS_CORETYPE forced to the CPU's real ISA (read from
/proc/cpuinfo: SapphireRapids, Cooperlake, SkylakeX or Haswell; Debian's OpenBLAS may
misdetect a newer CPU and run SSE3 kernels, so the rate "as installed" is printed too but not
used). oneDNN's bf16 rate is printed beside it.

For CLIP ViT-B/32 and ViT-B/16 at batch 1 and 32, and ViT-L/14 at batch 16 (the paper's model),
at their real shapes with random weights (the same Hugging Face folder for both sides), on the
same preprocessed pixels and the same thread count:
  - vfrobust: images/second of vfr_model_embed_pixels through ctypes, in this process, with no
    variable set (OPENBLAS_CORETYPE is removed from the environment before anything loads), in
    fp32 and in bf16; fp32 GFLOP/s as a percentage of the limit;
  - the peer: the PyTorch reference model (tests/modelref.py, torch.no_grad) at its best on
    this CPU, in a subprocess with OPENBLAS_CORETYPE set as above: fp32, and bf16 autocast as
    a second peer; the ratios vfrobust/torch;
  - the embeddings agree (max |diff| / ||ref|| against torch fp32, and for bf16 the worst
    cosine to our fp32 embedding).
Then peak memory (max RSS) of `vfrobust model-info` and of `vfrobust embed` on one image for a
ViT-L/14 folder, as a ratio to the vision weights' bytes.
Paths: VFROBUST_LIB / VFROBUST_BIN, else build/libvfrobust.so and build/vfrobust.
"""
import argparse
import json
import os
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--quick", action="store_true", help="batch 8 instead of 32, fewer repeats")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--skip-memory", action="store_true", help="skip the ViT-L/14 memory check")
ap.add_argument("--skip-large", action="store_true", help="skip ViT-L/14 at batch 16")
ap.add_argument("--torch-worker", help=argparse.SUPPRESS)  # internal: the peer subprocess
args = ap.parse_args()
# Thread counts must be fixed before NumPy/PyTorch load OpenBLAS/OpenMP; vfrobust must run
# as a user would run it, with no OpenBLAS variable.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(args.threads)
if not args.torch_worker:
    os.environ.pop("OPENBLAS_CORETYPE", None)

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
from cpu_isa import cpu_flags, numpy_sgemm, openblas_cores  # noqa: E402

torch.set_num_threads(args.threads)
BIG_BATCH = 8 if args.quick else 32
LARGE_BATCH = 4 if args.quick else 16
REPEATS = 2 if args.quick else 3  # timed runs per batch size, the best counts
SEED = {"clip-vit-b32": 100, "clip-vit-b16": 101, "clip-vit-l14": 102}


Error, ModelInfo = T.abi.vfr_error, T.abi.vfr_model_info


def load_lib():
    return T.model_prototypes(T.load_lib())


def best_time(fn, repeats):
    """Minimum wall time of fn() over repeats runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ---- the machine's limit ---------------------------------------------------------------------

def onednn_sgemm(tmp, dtype):
    """oneDNN matmul 2048^3 GFLOP/s (dtype f32 or bf16) and the kernel it picked."""
    exe = os.path.join(tmp, "onednn_sgemm")
    if not os.path.exists(exe):
        src = os.path.join(HERE, "onednn_sgemm.c")
        r = subprocess.run(["cc", "-O2", "-fopenmp", src, "-o", exe, "-ldnnl"],
                           capture_output=True, text=True)
        if r.returncode:
            print(f"  (cannot build onednn_sgemm: {r.stderr.strip()[:200]})")
            return 0.0, "-"
    p = subprocess.run([exe, "2048", "2048", "2048", "5", dtype], capture_output=True, text=True)
    if p.returncode:
        return 0.0, "-"
    rate, impl = p.stdout.split()
    return float(rate), impl


BF16_RATE = []  # oneDNN's bf16 matmul 2048^3, measured with the limit


def machine_limit(tmp, cores, verbose):
    """The fp32 limit (the larger of oneDNN and NumPy at the real ISA), with what was measured."""
    f32, impl = onednn_sgemm(tmp, "f32")
    best_np, best_core = 0.0, "-"
    for core in cores[:2]:
        rate, ran = numpy_sgemm(core)
        if rate > best_np:
            best_np, best_core = rate, f"{core} (OpenBLAS runs {ran})"
    if verbose:
        bf, bimpl = onednn_sgemm(tmp, "bf16")
        installed, ran = numpy_sgemm(None)
        print(f"  oneDNN fp32 matmul 2048^3:            {f32:7.1f} GFLOP/s  ({impl})")
        print(f"  NumPy sgemm, OPENBLAS_CORETYPE={best_core}: {best_np:7.1f} GFLOP/s")
        print(f"  NumPy sgemm as installed (Core: {ran}): {installed:7.1f} GFLOP/s  (not used)")
        print(f"  oneDNN bf16 matmul 2048^3:            {bf:7.1f} GFLOP/s  ({bimpl})")
        BF16_RATE.append(bf)
    return max(f32, best_np), f32, best_np


# ---- the peer: PyTorch in a subprocess -------------------------------------------------------

def torch_worker(spec):
    """Runs in the subprocess: the torch model of spec, timed on the saved pixels."""
    s = json.loads(spec)
    config, _ = M.PRESETS[s["name"]]()
    model = M.randomize(M.build_model(config), s["seed"]).eval()
    x = torch.from_numpy(np.load(s["pixels"]))
    res = {}
    for mode in ("fp32", "bf16"):
        def run():
            with torch.no_grad():
                if mode == "fp32":
                    return model(x)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return model(x).float()
        t = best_time(run, s["repeats"])
        res[mode] = x.shape[0] / t
        if mode == "fp32":
            np.save(s["out"], run().numpy())
    print(json.dumps(res))


def torch_peer(folder, name, pixels, repeats, core):
    spec = {"name": name, "seed": SEED[name], "pixels": os.path.join(folder, "pixels.npy"),
            "out": os.path.join(folder, "torch_out.npy"), "repeats": repeats}
    np.save(spec["pixels"], pixels)
    env = dict(os.environ)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
                        "--torch-worker", json.dumps(spec)], env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"bench_embed: torch peer failed: {p.stderr.strip()[-400:]}")
    return json.loads(p.stdout.strip().splitlines()[-1]), np.load(spec["out"])


# ---- vfrobust ---------------------------------------------------------------------------------

def vfr_rate(lib, folder, x, precision, repeats):
    """images/s of vfrobust on pixels x (B,3,H,W), the embeddings and the model's info."""
    b = x.shape[0]
    params = lib.vfr_model_default_params()
    params.threads, params.max_batch, params.precision = args.threads, b, precision
    handle, err = C.c_void_p(), Error()
    if lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err)):
        return None, None, None
    info = ModelInfo()
    lib.vfr_model_get_info(handle, C.byref(info))
    out = np.zeros((b, info.embed_dim), np.float32)

    def run():
        if lib.vfr_model_embed_pixels(handle, x.ctypes.data, b, out.ctypes.data, C.byref(err)):
            sys.exit(f"bench_embed: {err.message.decode()}")
    t = best_time(run, repeats)
    lib.vfr_model_free(handle)
    return b / t, out.copy(), info


def bench_model(lib, tmp, name, batches, core):
    config, pp = M.PRESETS[name]()
    model = M.randomize(M.build_model(config), SEED[name]).eval()
    folder = os.path.join(tmp, name)
    M.write_hf_folder(folder, config, pp, model)
    del model
    rs = np.random.RandomState(SEED[name])
    from PIL import Image
    n = max(batches)
    imgs = [Image.fromarray(rs.randint(0, 256, (240 + 7 * i, 320, 3), dtype=np.uint8))
            for i in range(n)]
    pixels = np.ascontiguousarray(np.stack([M.preprocess(im, pp) for im in imgs]))
    rows = []
    for b in batches:
        x = np.ascontiguousarray(pixels[:b])
        reps = REPEATS  # best of 3 at batch 32 too: one run of a shared machine is noise
        ips, out, info = vfr_rate(lib, folder, x, 0, reps)
        ips_bf, out_bf, _ = vfr_rate(lib, folder, x, 1, reps)
        peer, ref = torch_peer(folder, name, x, reps, core)
        ref = ref.astype(np.float64)
        diff = float((np.abs(out - ref).max(axis=1) / np.linalg.norm(ref, axis=1)).max())
        cos = None
        if out_bf is not None:
            num = (out_bf.astype(np.float64) * out).sum(1)
            cos = float((num / np.linalg.norm(out_bf, axis=1) / np.linalg.norm(out, axis=1)).min())
        flops = info.flops_per_image
        rows.append(dict(name=name, b=b, ips=ips, ips_bf=ips_bf, t32=peer["fp32"],
                         tbf=peer["bf16"], gf=flops * ips / 1e9, diff=diff, cos=cos))
        print(f"  {name} batch {b}: vfrobust {ips:.2f} img/s fp32, "
              f"{ips_bf if ips_bf else 0:.2f} bf16; torch {peer['fp32']:.2f} fp32, "
              f"{peer['bf16']:.2f} bf16 autocast", flush=True)
    shutil.rmtree(folder)
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
              f"the vision weights (bar <= 1.3x){status}")
    shutil.rmtree(folder)


def main():
    print(f"bench_embed: threads {args.threads}, batches 1 and {BIG_BATCH} (ViT-L/14: "
          f"{LARGE_BATCH}), torch {torch.__version__}, numpy {np.__version__}")
    flags = cpu_flags()
    cores = openblas_cores(flags)
    core = cores[0] if cores else None
    print(f"CPU: AMX {'yes' if 'amx_tile' in flags else 'no'}, AVX512-BF16 "
          f"{'yes' if 'avx512_bf16' in flags else 'no'}; OpenBLAS core for the peers: {core}")
    lib = load_lib()
    lib.vfr_precision_auto.restype = C.c_int
    print(f"--precision auto picks {'bf16' if lib.vfr_precision_auto() == 1 else 'fp32'} here")
    tmp = tempfile.mkdtemp(prefix="vfr_bench_embed_")
    try:
        print("The machine's fp32 limit:")
        limit, _, _ = machine_limit(tmp, cores, True)
        rows = []
        for name in ("clip-vit-b32", "clip-vit-b16"):
            rows += bench_model(lib, tmp, name, (1, BIG_BATCH), core)
        if not args.skip_large:
            rows += bench_model(lib, tmp, "clip-vit-l14", (LARGE_BATCH,), core)
        limit2, f32, np32 = machine_limit(tmp, cores, False)
        print(f"The limit again after the models: {limit2:.1f} GFLOP/s (oneDNN {f32:.1f}, NumPy "
              f"{np32:.1f}; load drift check); '% limit' below is against the higher, "
              f"{max(limit, limit2):.1f}")
        limit = max(limit, limit2)
        print(f"\n{'model':13s} {'batch':>5s} {'fp32 img/s':>10s} {'GFLOP/s':>8s} "
              f"{'% limit':>7s} {'torch fp32':>10s} {'x':>5s} {'bf16 img/s':>10s} "
              f"{'torch bf16':>10s} {'x':>5s} {'bf16/fp32':>9s} {'bf16 %':>6s} {'|diff|/|ref|':>12s} "
              f"{'bf16 cos':>9s}")
        bf_limit = BF16_RATE[0] if BF16_RATE and BF16_RATE[0] > 0 else 0.0
        for r in rows:
            bf = r["ips_bf"] or 0.0
            cos = f"{r['cos']:.6f}" if r["cos"] is not None else "-"
            bf_pct = 100 * r["gf"] / r["ips"] * bf / bf_limit if bf_limit else 0.0
            print(f"{r['name']:13s} {r['b']:5d} {r['ips']:10.2f} {r['gf']:8.1f} "
                  f"{100 * r['gf'] / limit:6.0f}% {r['t32']:10.2f} {r['ips'] / r['t32']:5.2f} "
                  f"{bf:10.2f} {r['tbf']:10.2f} {bf / r['tbf']:5.2f} {bf / r['ips']:9.2f} "
                  f"{bf_pct:5.0f}% {r['diff']:12.2e} {cos:>9s}")
        print("bars: fp32 batch 32 >= 85% of the limit, batch 1 >= 75% (B/16) and >= 60% (B/32); "
              ">= 1.5x torch fp32 at batch 32, >= 2.5x at batch 1; bf16 >= torch bf16")
        print("'bf16 %': bf16 GFLOP/s against oneDNN's bf16 matmul 2048^3 "
              f"({bf_limit:.1f} GFLOP/s, measured with the limit)")
        if not args.skip_memory:
            bench_memory(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if args.torch_worker:
        torch_worker(args.torch_worker)
    else:
        main()
