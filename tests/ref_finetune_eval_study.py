"""Fine-tuning's robustness evaluation agrees with the study: `vfrobust finetune --eval-data`
reports, per op, the mean DR of f (before) and f' (after) over the evaluation images; the same
images, ops, levels and seed through `vfrobust eval` on the original folder and on the folder
fine-tuning wrote must give the same mean DR (summary.json's per_op dr.mean, and the mean of
per_image.csv's rows recomputed here) within 1e-6 relative.

The ops include a seeded noise op (gaussian_noise: the variant's seed must be the study's, of
the image's name and row), a lossy op and an op whose domain starts at its identity
(gaussian_blur 0: the study reuses the clean embedding there). The evaluation images are a
seeded stratified sample (--eval-limit / --limit with the same seed). Uses the bundled model
and images only.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import BIN, SRC, Checker  # noqa: E402

CK = Checker("ref_finetune_eval_study")
MODEL = os.path.join(SRC, "models", "clip-vit-tiny-patch4-cifar10")
DATA = os.path.join(SRC, "data", "cifar10-demo")
OPS = "jpeg:90..10,gaussian_blur:0..2,gaussian_noise"
N_OPS, LEVELS, LIMIT, SEED = 3, 4, 12, 7
tmp = tempfile.mkdtemp(prefix="vfr_ft_eval_study_")


def run(args):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=900)
    CK.check(p.returncode == 0, f"{args[0]}: exit {p.returncode}: {p.stderr.strip()}")
    return p.returncode == 0


def study_means(out):
    """per op (in --ops order): summary.json's mean DR and per_image.csv's mean."""
    s = json.load(open(os.path.join(out, "summary.json")))
    acc = {}
    for r in csv.DictReader(open(os.path.join(out, "per_image.csv"), newline="")):
        acc.setdefault(r["op"], []).append(float(r["dr"]))
    return [(o["op"], o["dr"]["mean"], sum(acc[o["op"]]) / len(acc[o["op"]]), o["n"]) for o in s["per_op"]]


def main():
    ft = os.path.join(tmp, "ft")
    ok = run(["finetune", "--model", MODEL, "--data", os.path.join(DATA, "train"), "--limit", 16, "--batch", 8,
              "--ops", "jpeg", "--eval-data", os.path.join(DATA, "test"), "--eval-limit", LIMIT, "--eval-levels",
              LEVELS, "--eval-ops", OPS, "--seed", SEED, "--threads", 2, "--quiet", "--out", ft])
    if not ok:
        CK.finish()
    ev = json.load(open(os.path.join(ft, "finetune.json")))["evaluation"]
    CK.check(ev["images"] == LIMIT, f"{ev['images']} evaluation images, want {LIMIT}")
    worst = 0.0
    for tag, folder in (("before", MODEL), ("after", ft)):
        out = os.path.join(tmp, tag)
        if not run(["eval", "--model", folder, "--data", os.path.join(DATA, "test"), "--limit", LIMIT, "--levels",
                    LEVELS, "--ops", OPS, "--seed", SEED, "--threads", 2, "--out", out]):
            continue
        got = list(ev[tag]["mean_dr"].values())
        want = study_means(out)
        if not CK.check(len(got) == N_OPS and len(want) == N_OPS, f"{tag}: ops {ev[tag]['mean_dr']} vs {want}"):
            continue
        for g, (op, mean, recomputed, n) in zip(got, want):
            rel = max(abs(g - mean), abs(g - recomputed)) / abs(mean)
            worst = max(worst, rel)
            CK.check(n == LIMIT and rel <= 1e-6,
                     f"{tag} {op}: fine-tuning's mean DR {g} vs the study's {mean} (per_image.csv {recomputed}, "
                     f"n {n})")
            print(f"{tag} {op}: fine-tuning {g:.9f}, study {mean:.9f}, relative difference {rel:.1e}")
    b, a = list(ev["before"]["mean_dr"].values()), list(ev["after"]["mean_dr"].values())
    CK.check(b != a, "before and after agree exactly: the tuned model was not evaluated")
    print(f"worst relative difference {worst:.1e}")
    shutil.rmtree(tmp)
    CK.finish()


main()
