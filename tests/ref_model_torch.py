"""`vfrobust embed` against an independent PyTorch reference (tests/modelref.py).

Random-weight models at the real shapes of CLIP ViT-B/32, ViT-B/16, ViT-L/14 and DINOv2-S/14
(with and without registers), and small configs covering quick_gelu and gelu, the SwiGLU FFN,
register tokens, position-embedding interpolation up and down, square and non-square, with and
without antialias, and the case where no interpolation happens. Each is written as a real
Hugging Face folder (config.json, preprocessor_config.json, model.safetensors in F32, F16 or
BF16) into a temporary directory, embedded by the CLI from PNG files of several sizes and
aspect ratios, and compared with the reference run on the same pixels through Pillow and the
HF processors' rules:  cosine >= 0.99999 and max |diff| <= 1e-4 * ||ref|| for every image.
Also: --batch 1 and --batch 3 agree, and broken checkpoints make `embed` exit 1 with one
stderr line naming the file.

The reference itself is checked first: the preprocessing against a direct NumPy computation,
HF's resize rule on known sizes, and PyTorch's antialiased bicubic (used for
dinov2_with_registers) against Pillow's bicubic on float images.
"""
import ctypes as C
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import vfr_testlib as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as M  # noqa: E402

torch.set_num_threads(2)
COS_BAR = 0.99999
REL_BAR = 1e-4
ck = T.Checker("ref_model_torch")


# ----------------------------------------------------------------------------------------------
# inputs

