"""End-to-end `vfrobust downstream` on a small random-weight CLIP folder and CIFAR-10 subsets:
k-NN predictions against a NumPy k-NN on the written embeddings, linear-probe predictions
against scikit-learn, zero-shot predictions against a PyTorch text tower written here,
accuracies and both regressions recomputed with NumPy/SciPy from per_image.csv and
predictions.csv, the train-embedding cache on --resume, and bad usage."""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

torch.set_num_threads(2)
C = Checker("ref_downstream_cli")
tmp = tempfile.mkdtemp(prefix="vfr_downstream_")
CLASSES = ["airplane", "cat", "ship"]
OPS = "brightness,gaussian_blur:0..2,jpeg:20..90"
OP_NAMES = ["brightness", "gaussian_blur", "jpeg"]
LEVELS = 3
N_TRAIN, N_TEST = 20, 6
started = time.time()


def run(args):
    return subprocess.run([BIN] + args, capture_output=True, text=True)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- a small CLIP folder (with its tokenizer), a DINOv2 folder, CIFAR-10 subsets -----------
model_dir = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
pp = modelref.clip_preprocessor(32, 32)
ref = modelref.randomize(modelref.build_model(cfg), seed=5).eval()
modelref.write_hf_folder(model_dir, cfg, pp, ref)
for name in ("vocab.json", "merges.txt"):
    shutil.copy(os.path.join(DATA, "clip", name), os.path.join(model_dir, name))

dino_dir = os.path.join(tmp, "tiny-dinov2")
dcfg = modelref.dinov2_config(32, 1, 2, 8, 32)
modelref.write_hf_folder(dino_dir, dcfg, modelref.bit_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(dcfg), seed=1).eval())

train_dir, test_dir = os.path.join(tmp, "train"), os.path.join(tmp, "test")
for split, folder, count in (("train", train_dir, N_TRAIN), ("test", test_dir, N_TEST)):
    for c in CLASSES:
        os.makedirs(os.path.join(folder, c))
        for k in range(count):
            shutil.copy(os.path.join(DATA, "cifar10", split, c, f"{k:04d}.jpg"),
                        os.path.join(folder, c, f"{k:04d}.jpg"))
test_names = [f"{c}/{k:04d}.jpg" for c in CLASSES for k in range(N_TEST)]
test_labels = np.array([CLASSES.index(n.split("/")[0]) for n in test_names])
train_labels = np.repeat(np.arange(len(CLASSES)), N_TRAIN)


def downstream(out, protocol, *extra):
    args = ["downstream", "--model", model_dir, "--test", test_dir, "--out", out, "--protocol", protocol,
            "--ops", OPS, "--levels", str(LEVELS), "--seed", "3", "--threads", "2"]
    if protocol != "zeroshot":
        args += ["--train", train_dir]
    r = run(args + list(extra))
    C.check(r.returncode == 0, f"downstream {protocol} exit {r.returncode}: {r.stderr[-2000:]}")
    if r.returncode != 0:
        C.finish()
    return r


