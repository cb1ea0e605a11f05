"""Fine-tuning step time of `vfrobust finetune` vs a PyTorch training step, as a ratio measured
in one run (SPEC section 7).

  /usr/bin/python3 bench/bench_finetune.py [--full] [--threads N] [--batch B]

Model: a random-weight CLIP folder written with tests/modelref.py; by default a small ViT
(hidden 192, 6 layers, 3 heads, MLP 768, patch 8, 32 px), with --full ViT-B/32 at its real
shapes (224 px). Data: CIFAR-10 training images from $VFROBUST_SHARED/data/cifar10/train.
Everything trains (--train-blocks 0), op brightness:0.5..1.5, lambda 1, AdamW.

  - ours: `vfrobust finetune` run twice with the same settings for one epoch over the first
    S1*B and S2*B images (--limit), i.e. S1 and S2 steps; the step time is the difference of the
    two runs' `train_seconds` (finetune.json: the wall time of the training loop alone, without
    start-up, model loading, the frozen-embedding precompute or saving) divided by S2 - S1, so
    the first steps' one-time costs cancel too. A step includes loading, perturbing and
    preprocessing its images (f(x) is cached before training, as the CLI does).
  - torch: tests/modelref.py's CLIPModel in float32 with autograd on the same weights and batch:
    frozen forward f(x) under no_grad, tuned forward of x and Px, L = L1 + lambda L2, backward,
    torch.optim.AdamW step; on preprocessed tensors made beforehand (image work not timed).
    Minimum and median over several steps after a warm-up.
Both sides use --threads threads (torch.set_num_threads, OMP/OpenBLAS env, --threads).
PyTorch runs at its best on this CPU: before it loads, OPENBLAS_CORETYPE is set to the core
type (of the CPU's real ISA, bench/cpu_isa.py) under which NumPy's sgemm measured fastest in
this run, or left unset when the installed detection is as fast; `vfrobust` runs as a user
runs it, with the variable removed from its environment.
Ratio = torch step / our step (> 1: ours faster).
Paths: VFROBUST_BIN, else build/vfrobust.
"""
import argparse
import os
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--full", action="store_true", help="ViT-B/32 at 224 px instead of the small ViT")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch", type=int, default=None, help="images per step (default 32; 8 with --full)")
args = ap.parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(args.threads)
# Before NumPy and PyTorch load OpenBLAS: the core type that makes torch fastest here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_isa import best_openblas_core  # noqa: E402
os.environ.pop("OPENBLAS_CORETYPE", None)
PEER_CORE, PEER_SGEMM, INSTALLED_SGEMM = best_openblas_core()
if PEER_CORE:
    os.environ["OPENBLAS_CORETYPE"] = PEER_CORE

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import modelref as R  # noqa: E402
import vfr_testlib as T  # noqa: E402

torch.set_num_threads(args.threads)
LAMBDA = 1.0
OPS = "brightness:0.5..1.5"


def setup(tmp):
    if args.full:  # ViT-B/32
        cfg = R.clip_config(768, 12, 12, 3072, 32, 224, 512)
        pp = R.clip_preprocessor(224, 224)
        batch, steps = args.batch or 8, (1, 3)
        name = "CLIP ViT-B/32 (224 px)"
    else:
        cfg = R.clip_config(192, 6, 3, 768, 8, 32, 128)
        pp = R.clip_preprocessor(32, 32)
        batch, steps = args.batch or 32, (2, 7)
        name = "small CLIP ViT (hidden 192, 6 layers, 3 heads, patch 8, 32 px)"
    model = R.build_model(cfg).float()
    R.randomize(model, 3)
    mdir = os.path.join(tmp, "model")
    R.write_hf_folder(mdir, cfg, pp, model)
    cifar = os.path.join(T.DATA, "cifar10", "train")
    classes = sorted(os.listdir(cifar))
    paths = [os.path.join(cifar, classes[i % len(classes)], f"{i // len(classes):04d}.jpg")
             for i in range(batch * steps[1])]
    csv = os.path.join(tmp, "train.csv")
    with open(csv, "w") as f:
        f.write("path,label\n")
        for p in paths:
            f.write(f"{p},{os.path.basename(os.path.dirname(p))}\n")
    return name, model, pp, mdir, csv, paths, batch, steps