def synthetic_image(w, h, seed):
    """Smooth colour gradients + texture + noise, uint8 RGB (w x h)."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([
        128 + 100 * np.sin(xx / (w / 3.1 + 1) + rs.rand() * 6),
        128 + 100 * np.cos(yy / (h / 2.3 + 1) + rs.rand() * 6),
        128 + 80 * np.sin((xx + yy) / 7.0) * np.cos(xx / 11.0),
    ], axis=-1) + rs.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def make_images(tmp):
    """Returns [(path, PIL image)] of PNG files: several sizes and aspect ratios, a grey image,
    and a CIFAR-10 test image (re-saved as PNG so decoding is not what is compared)."""
    imgs = [synthetic_image(224, 224, 1), synthetic_image(640, 480, 2),
            synthetic_image(300, 517, 3), synthetic_image(37, 91, 4)]
    cifar = os.path.join(T.DATA, "cifar10", "test", "cat", "0000.jpg")
    with Image.open(cifar) as im:
        imgs.append(im.convert("RGB"))
    imgs.append(synthetic_image(150, 120, 5).convert("L"))
    out = []
    for i, im in enumerate(imgs):
        path = os.path.join(tmp, f"img{i}_{im.width}x{im.height}.png")
        im.save(path)
        with Image.open(path) as back:
            back.load()
            out.append((path, back.copy()))
    return out


# ----------------------------------------------------------------------------------------------
# the reference's own checks

def check_reference():
    # HF's output-size rule for 'shortest_edge' (long side truncated), sizes as (w, h).
    for (w, h, s), want in {(640, 480, 224): (298, 224), (300, 517, 224): (224, 386),
                            (37, 91, 224): (224, 550), (32, 32, 256): (256, 256),
                            (224, 300, 224): (224, 300), (91, 37, 256): (629, 256)}.items():
        got = M.resized_size(w, h, s)
        ck.check(got == want, f"resized_size({w},{h},{s}) = {got}, want {want}")

    # No resize needed (short side already 224): crop + rescale + normalize by hand in float64.
    img = synthetic_image(224, 300, 7)
    pp = M.clip_preprocessor(224, 224)
    arr = np.asarray(img).astype(np.float64)
    top = (300 - 224) // 2
    want = (arr[top:top + 224] / 255.0 - np.array(M.CLIP_MEAN)) / np.array(M.CLIP_STD)
    got = M.preprocess(img, pp).transpose(1, 2, 0)
    err = np.abs(got - want).max()
    ck.check(got.shape == (224, 224, 3) and err < 2e-6, f"CLIP crop/normalize error {err:.2e}")
    # Legacy CLIP layout and Bit layout parse to the same sizes.
    ck.check(np.array_equal(M.preprocess(img, M.clip_preprocessor(224, 224, legacy=True)),
                            M.preprocess(img, pp)), "legacy CLIP preprocessor differs")
    img2 = synthetic_image(300, 200, 8)
    x = M.preprocess(img2, M.bit_preprocessor(256, 224))
    r = np.asarray(img2.resize((384, 256), Image.BICUBIC)).astype(np.float64)
    want = (r[16:240, 80:304] / 255.0 - np.array(M.IMAGENET_MEAN)) / np.array(M.IMAGENET_STD)
    err = np.abs(x.transpose(1, 2, 0) - want).max()
    ck.check(err < 2e-6, f"Bit resize/crop/normalize error {err:.2e}")

    # PyTorch's antialiased bicubic (dinov2_with_registers) is Pillow's bicubic on float data.
    rs = np.random.RandomState(3)
    for src, dst in ((37, 16), (7, 3), (3, 5), (37, 24)):
        grid = rs.randn(src, src).astype(np.float32)
        t = F.interpolate(torch.from_numpy(grid)[None, None], size=(dst, dst), mode="bicubic",
                          align_corners=False, antialias=True)[0, 0].numpy()
        p = np.asarray(Image.fromarray(grid, "F").resize((dst, dst), Image.BICUBIC))
        err = np.abs(t - p).max()
        ck.check(err < 1e-5, f"antialiased bicubic {src}->{dst} vs Pillow: {err:.2e}")
        print(f"reference: antialiased bicubic {src}->{dst} vs Pillow max diff {err:.1e}")


# ----------------------------------------------------------------------------------------------
# running the CLI

def run_embed(folder, paths, out, batch=None, threads=2, timeout=900):
    cmd = [T.BIN, "embed", "--model", folder, "--threads", str(threads), "--out", out]
    if batch is not None:
        cmd[2:2] = ["--batch", str(batch)]
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run(cmd + list(paths), capture_output=True, text=True, timeout=timeout)
    arr = np.load(out) if p.returncode == 0 and os.path.exists(out) else None
    return p.returncode, arr, p.stderr


def compare(tag, ref, got, worst):
    """Checks every row of got (N,d) against ref; updates worst = [min cos, max rel err]."""
    if not ck.check(got is not None and got.shape == ref.shape and got.dtype == np.float32,
                    f"{tag}: output {None if got is None else (got.shape, got.dtype)}, "
                    f"want {ref.shape} float32"):
        return False
    ok = True
    for i in range(ref.shape[0]):
        r, g = ref[i], got[i].astype(np.float64)
        nr = np.linalg.norm(r)
        cos = float(r @ g / (nr * np.linalg.norm(g) + 1e-300))
        rel = float(np.abs(r - g).max() / nr)
        worst[0], worst[1] = min(worst[0], cos), max(worst[1], rel)
        ok &= ck.check(cos >= COS_BAR and rel <= REL_BAR,
                       f"{tag} image {i}: cosine {cos:.8f}, max|diff|/||ref|| {rel:.2e}")
    return ok


def passes(ref, other):
    """Whether `other` would pass the bar against `ref` for every row."""
    for r, g in zip(ref, other):
        cos = r @ g / (np.linalg.norm(r) * np.linalg.norm(g))
        if cos < COS_BAR or np.abs(r - g).max() / np.linalg.norm(r) > REL_BAR:
            return False
    return True


def check_sensitivity(name, model, config, pixels, ref):
    """The bar must tell apart the position-interpolation variants an implementation could
    plausibly pick (antialias on/off, size= vs the older scale_factor=(n+0.1)/S): a reference
    computed with the wrong one must fail it on these inputs."""
    emb = getattr(model, "embeddings", None)
    if not isinstance(emb, M.Dinov2Embeddings):
        return
    side = int(math.isqrt(emb.position_embeddings.shape[1] - 1))
    if pixels.shape[2] // emb.patch_size == side and pixels.shape[3] // emb.patch_size == side:
        return  # no interpolation happens
    emb.antialias = not emb.antialias
    other = M.embed(model, pixels)
    emb.antialias = not emb.antialias
    ck.check(not passes(ref, other), f"{name}: antialias={not emb.antialias} would also pass")
    emb.legacy_scale = True
    other = M.embed(model, pixels)
    emb.legacy_scale = False
    ck.check(not passes(ref, other), f"{name}: scale_factor=(n+0.1)/S would also pass")


def case(tmp, images, name, config, pp, seed, pick, file_dtype=torch.float32,
         ref_dtype=torch.float64, batch_check=False):
    t0 = time.time()
    model = M.randomize(M.build_model(config), seed)
    if file_dtype != torch.float32:
        M.round_weights(model, file_dtype)
    folder = os.path.join(tmp, name)
    M.write_hf_folder(folder, config, pp, model, file_dtype)
    sel = [images[i] for i in pick]
    pixels = np.stack([M.preprocess(im, pp) for _, im in sel])
    ref = M.embed(model, pixels, ref_dtype)
    if ref_dtype == torch.float64:  # small configs only (cheap)
        check_sensitivity(name, model, config, pixels, ref)
    del model
    t_ref = time.time() - t0
    out = os.path.join(tmp, name + ".npy")
    t1 = time.time()
    rc, got, err = run_embed(folder, [p for p, _ in sel], out)
    t_c = time.time() - t1
    worst = [1.0, 0.0]
    ck.check(rc == 0, f"{name}: embed exit {rc}: {err.strip()[:300]}")
    if rc == 0:
        compare(name, ref, got, worst)
    if batch_check and rc == 0:
        for b in (1, 3):
            rcb, gotb, errb = run_embed(folder, [p for p, _ in sel], out, batch=b)
            ck.check(rcb == 0, f"{name} --batch {b}: exit {rcb}: {errb.strip()[:300]}")
            if rcb == 0 and compare(f"{name} --batch {b}", ref, gotb, worst):
                d = np.abs(gotb.astype(np.float64) - got).max() / np.linalg.norm(ref, axis=1).min()
                ck.check(d <= 1e-5, f"{name}: --batch {b} differs from default batch by {d:.2e}")
    print(f"{name:28s} {M._ST_DTYPES[file_dtype]:4s} {len(sel)} images  worst 1-cosine "
          f"{1 - worst[0]:.1e}  worst max|diff|/||ref|| {worst[1]:.2e}  (reference {t_ref:.1f}s, "
          f"vfrobust {t_c:.1f}s)", flush=True)
    shutil.rmtree(folder)
    return folder


# ----------------------------------------------------------------------------------------------
# the library's DINOv2 CLS || mean(patch tokens) option (not reachable from `embed`)

Error = T.abi.vfr_error


def cls_mean_pooling(tmp, images):
    lib = T.load_lib()
    T.model_prototypes(lib)
    for name, config, pp in (
            ("tiny-dinov2-cls_mean", M.dinov2_config(64, 2, 4, 14, 56), M.bit_preprocessor(80, 70)),
            ("tiny-dinov2reg-cls_mean", M.dinov2_config(64, 2, 4, 14, 98, registers=4),
             M.bit_preprocessor(64, 42, 56))):
        model = M.randomize(M.build_model(config), 31)
        folder = os.path.join(tmp, name)
        M.write_hf_folder(folder, config, pp, model)
        pixels = np.ascontiguousarray(np.stack([M.preprocess(im, pp) for _, im in images]))
        ref = M.embed(model, pixels, pooling="cls_mean")
        params = lib.vfr_model_default_params()
        params.threads, params.pooling, params.max_batch = 2, 1, 4
        handle, err = C.c_void_p(), Error()
        rc = lib.vfr_model_load(folder.encode(), C.byref(params), C.byref(handle), C.byref(err))
        if not ck.check(rc == 0, f"{name}: vfr_model_load: {err.message.decode()}"):
            continue
        out = np.zeros(ref.shape, np.float32)
        rc = lib.vfr_model_embed_pixels(handle, pixels.ctypes.data, len(images),
                                        out.ctypes.data, C.byref(err))
        lib.vfr_model_free(handle)
        worst = [1.0, 0.0]
        if ck.check(rc == 0, f"{name}: vfr_model_embed_pixels: {err.message.decode()}"):
            compare(name, ref, out, worst)
        print(f"{name:28s} F32  {len(images)} images  worst 1-cosine {1 - worst[0]:.1e}  "
              f"worst max|diff|/||ref|| {worst[1]:.2e}  (library through ctypes, d={ref.shape[1]})")
        shutil.rmtree(folder)


# ----------------------------------------------------------------------------------------------
# broken checkpoints

def bad_checkpoints(tmp, images):
    cfg = M.clip_config(64, 2, 4, 256, 8, 32, 48)
    pp = M.clip_preprocessor(32, 32)
    model = M.randomize(M.build_model(cfg), 99)
    tensors = M.state_dict_for_file(model)
    path = [images[0][0]]

    def expect_fail(what, folder, names):
        rc, _, err = run_embed(folder, path, os.path.join(tmp, "bad.npy"))
        lines = [ln for ln in err.splitlines() if ln.strip()]
        ck.check(rc == 1, f"bad checkpoint ({what}): exit {rc}, want 1")
        ck.check(len(lines) == 1, f"bad checkpoint ({what}): {len(lines)} stderr lines: {err[:300]!r}")
        ck.check(any(n in err for n in names),
                 f"bad checkpoint ({what}): stderr does not name {' or '.join(names)}: {err[:300]!r}")
        print(f"bad checkpoint ({what}): exit {rc}: {err.strip()[:160]}")

    def folder_with(tag, tensors_, config=cfg, config_text=None, model_type_cfg=None):
        d = os.path.join(tmp, "bad_" + tag)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config_text if config_text is not None else json.dumps(config, indent=2))
        with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
            json.dump(pp, f)
        M.write_safetensors(os.path.join(d, "model.safetensors"), tensors_)
        return d

    t = dict(tensors)
    del t["vision_model.encoder.layers.1.mlp.fc2.bias"]
    expect_fail("tensor missing", folder_with("missing", t), ["model.safetensors"])

    t = dict(tensors)
    t["vision_model.encoder.layers.0.self_attn.k_proj.weight"] = torch.zeros(64, 32)
    expect_fail("wrong shape", folder_with("shape", t), ["model.safetensors"])

    c = json.loads(json.dumps(cfg))
    c["vision_config"]["hidden_size"] = 96
    expect_fail("config hidden_size disagrees", folder_with("config", tensors, config=c),
                ["config.json", "model.safetensors"])

    expect_fail("config.json not JSON",
                folder_with("json", tensors, config_text='{"model_type": "clip", "vision_config": {'),
                ["config.json"])

    d = folder_with("truncated", tensors)
    st = os.path.join(d, "model.safetensors")
    os.truncate(st, os.path.getsize(st) // 2)
    expect_fail("truncated safetensors", d, ["model.safetensors"])

    dcfg = M.dinov2_config(64, 2, 4, 14, 56, registers=4)
    dt = M.state_dict_for_file(M.randomize(M.build_model(dcfg), 98))
    del dt["embeddings.register_tokens"]
    expect_fail("register_tokens missing", folder_with("registers", dt, config=dcfg),
                ["model.safetensors"])


# ----------------------------------------------------------------------------------------------

def main():
    t_start = time.time()
    check_reference()
    tmp = tempfile.mkdtemp(prefix="vfr_modelref_")
    try:
        images = make_images(tmp)
        every = list(range(len(images)))
        f16, bf16 = torch.float16, torch.bfloat16
        # Small configs: every image, reference in float64.
        case(tmp, images, "tiny-clip-quick_gelu", M.clip_config(64, 2, 4, 256, 8, 32, 48),
             M.clip_preprocessor(32, 32), 11, every, batch_check=True)
        case(tmp, images, "tiny-clip-gelu-f16",
             M.clip_config(64, 2, 4, 200, 14, 56, 32, act="gelu"),
             M.clip_preprocessor(56, 56, legacy=True), 12, every, file_dtype=f16)
        case(tmp, images, "tiny-dinov2-4x4to5x4",  # non-square upscale, no antialias
             M.dinov2_config(64, 2, 4, 14, 56), M.bit_preprocessor(80, 70, 56), 13, every,
             batch_check=True)
        case(tmp, images, "tiny-dinov2-swiglu-bf16",  # 8x8 -> 6x6, no antialias
             M.dinov2_config(64, 2, 4, 8, 64, swiglu=True), M.bit_preprocessor(56, 48), 14,
             every, file_dtype=bf16)
        case(tmp, images, "tiny-dinov2-same-grid",  # trained grid == input grid: no resize
             M.dinov2_config(48, 1, 4, 14, 56), M.bit_preprocessor(64, 56), 15, every)
        case(tmp, images, "tiny-dinov2reg-7x7to3x3",  # antialiased downscale
             M.dinov2_config(64, 2, 4, 14, 98, registers=4), M.bit_preprocessor(48, 42), 16,
             every, batch_check=True)
        case(tmp, images, "tiny-dinov2reg-3x3to5x4-f16",  # antialiased non-square upscale
             M.dinov2_config(64, 2, 4, 14, 42, registers=2), M.bit_preprocessor(80, 70, 56), 17,
             every, file_dtype=f16)
        cls_mean_pooling(tmp, images)
        bad_checkpoints(tmp, images)
        # Real shapes: reference in float32 as HF computes (its own error vs float64 is ~1e-7).
        for name, seed, pick, extra in (
                ("dinov2-s14", 21, every, {}),
                ("dinov2-s14-reg", 22, every, {}),
                ("dinov2-s14-reg", 23, [1, 3], {"file_dtype": bf16}),
                ("clip-vit-b32", 24, every, {"batch_check": True}),
                ("clip-vit-b32", 25, [2, 4], {"file_dtype": f16}),
                ("clip-vit-b16", 26, [1, 2, 3], {}),
                ("clip-vit-l14", 27, [1, 3], {})):
            config, pp = M.PRESETS[name]()
            tag = name + ("" if "file_dtype" not in extra else
                          "-" + M._ST_DTYPES[extra["file_dtype"]].lower())
            case(tmp, images, tag, config, pp, seed, pick, ref_dtype=torch.float32, **extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.time() - t_start:.0f}s")
    ck.finish()


if __name__ == "__main__":
    main()
