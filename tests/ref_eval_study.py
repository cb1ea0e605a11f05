"""End-to-end study: `vfrobust eval` on a small random-weight CLIP folder and CIFAR-10 test
images, checked against values recomputed here from the written embeddings (NumPy, and an
exact brute-force minimum enclosing ball), against the PyTorch reference model for a few
rows, then a kill -9 / --resume run and a 2-rank MPI run that must write the same bytes."""
import csv
import glob
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageEnhance

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

torch.set_num_threads(2)
C = Checker("ref_eval_study")
tmp = tempfile.mkdtemp(prefix="vfr_eval_")
LEVELS = 3


def meb_radius_bruteforce(P):
    """Exact minimum enclosing ball of a few points: the smallest circumscribed ball of any
    subset (within the subset's affine hull) that contains every point."""
    n = len(P)
    best = np.inf
    for k in range(1, n + 1):
        for S in itertools.combinations(range(n), k):
            Q = P[list(S)]
            q0 = Q[0]
            A = Q[1:] - q0
            if k == 1:
                c = q0
            else:
                # centre c = q0 + A^T l with |c - q_i| equal for all i in S
                G = A @ A.T
                rhs = 0.5 * np.sum(A * A, axis=1)
                try:
                    lam = np.linalg.solve(G, rhs)
                except np.linalg.LinAlgError:
                    continue
                c = q0 + A.T @ lam
            r = np.linalg.norm(Q[0] - c)
            if np.all(np.linalg.norm(P - c, axis=1) <= r * (1 + 1e-12) + 1e-15) and r < best:
                best = r
    return best


def run(args, **kw):
    return subprocess.run([BIN] + args, capture_output=True, text=True, **kw)


# ---- a small model and a small ImageFolder ------------------------------------------------
model_dir = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
pp = modelref.clip_preprocessor(32, 32)
ref = modelref.randomize(modelref.build_model(cfg), seed=3).eval()
modelref.write_hf_folder(model_dir, cfg, pp, ref)

data = os.path.join(tmp, "data")
classes = ["airplane", "cat", "ship"]
for c in classes:
    os.makedirs(os.path.join(data, c))
    for k in range(3):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
with open(os.path.join(DATA, "cifar10", "test", "cat", "0005.jpg"), "rb") as f:
    blob = f.read()
