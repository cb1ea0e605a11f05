"""Bring your own embeddings through the CLI: `vfrobust perturb-set` writes the variants
(checked against `vfrobust perturb` and Pillow's decoder), `vfrobust embed` embeds the
manifest's files, and `vfrobust score` makes a study whose per_image.csv and curves.csv
equal `vfrobust eval`'s on the same model and data to 1e-6; bad manifests, embeddings
and settings give one-line errors."""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_perturb_set_cli")
tmp = tempfile.mkdtemp(prefix="vfr_pset_")
OPS = "brightness,hue,gaussian_noise,jpeg:q=30..90,jpeg:q=10..20,jpeg:50+brightness:1.2"
LEVELS = 5


def run(args):
    return subprocess.run([BIN] + args, capture_output=True, text=True)


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


model = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=21))
data = os.path.join(tmp, "data")
for c in ["bird", "frog"]:
    os.makedirs(os.path.join(data, c))
    for k in range(3):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
with open(os.path.join(DATA, "cifar10", "test", "bird", "0007.jpg"), "rb") as f:
    blob = f.read()
with open(os.path.join(data, "bird", "broken.jpg"), "wb") as f:
    f.write(blob[: len(blob) // 3])

ps = os.path.join(tmp, "variants")
r = run(["perturb-set", "--data", data, "--ops", OPS, "--levels", str(LEVELS), "--out", ps])
if not C.check(r.returncode == 0, f"perturb-set: {r.stderr}"):
    C.finish()
manifest = rows_of(os.path.join(ps, "manifest.csv"))
settings = json.load(open(os.path.join(ps, "perturb_set.json")))
C.check(manifest[0] == ["image", "op", "level", "file"], f"manifest header {manifest[0]}")
per_image = settings["rows_per_image"]
C.check(per_image == 1 + 5 + 5 + 5 + 5 + 5 + 1, f"rows per image {per_image}")
C.check(len(manifest) - 1 == 6 * per_image and settings["rows"] == 6 * per_image, f"{len(manifest) - 1} manifest rows")
C.check(settings["images"]["used"] == 6 and [s["file"] for s in settings["images"]["skipped_files"]] == ["bird/broken.jpg"],
        f"skipped: {settings['images']}")
body = manifest[1:]
for i in range(6):
    rows = body[i * per_image:(i + 1) * per_image]
    name = rows[0][0]
    C.check(all(r[0] == name for r in rows) and rows[0][1] == "clean" and rows[0][2] == "", f"image {name}: rows")
    clean_file = os.path.join(ps, rows[0][3])
    src = os.path.join(data, name)
    with Image.open(clean_file) as a, Image.open(src) as b:
        C.check(a.format == "PNG" and np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))),
                f"{name}: the clean file is the decoded image, losslessly")
    by_op = {}
    for r in rows[1:]:
        by_op.setdefault(r[1], []).append(r)
    C.check([x[2] for x in by_op["brightness"]] == ["0.5", "0.75", "1", "1.25", "1.5"], f"brightness levels {by_op['brightness']}")
    C.check(by_op["brightness"][2][3] == rows[0][3], "the identity level brightness 1 names the clean file")
    C.check(by_op["hue"][2][3] != rows[0][3],
            "hue 0 has a file of its own (Pillow's HSV round trip is lossy, so it is computed)")
    for r in by_op["brightness"][:2] + by_op["jpeg"][:1] + by_op["hue"][:1] + by_op["jpeg:q=50+brightness:f=1.2"]:
        spec = r[1] if "+" in r[1] else f"{r[1]}:{r[2]}"
        want = os.path.join(tmp, "want.png")
        rr = run(["perturb", spec, src, want])
        with Image.open(os.path.join(ps, r[3])) as a, Image.open(want) as b:
            C.check(rr.returncode == 0 and np.array_equal(np.asarray(a), np.asarray(b)),
                    f"{name} {spec}: the file equals `vfrobust perturb {spec}`")
    noise = [np.asarray(Image.open(os.path.join(ps, r[3]))) for r in by_op["gaussian_noise"][1:]]
    C.check(len({n.tobytes() for n in noise}) == 4, f"{name}: noise levels differ")
    C.check(len(by_op["jpeg"]) == 10, "jpeg appears with both domains, in order")

