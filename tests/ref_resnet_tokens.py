"""`vfrobust embed --tokens` on OpenCLIP ModifiedResNet folders against the PyTorch reference of
tests/openclipref.py (written from the published architecture).

Random-weight ResNets (a small one at 96 px, one at 160 px with other stage depths and widths,
and RN50 at its real shape, on nine images: more than one micro-batch of the tower) are written as OpenCLIP folders; the CLI embeds PNG files with
--tokens, and every token of every image is compared with the reference's last stage: layer4's
output (B, C, h, w) as tokens [mean over the positions, then the positions row by row]
(the sequence CLIP's attention pool builds before adding its positional embedding):
cosine >= 0.99999 and max |diff| <= 1e-4 * ||ref|| per token. Also: --no-norm changes nothing
(a ResNet has no final norm), --layers 2 is refused with one line, model-info's num_tokens is
T, and `downstream --protocol depth` runs on the ResNet's grid (its feature grid is 4 x the
last stage's, every prediction and truth written at the crop size) and refuses --layers 2.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openclipref as R  # noqa: E402
import vfr_testlib as T  # noqa: E402

torch.set_num_threads(2)
ck = T.Checker("ref_resnet_tokens")
COS_BAR, REL_BAR = 0.99999, 1e-4
tmp = tempfile.mkdtemp(prefix="vfr_resnet_tokens_")


def reference_tokens(visual, pixels):
    """(B, 1 + h*w, C) float64: layer4's output, its mean over the positions first."""
    v = visual.double()
    with torch.no_grad():
        x = torch.from_numpy(pixels).double()
        x = F.relu(v.bn1(v.conv1(x)))
        x = F.relu(v.bn2(v.conv2(x)))
        x = F.relu(v.bn3(v.conv3(x)))
        x = F.avg_pool2d(x, 2)
        for i in range(4):
            x = getattr(v, f"layer{i + 1}")(x)
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, C) row by row
        return torch.cat([x.mean(1, keepdim=True), x], 1).numpy()


def run(args, timeout=900):
    return subprocess.run([T.BIN] + args, capture_output=True, text=True, timeout=timeout)


def embed_tokens(folder, paths, out, extra=()):
    p = run(["embed", "--model", folder, "--threads", "2", "--tokens", *extra, "--out", out] + paths)
    ck.check(p.returncode == 0, f"embed --tokens {folder}: {p.stderr.strip()}")
    return np.load(out) if p.returncode == 0 else None


def agree(tag, got, want):
    if not ck.check(got is not None and got.shape == want.shape,
                    f"{tag}: shape {None if got is None else got.shape} vs {want.shape}"):
        return
    g, r = got.astype(np.float64).reshape(-1, want.shape[-1]), want.reshape(-1, want.shape[-1])
    nr = np.linalg.norm(r, axis=1)
    cos = (g * r).sum(1) / (np.linalg.norm(g, axis=1) * nr)
    rel = np.abs(g - r).max(1) / nr
    ck.check(cos.min() >= COS_BAR and rel.max() <= REL_BAR,
             f"{tag}: worst cosine {cos.min():.8f}, max |diff|/norm {rel.max():.2e}")
    print(f"{tag}: {g.shape[0]} tokens of {g.shape[1]}, worst cosine {cos.min():.9f}, "
          f"max |diff|/norm {rel.max():.2e}", flush=True)