with open(os.path.join(data, "cat", "broken.jpg"), "wb") as f:  # a truncated JPEG: skipped
    f.write(blob[: len(blob) // 3])

out = os.path.join(tmp, "out")
r = run(["eval", "--model", model_dir, "--data", data, "--out", out, "--levels", str(LEVELS), "--seed", "7"])
C.check(r.returncode == 0, f"eval exit {r.returncode}: {r.stderr[-2000:]}")
if r.returncode != 0:
    C.finish()

# ---- schema ----------------------------------------------------------------------------------
with open(os.path.join(out, "summary.json")) as f:
    summary = json.load(f)
ops = [o["op"] for o in summary["per_op"]]
C.check(ops == ["jpeg", "brightness", "contrast", "saturation", "sharpness", "hue", "gaussian_blur",
                "gaussian_noise", "rescale"], f"editing9 ops in order: {ops}")
img = summary["images"]
C.check(img["total"] == 10 and img["used"] == 9 and img["skipped"] == 1, f"image counts {img}")
C.check(len(img["skipped_files"]) == 1 and img["skipped_files"][0]["file"] == "cat/broken.jpg"
        and "broken.jpg" in img["skipped_files"][0]["reason"], f"skipped list {img['skipped_files']}")
jpeg = summary["per_op"][0]
C.check(jpeg["domain"] == "10..100" and jpeg["levels"] == [10, 55, 100], f"jpeg levels {jpeg['levels']}")

with open(os.path.join(out, "per_image.csv")) as f:
    rows = list(csv.DictReader(f))
C.check(list(rows[0].keys()) == ["model", "image", "op", "domain", "r_cs", "r_ed", "dr"], "per_image.csv columns")
C.check(len(rows) == 9 * 9, f"per_image rows {len(rows)}")
C.check(all(r_["model"] == "tiny-clip" for r_ in rows), "model column")

names = [row["image"] for row in csv.DictReader(open(os.path.join(out, "embeddings", "images.csv")))]
want_names = [f"{c}/{k}.jpg" for c in classes for k in range(3)]
C.check(names == want_names, f"embedding rows follow ImageFolder order: {names}")
clean = np.load(os.path.join(out, "embeddings", "clean.npy"))
C.check(clean.shape == (9, 32) and clean.dtype == np.float32, f"clean.npy shape {clean.shape}")

# ---- metrics recomputed from the embeddings -----------------------------------------------
worst = 0.0
curves = {}
per_op_dr = {}
for j, op in enumerate(ops):
    E = np.load(os.path.join(out, "embeddings", f"{op}.npy")).astype(np.float64)
    C.check(E.shape == (9, LEVELS, 32), f"{op}.npy shape {E.shape}")
    z0 = clean.astype(np.float64)
    z0 /= np.linalg.norm(z0, axis=1, keepdims=True)
    Z = E / np.linalg.norm(E, axis=2, keepdims=True)
    cos = np.einsum("nd,nkd->nk", z0, Z)
    curves[op] = cos
    drs = []
    for i in range(9):
        row = rows[i * 9 + j]
        C.check(row["image"] == names[i] and row["op"] == op, f"row order at {i},{op}")
        d = np.linalg.norm(Z[i] - z0[i], axis=1)
        r_cs = np.max(d ** 2) / 4
        r_ed = np.max(d) / 2
        dr = meb_radius_bruteforce(np.vstack([z0[i], Z[i]]))
        drs.append(dr)
        for key, want in (("r_cs", r_cs), ("r_ed", r_ed), ("dr", dr)):
            got = float(row[key])
            worst = max(worst, abs(got - want))
            C.check(abs(got - want) <= 1e-9, f"{names[i]} {op} {key}: {got} vs {want}")
    per_op_dr[op] = np.array(drs)
    st = summary["per_op"][j]["dr"]
    C.check(abs(st["mean"] - np.mean(drs)) < 1e-9 and abs(st["std"] - np.std(drs)) < 1e-9
            and abs(st["median"] - np.median(drs)) < 1e-9 and abs(st["p10"] - np.percentile(drs, 10)) < 1e-9
            and abs(st["p90"] - np.percentile(drs, 90)) < 1e-9, f"{op} summary stats")
    counts, _ = np.histogram(drs, bins=20, range=(0, 1))
    C.check(st["histogram"]["counts"] == counts.tolist(), f"{op} histogram")
print(f"worst metric difference vs the NumPy recomputation: {worst:.3g}")

with open(os.path.join(out, "curves.csv")) as f:
    crow = list(csv.DictReader(f))
C.check(len(crow) == 9 * LEVELS, f"curves rows {len(crow)}")
for t in crow:
    k = [float(x) for x in summary["per_op"][ops.index(t["op"])]["levels"]].index(float(t["level"]))
    c = curves[t["op"]][:, k]
    C.check(abs(float(t["mean_cos"]) - c.mean()) < 1e-9 and abs(float(t["std_cos"]) - c.std()) < 1e-9
            and int(t["n"]) == 9, f"curve {t['op']} {t['level']}")

# ---- rows are the right variants: clean and brightness levels against PyTorch + Pillow -----
def torch_embed(pil):
    x = modelref.preprocess(pil, pp)[None]
    return modelref.embed(ref, x).reshape(-1)


def close(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    cosv = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    return cosv >= 0.99999 and np.max(np.abs(a - b)) <= 1e-4 * np.linalg.norm(b)


E_b = np.load(os.path.join(out, "embeddings", "brightness.npy"))
for i in (0, 4):
    im = Image.open(os.path.join(data, names[i])).convert("RGB")
    C.check(close(clean[i], torch_embed(im)), f"clean row {names[i]} vs PyTorch")
    for k, f_ in enumerate([0.5, 1.0, 1.5]):
        C.check(close(E_b[i, k], torch_embed(ImageEnhance.Brightness(im).enhance(f_))),
                f"brightness {f_} row {names[i]} vs PyTorch on Pillow's output")
    C.check(np.array_equal(E_b[i, 1], clean[i]), "the identity level reuses the clean embedding")

# ---- --perturb-after-preprocess: ops apply to the model-sized crop -------------------------
# A processor that resizes the short side to 40 and crops 32 makes the difference visible.
model40 = os.path.join(tmp, "tiny-clip-40")
pp40 = modelref.clip_preprocessor(40, 32)
modelref.write_hf_folder(model40, cfg, pp40, ref)
out40 = os.path.join(tmp, "out40")
r = run(["eval", "--model", model40, "--data", data, "--out", out40, "--levels", "3", "--ops", "brightness",
         "--perturb-after-preprocess"])
C.check(r.returncode == 0, f"eval --perturb-after-preprocess: {r.stderr[-800:]}")
if r.returncode == 0:
    s40 = json.load(open(os.path.join(out40, "summary.json")))
    C.check(s40["perturb_after_preprocess"] is True, "summary.json records where perturbations applied")
    E40 = np.load(os.path.join(out40, "embeddings", "brightness.npy"))
    clean40 = np.load(os.path.join(out40, "embeddings", "clean.npy"))
    pp_crop_only = dict(pp40, do_resize=False)
    for i in (0, 7):
        im = Image.open(os.path.join(data, names[i])).convert("RGB")
        x = modelref.preprocess(im, pp40)[None]
        C.check(close(clean40[i], modelref.embed(ref, x).reshape(-1)), f"clean row {names[i]} (resize 40, crop 32)")
        w, h = modelref.resized_size(im.width, im.height, 40)
        big_im = im.resize((w, h), Image.BICUBIC)
        left, top = (w - 32) // 2, (h - 32) // 2
        crop = big_im.crop((left, top, left + 32, top + 32))
        for k, f_ in enumerate([0.5, 1.0, 1.5]):
            want = modelref.embed(ref, modelref.preprocess(ImageEnhance.Brightness(crop).enhance(f_), pp_crop_only)[None])
            C.check(close(E40[i, k], want.reshape(-1)), f"brightness {f_} applied to the crop of {names[i]}")

# ---- the report -----------------------------------------------------------------------------
html = open(os.path.join(out, "report.html")).read()
C.check(html.count("<svg") >= 18 and "data:image/png;base64," in html, "report.html has the plots and samples")
C.check(os.path.exists(os.path.join(out, "samples.png")), "samples.png")
C.check("<th>levels per op</th><td>3</td>" in html, "report.html: 3 levels per op, as --levels asked")
# an op with a discrete domain has at most one level per value (ImageNet-C severities 1..5):
# the report shows the levels each op used, in its header and per op
outmix = os.path.join(tmp, "out_mixed")
r = run(["eval", "--model", model_dir, "--data", data, "--out", outmix, "--levels", "6", "--ops",
         "brightness,ic_contrast", "--limit", "2", "--threads", "1"])
C.check(r.returncode == 0, f"eval with a discrete op: {r.stderr[-800:]}")
with open(os.path.join(outmix, "summary.json")) as f:
    counts = {o["op"]: len(o["levels"]) for o in json.load(f)["per_op"]}
C.check(counts == {"brightness": 6, "ic_contrast": 5}, f"levels per op in summary.json: {counts}")
mixed = "levels per op 5 to 6 (--levels 6; a discrete domain has at most one level per value)"
md = run(["report", "--markdown", outmix])
C.check(md.returncode == 0 and mixed in md.stdout, f"report --markdown header: {md.stdout[:200]}")
hm = open(os.path.join(outmix, "report.html")).read()
C.check(mixed in hm and "<td>1..5</td><td>5</td>" in hm, "report.html: the levels in the header and per op")

# ---- kill -9 at some point, then --resume: the same bytes --------------------------------
OUTPUTS = ["per_image.csv", "curves.csv", "summary.json", "embeddings/clean.npy", "embeddings/jpeg.npy",
           "embeddings/gaussian_noise.npy", "embeddings/images.csv"]


def same_outputs(a, b):
    return all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read() for f in OUTPUTS)


big = os.path.join(tmp, "big")
os.makedirs(big)
for c in classes:
    for k in range(8):
        os.makedirs(os.path.join(big, c), exist_ok=True)
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(big, c, f"{k}.jpg"))
args = ["--model", model_dir, "--data", big, "--levels", str(LEVELS), "--seed", "7", "--threads", "1"]
full = os.path.join(tmp, "full")
r = run(["eval"] + args + ["--out", full])
C.check(r.returncode == 0, f"uninterrupted run: {r.stderr[-500:]}")
for attempt, delay in enumerate((0.3, 0.8, 1.5)):
    part = os.path.join(tmp, f"part{attempt}")
    proc = subprocess.Popen([BIN, "eval"] + args + ["--out", part], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(glob.glob(os.path.join(part, "work", "img-*.bin")))
    r = run(["eval"] + args + ["--out", part, "--resume"])
    C.check(r.returncode == 0, f"resume after kill at {delay}s: {r.stderr[-500:]}")
    C.check(same_outputs(full, part), f"resumed run (killed at {delay}s with {done} images done) writes the same bytes")
    print(f"kill -9 after {delay}s: {done} of 24 images were done; resumed output identical")

# A result file from other settings is not reused: a different seed recomputes.
r = run(["eval"] + args[:-4] + ["--seed", "8", "--threads", "1", "--out", full, "--resume"])
noise_a = np.load(os.path.join(full, "embeddings", "gaussian_noise.npy"))
r2 = run(["eval"] + args + ["--out", full, "--resume"])
noise_b = np.load(os.path.join(full, "embeddings", "gaussian_noise.npy"))
C.check(r.returncode == 0 and r2.returncode == 0 and not np.array_equal(noise_a, noise_b),
        "--resume with another seed recomputes instead of reusing")

# ---- MPI: 2 ranks write what one process writes -------------------------------------------
mpirun = shutil.which("mpirun")
if mpirun:
    mpi_out = os.path.join(tmp, "mpi")
    r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "2", BIN, "eval"] + args
                       + ["--out", mpi_out], capture_output=True, text=True)
    C.check(r.returncode == 0, f"mpirun -n 2: {r.stderr[-1500:]}")
    C.check(r.returncode == 0 and same_outputs(full, mpi_out), "2-rank MPI run writes the same bytes")
    C.check("rank 1/2" in r.stderr, "both ranks worked")
else:
    C.check(False, "mpirun not found (scripts/install-deps.sh installs openmpi-bin)")

# ---- bad usage and bad input ------------------------------------------------------------------
r = run(["eval", "--model", model_dir, "--data", data])
C.check(r.returncode == 2 and r.stderr.startswith("vfrobust: "), "missing --out is bad usage")
r = run(["eval", "--model", model_dir, "--data", os.path.join(tmp, "nope"), "--out", os.path.join(tmp, "o2")])
C.check(r.returncode == 1 and "nope" in r.stderr and r.stderr.count("\n") == 1, f"missing data: {r.stderr}")
r = run(["eval", "--model", os.path.join(tmp, "nomodel"), "--data", data, "--out", os.path.join(tmp, "o3")])
C.check(r.returncode == 1 and "nomodel" in r.stderr, f"missing model: {r.stderr}")
r = run(["eval", "--model", model_dir, "--data", data, "--out", os.path.join(tmp, "o4"), "--ops", "jpeg:500"])
C.check(r.returncode == 2 and "jpeg" in r.stderr, f"bad op spec: {r.stderr}")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