# ---- what every run must satisfy -------------------------------------------------------------
def check_outputs(out, protocol):
    """Schema of downstream.json and every number in it, recomputed from the CSV files.
    Returns the predictions as {(image, op, level): predicted class name}."""
    with open(os.path.join(out, "downstream.json")) as f:
        d = json.load(f)
    C.check(set(d) >= {"protocol", "clean_accuracy", "per_level", "per_op", "regression"}, f"keys {sorted(d)}")
    C.check(d["protocol"] == protocol, f"protocol {d['protocol']}")
    rows = read_csv(os.path.join(out, "predictions.csv"))
    C.check(list(rows[0].keys()) == ["image", "op", "level", "label", "predicted"], "predictions.csv columns")
    C.check(len(rows) == len(test_names) * (1 + len(OP_NAMES) * LEVELS), f"predictions rows {len(rows)}")
    C.check(all(r["label"] == r["image"].split("/")[0] for r in rows), "label column is the image's class")
    C.check(all(r["predicted"] in CLASSES for r in rows), "predicted classes are class names")
    pred = {(r["image"], r["op"], r["level"]): r["predicted"] for r in rows}
    # a classifier that always answers one class would make the comparisons below vacuous
    C.check(len(set(pred.values())) >= 2, f"{protocol}: predictions use several classes {sorted(set(pred.values()))}")
    C.check(len(pred) == len(rows), "one row per (image, op, level)")

    def correct(op, level):
        return np.array([pred[(n, op, level)] == n.split("/")[0] for n in test_names], dtype=float)

    clean_acc = correct("clean", "").mean()
    C.check(abs(d["clean_accuracy"] - clean_acc) < 1e-12, f"clean accuracy {d['clean_accuracy']} vs {clean_acc}")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    levels_text = {}
    for op in OP_NAMES:
        levels_text[op] = sorted({r["level"] for r in rows if r["op"] == op}, key=float)
    C.check([(e["op"]) for e in d["per_level"]] == [op for op in OP_NAMES for _ in range(LEVELS)],
            "per_level: every op, every level, in order")
    acc = {}
    worst = 0.0
    for e, so in zip(d["per_level"], [so for so in summary["per_op"] for _ in range(LEVELS)]):
        C.check(set(e) == {"op", "level", "accuracy", "n"}, f"per_level keys {sorted(e)}")
        text = [t for t in levels_text[e["op"]] if abs(float(t) - e["level"]) < 1e-9]
        C.check(len(text) == 1 and e["level"] in so["levels"], f"level {e['op']} {e['level']} in predictions and summary")
        a = correct(e["op"], text[0]).mean() if text else -1
        acc.setdefault(e["op"], []).append(a)
        worst = max(worst, abs(a - e["accuracy"]))
        C.check(e["n"] == len(test_names), f"per_level n {e['n']}")
    C.check(worst < 1e-12, f"per_level accuracies recomputed from predictions.csv (worst {worst:.2e})")

    per_image = read_csv(os.path.join(out, "per_image.csv"))
    dr = {(r["image"], r["op"]): float(r["dr"]) for r in per_image}
    C.check([(e["op"], e["domain"]) for e in d["per_op"]] == [(so["op"], so["domain"]) for so in summary["per_op"]],
            "per_op ops and domains as in summary.json")
    mean_dr, drop, worst = [], [], 0.0
    for e in d["per_op"]:
        m = np.mean([dr[(n, e["op"])] for n in test_names])
        a = clean_acc - np.mean(acc[e["op"]])
        mean_dr.append(m)
        drop.append(a)
        worst = max(worst, abs(m - e["mean_dr"]), abs(a - e["accuracy_drop"]))
    C.check(worst < 1e-12, f"per_op mean DR and accuracy drop recomputed (worst {worst:.2e})")

    # per-image regression: one point per (op, level, image): the image's DR under the op
    # against its correctness at that level; equal-count bins of the DR-sorted points.
    x = np.array([dr[(n, op)] for op in OP_NAMES for t in levels_text[op] for n in test_names])
    y = np.concatenate([correct(op, t) for op in OP_NAMES for t in levels_text[op]])
    order = np.argsort(x, kind="stable")
    B = min(10, len(x))
    bins = [order[j * len(x) // B:(j + 1) * len(x) // B] for j in range(B)]
    bx = np.array([x[b].mean() for b in bins])
    by = np.array([y[b].mean() for b in bins])
    pi = d["regression"]["per_image"]
    C.check(pi is not None and len(pi["bins"]) == B, f"per_image bins {None if pi is None else len(pi['bins'])}")
    fit = stats.linregress(bx, by)
    worst = max(abs(fit.slope - pi["slope"]), abs(fit.intercept - pi["intercept"]),
                abs(fit.rvalue - pi["pearson_r"]), abs(fit.rvalue ** 2 - pi["r2"]))
    for b, jb in zip(bins, pi["bins"]):
        worst = max(worst, abs(x[b].min() - jb["dr_min"]), abs(x[b].max() - jb["dr_max"]),
                    abs(x[b].mean() - jb["mean_dr"]), abs(y[b].mean() - jb["accuracy"]))
        C.check(jb["n"] == len(b), "bin count")
    raw = stats.linregress(x, y)
    worst = max(worst, abs(raw.slope - pi["raw"]["slope"]), abs(raw.intercept - pi["raw"]["intercept"]))
    C.check(worst < 1e-9, f"per-image regression vs scipy.stats.linregress (worst {worst:.2e})")

    ao = d["regression"]["across_ops"]
    fit = stats.linregress(mean_dr, drop)
    errors = []
    for k in range(len(OP_NAMES)):
        keep = [i for i in range(len(OP_NAMES)) if i != k]
        f = stats.linregress([mean_dr[i] for i in keep], [drop[i] for i in keep])
        errors.append(abs(f.intercept + f.slope * mean_dr[k] - drop[k]))
    worst = max(abs(fit.slope - ao["slope"]), abs(fit.intercept - ao["intercept"]), abs(fit.rvalue ** 2 - ao["r2"]),
                abs(np.mean(errors) - ao["leave_one_op_out_mae"]))
    C.check(worst < 1e-9, f"across-ops regression and leave-one-op-out MAE vs SciPy (worst {worst:.2e})")
    C.check(os.path.getsize(os.path.join(out, "report.html")) > 0, "report.html written")
    with open(os.path.join(out, "report.html")) as f:
        html = f.read()
    C.check(f"Downstream: {protocol}" in html, "the report shows the downstream section")
    check_markdown(out, d)
    return pred


def check_markdown(out, d):
    """`vfrobust report --markdown`: one row per op whose numbers are summary.json's DR statistics
    and downstream.json's accuracy drop (in points), rounded as printed."""
    r = run(["report", "--markdown", out])
    C.check(r.returncode == 0, f"report --markdown exit {r.returncode}: {r.stderr[-500:]}")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    rows = [line.split("|")[1:-1] for line in r.stdout.splitlines() if line.startswith("| ")]
    C.check(rows and [c.strip() for c in rows[0]][:3] == ["op", "domain", "mean DR"], f"table header {rows[:1]}")
    body = {c[0].strip(): [x.strip() for x in c] for c in rows[1:]}
    C.check(sorted(body) == sorted(OP_NAMES), f"table rows {sorted(body)}")
    drops = {o["op"]: o["accuracy_drop"] for o in d["per_op"]}
    for o in summary["per_op"]:
        row = body.get(o["op"])
        if row is None:
            continue
        want = [o["domain"], f"{o['dr']['mean']:.4f}", f"{o['dr']['median']:.4f}", f"{o['dr']['p90']:.4f}",
                f"{o['r_cs']['mean']:.4f}", f"{100 * drops[o['op']]:.2f}"]
        C.check(row[1:] == want, f"markdown row {o['op']}: {row[1:]} vs {want}")
    C.check(f"clean accuracy {d['clean_accuracy']:.4f}" in r.stdout, "the table states the clean accuracy")
    bad = run(["report", "--markdown", os.path.join(out, "absent")])
    C.check(bad.returncode == 1 and bad.stderr.count("\n") == 1 and "summary.json" in bad.stderr,
            f"report --markdown on a folder without a study: exit {bad.returncode}, {bad.stderr!r}")


def study_embeddings(out):
    """clean (N, d) and per op (N, m, d) as written by the study, rows in images.csv order."""
    names = [r["image"] for r in read_csv(os.path.join(out, "embeddings", "images.csv"))]
    C.check(names == test_names, "embedding rows follow the test ImageFolder order")
    clean = np.load(os.path.join(out, "embeddings", "clean.npy")).astype(np.float64)
    per_op = {op: np.load(os.path.join(out, "embeddings", f"{op}.npy")).astype(np.float64)
              for op in ("brightness", "gaussian_blur", "jpeg")}
    return clean, per_op


def all_queries(out, pred):
    """Every classified embedding with its predictions.csv prediction."""
    clean, per_op = study_embeddings(out)
    rows = read_csv(os.path.join(out, "predictions.csv"))
    lv = {op: sorted({r["level"] for r in rows if r["op"] == op}, key=float) for op in OP_NAMES}
    q, p = [clean], [[pred[(n, "clean", "")] for n in test_names]]
    for op, stem in zip(OP_NAMES, ("brightness", "gaussian_blur", "jpeg")):
        for k, t in enumerate(lv[op]):
            q.append(per_op[stem][:, k, :])
            p.append([pred[(n, op, t)] for n in test_names])
    return np.concatenate(q), np.array([CLASSES.index(c) for ps in p for c in ps])


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---- k-NN ----------------------------------------------------------------------------------------
out = os.path.join(tmp, "out")
r = downstream(out, "knn")
C.check("60 train images" in r.stderr and "(resumed)" not in r.stderr, f"train summary: {r.stderr.strip()[-300:]}")
pred = check_outputs(out, "knn")
train = np.load(os.path.join(out, "train_embeddings.npy"))
C.check(train.shape == (len(CLASSES) * N_TRAIN, 32) and train.dtype == np.float32, f"train_embeddings {train.shape}")
trows = read_csv(os.path.join(out, "train_images.csv"))
C.check([r_["image"] for r_ in trows] == [f"{c}/{k:04d}.jpg" for c in CLASSES for k in range(N_TRAIN)]
        and [r_["label"] for r_ in trows] == [c for c in CLASSES for _ in range(N_TRAIN)], "train_images.csv")
# train embeddings against the PyTorch reference model on a few images
worst = 0.0
for i in (0, 27, 59):
    pil = Image.open(os.path.join(train_dir, trows[i]["image"]))
    e = modelref.embed(ref, modelref.preprocess(pil, pp)[None]).reshape(-1)
    worst = max(worst, np.abs(e - train[i]).max() / np.abs(e).max())
C.check(worst < 1e-4, f"train embeddings vs PyTorch reference (worst relative {worst:.2e})")

queries, got = all_queries(out, pred)
sim = unit(queries) @ unit(train.astype(np.float64)).T
want = []
for s in sim:
    nn_ = np.argsort(-s, kind="stable")[:20]
    score = np.zeros(len(CLASSES))
    np.add.at(score, train_labels[nn_], np.exp(s[nn_] / 0.07))
    want.append(int(np.argmax(score)))
want = np.array(want)
C.check(np.array_equal(want, got), f"k-NN predictions equal NumPy k-NN ({int((want == got).sum())}/{len(got)})")
print(f"k-NN: {len(got)} predictions compared, {int((want == got).sum())} equal", flush=True)

# ---- linear probe, resuming in the same folder: the study and train embeddings are reused -----
r = downstream(out, "linear", "--resume")
C.check("(resumed)" in r.stderr, f"train embeddings reused on --resume: {r.stderr.strip()[-300:]}")
C.check(np.array_equal(np.load(os.path.join(out, "train_embeddings.npy")), train), "cache unchanged")
pred = check_outputs(out, "linear")
queries, got = all_queries(out, pred)
# The probe is scikit-learn's StandardScaler + multinomial LogisticRegression on L2-normalised
# embeddings, C chosen on a validation split; the refit on all rows at the chosen C must give
# the same predictions as one of the grid's C values fitted here.
X = unit(train.astype(np.float64))
matches = []
for c in [10.0 ** e for e in range(-3, 4)]:
    sk = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=10000, tol=1e-10))
    sk.fit(X, train_labels)
    if np.array_equal(sk.predict(unit(queries)), got):
        matches.append(c)