def check_model(name, vision, seed, sizes):
    cfg = {"embed_dim": 64, "vision_cfg": vision,
           "text_cfg": {"context_length": 16, "vocab_size": 500, "width": 64, "heads": 4, "layers": 1}}
    model = R.randomize(R.CLIP(cfg), seed)
    folder = os.path.join(tmp, name)
    R.write_folder(folder, cfg, model)
    S = vision["image_size"]
    paths, pixels = [], []
    for k, (w, h) in enumerate(sizes):
        p = os.path.join(tmp, f"{name}_{k}_{w}x{h}.png")
        T.wavy_image(w, h, seed * 10 + k).save(p)
        paths.append(p)
        with Image.open(p) as im:
            pixels.append(R.preprocess(im.convert("RGB"), S))
    want = reference_tokens(model.visual, np.stack(pixels))
    G = S // 32
    ck.check(want.shape[1] == 1 + G * G and want.shape[2] == 32 * vision["width"],
             f"{name}: reference shape {want.shape}")
    got = embed_tokens(folder, paths, os.path.join(tmp, name + ".npy"))
    agree(name, got, want)
    raw = embed_tokens(folder, paths, os.path.join(tmp, name + "_raw.npy"), ["--no-norm"])
    ck.check(got is not None and raw is not None and np.array_equal(got, raw), f"{name}: --no-norm changed the tokens")
    p = run(["embed", "--model", folder, "--tokens", "--layers", "2", "--out", os.path.join(tmp, "l2.npy"), paths[0]])
    lines = p.stderr.strip().splitlines()
    ck.check(p.returncode == 2 and len(lines) == 1 and folder in lines[0] and "ResNet" in lines[0],
             f"{name} --layers 2: exit {p.returncode}: {p.stderr.strip()}")
    info = run(["model-info", "--json", folder])
    j = json.loads(info.stdout) if info.returncode == 0 else {}
    ck.check(j.get("num_tokens") == 1 + G * G, f"{name}: model-info num_tokens {j.get('num_tokens')}, T {1 + G * G}")
    return folder


def check_depth(folder, S):
    train, test = (os.path.join(T.SRC, "data", "depth-demo", n) for n in ("train", "test"))
    out = os.path.join(tmp, "depth")
    p = run(["downstream", "--protocol", "depth", "--model", folder, "--train", train, "--test", test, "--out", out,
             "--ops", "gaussian_blur:0..2", "--levels", "2", "--threads", "2"])
    if not ck.check(p.returncode == 0, f"downstream depth on a ResNet: {p.stderr.strip()}"):
        return
    d = json.load(open(os.path.join(out, "depth.json")))
    n_test = len([f for f in os.listdir(test) if not f.endswith("_depth.png")])
    clean, base = d["clean"], d["constant_baseline"]
    ck.check(clean["n"] == n_test and np.isfinite(clean["rmse"]) and clean["rmse"] > 0,
             f"depth on a ResNet: clean {clean}")
    print(f"depth on a ResNet: clean RMSE {clean['rmse']:.4f} m, constant-depth baseline {base['rmse']:.4f} m")
    first = sorted(os.listdir(os.path.join(out, "depth_predictions")))[0]
    with Image.open(os.path.join(out, "depth_predictions", first, "clean.png")) as im:
        ck.check(im.size == (S, S), f"prediction {im.size}, crop {S}x{S}")
    p = run(["downstream", "--protocol", "depth", "--model", folder, "--train", train, "--test", test, "--out",
             os.path.join(tmp, "depth_l2"), "--ops", "gaussian_blur:0..2", "--levels", "2", "--layers", "2"])
    lines = p.stderr.strip().splitlines()
    ck.check(p.returncode != 0 and len(lines) == 1 and "ResNet" in lines[0] and folder in lines[0],
             f"depth --layers 2 on a ResNet: exit {p.returncode}: {p.stderr.strip()}")


def main():
    sizes = [(96, 96), (140, 100), (77, 130), (50, 41)]
    small = check_model("resnet-small", {"image_size": 96, "layers": [1, 2, 1, 1], "width": 16, "head_width": 32},
                        1, sizes)
    check_model("resnet-160", {"image_size": 160, "layers": [2, 1, 2, 1], "width": 8, "head_width": 16}, 2,
                [(160, 160), (300, 170), (129, 250)])
    # nine images: more than one of the tower's micro-batches (8 at RN50's activation sizes)
    check_model("RN50", {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": None}, 3,
                [(224, 224), (320, 240), (230, 300), (100, 90), (224, 231), (500, 224), (240, 240), (64, 80),
                 (300, 300)])
    check_depth(small, 96)
    shutil.rmtree(tmp)
    ck.finish()


main()
