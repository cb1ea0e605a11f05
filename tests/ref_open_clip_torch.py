"""OpenCLIP folders (open_clip_config.json + open_clip_model.safetensors) against an independent
PyTorch reference (tests/openclipref.py, written from the published architectures).

Random weights, BatchNorm running statistics random, saved in open_clip's layout (int64
num_batches_tracked buffers included):
  - ViT-B/32 with GELU at its real shape (12 x 768 vision, 12 x 512 text);
  - ViT-L/14 with quick_gelu at the real widths, heads and patch size of every tensor, but
    4 vision and 4 text blocks instead of 24 and 12 (to keep the suite's time on two cores;
    every block runs the same code);
  - ModifiedResNet RN50 and RN101 at their real shapes (text towers 12 x 512).
Image embeddings through `vfrobust embed` from PNG files of several sizes and aspects
(upscaled, downscaled, odd crop margins where torchvision's rounded crop offset differs from
Hugging Face's floored one, a grey image), text embeddings through the library's text tower
on token sequences of several lengths: cosine >= 0.99999 and max |diff| <= 1e-4 x norm.
Also: the 'squash' resize mode and bilinear interpolation, `model-info` naming the family and
layout, and `finetune` refusing a ResNet with one line.
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

import vfr_testlib as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openclipref as R  # noqa: E402

torch.set_num_threads(2)
ck = T.Checker("ref_open_clip_torch")


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 512)]


lib = T.load_internal_lib()  # the text tower is internal (src/model/clip_text.h)
lib.vfr_clip_text_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Error)]
lib.vfr_clip_text_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Error)]
lib.vfr_clip_text_free.argtypes = [ctypes.c_void_p]


def synthetic_image(w, h, seed):
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / (w / 3.1 + 1) + rs.rand() * 6),
                    128 + 100 * np.cos(yy / (h / 2.3 + 1) + rs.rand() * 6),
                    128 + 80 * np.sin((xx + yy) / 7.0) * np.cos(xx / 11.0)], -1)
    img += rs.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def make_images(tmp, size):
    """PNG files: square, landscape, portrait, upscaled, odd crop margins (size + 3 wide:
    torchvision offset 2, HF 1; size + 7 tall: 4 vs 3) and a grey image."""
    ims = [synthetic_image(size, size, 1), synthetic_image(640, 480, 2), synthetic_image(300, 517, 3),
           synthetic_image(37, 91, 4), synthetic_image(size + 3, size, 5),
           synthetic_image(size, size + 7, 6), synthetic_image(150, 120, 7).convert("L")]
    out = []
    for i, im in enumerate(ims):
        p = os.path.join(tmp, f"img{size}_{i}_{im.width}x{im.height}.png")
        im.save(p)
        with Image.open(p) as back:
            back.load()
            out.append((p, back.copy()))
    return out


def agree(tag, got, want):
    if not ck.check(got is not None and got.shape == want.shape, f"{tag}: shape "
                    f"{None if got is None else got.shape} vs {want.shape}"):
        return
    worst_cos, worst_rel = 1.0, 0.0
    for g, r in zip(got.astype(np.float64), want):
        cos = float(g @ r / (np.linalg.norm(g) * np.linalg.norm(r)))
        rel = float(np.abs(g - r).max() / np.linalg.norm(r))
        worst_cos, worst_rel = min(worst_cos, cos), max(worst_rel, rel)
    ck.check(worst_cos >= 0.99999 and worst_rel <= 1e-4,
             f"{tag}: cosine {worst_cos:.8f}, max err/norm {worst_rel:.2e}")
    print(f"{tag}: {len(got)} embeddings, worst cosine {worst_cos:.9f}, max |diff|/norm "
          f"{worst_rel:.2e}", flush=True)


def run_embed(folder, paths, out):
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([T.BIN, "embed", "--model", folder, "--threads", "2", "--out", out] + paths,
                       capture_output=True, text=True, timeout=900)
    ck.check(p.returncode == 0, f"embed {folder}: {p.stderr.strip()}")
    return np.load(out) if p.returncode == 0 else None


def token_ids(vocab, ctx):
    """Rows SOT, random ids, EOT (the largest id), 0 padding, of several lengths."""
    rs = np.random.RandomState(11)
    rows = []
    for n in (3, 9, ctx // 2, ctx - 2):
        ids = [vocab - 2] + list(rs.randint(1, vocab - 2, n)) + [vocab - 1]
        rows.append(ids + [0] * (ctx - len(ids)))
    return np.array(rows, dtype=np.int64)


def text_embed(folder, ids, dim):
    h, e = ctypes.c_void_p(), Error()
    rc = lib.vfr_clip_text_load(folder.encode(), ctypes.byref(h), ctypes.byref(e))
    if not ck.check(rc == 0, f"text tower {folder}: {e.message.decode()}"):
        return None
    ids32 = np.ascontiguousarray(ids, dtype=np.int32)
    out = np.zeros((ids.shape[0], dim), dtype=np.float32)
    rc = lib.vfr_clip_text_forward(h, ids32.ctypes.data, ids.shape[0], ids.shape[1], out.ctypes.data, 2,
                                   ctypes.byref(e))
    lib.vfr_clip_text_free(h)
    ck.check(rc == 0, f"text forward: {e.message.decode()}")
    return out


def check_model(tmp, name, cfg, seed, pcfg=None, family=None, text=True):
    t0 = time.time()
    model = R.randomize(R.CLIP(cfg), seed)
    folder = os.path.join(tmp, name)
    R.write_folder(folder, cfg, model, pcfg)
    size = cfg["vision_cfg"]["image_size"]
    images = make_images(tmp, size)
    pc = pcfg or {}
    resample = Image.BILINEAR if pc.get("interpolation") == "bilinear" else Image.BICUBIC
    pixels = np.stack([R.preprocess(im, size, pc.get("mean", R.OPENAI_MEAN), pc.get("std", R.OPENAI_STD),
                                    resample, pc.get("resize_mode") == "squash") for _, im in images])
    with torch.no_grad():
        m64 = model.double()
        want = m64.visual(torch.from_numpy(pixels).double()).numpy()
    got = run_embed(folder, [p for p, _ in images], os.path.join(tmp, name + ".npy"))
    agree(f"{name} image", got, want)
    if text:
        ids = token_ids(cfg["text_cfg"].get("vocab_size", 49408), cfg["text_cfg"].get("context_length", 77))
        with torch.no_grad():
            want_t = m64.text(torch.from_numpy(ids)).numpy()
        got_t = text_embed(folder, ids, cfg["embed_dim"])
        agree(f"{name} text", got_t, want_t)
    info = subprocess.run([T.BIN, "model-info", "--json", folder], capture_output=True, text=True)
    j = json.loads(info.stdout) if info.returncode == 0 else {}
    ck.check(j.get("family") == family and j.get("layout") == "open_clip" and
             j.get("embed_dim") == cfg["embed_dim"], f"{name}: model-info {info.stdout.strip()} "
             f"{info.stderr.strip()}")
    print(f"{name}: {time.time() - t0:.1f} s", flush=True)
    return folder


def check_reference():
    # torchvision's crop offset rounds half to even; no resize when the short side fits.
    img = synthetic_image(227, 224, 9)
    x = R.preprocess(img, 224)
    arr = np.asarray(img).astype(np.float32)[:, 2:226] / 255
    want = (arr - np.array(R.OPENAI_MEAN, np.float32)) / np.array(R.OPENAI_STD, np.float32)
    ck.check(np.abs(x.transpose(1, 2, 0) - want).max() < 1e-6, "reference crop (offset 2)")
    ck.check(int(round(3 / 2.0)) == 2 and int(round(5 / 2.0)) == 2, "Python's round is half to even")
    # the grey image: Pillow's resize of L equals that of its RGB copy, channel by channel
    g = synthetic_image(150, 120, 7).convert("L")
    a = np.asarray(g.resize((280, 224), Image.BICUBIC))
    b = np.asarray(g.convert("RGB").resize((280, 224), Image.BICUBIC))
    ck.check(all(np.array_equal(a, b[..., c]) for c in range(3)), "L resize == RGB resize")


def main():
    check_reference()
    text512 = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}
    with tempfile.TemporaryDirectory(prefix="vfr_open_clip_") as tmp:
        check_model(tmp, "ViT-B-32", {"embed_dim": 512, "vision_cfg": {
            "image_size": 224, "layers": 12, "width": 768, "patch_size": 32}, "text_cfg": text512},
            1, family="open_clip")
        check_model(tmp, "ViT-L-14-quickgelu-4blocks", {"embed_dim": 768, "quick_gelu": True, "vision_cfg": {
            "image_size": 224, "layers": 4, "width": 1024, "patch_size": 14},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 4}},
            2, family="open_clip")
        rn50 = check_model(tmp, "RN50", {"embed_dim": 1024, "vision_cfg": {
            "image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": None},
            "text_cfg": text512}, 3, family="open_clip_resnet")
        check_model(tmp, "RN101", {"embed_dim": 512, "vision_cfg": {
            "image_size": 224, "layers": [3, 4, 23, 3], "width": 64, "patch_size": None},
            "text_cfg": text512}, 4, family="open_clip_resnet", text=False)
        # squash resize, bilinear, other statistics, a non-default head width, small sizes
        check_model(tmp, "small-squash", {"embed_dim": 32, "vision_cfg": {
            "image_size": 64, "layers": 2, "width": 96, "head_width": 32, "patch_size": 8},
            "text_cfg": {"context_length": 16, "vocab_size": 500, "width": 64, "heads": 4, "layers": 2}},
            5, pcfg={"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.3, 0.35], "interpolation": "bilinear",
                     "resize_mode": "squash"}, family="open_clip")
        check_model(tmp, "small-resnet", {"embed_dim": 48, "vision_cfg": {
            "image_size": 96, "layers": [1, 2, 1, 1], "width": 16, "head_width": 32},
            "text_cfg": {"context_length": 16, "vocab_size": 500, "width": 64, "heads": 4, "layers": 2}},
            6, family="open_clip_resnet")
        # fine-tuning refuses a ResNet with one line naming the folder
        with tempfile.TemporaryDirectory(prefix="vfr_open_clip_ft_") as ft:  # --out outside --data
            p = subprocess.run([T.BIN, "finetune", "--model", rn50, "--data", tmp, "--ops", "jpeg", "--out",
                                os.path.join(ft, "ft")], capture_output=True, text=True, timeout=300)
        lines = p.stderr.strip().splitlines()
        ck.check(p.returncode != 0 and len(lines) == 1 and rn50 in lines[0] and "ResNet" in lines[0],
                 f"finetune on a ResNet: rc {p.returncode}, {p.stderr.strip()}")
        print(f"finetune on RN50: {p.stderr.strip()}")
    ck.finish()


if __name__ == "__main__":
    main()
