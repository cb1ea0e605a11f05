"""`vfrobust downstream --protocol depth` end to end on synthetic RGB-D scenes with the bundled
model, every number recomputed here with NumPy/SciPy from the written files:

- `depth-scenes` rebuilds the bundled data/depth-demo byte for byte (deterministic) and its depth
  PNGs are 16-bit mm;
- the clean RMSE of the linear head is far below the constant-depth baseline (both printed);
  RMSE rises with the gaussian_blur and rescale levels;
- truth.png is the scene's depth through the model's resize and centre crop (nearest),
  recomputed here from the preprocessor config; every metric of depth_per_image.csv equals
  NumPy's on the written 16-bit predictions and truths; depth.json's per-level means, the
  per-image regression (scipy.stats.linregress over the points, and its equal-count DR bins)
  and the across-ops regression (np.polyfit on per_image.csv's mean DR) are recomputed;
- an NYU-Depth-v2 layout (scene folders of N.jpg with the 16-bit N.png beside it) made from
  the scenes loads, a corrupt depth PNG is skipped and listed in depth.json, and a CSV of
  image,depth,scale rows with depth in 0.5 mm gives the same metrics;
- a pixel-moving op is refused with one line naming it.
"""
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import BIN, SRC, Checker  # noqa: E402

CK = Checker("ref_depth_cli")
MODEL = os.path.join(SRC, "models", "clip-vit-tiny-patch4-cifar10")
TEX_TRAIN = os.path.join(SRC, "data", "cifar10-demo", "train")
TEX_TEST = os.path.join(SRC, "data", "cifar10-demo", "test")
tmp = tempfile.mkdtemp(prefix="vfr_depth_cli_")
MIN_D, MAX_D, SCALE = 1e-3, 10.0, 1000.0


def run(args, timeout=900):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)