# ---- embed with the CLI, score, compare with eval ---------------------------------------------
emb = os.path.join(tmp, "emb.npy")
r = run(["embed", "--model", model, "--out", emb] + [os.path.join(ps, x[3]) for x in body])
C.check(r.returncode == 0, f"embed: {r.stderr}")
study = os.path.join(tmp, "score")
r = run(["score", "--manifest", os.path.join(ps, "manifest.csv"), "--embeddings", emb, "--model-name", "tiny-clip",
         "--out", study])
C.check(r.returncode == 0, f"score: {r.stderr}")
ev = os.path.join(tmp, "eval")
r = run(["eval", "--model", model, "--data", data, "--ops", OPS, "--levels", str(LEVELS), "--out", ev])
C.check(r.returncode == 0, f"eval: {r.stderr}")


def compare_csv(name, keys):
    a, b = rows_of(os.path.join(study, name)), rows_of(os.path.join(ev, name))
    C.check(a[0] == b[0] and len(a) == len(b), f"{name}: header and row count")
    C.check([x[:keys] for x in a] == [x[:keys] for x in b], f"{name}: the same rows in the same order")
    diff = max(abs(float(x) - float(y)) for ra, rb in zip(a[1:], b[1:]) for x, y in zip(ra[keys:], rb[keys:]) if x and y)
    C.check(diff <= 1e-6, f"{name}: max difference {diff:.3g} (bar 1e-6)")
    return diff


d1 = compare_csv("per_image.csv", 4)
d2 = compare_csv("curves.csv", 3)
print(f"score vs eval: per_image.csv max diff {d1:.3g}, curves.csv {d2:.3g}", flush=True)
sa, sb = json.load(open(os.path.join(study, "summary.json"))), json.load(open(os.path.join(ev, "summary.json")))
C.check(sa["images"]["used"] == sb["images"]["used"] == 6 and sa["images"]["skipped_files"] == sb["images"]["skipped_files"],
        f"summary images: {sa['images']} vs {sb['images']}")
C.check([(o["op"], o["domain"], o["levels"]) for o in sa["per_op"]] == [(o["op"], o["domain"], o["levels"]) for o in sb["per_op"]],
        "summary per_op: the same ops, domains and levels")
C.check(all(abs(x["dr"]["mean"] - y["dr"]["mean"]) < 1e-6 for x, y in zip(sa["per_op"], sb["per_op"])), "summary mean DR")
C.check(os.path.exists(os.path.join(study, "report.html")) and os.path.exists(os.path.join(study, "samples.png")),
        "report.html and samples.png")
C.check(np.array_equal(np.load(os.path.join(study, "embeddings", "clean.npy")),
                       np.load(emb)[[i * per_image for i in range(6)]]), "embeddings/clean.npy holds the clean rows")
md = run(["report", "--markdown", study])
C.check(md.returncode == 0 and "| brightness |" in md.stdout, f"report --markdown on the scored study: {md.stderr}")
rr = run(["report", study])
C.check(rr.returncode == 0, f"report on the scored study: {rr.stderr}")

# ---- the model is a name, not a folder ---------------------------------------------------------
C.check(sa["model"] == "tiny-clip" and sa["model_dir"] is None and sb["model_dir"] == model,
        f"summary model / model_dir: {sa['model']!r} {sa['model_dir']!r} (eval: {sb['model_dir']!r})")
# from a directory holding a folder of the model's name, nothing of it is read: the per-image
# result files (which carry the settings' fingerprint) are the same bytes
again = os.path.join(tmp, "score-again")
r = subprocess.run([BIN, "score", "--manifest", os.path.join(ps, "manifest.csv"), "--embeddings", emb,
                    "--model-name", "tiny-clip", "--out", again], capture_output=True, text=True, cwd=tmp)
