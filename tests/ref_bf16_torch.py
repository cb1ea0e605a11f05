"""The bf16 compute option (`--precision bf16`) against an fp32 PyTorch reference and a NumPy
emulation of the bf16 kernel.

1. The kernel alone (gemm_bf16.h through ctypes) against NumPy: inputs rounded to bf16 (round
   to nearest even, written here from the bit pattern), products and sums in float64. The
   rounding of rows and the packed weight layout must match bit for bit; the product must
   agree to within fp32 accumulation error, |got - ref| <= (K + 8) * 2^-24 * (|a| @ |w|^T)
   elementwise (K additions in fp32, each of relative error <= 2^-24, plus the adds of the k
   blocks; bf16 x bf16 products are exact in fp32). The bound is tight enough to matter: an
   fp32 product of the unrounded inputs misses it. Shapes cover odd K, ragged rows and
   columns, a sub-block of the output (the rest untouched), and K beyond two k blocks.
2. Embeddings: random-weight CLIP ViT-B/32 at its real shape and small CLIP / DINOv2 (SwiGLU,
   registers, layer scale) configs, `vfrobust embed --precision bf16` vs the fp32 reference
   (tests/modelref.py). Reported: worst cosine and worst max|diff|/||ref||. Bars: cosine
   >= 0.999 and max|diff|/||ref|| <= 0.02. Why: a linear layer's inputs and weights are
   rounded to bf16 (relative error <= 2^-9, rms 2^-9/sqrt(3) each), so its output carries
   about 2^-9 * sqrt(2/3) ~ 1.6e-3 relative noise; each of the 2L sublayers adds that,
   scaled by its share of the residual stream, and independent noises add in quadrature:
   at most 1.6e-3 * sqrt(2L) ~ 8e-3 for L = 12 if every sublayer were as large as the
   stream, so the error stays below 0.02, and 1 - cosine ~ rel^2 / 2 << 1e-3. (Seen: ~1e-3
   and 1 - cosine ~ 1e-5.) Any real bug (a wrong layout, a lost bias, a skipped row block)
   gives errors of order 1. The same folder in fp32 must still meet the fp32 bar (1e-4),
   and bf16 must differ from it by more than fp32 noise (so the bf16 path really ran).
   The small DINOv2 case embeds 40 images (680 tokens), so the linear layers are cut into
   row blocks and column chunks shared by the threads.
3. --batch 1 and --batch 3 agree to within the bf16 noise (the fp32 parts differ by ~1e-7
   between batch sizes, and rounding to bf16 can turn that into one-ulp flips of a linear
   layer's input; the kernel itself gives the same bits for a row whatever block it is in,
   checked in 1.); the library API (vfr_model_params.precision through
   ctypes) gives the CLI's result; `--precision fp16` is a usage error (exit 2); and on a
   CPU without AVX512-BF16 (faked with VFROBUST_NO_BF16=1, or real) bf16 is refused at load
   with one line "bf16 needs AVX-512; this CPU lacks it" and exit 1, never a crash.
   `vfrobust eval --precision bf16` records "precision": "bf16" in summary.json, and an fp32
   `--resume` into that study recomputes every image instead of mixing precisions.

4. Which bf16 path ran, and the others on this machine. bf16 runs on oneDNN's bf16 matmul
   (weights rounded and reordered once at load) wherever oneDNN has a compiled kernel for the
   CPU (AMX, AVX512-BF16, or emulated on plain AVX-512), else on the own AVX512-BF16 kernel.
   ONEDNN_VERBOSE=1 names the products' implementation: on an AMX CPU the bf16 products must
   run on an AMX kernel (brg:avx512_core_amx*). The real shapes (CLIP ViT-B/32 and ViT-B/16)
   must reach cosine >= 0.9999 to the fp32 reference (1 - cosine ~ rel^2/2 with rel ~ 1e-3
   there; seen ~1e-5). With ONEDNN_MAX_CPU_ISA=AVX512_CORE (oneDNN's view of an AVX-512 CPU
   without bf16: it emulates) the ViT-B/32 case must meet the same bars on oneDNN's
   non-AMX kernel, and with ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN has no bf16 matmul) on the own
   kernel, where the CPU has AVX512-BF16; VFROBUST_NO_BF16=1 takes both paths away.

On a CPU with neither AVX-512 nor AVX512-BF16 only the refusal is checked, then a SKIP line
and exit 0.
"""
import ctypes as C
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import vfr_testlib as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as M  # noqa: E402