C.check(len(matches) > 0, f"linear-probe predictions equal scikit-learn's at some grid C (matching C: {matches})")
print(f"linear: {len(got)} predictions, equal to scikit-learn at C in {matches}", flush=True)

# ---- zero-shot: templates averaged, against a PyTorch text tower ---------------------------------
tpl = os.path.join(tmp, "templates.txt")
with open(tpl, "w") as f:
    f.write("a photo of a {}.\n\n  a blurry photo of the {}  \r\n")


def token_ids(texts):
    r_ = run(["tokenize", "--model", model_dir, "--"] + texts)
    C.check(r_.returncode == 0, f"tokenize: {r_.stderr}")
    return [[int(t) for t in line.split()] for line in r_.stdout.strip().split("\n")]


def text_tower(ids):
    """CLIP text_embeds (float64) of one token sequence, written from Hugging Face's
    CLIPTextTransformer: causal pre-LN blocks, final layer norm, pooled at the end-of-text
    token (the largest id, as for configs with eos_token_id 2), text_projection."""
    tm = ref.text_model.double()
    t = torch.tensor(ids)[None]
    T = t.shape[1]
    with torch.no_grad():
        x = tm.embeddings.token_embedding(t) + tm.embeddings.position_embedding(torch.arange(T))[None]
        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        for layer in tm.encoder.layers:
            h = layer.layer_norm1(x)
            a = layer.self_attn
            heads = a.heads
            hd = h.shape[-1] // heads
            q = a.q_proj(h).view(1, T, heads, hd).transpose(1, 2) * hd ** -0.5
            k = a.k_proj(h).view(1, T, heads, hd).transpose(1, 2)
            v = a.v_proj(h).view(1, T, heads, hd).transpose(1, 2)
            w = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)
            x = x + a.out_proj((w @ v).transpose(1, 2).reshape(1, T, -1))
            x = x + layer.mlp(layer.layer_norm2(x))
        x = tm.final_layer_norm(x)
        pooled = x[0, int(torch.argmax(t[0]))]
        e = ref.text_projection.double()(pooled).numpy()
    ref.float()
    return e


