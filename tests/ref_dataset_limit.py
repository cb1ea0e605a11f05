"""`--limit N` without `--per-class` keeps a stratified, seeded sample: every class its share
of N in proportion to its size (largest remainders, recomputed here), a seeded choice inside
each class (the same --seed keeps the same images, another seed others), never simply the
first N in sorted order."""
import collections
import csv
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_dataset_limit")
tmp = tempfile.mkdtemp(prefix="vfr_limit_")
model = os.path.join(tmp, "model")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=2).eval())
data = os.path.join(tmp, "data")
sizes = {"airplane": 12, "cat": 6, "ship": 6}
for c, n in sizes.items():
    os.makedirs(os.path.join(data, c))
    for k in range(n):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k:02d}.jpg"))
listing = [f"{c}/{k:02d}.jpg" for c in sorted(sizes) for k in range(sizes[c])]


def sample(limit, seed, extra=()):
    out = os.path.join(tmp, f"out_{limit}_{seed}_{len(extra)}")
    r = subprocess.run([BIN, "eval", "--model", model, "--data", data, "--out", out, "--ops", "jpeg", "--levels", "2",
                        "--limit", str(limit), "--seed", str(seed), *extra], capture_output=True, text=True)
    C.check(r.returncode == 0, f"eval --limit {limit}: {r.stderr[-300:]}")
    with open(os.path.join(out, "embeddings", "images.csv"), newline="") as f:
        return [row["image"] for row in csv.DictReader(f)]


def hamilton(limit):
    """Largest-remainder shares of limit; the classes left with equal remainders are ties."""
    total = sum(sizes.values())
    q = {c: limit * n / total for c, n in sizes.items()}
    base = {c: int(v) for c, v in q.items()}
    return base, sorted(q, key=lambda c: -(q[c] - base[c])), limit - sum(base.values())


for limit in (8, 6, 5):
    got = sample(limit, 3)
    per = collections.Counter(n.split("/")[0] for n in got)
    base, by_rem, left = hamilton(limit)
    C.check(len(got) == limit, f"--limit {limit} keeps {len(got)}")
    C.check(all(base[c] <= per[c] <= base[c] + 1 for c in sizes) and sum(per[c] - base[c] for c in sizes) == left,
            f"--limit {limit}: per-class counts {dict(per)} are the proportional shares {base} (+{left})")
    C.check(got == [n for n in listing if n in got], "the kept images stay in dataset order")
    C.check(got != listing[:limit], f"--limit {limit} is not the first {limit}: {got}")
C.check(dict(collections.Counter(n.split("/")[0] for n in sample(8, 3))) == {"airplane": 4, "cat": 2, "ship": 2},
        "12/6/6 images, --limit 8: 4, 2, 2")
a, b, c2 = sample(8, 3), sample(8, 3, ("--threads", "1")), sample(8, 4)
C.check(a == b, "the same seed keeps the same images")
C.check(a != c2, "another seed keeps other images")
C.check(sample(30, 3) == listing, "a limit above the count keeps everything")
pc = sample(4, 3, ("--per-class", "2"))
C.check(pc == ["airplane/00.jpg", "airplane/01.jpg", "cat/00.jpg", "cat/01.jpg"], f"--per-class with --limit: {pc}")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
