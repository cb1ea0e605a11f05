"""The Python package's metrics: robustness() and Study against the C library's own study
output (`vfrobust eval` on a random-weight model), against NumPy (R_cs, R_ed, cosines,
curves) and SciPy / a brute-force minimum enclosing ball (DR); errors on bad input; Ctrl-C
interrupting a long call."""
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from scipy.optimize import minimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
import python_testlib  # noqa: E402,F401
from vfr_testlib import BIN, DATA, SRC, Checker  # noqa: E402
import vfrobust  # noqa: E402

torch.set_num_threads(2)
C = Checker("ref_python_metrics")
tmp = tempfile.mkdtemp(prefix="vfr_pymetrics_")
rng = np.random.default_rng(16)


def normalise(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def meb_bruteforce(P):
    """Exact minimum enclosing ball radius of a few points: the smallest ball circumscribing
    some subset (centre in the subset's affine hull) that holds every point."""
    best = np.inf
    for k in range(1, len(P) + 1):
        for S in itertools.combinations(range(len(P)), k):
            Q = P[list(S)]
            A = Q[1:] - Q[0]
            c = Q[0]
            if k > 1:
                try:
                    lam = np.linalg.solve(A @ A.T, 0.5 * np.sum(A * A, axis=1))
                except np.linalg.LinAlgError:
                    continue
                c = Q[0] + A.T @ lam
            r = np.linalg.norm(Q[0] - c)
            if r < best and np.all(np.linalg.norm(P - c, axis=1) <= r * (1 + 1e-12) + 1e-15):
                best = r
    return best


def meb_scipy(P):
    """SLSQP on the primal: minimise t subject to ||p_j - c||^2 <= t (an upper bound)."""
    c0 = P.mean(axis=0)
    x0 = np.concatenate([c0, [np.max(np.sum((P - c0) ** 2, axis=1))]])
    cons = {"type": "ineq", "fun": lambda x: x[-1] - np.sum((P - x[:-1]) ** 2, axis=1),
            "jac": lambda x: np.hstack([2 * (P - x[:-1]), np.ones((len(P), 1))])}
    res = minimize(lambda x: x[-1], x0, jac=lambda x: np.eye(len(x))[-1], constraints=[cons],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return float(np.max(np.linalg.norm(P - res.x[:-1], axis=1)))


# ---- a study made by the C library (`vfrobust eval`) -------------------------------------------
model_dir = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
ref = modelref.randomize(modelref.build_model(cfg), seed=5).eval()
modelref.write_hf_folder(model_dir, cfg, modelref.clip_preprocessor(32, 32), ref)
data = os.path.join(tmp, "data")
for c in ["cat", "ship"]:
    os.makedirs(os.path.join(data, c))
    for k in range(3):
        shutil.copy(os.path.join(DATA, "cifar10", "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
study_dir = os.path.join(tmp, "study")
ops = "brightness,gaussian_noise,jpeg:q=30..90,jpeg:q=10..20"
r = subprocess.run([BIN, "eval", "--model", model_dir, "--data", data, "--ops", ops, "--levels", "4",
                    "--out", study_dir], capture_output=True, text=True)
if not C.check(r.returncode == 0, f"vfrobust eval: {r.stderr}"):
    C.finish()

s = vfrobust.Study(study_dir)
C.check(s.model == "tiny-clip" and len(s.images) == 6, f"Study: {s}")
C.check(list(s.images) == [f"{c}/{k}.jpg" for c in ["cat", "ship"] for k in range(3)], f"images {list(s.images)}")
C.check(list(s.labels) == ["cat"] * 3 + ["ship"] * 3, f"labels {list(s.labels)}")
C.check([o for o, _ in s.ops] == ["brightness", "gaussian_noise", "jpeg", "jpeg"], f"ops {s.ops}")
clean = np.load(os.path.join(study_dir, "embeddings", "clean.npy"))
C.check(np.array_equal(np.asarray(s.clean_embeddings()), clean), "clean_embeddings() is clean.npy")
# the library's read API agrees with the NumPy reading, row for row
for i in range(len(s.images)):
    rows = s.image_embeddings(i)
    want = np.concatenate([clean[i:i + 1]] + [np.asarray(s.embeddings(op, dom))[i] for op, dom in s.ops])
    C.check(np.array_equal(rows, want), f"image_embeddings({i}) differs from the .npy files")
    C.check(all(s.dr(i, j) == s.metric("dr", op, dom)[i] for j, (op, dom) in enumerate(s.ops)), f"dr({i}, j)")
for op, domain in s.ops:
    pert = np.asarray(s.embeddings(op, domain))
    C.check(pert.shape == (6, 4, clean.shape[1]), f"{op} {domain}: embeddings shape {pert.shape}")
    res, cos = vfrobust.robustness(clean, pert, with_cos=True)[:3], vfrobust.robustness(clean, pert, with_cos=True)[3]
    for name, got in zip(("r_cs", "r_ed", "dr"), res):
        C.check(np.array_equal(got, s.metric(name, op, domain)),
                f"{op} {domain} {name}: robustness() {got} != per_image.csv {s.metric(name, op, domain)}")
    # NumPy: R_cs, R_ed and the cosines from normalised float64 embeddings
    z0, zk = normalise(clean), normalise(pert)
    want_cos = np.einsum("nd,nkd->nk", z0, zk)
    want_rcs = np.max(np.sum((z0[:, None] - zk) ** 2, axis=2) / 4, axis=1)
    C.check(np.max(np.abs(cos - want_cos)) < 1e-12, f"{op}: cosines vs NumPy")
    C.check(np.max(np.abs(res[0] - want_rcs)) < 1e-12, f"{op}: R_cs vs NumPy")
    C.check(np.max(np.abs(res[1] - np.sqrt(want_rcs))) < 1e-9, f"{op}: R_ed vs NumPy")
    curve = s.curves[(op, domain)]
    C.check(np.max(np.abs(curve["mean_cos"] - want_cos.mean(axis=0))) < 1e-12 and
            np.array_equal(curve["n"], [6] * 4), f"{op} {domain}: curves.csv vs NumPy")
    for i in range(6):
        S = np.vstack([z0[i:i + 1], zk[i]])
        C.check(abs(res[2][i] - meb_bruteforce(S)) < 1e-9, f"{op} image {i}: DR vs brute force")
        C.check(abs(vfrobust.divergence_radius(np.vstack([clean[i:i + 1], pert[i]])) - res[2][i]) < 1e-12,
                f"{op} image {i}: divergence_radius of the rows equals robustness' DR")
try:
    s.embeddings("jpeg")
    C.check(False, "an op with two domains needs the domain")
except vfrobust.Error as e:
    C.check("domain" in str(e), f"ambiguous op: {e}")

# ---- float64 path, random cases against SciPy and brute force ----------------------------------
for n, d in [(3, 5), (5, 8), (6, 3), (7, 16)]:
    Z = rng.normal(size=(n, d))
    dr = vfrobust.divergence_radius(Z)
    zn = normalise(Z)
    C.check(abs(dr - meb_bruteforce(zn)) < 1e-9, f"DR ({n}, {d}) vs brute force")
    C.check(dr <= meb_scipy(zn) + 1e-9 and dr >= meb_scipy(zn) - 1e-6, f"DR ({n}, {d}) vs SciPy SLSQP")
    ball = vfrobust.minimum_enclosing_ball(Z)
    C.check(np.all(np.linalg.norm(Z - ball.centre, axis=1) <= ball.radius * (1 + 1e-12)), "the ball holds every point")
    C.check(abs(ball.radius - meb_bruteforce(Z)) < 1e-9 and ball.error_bound <= 1e-9, f"unnormalised ball ({n}, {d})")
    C.check(abs(vfrobust.divergence_radius(Z, normalize=False) - ball.radius) < 1e-15, "normalize=False")
N, m, d = 40, 5, 24
cl = rng.normal(size=(N, d))
pe = cl[:, None, :] + 0.3 * rng.normal(size=(N, m, d))
r64 = vfrobust.robustness(cl, pe)
r32 = vfrobust.robustness(cl.astype(np.float32), pe.astype(np.float32))
C.check(all(a.dtype == np.float64 and a.shape == (N,) for a in r64), "three float64 (N,) arrays")
C.check(np.max(np.abs(r64.dr - r32.dr)) < 1e-5, "float32 and float64 agree to float32 precision")
C.check(all(abs(r64.dr[i] - meb_scipy(np.vstack([normalise(cl[i:i + 1]), normalise(pe[i])]))) < 1e-6
            for i in range(5)), "robustness DR vs SciPy")
C.check(np.array_equal(vfrobust.robustness(cl, pe, threads=1).dr, r64.dr), "the thread count changes nothing")
C.check(np.array_equal(vfrobust.robustness(pe[:, 0], pe[:, 1:].copy()).dr,
                       vfrobust.robustness(np.ascontiguousarray(pe[:, 0]), pe[:, 1:]).dr), "non-contiguous input")
anti = np.array([[1.0, 0, 0], [-1.0, 0, 0]])
C.check(abs(vfrobust.divergence_radius(anti) - 1) < 1e-15, "an antipodal pair has DR 1")
C.check(vfrobust.divergence_radius(np.ones((4, 6))) < 1e-12, "equal rows have DR 0")
C.check(abs(vfrobust.divergence_radius(np.eye(4)) - np.sqrt(3 / 4)) < 1e-12, "the regular simplex: sqrt((n-1)/n)")

# ---- bad input -------------------------------------------------------------------------------
nan = cl.copy()
nan[3, 2] = np.nan
zero = cl.copy()
zero[1] = 0
for what, fn in [
    ("1-D Z", lambda: vfrobust.divergence_radius(np.ones(5))),
    ("empty Z", lambda: vfrobust.divergence_radius(np.ones((0, 5)))),
    ("string Z", lambda: vfrobust.divergence_radius([["a", "b"]])),
    ("complex Z", lambda: vfrobust.divergence_radius(np.ones((2, 2), complex))),
    ("ragged Z", lambda: vfrobust.divergence_radius([[1.0, 2.0], [3.0]])),
    ("zero row", lambda: vfrobust.divergence_radius(zero)),
    ("NaN in Z", lambda: vfrobust.divergence_radius(nan)),
    ("NaN in clean", lambda: vfrobust.robustness(nan, pe)),
    ("zero clean", lambda: vfrobust.robustness(zero, pe)),
    ("shape mismatch N", lambda: vfrobust.robustness(cl[:5], pe)),
    ("shape mismatch d", lambda: vfrobust.robustness(cl[:, :5], pe)),
    ("2-D perturbed", lambda: vfrobust.robustness(cl, cl)),
    ("study folder missing", lambda: vfrobust.Study(os.path.join(tmp, "absent"))),
    ("unknown metric", lambda: s.metric("xx", "brightness")),
    ("unknown op", lambda: s.metric("dr", "rotate")),
]:
    try:
        fn()
        C.check(False, f"{what}: no error")
    except vfrobust.Error as e:
        C.check(str(e) and "\n" not in str(e), f"{what}: message {e!r}")
    except Exception as e:  # noqa: BLE001
        C.check(False, f"{what}: {type(e).__name__} instead of vfrobust.Error: {e}")
broken = os.path.join(tmp, "broken")
shutil.copytree(study_dir, broken)
with open(os.path.join(broken, "per_image.csv"), "a") as f:
    f.write("tiny-clip,cat/9.jpg,brightness,0.5..1.5,zz,0,0\n")
try:
    vfrobust.Study(broken)
    C.check(False, "a damaged per_image.csv is an error")
except vfrobust.Error as e:
    C.check("per_image.csv" in str(e), f"damaged per_image.csv: {e}")

# ---- Ctrl-C interrupts a long robustness() ----------------------------------------------------
child = f"""
import sys, time
sys.path.insert(0, {os.path.join(SRC, 'python')!r})
import numpy as np, vfrobust
rng = np.random.default_rng(0)
N, m, d = 3000, 256, 128
c = rng.normal(size=(N, d)).astype(np.float32); p = (c[:, None] + rng.normal(size=(N, m, d)).astype(np.float32))
t = time.perf_counter(); vfrobust.robustness(c[:40], p[:40], threads=1); per = (time.perf_counter() - t) / 40
print("READY", per * N, flush=True)
try:
    vfrobust.robustness(c, p, threads=1)
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", time.perf_counter(), flush=True)
"""
proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                        env=dict(os.environ, OMP_NUM_THREADS="1"))
line = proc.stdout.readline().split()
expected = float(line[1]) if line and line[0] == "READY" else 0
time.sleep(0.3)
t_sig = time.perf_counter()
proc.send_signal(signal.SIGINT)
out = proc.communicate(timeout=120)[0]
t_exit = time.perf_counter()
C.check("INTERRUPTED" in out, f"Ctrl-C raised KeyboardInterrupt in robustness(): {out!r}")
C.check(t_exit - t_sig < min(1.0, expected / 2) and expected > 1.0,
        f"Ctrl-C stopped within {t_exit - t_sig:.2f} s a call that takes about {expected:.1f} s")
C.finish()
