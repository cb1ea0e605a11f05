"""The robustness gate: `vfrobust eval|compare ... --max-dr OP=X,...` (SPEC section 8).

Two random-weight CLIP folders (modelref), studied on a few shipped CIFAR-10 test images under
jpeg and gaussian_blur. The budgets are set from the studies' summary.json, read here:
  - eval with every budget above its op's mean DR exits 0; with one op's budget below it exits
    3 and the error line names that op and not the other; with both below, both;
  - compare of the two studies with a budget between their two means exits 3 naming the op and
    the model over budget, and 0 with a budget above both; --max-dr alone (no --out) works;
  - bad syntax (no '=', a budget outside 0..1 or not a number, an unknown op, an op twice, an
    empty item) and a budgeted op the study does not run exit 2 with one line naming the
    problem, and eval refuses those before it runs (no study folder is made).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as R  # noqa: E402
from vfr_testlib import BIN, SRC, Checker  # noqa: E402

C = Checker("ref_gate")
tmp = tempfile.mkdtemp(prefix="vfr_gate_")
DEMO = os.path.join(SRC, "data", "cifar10-demo", "test")
OPS = "jpeg,gaussian_blur"


def run(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)


def eval_args(model, out, *extra):
    return ["eval", "--model", model, "--data", DEMO, "--per-class", 1, "--ops", OPS,
            "--levels", 3, "--threads", 2, "--out", out, *extra]


models, studies, means = [], [], []
for seed in (1, 2):
    cfg = R.clip_config(32, 2, 2, 64, 8, 32, 16, text=(32, 1, 2, 64))
    d = os.path.join(tmp, f"model{seed}")
    R.write_hf_folder(d, cfg, R.clip_preprocessor(32, 32), R.randomize(R.build_model(cfg), seed).eval())
    out = os.path.join(tmp, f"study{seed}")
    r = run(*eval_args(d, out))
    if not C.check(r.returncode == 0, f"eval {seed}: exit {r.returncode}: {r.stderr[-800:]}"):
        C.finish()
    s = json.load(open(os.path.join(out, "summary.json")))
    means.append({e["op"]: e["dr"]["mean"] for e in s["per_op"]})
    models.append(d)
    studies.append(out)
j0, b0 = means[0]["jpeg"], means[0]["gaussian_blur"]
C.check(0 < j0 < 1 and 0 < b0 < 1, f"mean DRs {j0}, {b0} in (0, 1)")


def budget(j, b):
    return f"jpeg={j:.6f},gaussian_blur={b:.6f}"


def gate_eval(tag, spec, want, over, fine):
    out = os.path.join(tmp, "gate-" + tag)
    r = run(*eval_args(models[0], out, "--max-dr", spec))
    C.check(r.returncode == want, f"eval --max-dr {spec}: exit {r.returncode}, want {want}: {r.stderr[-500:]}")
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    for op in over:
        C.check(op in last and "over budget" in last, f"eval {tag}: last line names {op}: {last}")
    for op in fine:
        C.check(op not in last, f"eval {tag}: last line does not name {op}: {last}")
    C.check(os.path.exists(os.path.join(out, "summary.json")), f"eval {tag}: the study is written")


gate_eval("pass", budget(j0 * 1.01 + 1e-6, b0 * 1.01 + 1e-6), 0, [], [])
gate_eval("jpeg", budget(j0 * 0.99, b0 * 1.01 + 1e-6), 3, ["jpeg"], ["gaussian_blur"])
gate_eval("both", budget(j0 * 0.99, b0 * 0.99), 3, ["jpeg", "gaussian_blur"], [])
gate_eval("blur-only", f"gaussian_blur={b0 * 0.99:.6f}", 3, ["gaussian_blur"], ["jpeg"])

# compare: a budget between the two studies' jpeg means
j1 = means[1]["jpeg"]
lo, hi = sorted((j0, j1))
worse = 0 if j0 > j1 else 1
if C.check(hi - lo > 1e-5, f"the two models' jpeg DRs differ ({j0}, {j1})"):
    mid = (lo + hi) / 2
    r = run("compare", *studies, "--max-dr", f"jpeg={mid:.8f}")
    C.check(r.returncode == 3, f"compare --max-dr jpeg={mid}: exit {r.returncode}, want 3: {r.stderr[-500:]}")
    lines = r.stderr.strip().splitlines()
    over = [ln for ln in lines if ln.startswith("compare: over budget: jpeg")]
    name = json.load(open(os.path.join(studies[worse], "summary.json")))["model"]
    C.check(len(over) == 1 and over[0].endswith(" " + name), f"compare names the one model over budget: {lines}")
    C.check("jpeg" in lines[-1] and "gaussian_blur" not in lines[-1], f"compare's last line: {lines[-1]}")
    r = run("compare", *studies, "--max-dr", f"jpeg={hi * 1.01 + 1e-6:.8f}", "--out", os.path.join(tmp, "cmp"))
    C.check(r.returncode == 0, f"compare within budget: exit {r.returncode}: {r.stderr[-500:]}")
    C.check(os.path.exists(os.path.join(tmp, "cmp", "report.html")), "compare --out with a passing gate writes")

# bad usage: exit 2, one line naming the problem, nothing run
bad = [("jpeg", "not OP=X"), ("jpeg=1.5", "not a number in 0..1"), ("jpeg=x", "not a number in 0..1"),
       ("jpeg=", "not a number in 0..1"), ("nosuchop=0.1", "unknown op"),
       ("jpeg=0.1,jpeg=0.2", "two budgets"), ("jpeg=0.1,,gaussian_blur=0.2", "not OP=X"),
       ("jpeg=0.1,", "ends with a comma"), ("brightness=0.1", "not among the ops")]
for k, (spec, why) in enumerate(bad):
    out = os.path.join(tmp, f"bad{k}")
    r = run(*eval_args(models[0], out, "--max-dr", spec))
    err = r.stderr.strip().splitlines()
    C.check(r.returncode == 2 and len(err) == 1 and why in err[0] and err[0].startswith("vfrobust: "),
            f"eval --max-dr {spec!r}: exit {r.returncode}, want 2 and one line with {why!r}: {err}")
    C.check(not os.path.exists(out), f"eval --max-dr {spec!r}: refused before the run")
    if why == "not among the ops":
        r = run("compare", *studies, "--max-dr", spec)
    else:
        r = run("compare", *studies, "--max-dr", spec, "--markdown")
    C.check(r.returncode == 2 and why in r.stderr and not r.stdout,
            f"compare --max-dr {spec!r}: exit {r.returncode}, want 2 with {why!r}: {r.stderr[-300:]}")

shutil.rmtree(tmp, True)
C.finish()
