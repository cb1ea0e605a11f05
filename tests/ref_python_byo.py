"""Bring your own embeddings from Python: examples/torch_embeddings.py embeds a perturb-set
output with the PyTorch reference model and scores it; its per_image.csv equals
`vfrobust eval`'s on the same model folder and data to 1e-6. Then perturb_set() and
score() with an in-memory array, and their errors."""
import csv
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
import python_testlib  # noqa: E402,F401
from vfr_testlib import BIN, DATA, LIB, SRC, Checker  # noqa: E402
import vfrobust  # noqa: E402

C = Checker("ref_python_byo")
tmp = tempfile.mkdtemp(prefix="vfr_pybyo_")
OPS = "contrast,gaussian_blur,gaussian_noise,rescale"
LEVELS = 4

model = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=33))
data = os.path.join(tmp, "data")
for c in ["deer", "truck"]:
    os.makedirs(os.path.join(data, c))
    for k in range(4):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


out = os.path.join(tmp, "torch-study")
env = dict(os.environ, VFROBUST_LIB=LIB, OMP_NUM_THREADS="2")
r = subprocess.run([sys.executable, os.path.join(SRC, "examples", "torch_embeddings.py"), "--model", model, "--data", data,
                    "--ops", OPS, "--levels", str(LEVELS), "--device", "cpu", "--out", out],
                   capture_output=True, text=True, env=env)
C.check(r.returncode == 0, f"examples/torch_embeddings.py: {r.stderr[-3000:]}")
ev = os.path.join(tmp, "eval")
r2 = subprocess.run([BIN, "eval", "--model", model, "--data", data, "--ops", OPS, "--levels", str(LEVELS), "--out", ev],
                    capture_output=True, text=True)
C.check(r2.returncode == 0, f"eval: {r2.stderr}")
if r.returncode == 0 and r2.returncode == 0:
    a, b = rows_of(os.path.join(out, "per_image.csv")), rows_of(os.path.join(ev, "per_image.csv"))
    C.check(a[0] == b[0] and [x[:4] for x in a] == [x[:4] for x in b], "per_image.csv: the same rows (model, image, op, domain)")
    diff = max(abs(float(x) - float(y)) for ra, rb in zip(a[1:], b[1:]) for x, y in zip(ra[4:], rb[4:]))
    print(f"PyTorch round trip vs eval: per_image.csv max diff {diff:.3g} over {len(a) - 1} rows", flush=True)
    C.check(diff <= 1e-6, f"per_image.csv: max difference {diff:.3g} (bar 1e-6)")
    C.check(os.path.exists(os.path.join(out, "report.html")), "report.html")
    s = vfrobust.Study(out)
    C.check(s.model == "tiny-clip" and len(s.images) == 8, f"the study reads back: {s}")

# ---- perturb_set() and score() with an array -----------------------------------------------------
variants = os.path.join(tmp, "variants")
rows = vfrobust.perturb_set(data, variants, ops="jpeg:q=20..80,brightness", levels=3, limit=5)
C.check(len(rows) == 5 * 7 and all(os.path.isabs(x["file"]) and os.path.exists(x["file"]) for x in rows),
        f"perturb_set returns {len(rows)} rows with absolute, existing files")
C.check(rows == vfrobust.read_manifest(os.path.join(variants, "manifest.csv")), "read_manifest equals the returned rows")
m = vfrobust.Model(model)
emb = m.embed([x["file"] for x in rows])
st = vfrobust.score(os.path.join(variants, "manifest.csv"), emb, os.path.join(tmp, "py-study"), model_name="tiny-clip")
clean = emb[::7]
pert = emb.reshape(5, 7, -1)
want = vfrobust.robustness(clean, np.ascontiguousarray(pert[:, 1:4]))
C.check(np.max(np.abs(st.metric("dr", "jpeg") - want.dr)) < 1e-12, "score's DR equals robustness() of the same rows")
C.check(np.array_equal(np.asarray(st.clean_embeddings()), clean), "the study's clean embeddings are the array's clean rows")
for what, fn, needle in [
    ("wrong rows", lambda: vfrobust.score(os.path.join(variants, "manifest.csv"), emb[:-2], os.path.join(tmp, "x1")), "rows"),
    ("1-D array", lambda: vfrobust.score(os.path.join(variants, "manifest.csv"), emb[:, 0], os.path.join(tmp, "x2")), "shape"),
    ("missing manifest", lambda: vfrobust.score(os.path.join(tmp, "none.csv"), emb, os.path.join(tmp, "x3")), "perturb_set.json"),
    ("bad ops", lambda: vfrobust.perturb_set(data, os.path.join(tmp, "x4"), ops="jpeg:1000"), "jpeg"),
    ("bad levels", lambda: vfrobust.perturb_set(data, os.path.join(tmp, "x5"), levels=0), "levels"),
    ("missing data", lambda: vfrobust.perturb_set(os.path.join(tmp, "nodata"), os.path.join(tmp, "x6")), "nodata"),
]:
    try:
        fn()
        C.check(False, f"{what}: no error")
    except vfrobust.Error as e:
        C.check(needle in str(e) and "\n" not in str(e), f"{what}: message {e!r}")
    except Exception as e:  # noqa: BLE001
        C.check(False, f"{what}: {type(e).__name__} instead of vfrobust.Error: {e}")
C.finish()