def class_embeddings(templates):
    rows_ = []
    for c in CLASSES:
        texts = [t.replace("{}", c.replace("_", " ")) for t in templates]
        es = unit(np.array([text_tower(ids) for ids in token_ids(texts)]))
        m = es.mean(axis=0)
        rows_.append(m / np.linalg.norm(m))
    return np.array(rows_)


for label, extra, templates in (("default prompt", [], ["a photo of a {}."]),
                                ("templates file", ["--templates", tpl], ["a photo of a {}.", "a blurry photo of the {}"])):
    r = downstream(out, "zeroshot", "--resume", *extra)
    pred = check_outputs(out, "zeroshot")
    queries, got = all_queries(out, pred)
    cos = unit(queries) @ class_embeddings(templates).T
    want = np.argmax(cos, axis=1)
    top2 = np.sort(cos, axis=1)
    clear = (top2[:, -1] - top2[:, -2]) > 1e-5  # rows whose argmax float32 rounding cannot flip
    same = int((want == got)[clear].sum())
    C.check(same == int(clear.sum()) and clear.sum() >= 0.9 * len(got),
            f"zero-shot ({label}) predictions equal the PyTorch text tower's: {same}/{int(clear.sum())} "
            f"(of {len(got)}; {len(got) - int(clear.sum())} near-ties left out)")
    single = np.argmax(unit(queries) @ class_embeddings(templates[:1]).T, axis=1)
    print(f"zero-shot ({label}): {int(clear.sum())} predictions compared, {same} equal; "
          f"{int((single != want).sum())} differ from the first template alone", flush=True)