def digest(folder):
    """The folder's file names and contents, PNGs by their decoded pixels (mode, size, values:
    the scenes, not the encoder's compression choices)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        h.update(name.encode())
        path = os.path.join(folder, name)
        if name.endswith(".png"):
            with Image.open(path) as im:
                h.update(f"{im.mode} {im.size}".encode())
                h.update(np.asarray(im).tobytes())
        else:
            h.update(open(path, "rb").read())
    return h.hexdigest()


def read_png(path, scale):
    with Image.open(path) as im:
        return (np.asarray(im).astype(np.float64) / scale).astype(np.float32)


def metrics(pred, truth):
    v = (truth > 0) & (truth >= MIN_D) & (truth <= MAX_D)
    P, T = pred[v].astype(np.float64), truth[v].astype(np.float64)
    ratio = np.maximum(P / T, T / P)
    mse = np.mean((P - T) ** 2)
    return {"rmse": np.sqrt(mse), "mse": mse, "abs_rel": np.mean(np.abs(P - T) / T),
            "log10": np.mean(np.abs(np.log10(P) - np.log10(T))), "delta1": np.mean(ratio < 1.25),
            "delta2": np.mean(ratio < 1.25 ** 2), "delta3": np.mean(ratio < 1.25 ** 3), "n": int(v.sum())}


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(abs(b), 1e-12)


def expected_truth(depth_png):
    """The scene's depth through CLIPImageProcessor's geometry: short side to S, centre crop."""
    pp = json.load(open(os.path.join(MODEL, "preprocessor_config.json")))
    s, H, W = pp["size"]["shortest_edge"], pp["crop_size"]["height"], pp["crop_size"]["width"]
    with Image.open(depth_png) as im:
        d = np.asarray(im).astype(np.int64)
    h, w = d.shape
    rw, rh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    top, left = (rh - H) // 2, (rw - W) // 2
    ys = np.floor((np.arange(H) + 0.5 + top) * h / rh).astype(int)
    xs = np.floor((np.arange(W) + 0.5 + left) * w / rw).astype(int)
    return d[np.ix_(ys, xs)]


def study_mean_dr(out):
    acc = {}
    with open(os.path.join(out, "per_image.csv"), newline="") as f:
        for r in csv.DictReader(f):
            acc.setdefault(r["op"], []).append(float(r["dr"]))
    return {k: np.mean(v) for k, v in acc.items()}


def check_outputs(out, ops):
    d = json.load(open(os.path.join(out, "depth.json")))
    rows = list(csv.DictReader(open(os.path.join(out, "depth_per_image.csv"), newline="")))
    worst = 0.0
    per = {}
    for r in rows:
        pred = read_png(os.path.join(out, r["prediction"]), SCALE)
        truth = read_png(os.path.join(os.path.dirname(os.path.join(out, r["prediction"])), "truth.png"), SCALE)
        m = metrics(pred, truth)
        ok = int(r["n"]) == m["n"]
        for k in ("rmse", "mse", "abs_rel", "log10", "delta1", "delta2", "delta3"):
            ok &= close(float(r[k]), m[k])
            worst = max(worst, abs(float(r[k]) - m[k]) / max(abs(m[k]), 1e-12))
        CK.check(ok, f"{r['image']} {r['op']} {r['level']}: metrics differ from NumPy's on the written files")
        per.setdefault((r["op"], r["level"]), []).append((float(r["dr"]) if r["dr"] else None, m))
    print(f"metrics of {len(rows)} predictions recomputed, worst relative difference {worst:.1e}")
    clean = [m for _, m in per[("clean", "")]]
    clean_rmse = np.mean([m["rmse"] for m in clean])
    CK.check(close(d["clean"]["rmse"], clean_rmse), f"clean rmse {d['clean']['rmse']} vs {clean_rmse}")
    means = {}
    for lv in d["per_level"]:
        got = per[(lv["op"], lv["level_text"])]
        for k in ("rmse", "abs_rel", "log10", "delta1"):
            CK.check(close(lv[k], np.mean([m[k] for _, m in got])), f"per_level {lv['op']} {lv['level_text']} {k}")
        means.setdefault(lv["op"], []).append(lv["rmse"])
    # per-image regression: every (image, op, level) point
    pts = [(dr, m["rmse"]) for (op, lvl), v in per.items() if op != "clean" for dr, m in v]
    order = [(op, lvl) for op in ops for lvl in [lv["level_text"] for lv in d["per_level"] if lv["op"] == op]]
    pts = [(dr, m["rmse"]) for key in order for dr, m in per[key]]
    x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    lr = stats.linregress(x, y)
    raw = d["regression"]["per_image"]["raw"]
    CK.check(close(raw["slope"], lr.slope, 1e-7) and close(raw["r2"], lr.rvalue ** 2, 1e-7) and raw["n"] == len(x),
             f"per-image raw fit {raw} vs linregress {lr}")
    idx = sorted(range(len(x)), key=lambda i: (x[i], i))
    B = d["regression"]["per_image"]["n_bins"]
    bx = [np.mean(x[idx[b * len(x) // B:(b + 1) * len(x) // B]]) for b in range(B)]
    by = [np.mean(y[idx[b * len(x) // B:(b + 1) * len(x) // B]]) for b in range(B)]
    lb = stats.linregress(bx, by)
    pi = d["regression"]["per_image"]
    CK.check(close(pi["slope"], lb.slope, 1e-7) and close(pi["r2"], lb.rvalue ** 2, 1e-7),
             f"binned fit {pi['slope']} {pi['r2']} vs {lb.slope} {lb.rvalue ** 2}")
    # across ops: RMSE increase on the study's mean DR
    mdr = study_mean_dr(out)
    xs = np.array([mdr[op] for op in ops])
    ys = np.array([np.mean(means[op]) - clean_rmse for op in ops])
    slope, icpt = np.polyfit(xs, ys, 1)
    a = d["regression"]["across_ops"]
    CK.check(close(a["slope"], slope, 1e-7) and close(a["intercept"], icpt, 1e-7) and a["n"] == len(ops),
             f"across ops {a} vs polyfit {slope} {icpt}")
    for o in d["per_op"]:
        CK.check(close(o["mean_dr"], mdr[o["op"]], 1e-12), f"per_op mean_dr {o['op']}")
    return d, means, clean_rmse


def main():
    # the bundled demo set is what depth-scenes makes with the documented commands
    train, test = (os.path.join(tmp, n) for n in ("train", "test"))
    for folder, tex, count, seed in ((train, TEX_TRAIN, 96, 1000), (test, TEX_TEST, 16, 0)):
        p = run(["depth-scenes", "--textures", tex, "--out", folder, "--count", str(count), "--seed", str(seed)])
        CK.check(p.returncode == 0, f"depth-scenes: {p.stderr}")
        bundled = os.path.join(SRC, "data", "depth-demo", os.path.basename(folder))
        CK.check(digest(folder) == digest(bundled), f"{bundled} differs from depth-scenes --seed {seed}")
    with Image.open(os.path.join(test, "00000_depth.png")) as im:
        arr = np.asarray(im)
        CK.check(im.size == (64, 48) and arr.max() > 1000 and arr.max() < 12000, f"depth PNG {im.mode} {arr.max()}")

    ops = ["gaussian_blur", "rescale", "jpeg"]
    out = os.path.join(tmp, "out")
    p = run(["downstream", "--protocol", "depth", "--model", MODEL, "--train", train, "--test", test, "--out", out,
             "--ops", "gaussian_blur:0..3,rescale:1..0.2,jpeg:90..10", "--levels", "4", "--threads", "2"])
    if not CK.check(p.returncode == 0, f"downstream depth: {p.stderr}"):
        CK.finish()
    d, means, clean_rmse = check_outputs(out, ops)
    base = d["constant_baseline"]["rmse"]
    print(f"clean RMSE {clean_rmse:.4f} m, constant-depth baseline {base:.4f} m (ratio {clean_rmse / base:.2f})")
    CK.check(clean_rmse < 0.75 * base, f"clean RMSE {clean_rmse} not far below the baseline {base}")
    for op in ("gaussian_blur", "rescale"):
        r = means[op]
        print(f"{op}: RMSE per level {[round(v, 4) for v in r]}")
        CK.check(all(b >= a - 1e-9 for a, b in zip(r, r[1:])) and r[-1] > r[0] * 1.1,
                 f"{op}: RMSE does not rise with the level: {r}")
    truth = read_png(os.path.join(out, "depth_predictions", "00000.png", "truth.png"), 1)
    CK.check(np.array_equal(truth.astype(np.int64), expected_truth(os.path.join(test, "00000_depth.png"))),
             "truth.png is not the scene depth through resize + centre crop")
    html = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    CK.check("Downstream: depth" in html and "depth strips" in html, "report has no depth section")

    # NYU layout: scene folders, N.jpg with the 16-bit N.png beside it; one corrupt depth PNG
    nyu = os.path.join(tmp, "nyu")
    names = sorted(f for f in os.listdir(test) if not f.endswith("_depth.png"))
    rows = []
    for k, f in enumerate(names):
        scene = os.path.join(nyu, f"scene_{k % 2}")
        os.makedirs(scene, exist_ok=True)
        stem = os.path.join(scene, str(k))
        with Image.open(os.path.join(test, f)) as im:
            im.save(stem + ".jpg", quality=95)
        shutil.copy(os.path.join(test, f.replace(".png", "_depth.png")), stem + ".png")
        rows.append((stem + ".jpg", stem + ".png"))
    bad = os.path.join(nyu, "scene_1", "5.png")
    open(bad, "wb").write(b"\x89PNG\r\n\x1a\n" + b"not a depth map" * 4)
    out_nyu = os.path.join(tmp, "out_nyu")
    p = run(["downstream", "--protocol", "depth", "--model", MODEL, "--train", train, "--test", nyu, "--out", out_nyu,
             "--ops", "gaussian_blur:0..2", "--levels", "2", "--threads", "2"])
    if CK.check(p.returncode == 0, f"downstream on the NYU layout: {p.stderr}"):
        dn = json.load(open(os.path.join(out_nyu, "depth.json")))
        CK.check(dn["clean"]["n"] == len(names) - 1, f"NYU layout: {dn['clean']['n']} images evaluated")
        sk = dn["skipped"]
        CK.check(len(sk) == 1 and sk[0]["file"].endswith("scene_1/5.png") and sk[0]["reason"], f"skipped: {sk}")
        CK.check("5.png" in open(os.path.join(out_nyu, "report.html"), encoding="utf-8").read(), "report lists the skip")
        # CSV of image,depth,scale with depth in 0.5 mm
        lst = os.path.join(tmp, "list.csv")
        with open(lst, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "depth", "scale"])
            for k, (img, dep) in enumerate(rows):
                if dep == bad:
                    continue
                with Image.open(dep) as im:
                    a = np.asarray(im).astype(np.int64) * 2
                fine = os.path.join(tmp, f"fine{k}.png")
                Image.fromarray(a.astype(np.uint16), "I;16").save(fine)
                w.writerow([img, fine, "2000"])
        out_csv = os.path.join(tmp, "out_csv")
        p = run(["downstream", "--protocol", "depth", "--model", MODEL, "--train", train, "--test", lst, "--out",
                 out_csv, "--ops", "gaussian_blur:0..2", "--levels", "2", "--threads", "2"])
        if CK.check(p.returncode == 0, f"downstream on a CSV list: {p.stderr}"):
            dc = json.load(open(os.path.join(out_csv, "depth.json")))
            CK.check(dc["clean"]["n"] == len(names) - 1 and close(dc["clean"]["rmse"], dn["clean"]["rmse"], 1e-6),
                     f"CSV list: clean {dc['clean']} vs folder {dn['clean']}")

    p = run(["downstream", "--protocol", "depth", "--model", MODEL, "--train", train, "--test", test, "--out",
             os.path.join(tmp, "out_rot"), "--ops", "rotate"])
    lines = p.stderr.strip().splitlines()
    CK.check(p.returncode == 2 and len(lines) == 1 and "rotate" in lines[0] and "moves pixels" in lines[0],
             f"rotate: exit {p.returncode}: {p.stderr}")
    shutil.rmtree(tmp)
    CK.finish()


main()
