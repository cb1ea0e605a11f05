"""Errors before work: every input a run needs is checked before the first image (duplicate
ops, the contact sheet's limits, seeds beyond 64 bits, unwritable outputs, classes that match
nothing), and files of a data folder that cannot be used (named pipes, devices, GIF/TIFF/BMP)
are listed and never opened."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_validate_first")
tmp = tempfile.mkdtemp(prefix="vfr_validate_")


def run(*args, timeout=120):
    t0 = time.perf_counter()
    try:
        r = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, timeout
    return r, time.perf_counter() - t0


model = os.path.join(tmp, "model")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32, text=(32, 1, 2, 64))
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=2).eval())
data = os.path.join(tmp, "data")
for c in ("airplane", "cat", "ship"):
    os.makedirs(os.path.join(data, c))
    for k in range(10):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
ev = ["eval", "--model", model, "--data", data, "--threads", 1]

# ---- duplicate ops and count limits: refused at once ---------------------------------------
for ops, dup in (("jpeg,jpeg", "jpeg"), ("editing9,all", "jpeg"), ("brightness:0.5..1.5,contrast,brightness:0.5..1.5",
                                                                    "brightness")):
    r, dt = run(*ev, "--ops", ops, "--out", os.path.join(tmp, "dup"))
    C.check(r.returncode == 2 and "appears twice" in r.stderr and dup in r.stderr and r.stderr.count("\n") == 1,
            f"--ops {ops}: {r.stderr}")
    C.check(dt < 1.0, f"--ops {ops} refused in {dt:.2f} s (under a second)")
    C.check(not os.path.exists(os.path.join(tmp, "dup", "work")), f"--ops {ops}: nothing was computed")
r, dt = run(*ev, "--levels", 65, "--out", os.path.join(tmp, "lv"))
C.check(r.returncode == 2 and "--levels 65" in r.stderr and dt < 1.0, f"more levels than samples.png shows: {r.stderr}")
r, _ = run(*ev, "--ops", "jpeg:10..90,jpeg:20..30", "--levels", 2, "--out", os.path.join(tmp, "twodomains"))
C.check(r.returncode == 0, f"one op over two domains is not a duplicate: {r.stderr[-300:]}")

# ---- seeds beyond 64 bits are refused, not saturated -----------------------------------------
r, _ = run(*ev, "--seed", "18446744073709551616", "--out", os.path.join(tmp, "seed"))
C.check(r.returncode == 2 and "18446744073709551616" in r.stderr and "18446744073709551615" in r.stderr,
        f"--seed 2^64: {r.stderr}")
r, _ = run("downstream", "--model", model, "--protocol", "knn", "--train", data, "--test", data, "--seed",
           "99999999999999999999999", "--out", os.path.join(tmp, "seed2"))
C.check(r.returncode == 2 and "--seed" in r.stderr, f"downstream --seed beyond 64 bits: {r.stderr}")
small = os.path.join(tmp, "small")
os.makedirs(small)
shutil.copy(os.path.join(data, "cat", "0.jpg"), os.path.join(small, "0.jpg"))
r, _ = run("eval", "--model", model, "--data", small, "--seed", "18446744073709551615", "--ops", "gaussian_noise",
           "--levels", 2, "--out", os.path.join(tmp, "seedmax"))
C.check(r.returncode == 0 and json.load(open(os.path.join(tmp, "seedmax", "summary.json")))["seed"] == -1,
        f"--seed 2^64-1 is accepted (json stores it as a signed 64-bit integer): {r.stderr[-300:]}")

# ---- a named pipe, a device link and unsupported formats in the data folder ------------------
os.mkfifo(os.path.join(data, "cat", "pipe.jpg"))
os.symlink("/dev/zero", os.path.join(data, "ship", "zero.png"))
Image.new("RGB", (16, 16)).save(os.path.join(data, "airplane", "a.gif"))
Image.new("RGB", (16, 16)).save(os.path.join(data, "airplane", "b.tiff"))
Image.new("RGB", (16, 16)).save(os.path.join(data, "ship", "c.bmp"))
out = os.path.join(tmp, "fifo")
r, dt = run(*ev, "--ops", "jpeg", "--levels", 2, "--out", out, timeout=120)
C.check(r is not None, "eval does not block on a named pipe in the data folder")
if r is not None:
    C.check(r.returncode == 0, f"eval with a pipe in the folder: {r.stderr[-400:]}")
    C.check("cat/pipe.jpg: a named pipe" in r.stderr and "airplane/a.gif: unsupported format (GIF)" in r.stderr,
            f"the unused files are listed: {r.stderr[-600:]}")
    s = json.load(open(os.path.join(out, "summary.json")))
    ign = {f["file"]: f["reason"] for f in s["images"].get("ignored_files", [])}
    C.check(ign == {"airplane/a.gif": "unsupported format (GIF)", "airplane/b.tiff": "unsupported format (TIFF)",
                    "cat/pipe.jpg": "a named pipe", "ship/c.bmp": "unsupported format (BMP)",
                    "ship/zero.png": "a character device"}, f"summary.json lists them: {ign}")
    C.check(s["images"]["total"] == 30, f"30 images used: {s['images']['total']}")
r, _ = run("embed", "--model", model, "--out", os.path.join(tmp, "e.npy"), os.path.join(data, "cat", "pipe.jpg"),
           timeout=60)
C.check(r is not None and r.returncode != 0 and "not a regular file" in r.stderr,
        f"embed refuses a named pipe instead of blocking: {r and r.stderr}")
os.remove(os.path.join(data, "cat", "pipe.jpg"))
os.remove(os.path.join(data, "ship", "zero.png"))

# ---- outputs and class names checked before the first image ---------------------------------
trained = os.path.join(tmp, "trained")
r, _ = run("train", "--model", model, "--data", data, "--out", trained, "--epochs", 1, "--batch", 10, "--threads", 1)
C.check(r.returncode == 0, f"train a head: {r.stderr[-300:]}")
r, dt = run("classify", "--model", trained, "--data", data, "--out", os.path.join(tmp, "no", "such", "p.csv"))
C.check(r.returncode == 1 and "cannot write" in r.stderr and "p.csv" in r.stderr and r.stderr.count("\n") == 1,
        f"classify --out in a missing folder: {r.stderr}")
C.check("accuracy" not in r.stdout, "refused before classifying")
other = os.path.join(tmp, "other")
for c in ("dog", "frog"):
    os.makedirs(os.path.join(other, c))
    shutil.copy(os.path.join(DATA, "cifar10", "test", c, "0000.jpg"), os.path.join(other, c, "0.jpg"))
r, _ = run("classify", "--model", trained, "--data", other)
C.check(r.returncode == 2 and "none of its 2 classes" in r.stderr, f"classes that match no model label: {r.stderr}")
r, dt = run("downstream", "--model", model, "--protocol", "knn", "--train", data, "--test", other, "--ops", "jpeg",
            "--levels", 2, "--out", os.path.join(tmp, "ds"))
C.check(r.returncode in (1, 2) and "none of its 2 classes" in r.stderr and dt < 5,
        f"downstream: test classes that are no train class: {r.stderr}")
C.check(not os.path.exists(os.path.join(tmp, "ds", "work")), "downstream refused before the study")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
