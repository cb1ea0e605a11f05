"""A study's identity across --resume, reuse and concurrency: results follow the image (its
name, size and modification time) and the settings, never its position in the listing; an
output folder holds one study; two runs never share a folder. Each resumed output is compared
byte for byte with a fresh run on the same inputs."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_study_integrity")
tmp = tempfile.mkdtemp(prefix="vfr_integrity_")
OUTPUTS = ["per_image.csv", "curves.csv", "summary.json", "embeddings/clean.npy", "embeddings/brightness.npy",
           "embeddings/gaussian_noise.npy", "embeddings/images.csv"]


def run(args, **kw):
    return subprocess.run([BIN] + args, capture_output=True, text=True, **kw)


def same_outputs(a, b):
    for f in OUTPUTS:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if not (os.path.exists(pa) and os.path.exists(pb)) or open(pa, "rb").read() != open(pb, "rb").read():
            print(f"  differs: {f}")
            return False
    return True


def cifar(c, k):
    return os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg")


model_dir = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model_dir, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=3).eval())

data = os.path.join(tmp, "data")
classes = ["airplane", "cat", "ship"]
for c in classes:
    os.makedirs(os.path.join(data, c))
    for k in range(3):
        shutil.copy(cifar(c, k), os.path.join(data, c, f"{k}.jpg"))
blob = open(cifar("cat", 5), "rb").read()
with open(os.path.join(data, "cat", "broken.jpg"), "wb") as f:
    f.write(blob[: len(blob) // 3])
common = ["--model", model_dir, "--levels", "2", "--ops", "brightness,gaussian_noise", "--seed", "5", "--threads", "1"]

out = os.path.join(tmp, "out")
r = run(["eval"] + common + ["--data", data, "--out", out])
C.check(r.returncode == 0, f"first run: {r.stderr[-800:]}")

# ---- add, remove, replace and fix images, then --resume ---------------------------------------
shutil.copy(cifar("cat", 7), os.path.join(data, "cat", "7.jpg"))            # added (sorts between 2 and broken)
os.remove(os.path.join(data, "ship", "1.jpg"))                              # removed
shutil.copy(cifar("airplane", 6), os.path.join(data, "airplane", "0.jpg"))  # replaced
with open(os.path.join(data, "cat", "broken.jpg"), "wb") as f:              # fixed
    f.write(blob)
r = run(["eval"] + common + ["--data", data, "--out", out, "--resume"])
C.check(r.returncode == 0, f"resume after changes: {r.stderr[-800:]}")
C.check("7 reused, 1 new, 2 changed, 1 removed" in r.stderr, f"the run says what it reused and recomputed: {r.stderr[-400:]}")
fresh = os.path.join(tmp, "fresh")
r = run(["eval"] + common + ["--data", data, "--out", fresh])
C.check(r.returncode == 0 and same_outputs(out, fresh), "resumed outputs after add/remove/replace/fix equal a fresh run's")
C.check(len(os.listdir(os.path.join(out, "work"))) == len(os.listdir(os.path.join(fresh, "work"))) == 10,
        "work/ keeps only the current images' results")

# another --per-class on resume, then another --data altogether
r = run(["eval"] + common + ["--data", data, "--out", out, "--resume", "--per-class", "1"])
fresh1 = os.path.join(tmp, "fresh1")
r2 = run(["eval"] + common + ["--data", data, "--out", fresh1, "--per-class", "1"])
C.check(r.returncode == 0 and r2.returncode == 0 and same_outputs(out, fresh1), "resume with another --per-class")
other = os.path.join(tmp, "other")
for c in classes:
    os.makedirs(os.path.join(other, c))
    for k in range(3):
        shutil.copy(cifar(c, 10 + k), os.path.join(other, c, f"{k}.jpg"))
r = run(["eval"] + common + ["--data", other, "--out", out, "--resume"])
C.check(r.returncode == 0 and "0 reused, 6 new, 3 changed, 0 removed" in r.stderr,
        f"another --data with the same file names reuses nothing: {r.stderr[-300:]}")
fresh2 = os.path.join(tmp, "fresh2")
r2 = run(["eval"] + common + ["--data", other, "--out", fresh2])
C.check(r2.returncode == 0 and same_outputs(out, fresh2), "resume onto another --data equals a fresh run")

# ---- one study per folder: an earlier run's outputs do not survive -----------------------------
for rel in ("downstream.json", "predictions.csv", "figures/old_plot.svg", "embeddings/jpeg.npy"):
    os.makedirs(os.path.dirname(os.path.join(fresh2, rel)), exist_ok=True)
    with open(os.path.join(fresh2, rel), "w") as f:
        f.write("{}")
r = run(["eval"] + common + ["--data", other, "--out", fresh2])
C.check(r.returncode == 0, f"eval into an earlier run's folder: {r.stderr[-400:]}")
m = re.search(r"removed (\d+) output files of an earlier run", r.stderr)
C.check(m is not None and int(m.group(1)) >= 13, f"the run says what it removed (the 4 planted, 9 of the study and "
        f"the report's figures): {r.stderr[-400:]}")
for rel in ("downstream.json", "predictions.csv", "figures/old_plot.svg", "embeddings/jpeg.npy"):
    C.check(not os.path.exists(os.path.join(fresh2, rel)), f"{rel} of an earlier run is removed")
C.check(same_outputs(fresh2, out), "the study written over an earlier one is the same study")

# ---- two runs on one folder --------------------------------------------------------------------
big = os.path.join(tmp, "big")
for c in classes:
    os.makedirs(os.path.join(big, c))
    for k in range(12):
        shutil.copy(cifar(c, k), os.path.join(big, c, f"{k}.jpg"))
shared = os.path.join(tmp, "shared")
slow = ["--model", model_dir, "--levels", "6", "--seed", "5", "--threads", "1"]
first = subprocess.Popen([BIN, "eval"] + slow + ["--data", big, "--out", shared], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
lock = os.path.join(shared, ".vfrobust.lock")
for _ in range(200):
    if os.path.exists(lock) and os.path.getsize(lock) > 0:
        break
    time.sleep(0.05)
second = run(["eval"] + common + ["--data", data, "--out", shared])
still_running = first.poll() is None
first_err = first.communicate()[1]
C.check(still_running, "the first run was still going when the second started")
C.check(second.returncode == 1 and f"pid {first.pid}" in second.stderr and socket.gethostname() in second.stderr
        and second.stderr.count("\n") == 1, f"a second run on a busy folder is refused naming the holder: {second.stderr}")
C.check(first.returncode == 0, f"the first run is unharmed: {first_err[-400:]}")
solo = os.path.join(tmp, "solo")
r = run(["eval"] + slow + ["--data", big, "--out", solo])
C.check(r.returncode == 0 and all(open(os.path.join(shared, f), "rb").read() == open(os.path.join(solo, f), "rb").read()
                                  for f in ("per_image.csv", "summary.json", "embeddings/clean.npy")),
        "the folder holds the first run's study alone")

# a lock left by a run that is gone (a pid that no longer exists on this host) is taken over
dead = subprocess.Popen(["true"])
dead.wait()
with open(lock, "w") as f:
    f.write(f"pid {dead.pid} on host {socket.gethostname()}\n")
r = run(["eval"] + slow + ["--data", big, "--out", shared, "--resume"])
C.check(r.returncode == 0 and "36 reused" in r.stderr, f"a stale lock is taken over: {r.stderr[-300:]}")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