def ours(mdir, csv, batch, steps, tmp):
    out = os.path.join(tmp, f"out{steps}")
    cmd = [T.BIN, "finetune", "--model", mdir, "--data", csv, "--ops", OPS, "--batch", batch,
           "--lambda", LAMBDA, "--train-blocks", 0, "--threads", args.threads,
           "--epochs", 1, "--limit", batch * steps, "--quiet", "--out", out]
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # as a user runs it
    t0 = time.perf_counter()
    p = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"vfrobust finetune failed ({p.returncode}): {p.stderr.strip()}")
    with open(os.path.join(out, "finetune.json")) as f:
        rep = json.load(f)
    if len(rep["steps"]) != steps:
        sys.exit(f"vfrobust finetune ran {len(rep['steps'])} steps, expected {steps}")
    return rep["train_seconds"], wall


def torch_step_times(model, pp, paths, batch, reps):
    import copy
    rng = np.random.default_rng(0)
    imgs = [Image.open(p).convert("RGB") for p in paths[:batch]]
    x = torch.tensor(np.stack([R.preprocess(i, pp) for i in imgs]))
    px = torch.tensor(np.stack([R.preprocess(ImageEnhance.Brightness(i).enhance(
        rng.uniform(0.5, 1.5)), pp) for i in imgs]))
    frozen = model.eval()
    tuned = copy.deepcopy(model)
    for p in frozen.parameters():
        p.requires_grad_(False)
    for n, p in tuned.named_parameters():  # the vision tower and projection train
        p.requires_grad_(n.startswith(("vision_model.", "visual_projection.")))
    optim = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=1e-5,
                              weight_decay=0.01)
    secs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with torch.no_grad():
            fx = frozen(x)
        optim.zero_grad()
        a, b = tuned(x), tuned(px)
        l1 = -F.cosine_similarity(a, b, dim=1, eps=1e-12).mean()
        l2 = -F.cosine_similarity(fx, a, dim=1, eps=1e-12).mean()
        (l1 + LAMBDA * l2).backward()
        optim.step()
        secs.append(time.perf_counter() - t0)
    return secs


def main():
    tmp = tempfile.mkdtemp(prefix="vfr_bench_ft_")
    try:
        name, model, pp, mdir, csv, paths, batch, (s1, s2) = setup(tmp)
        print(f"{name}; batch {batch}, CIFAR-10 images, op {OPS}, everything trains, "
              f"{args.threads} threads")
        print(f"torch's OpenBLAS: OPENBLAS_CORETYPE={PEER_CORE or 'unset (as installed)'} "
              f"(NumPy sgemm 2048^3 {PEER_SGEMM:.0f} GFLOP/s; as installed {INSTALLED_SGEMM:.0f})")
        ts1, w1 = ours(mdir, csv, batch, s1, tmp)
        ts2, w2 = ours(mdir, csv, batch, s2, tmp)
        ours_step = (ts2 - ts1) / (s2 - s1)
        wall_step = (w2 - w1) / (s2 - s1)
        print(f"ours : {ours_step * 1e3:8.1f} ms/step  (train_seconds {ts1:.2f} s / {s1} steps, "
              f"{ts2:.2f} s / {s2} steps; includes image load + perturb + preprocess; process "
              f"wall-clock difference {wall_step * 1e3:.1f} ms/step, which adds f(x) and "
              f"decoding of the extra images)")
        warm, reps = (1, 4) if args.full else (2, 8)
        secs = torch_step_times(model, pp, paths, batch, warm + reps)[warm:]
        tmin, tmed = min(secs), float(np.median(secs))
        print(f"torch: {tmin * 1e3:8.1f} ms/step min, {tmed * 1e3:.1f} median over {reps} steps "
              f"after {warm} warm-up (preprocessed tensors; compute + AdamW only)")
        print(f"ratio torch/ours: {tmin / ours_step:.2f}x (torch min), "
              f"{tmed / ours_step:.2f}x (torch median)  [> 1: ours faster]")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
