"""Runs that would lose or mix work are refused before they start: an --out that is,
contains or lies inside an input (symlinks resolved), and a --resume of finetune or train
with a setting that differs from the run's (the flag is named)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_run_guards")
tmp = tempfile.mkdtemp(prefix="vfr_guards_")


def run(*args):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True)


def digest(folder):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode() + b"\0" + open(p, "rb").read())
    return h.hexdigest()


model = os.path.join(tmp, "model")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32, text=(32, 1, 2, 64))
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=2).eval())
data = os.path.join(tmp, "data")
for c in ("airplane", "cat"):
    os.makedirs(os.path.join(data, c))
    for k in range(4):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
link = os.path.join(tmp, "link-to-model")
os.symlink(model, link)
before_model, before_data = digest(model), digest(data)

# ---- --out never an input -----------------------------------------------------------------
ft = ["finetune", "--model", model, "--data", data, "--ops", "brightness", "--batch", 4, "--threads", 1, "--quiet"]
for out, how in ((model, "is"), (link, "is"), (os.path.join(model, "tuned"), "lies inside"),
                 (os.path.join(link, "a", "b"), "lies inside"), (tmp, "contains"), (model + "/", "is")):
    r = run(*ft, "--out", out)
    C.check(r.returncode == 2 and f" {how} the input --model" in r.stderr and r.stderr.count("\n") == 1,
            f"finetune --out {out} ({how} --model) is refused: rc {r.returncode} {r.stderr}")
r = run(*ft[:3], "--data", data, "--ops", "brightness", "--out", os.path.join(data, "cat"))
C.check(r.returncode == 2 and "lies inside the input --data" in r.stderr, f"finetune --out inside --data: {r.stderr}")
r = run("train", "--model", model, "--data", data, "--out", data, "--epochs", 1)
C.check(r.returncode == 2 and "is the input --data" in r.stderr, f"train --out = --data: {r.stderr}")
r = run("eval", "--model", model, "--data", data, "--out", link)
C.check(r.returncode == 2 and "is the input --model" in r.stderr, f"eval --out = a link to --model: {r.stderr}")
r = run("downstream", "--model", model, "--train", data, "--test", data, "--out", os.path.join(data, "x"))
C.check(r.returncode == 2 and "lies inside the input" in r.stderr, f"downstream --out inside an input: {r.stderr}")
C.check(digest(model) == before_model and digest(data) == before_data, "no input was touched")
C.check(os.path.getsize(os.path.join(model, "config.json")) > 0, "config.json intact")
r = run("eval", "--model", model, "--data", data, "--out", os.path.join(tmp, "evalout"), "--levels", 2, "--ops", "jpeg")
C.check(r.returncode == 0, f"a separate --out works: {r.stderr[-300:]}")

# ---- resume with other settings -----------------------------------------------------------
tuned = os.path.join(tmp, "tuned")
base = ft + ["--epochs", 2, "--warmup", 1, "--lr", 0.002, "--lambda", 0.5, "--wd", 0.01, "--seed", 3, "--out", tuned]
r = run(*base, "--checkpoint-every", 1, "--stop-after", 1)
C.check(r.returncode == 0 and os.path.exists(os.path.join(tuned, "checkpoint.bin")), f"stopped run: {r.stderr[-300:]}")


def swap(args, flag, value):
    a = list(args)
    a[a.index(flag) + 1] = value
    return a


for flag, value, was in (("--lr", "1e-4", "0.002"), ("--lambda", "0.7", "0.5"), ("--wd", "0.1", "0.01"),
                         ("--ops", "jpeg", "brightness"), ("--warmup", "0", "1")):
    r = run(*swap(base, flag, value), "--resume")
    want = f"{flag} {float(value):.10g} differs from the run's {was}" if flag != "--ops" else \
        f"--ops jpeg differs from the run's brightness"
    C.check(r.returncode == 2 and want in r.stderr and r.stderr.count("\n") == 1,
            f"finetune --resume with {flag} {value} is refused ({want!r}): {r.stderr}")
r = run(*base, "--resume")
C.check(r.returncode == 0 and os.path.exists(os.path.join(tuned, "model.safetensors")),
        f"resume with the run's settings goes on: {r.stderr[-300:]}")

trained = os.path.join(tmp, "trained")
tr = ["train", "--model", model, "--data", data, "--out", trained, "--epochs", 2, "--batch", 4, "--threads", 1,
      "--label-smoothing", 0.1, "--lr", 0.001]
r = run(*tr, "--stop-after", 1, "--checkpoint-every", 1)
C.check(r.returncode == 0, f"stopped train run: {r.stderr[-300:]}")
r = run(*swap(tr, "--label-smoothing", "0.2"), "--resume")
C.check(r.returncode == 2 and "--label-smoothing 0.2 differs from the run's 0.1" in r.stderr,
        f"train --resume with another --label-smoothing: {r.stderr}")
r = run(*swap(tr, "--lr", "1e-4"), "--resume")
C.check(r.returncode == 2 and "--lr 0.0001 differs from the run's 0.001" in r.stderr, f"train --resume --lr: {r.stderr}")
r = run(*tr, "--no-flip", "--resume")
C.check(r.returncode == 2 and "--no-flip" in r.stderr, f"train --resume --no-flip: {r.stderr}")
r = run(*tr, "--resume")
C.check(r.returncode == 0, f"train resume with the run's settings: {r.stderr[-300:]}")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