# ---- bad usage ---------------------------------------------------------------------------------
r = run(["downstream", "--model", model_dir, "--test", test_dir, "--protocol", "knn", "--out", out])
C.check(r.returncode == 2 and "--train" in r.stderr and r.stderr.count("\n") == 1, f"missing --train: {r.returncode} {r.stderr}")
r = run(["downstream", "--model", model_dir, "--train", train_dir, "--test", test_dir])
C.check(r.returncode == 2 and "--out" in r.stderr, f"missing --out: {r.returncode} {r.stderr}")
r = run(["downstream", "--model", model_dir, "--train", train_dir, "--test", test_dir, "--out", out, "--protocol", "svm"])
C.check(r.returncode == 2 and "svm" in r.stderr, f"unknown protocol: {r.returncode} {r.stderr}")
r = run(["downstream", "--model", model_dir, "--train", train_dir, "--test", test_dir, "--out", out, "--levels", "x"])
C.check(r.returncode == 2 and "--levels" in r.stderr, f"bad --levels: {r.returncode} {r.stderr}")
bad_out = os.path.join(tmp, "bad")
r = run(["downstream", "--model", dino_dir, "--test", test_dir, "--out", bad_out, "--protocol", "zeroshot"])
C.check(r.returncode == 2 and "CLIP" in r.stderr and r.stderr.startswith("vfrobust: ")
        and r.stderr.count("\n") == 1 and not os.path.exists(bad_out), f"zeroshot on DINOv2: {r.returncode} {r.stderr}")
missing = os.path.join(tmp, "no-such-train")
r = run(["downstream", "--model", model_dir, "--train", missing, "--test", test_dir, "--out", bad_out,
         "--protocol", "linear"])
C.check(r.returncode == 1 and missing in r.stderr and r.stderr.count("\n") == 1 and not os.path.exists(bad_out),
        f"missing train dir: {r.returncode} {r.stderr}")
with open(os.path.join(tmp, "bad_templates.txt"), "w") as f:
    f.write("a photo of a {}.\na photo without a hole\n")
r = run(["downstream", "--model", model_dir, "--test", test_dir, "--out", bad_out, "--protocol", "zeroshot",
         "--templates", os.path.join(tmp, "bad_templates.txt")])
C.check(r.returncode == 2 and "line 2" in r.stderr, f"template without {{}}: {r.returncode} {r.stderr}")
with open(os.path.join(tmp, "bad_templates2.txt"), "w") as f:
    f.write("{} or {}\n")
r = run(["downstream", "--model", model_dir, "--test", test_dir, "--out", bad_out, "--protocol", "zeroshot",
         "--templates", os.path.join(tmp, "bad_templates2.txt")])
C.check(r.returncode == 2 and "more than one" in r.stderr, f"template with two {{}}: {r.returncode} {r.stderr}")
flat = os.path.join(tmp, "unlabelled.csv")
with open(flat, "w") as f:
    f.write("path\ntest/cat/0000.jpg\n")
r = run(["downstream", "--model", model_dir, "--train", train_dir, "--test", flat, "--out", bad_out, "--protocol", "knn"])
C.check(r.returncode == 1 and flat in r.stderr and "no class labels" in r.stderr and not os.path.exists(bad_out),
        f"unlabelled test set: {r.returncode} {r.stderr}")
r = run(["downstream", "--model", model_dir, "--test", test_dir, "--out", bad_out, "--protocol", "zeroshot",
         "--templates", os.path.join(tmp, "none.txt")])
C.check(r.returncode == 1 and "none.txt" in r.stderr, f"missing templates file: {r.returncode} {r.stderr}")

print(f"ref_downstream_cli: {time.time() - started:.1f} s", flush=True)
shutil.rmtree(tmp, ignore_errors=True)
C.finish()