C.check(r.returncode == 0, f"score from {tmp}: {r.stderr}")
work = sorted(os.listdir(os.path.join(study, "work")))
C.check(work == sorted(os.listdir(os.path.join(again, "work"))) and len(work) >= 6 and all(
    open(os.path.join(study, "work", w), "rb").read() == open(os.path.join(again, "work", w), "rb").read()
    for w in work), "score's result files do not depend on a folder named like the model")
cmp_out = os.path.join(tmp, "compared")
rc = run(["compare", study, ev, "--out", cmp_out])
C.check(rc.returncode == 0, f"compare of the scored and the eval study: {rc.stderr}")
if rc.returncode == 0:
    cj = json.load(open(os.path.join(cmp_out, "compare.json")))
    dirs = [m.get("model_dir") for m in cj.get("studies", [])]
    C.check(dirs == ["", model], f"compare.json model_dir: {dirs}")

# ---- errors --------------------------------------------------------------------------------------
E = np.load(emb)
short = os.path.join(tmp, "short.npy")
np.save(short, E[:-1])
nan = os.path.join(tmp, "nan.npy")
En = E.copy()
En[3, 0] = np.nan  # an identity level's row: every row must be finite all the same
np.save(nan, En)
f64 = os.path.join(tmp, "f64.npy")
np.save(f64, E.astype(np.float64))
edited = os.path.join(ps, "edited.csv")
lines = open(os.path.join(ps, "manifest.csv")).read().split("\n")
lines[5] = lines[5].replace("brightness", "contrast")
open(edited, "w").write("\n".join(lines))
lonely = os.path.join(tmp, "lonely")
os.makedirs(lonely)
shutil.copy(os.path.join(ps, "manifest.csv"), lonely)
mf = os.path.join(ps, "manifest.csv")
for what, args, status, needle in [
    ("fewer embeddings", ["score", "--manifest", mf, "--embeddings", short, "--out", os.path.join(tmp, "e1")], 1, "short.npy"),
    ("float64 embeddings", ["score", "--manifest", mf, "--embeddings", f64, "--out", os.path.join(tmp, "e2")], 1, "f64.npy"),
    ("NaN embedding", ["score", "--manifest", mf, "--embeddings", nan, "--out", os.path.join(tmp, "e3")], 1, "nan.npy: row 3"),
    ("edited manifest", ["score", "--manifest", edited, "--embeddings", emb, "--out", os.path.join(tmp, "e4")], 1, "edited.csv:6"),
    ("no perturb_set.json", ["score", "--manifest", os.path.join(lonely, "manifest.csv"), "--embeddings", emb, "--out",
                             os.path.join(tmp, "e5")], 1, "perturb_set.json"),
    ("missing embeddings", ["score", "--manifest", mf, "--embeddings", os.path.join(tmp, "absent.npy"), "--out",
                            os.path.join(tmp, "e6")], 1, "absent.npy"),
    ("score without --out", ["score", "--manifest", mf, "--embeddings", emb], 2, "--out"),
    ("model name with a slash", ["score", "--manifest", mf, "--embeddings", emb, "--model-name", "a/b", "--out",
                                 os.path.join(tmp, "e7")], 2, "model-name"),
    ("model name too long", ["score", "--manifest", mf, "--embeddings", emb, "--model-name", "m" * 300, "--out",
                             os.path.join(tmp, "e12")], 2, "longer than 255 bytes"),
    ("unknown op", ["perturb-set", "--data", data, "--ops", "nope", "--out", os.path.join(tmp, "e8")], 2, "nope"),
    ("missing data", ["perturb-set", "--data", os.path.join(tmp, "absent"), "--out", os.path.join(tmp, "e9")], 1, "absent"),
    ("bad levels", ["perturb-set", "--data", data, "--levels", "0", "--out", os.path.join(tmp, "e10")], 2, "--levels"),
    ("unknown option", ["perturb-set", "--data", data, "--frobnicate", "--out", os.path.join(tmp, "e11")], 2, "frobnicate"),
]:
    r = run(args)
    err = r.stderr.strip()
    C.check(r.returncode == status and err.startswith("vfrobust: ") and "\n" not in err and (needle is None or needle in err),
            f"{what}: status {r.returncode} (want {status}), stderr {err!r}")
C.finish()