torch.set_num_threads(2)
COS_BAR, REL_BAR = 0.999, 0.02       # bf16 vs the fp32 reference (see above)
FP32_COS, FP32_REL = 0.99999, 1e-4   # the fp32 path on the same folders (ref_model_torch's bar)
REAL_COS = 0.9999                    # bf16 at the real ViT-B shapes (see 4.)
ck = T.Checker("ref_bf16_torch")


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split())
    except OSError:
        pass
    return set()


FLAGS = cpu_flags()
AVX512_CORE = {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= FLAGS


def cpu_has_bf16():
    return "avx512_bf16" in FLAGS


# ----------------------------------------------------------------------------------------------
# NumPy emulation

def bf16_round(x):
    """float32 array -> float32 values rounded to bf16, nearest even (finite normal inputs)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def bf16_bits(x):
    return (bf16_round(x).view(np.uint32) >> 16).astype(np.uint16)


# ----------------------------------------------------------------------------------------------
# 1. the kernel

class Bf16Weight(C.Structure):  # src/model/gemm_bf16.h
    _fields_ = [("data", C.c_void_p), ("OC", C.c_int), ("C", C.c_int), ("Kp", C.c_int)]


def kernel_checks(lib):
    lib.bf16_weight_pack.argtypes = [C.POINTER(Bf16Weight), C.c_void_p, C.c_int, C.c_int]
    lib.bf16_weight_free.argtypes = [C.POINTER(Bf16Weight)]
    lib.bf16_round_rows.argtypes = [C.c_void_p, C.c_void_p, C.c_int, C.c_int, C.c_int]
    lib.gemm_bf16.argtypes = [C.c_void_p, C.c_int, C.c_void_p, C.POINTER(Bf16Weight), C.c_int,
                              C.c_int, C.c_int, C.c_int]
    lib.bf16_from_float.argtypes = [C.c_float]
    lib.bf16_from_float.restype = C.c_uint16

    # Scalar rounding: ties to even both ways, carry into the exponent, sign.
    for bits, want in ((0x3F808000, 0x3F80), (0x3F818000, 0x3F82), (0x3F808001, 0x3F81),
                       (0xBF80FFFF, 0xBF81), (0x3F7FFFFF, 0x3F80), (0x7F7FFFFF, 0x7F80)):
        x = np.array([bits], np.uint32).view(np.float32)[0]
        got = lib.bf16_from_float(float(x))
        ck.check(got == want, f"bf16_from_float({bits:#010x}) = {got:#06x}, want {want:#06x}")

    rs = np.random.RandomState(5)
    worst = 0.0
    for N, K, OC, sub in ((37, 67, 45, None), (13, 64, 16, None), (1, 1, 1, None),
                          (50, 96, 100, (5, 30, 16, 40)), (200, 1100, 70, None),
                          (29, 768, 192, (0, 29, 64, 192))):
        a = (rs.randn(N, K) * 1.7).astype(np.float32)
        w = (rs.randn(OC, K) * 0.05).astype(np.float32)
        Kp = K + (K & 1)
        bw = Bf16Weight()
        ck.check(lib.bf16_weight_pack(C.byref(bw), w.ctypes.data, OC, K) == 0, "pack failed")
        ck.check((bw.OC, bw.C, bw.Kp) == (OC, K, Kp), f"pack shape {(bw.OC, bw.C, bw.Kp)}")
        # The packed layout: (ceil(OC/16), Kp/2, 16, 2).
        nob = (OC + 15) // 16
        packed = np.ctypeslib.as_array(C.cast(bw.data, C.POINTER(C.c_uint16)),
                                       shape=(nob * (Kp // 2) * 32,)).copy()
        wpad = np.zeros((nob * 16, Kp), np.uint16)
        wpad[:OC, :K] = bf16_bits(w)
        want = wpad.reshape(nob, 16, Kp // 2, 2).transpose(0, 2, 1, 3).reshape(-1)
        ck.check(np.array_equal(packed, want), f"{N}x{K}x{OC}: packed weight layout differs")

        abuf = np.full((N, Kp), 0xFFFF, np.uint16)
        lib.bf16_round_rows(abuf.ctypes.data, a.ctypes.data, K, 0, N)
        apad = np.zeros((N, Kp), np.uint16)
        apad[:, :K] = bf16_bits(a)
        ck.check(np.array_equal(abuf, apad), f"{N}x{K}: bf16_round_rows differs from NumPy RNE")

        r0, r1, o0, o1 = sub if sub else (0, N, 0, OC)
        y = np.full((N, OC), 7.25, np.float32)
        lib.gemm_bf16(y.ctypes.data, OC, abuf.ctypes.data, C.byref(bw), r0, r1, o0, o1)
        if sub:  # a block's values do not depend on the block: the same bits as the whole
            full = np.zeros((N, OC), np.float32)
            lib.gemm_bf16(full.ctypes.data, OC, abuf.ctypes.data, C.byref(bw), 0, N, 0, OC)
            ck.check(np.array_equal(full[r0:r1, o0:o1], y[r0:r1, o0:o1]),
                     f"{N}x{K}x{OC}: block {sub} differs from the whole product")
        lib.bf16_weight_free(C.byref(bw))
        ar, wr = bf16_round(a).astype(np.float64), bf16_round(w).astype(np.float64)
        ref = ar @ wr.T
        bound = (K + 8) * 2.0 ** -24 * (np.abs(ar) @ np.abs(wr).T)
        blk = (slice(r0, r1), slice(o0, o1))
        err = np.abs(y[blk] - ref[blk])
        ok = bool(np.all(err <= bound[blk]))
        worst = max(worst, float((err / bound[blk]).max()))
        ck.check(ok, f"{N}x{K}x{OC}: kernel vs emulation error {err.max():.3g} exceeds the "
                     f"fp32 accumulation bound")
        outside = np.ones((N, OC), bool)
        outside[blk] = False
        ck.check(np.all(y[outside] == 7.25), f"{N}x{K}x{OC}: wrote outside the block")
        if K >= 64:  # the bound separates rounded from unrounded inputs
            plain = a.astype(np.float64) @ w.astype(np.float64).T
            ck.check(np.any(np.abs(plain - ref) > bound),
                     f"{N}x{K}x{OC}: the bound would also pass unrounded inputs")
    print(f"kernel vs NumPy emulation: worst error / accumulation bound {worst:.3f}")


# ----------------------------------------------------------------------------------------------
# 2. embeddings

def run_embed(folder, paths, out, precision, batch=None, env=None):
    cmd = [T.BIN, "embed", "--model", folder, "--threads", "2", "--precision", precision,
           "--out", out]
    if batch is not None:
        cmd[2:2] = ["--batch", str(batch)]
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run(cmd + list(paths), capture_output=True, text=True, timeout=900,
                       env=env)
    arr = np.load(out) if p.returncode == 0 and os.path.exists(out) else None
    return p.returncode, arr, p.stderr


def errors(ref, got):
    """(worst cosine, worst max|diff|/||ref||) over the rows."""
    cos, rel = 1.0, 0.0
    for r, g in zip(ref.astype(np.float64), got.astype(np.float64)):
        nr = np.linalg.norm(r)
        cos = min(cos, float(r @ g / (nr * np.linalg.norm(g))))
        rel = max(rel, float(np.abs(r - g).max() / nr))
    return cos, rel


def make_images(tmp, n):
    rs = np.random.RandomState(9)
    paths = []
    for i in range(n):
        w, h = [(224, 224), (300, 200), (97, 131), (640, 480)][i % 4]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.stack([128 + 100 * np.sin(xx / (w / 3.1) + i), 128 + 90 * np.cos(yy / 17.0),
                        128 + 60 * np.sin((xx + yy) / 9.0)], -1) + rs.normal(0, 14, (h, w, 3))
        path = os.path.join(tmp, f"img{i}.png")
        from PIL import Image
        Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB").save(path)
        paths.append(path)
    return paths


def bf16_impls(folder, paths, env=None):
    """The implementations oneDNN names for the bf16 matmuls of a bf16 embed (ONEDNN_VERBOSE)."""
    env = dict(env or os.environ)
    env["ONEDNN_VERBOSE"] = "1"
    cmd = [T.BIN, "embed", "--model", folder, "--threads", "2", "--precision", "bf16", "--out",
           os.path.join(os.path.dirname(folder), "verbose.npy"), paths[0]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    impls = set()
    for line in (p.stdout + p.stderr).splitlines():
        f = line.split(",")
        if len(f) > 6 and f[1] == "exec" and f[3] == "matmul" and "src_bf16" in f[6]:
            impls.add(f[4])
    return p.returncode, impls


def variant_case(folder, paths, ref, name, env, want, cos_bar):
    """bf16 on the same folder with env: the bars of embed_case, on the path `want` names."""
    out = folder + "-variant.npy"
    rc, got, err = run_embed(folder, paths, out, "bf16", env=env)
    if not ck.check(rc == 0 and got is not None, f"{name}: exit {rc}: {err.strip()[:300]}"):
        return
    cos, rel = errors(ref, got)
    ck.check(cos >= cos_bar and rel <= REL_BAR,
             f"{name}: bf16 worst cosine {cos:.6f} (bar {cos_bar}), max|diff|/||ref|| {rel:.3e}")
    rc, impls = bf16_impls(folder, paths, env)
    ck.check(rc == 0 and want(impls), f"{name}: bf16 matmuls ran on {sorted(impls)}")
    print(f"{name:40s} bf16: worst cosine {cos:.6f}  max|diff|/||ref|| {rel:.2e}  oneDNN bf16 "
          f"matmuls: {', '.join(sorted(impls)) or 'none (own kernel)'}", flush=True)


def embed_case(tmp, paths, name, config, pp, seed, ref_dtype, batch_check=False, cos_bar=COS_BAR):
    from PIL import Image
    t0 = time.time()
    model = M.randomize(M.build_model(config), seed)
    folder = os.path.join(tmp, name)
    M.write_hf_folder(folder, config, pp, model)
    pixels = []
    for p in paths:
        with Image.open(p) as im:
            pixels.append(M.preprocess(im.convert("RGB"), pp))
    ref = M.embed(model, np.stack(pixels), ref_dtype)
    del model
    out = os.path.join(tmp, name + ".npy")
    rc, got, err = run_embed(folder, paths, out, "bf16")
    rc32, got32, err32 = run_embed(folder, paths, out, "fp32")
    ok = ck.check(rc == 0 and got is not None and got.shape == ref.shape,
                  f"{name}: embed --precision bf16 exit {rc}: {err.strip()[:300]}")
    ok &= ck.check(rc32 == 0, f"{name}: embed --precision fp32 exit {rc32}: {err32.strip()[:300]}")
    if not ok:
        return folder, ref
    cos, rel = errors(ref, got)
    cos32, rel32 = errors(ref, got32)
    ck.check(cos >= cos_bar and rel <= REL_BAR,
             f"{name}: bf16 worst cosine {cos:.6f} (bar {cos_bar}), max|diff|/||ref|| {rel:.3e} "
             f"(bar {REL_BAR})")
    ck.check(cos32 >= FP32_COS and rel32 <= FP32_REL,
             f"{name}: fp32 worst cosine {cos32:.8f}, max|diff|/||ref|| {rel32:.2e}")
    ck.check(rel > 10 * max(rel32, 1e-7), f"{name}: bf16 error {rel:.2e} is no larger than "
                                          f"fp32's {rel32:.2e}: did the bf16 path run?")
    if batch_check:
        for b in (1, 3):
            rcb, gotb, errb = run_embed(folder, paths, out, "bf16", batch=b)
            if ck.check(rcb == 0, f"{name} bf16 --batch {b}: exit {rcb}: {errb.strip()[:200]}"):
                d = np.abs(gotb.astype(np.float64) - got).max() / np.linalg.norm(ref, axis=1).min()
                ck.check(d <= max(2 * rel, 1e-5),
                         f"{name}: bf16 --batch {b} differs from the default by {d:.2e}, more "
                         f"than the bf16 noise ({rel:.2e})")
    print(f"{name:24s} {len(paths)} images  bf16: worst cosine {cos:.6f}  worst "
          f"max|diff|/||ref|| {rel:.2e}   fp32: 1-cos {1 - cos32:.1e} rel {rel32:.1e}  "
          f"({time.time() - t0:.1f}s)", flush=True)
    return folder, ref


# ----------------------------------------------------------------------------------------------
# 3. the library API, bad values and the refusal

Error = T.abi.vfr_error


def api_check(lib, tmp, folder, paths):
    from PIL import Image
    T.model_prototypes(lib)
    params = lib.vfr_model_default_params()
    ck.check(params.precision == 0, f"default precision {params.precision}, want 0 (fp32)")
    ck.check(lib.vfr_bf16_supported() == 1, "vfr_bf16_supported() is 0 on an avx512_bf16 CPU")
    params.threads, params.precision = 2, 1
    handle, err = C.c_void_p(), Error()
    rc = lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err))
    if not ck.check(rc == 0, f"vfr_model_load bf16: {err.message.decode()}"):
        return
    import json
    with open(os.path.join(folder, "preprocessor_config.json")) as f:
        pp = json.load(f)
    pix = []
    for p in paths:
        with Image.open(p) as im:
            pix.append(M.preprocess(im.convert("RGB"), pp))
    pix = np.ascontiguousarray(np.stack(pix), np.float32)
    out = np.zeros((len(paths), 32), np.float32)
    rc = lib.vfr_model_embed_pixels(handle, pix.ctypes.data, len(paths), out.ctypes.data,
                                    C.byref(err))
    lib.vfr_model_free(handle)
    rc2, cli, e2 = run_embed(folder, paths, os.path.join(tmp, "api.npy"), "bf16")
    if ck.check(rc == 0 and rc2 == 0, f"API bf16 embed: {err.message.decode()} / {e2[:200]}"):
        d = np.abs(out - cli).max() / np.linalg.norm(cli, axis=1).min()
        ck.check(d <= 1e-5, f"API bf16 differs from the CLI by {d:.2e}")
    params.precision = 7
    rc = lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err))
    ck.check(rc != 0 and b"precision" in err.message, f"precision 7 accepted: rc {rc}")


def refusal_checks(tmp, folder, paths, fake):
    env = dict(os.environ)
    if fake:
        env["VFROBUST_NO_BF16"] = "1"
    out = os.path.join(tmp, "refused.npy")
    rc, _, err = run_embed(folder, paths[:1], out, "bf16", env=env)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    ck.check(rc == 1 and len(lines) == 1 and "bf16 needs AVX-512; this CPU lacks it" in err,
             f"bf16 without AVX-512: exit {rc}, stderr {err.strip()[:300]!r}")
    print(f"bf16 refused{' (faked)' if fake else ''}: exit {rc}: {err.strip()[:150]}")
    rc, _, _ = run_embed(folder, paths[:1], out, "fp32", env=env)
    ck.check(rc == 0, f"fp32 on the same CPU: exit {rc}")
    rc, _, err = run_embed(folder, paths[:1], out, "fp16")
    ck.check(rc == 2, f"--precision fp16: exit {rc}, want 2: {err.strip()[:200]}")
    p = subprocess.run([T.BIN, "eval", "--help"], capture_output=True, text=True)
    ck.check("--precision" in p.stdout, "eval --help does not mention --precision")


def eval_check(tmp, folder):
    import json
    data = os.path.join(T.DATA, "cifar10", "test")
    if not os.path.isdir(data):
        print(f"eval check skipped: no {data}")
        return
    out = os.path.join(tmp, "study")
    base = [T.BIN, "eval", "--model", folder, "--data", data, "--limit", "3", "--ops",
            "jpeg,brightness", "--levels", "3", "--threads", "2", "--out", out]
    p = subprocess.run(base + ["--precision", "bf16"], capture_output=True, text=True, timeout=600)
    if not ck.check(p.returncode == 0, f"eval --precision bf16: exit {p.returncode}: "
                                       f"{p.stderr.strip()[-300:]}"):
        return
    with open(os.path.join(out, "summary.json")) as f:
        ck.check(json.load(f).get("precision") == "bf16", "summary.json lacks precision bf16")
    p = subprocess.run(base + ["--resume"], capture_output=True, text=True, timeout=600)
    ck.check(p.returncode == 0 and "(0 resumed" in p.stderr,
             f"fp32 --resume of a bf16 study: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    with open(os.path.join(out, "summary.json")) as f:
        ck.check("precision" not in json.load(f), "fp32 summary.json names a precision")
    print("eval: bf16 recorded in summary.json; an fp32 --resume recomputed every image")


def main():
    t_start = time.time()
    has = cpu_has_bf16() or AVX512_CORE
    tmp = tempfile.mkdtemp(prefix="vfr_bf16_")
    try:
        paths = make_images(tmp, 4)
        tiny_cfg, tiny_pp = M.clip_config(64, 2, 4, 256, 8, 32, 32), M.clip_preprocessor(32, 32)
        model = M.randomize(M.build_model(tiny_cfg), 3)
        tiny = os.path.join(tmp, "tiny-refusal")
        M.write_hf_folder(tiny, tiny_cfg, tiny_pp, model)
        refusal_checks(tmp, tiny, paths, fake=has)
        if not has:
            print("SKIP ref_bf16_torch: this CPU lacks AVX-512 and AVX512-BF16 (only the refusal "
                  "was checked)")
            ck.finish()
        lib = T.load_internal_lib()
        if cpu_has_bf16():
            kernel_checks(lib)
        f64, f32 = torch.float64, torch.float32
        folder, tiny_ref = embed_case(tmp, paths, "tiny-clip-quick_gelu", tiny_cfg, tiny_pp, 11,
                                      f64, batch_check=True)
        api_check(lib, tmp, folder, paths)
        eval_check(tmp, folder)
        embed_case(tmp, paths, "tiny-clip-gelu-odd", M.clip_config(70, 2, 5, 150, 14, 56, 33,
                                                                   act="gelu"),
                   M.clip_preprocessor(56, 56), 12, f64)
        embed_case(tmp, paths, "tiny-dinov2reg-swiglu",
                   M.dinov2_config(64, 2, 4, 14, 56, registers=4, swiglu=True),
                   M.bit_preprocessor(64, 56), 13, f64, batch_check=True)
        many = make_images(tmp, 40)
        embed_case(tmp, many, "tiny-dinov2-40-images", M.dinov2_config(96, 3, 4, 14, 56),
                   M.bit_preprocessor(64, 56), 14, f64)
        config, pp = M.PRESETS["clip-vit-b32"]()
        b32, b32_ref = embed_case(tmp, paths, "clip-vit-b32", config, pp, 24, f32,
                                  cos_bar=REAL_COS)
        config, pp = M.PRESETS["clip-vit-b16"]()
        b16, _ = embed_case(tmp, paths, "clip-vit-b16", config, pp, 25, f32, cos_bar=REAL_COS)
        rc, impls = bf16_impls(b16, paths)
        amx = "amx_tile" in FLAGS
        # with AMX every bf16 product of ViT-B/16 fits the own AMX kernels (gemm_amx.h), which
        # ONEDNN_VERBOSE does not list (embed_case has checked that bf16 ran); any oneDNN bf16
        # matmul there must be an AMX one. Without AMX, oneDNN runs them where it has AVX-512.
        ck.check(rc == 0 and (amx or impls or not AVX512_CORE) and
                 (not amx or all("amx" in i for i in impls)),
                 f"bf16 matmuls of ViT-B/16 ran on {sorted(impls)} (AMX CPU: {amx})")
        own = "none (own AMX kernels)" if amx else "none (own kernel)"
        print(f"oneDNN bf16 matmuls here: {', '.join(sorted(impls)) or own}")
        if AVX512_CORE:
            env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX512_CORE")
            variant_case(b32, paths, b32_ref, "clip-vit-b32 ONEDNN_MAX_CPU_ISA=AVX512_CORE", env,
                         lambda s: bool(s) and not any("amx" in i or "bf16" in i for i in s),
                         REAL_COS)
        if cpu_has_bf16():
            env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2")
            variant_case(b32, paths, b32_ref, "clip-vit-b32 ONEDNN_MAX_CPU_ISA=AVX2", env,
                         lambda s: not s, REAL_COS)
            variant_case(folder, paths, tiny_ref, "tiny-clip ONEDNN_MAX_CPU_ISA=AVX2", env,
                         lambda s: not s, COS_BAR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.time() - t_start:.0f}s")
    ck.finish()


if __name__ == "__main__":
    main()
