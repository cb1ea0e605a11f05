"""Minimum enclosing ball and per-image robustness metrics against SciPy and NumPy.

References, none of which uses vfrobust's algorithm:
  - SciPy SLSQP on the PRIMAL problem (minimise t subject to ||p_j - c||^2 <= t), in the
    coordinates of the points' SVD: an upper bound max_j ||p_j - c_scipy||;
  - for n <= 30 also SLSQP on the DUAL over the simplex: a lower bound sqrt(f(a_scipy));
  - closed forms (regular simplex, antipodal pairs, arcs of a great circle, n = 1, 2);
  - NumPy for R_cs, R_ed and the cosines.
Our own answer is checked with NumPy too: the weights are a simplex vector, the centre is
sum w_i p_i, every point lies in the ball, and sqrt(sum_i w_i ||p_i - c||^2) (a lower bound
by weak duality, whatever produced w) is within 1e-9 of the radius.
Then the five properties of SPEC section 3, on random embeddings.
"""
import ctypes
import itertools
import time

import numpy as np
from scipy.optimize import minimize

from vfr_testlib import Checker, abi, load_lib


Err, MebResult, Robustness = abi.vfr_error, abi.vfr_meb_result, abi.vfr_robustness


lib = load_lib()
lib.vfr_meb.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                        ctypes.POINTER(MebResult), ctypes.POINTER(Err)]
lib.vfr_meb_result_free.argtypes = [ctypes.POINTER(MebResult)]
lib.vfr_robustness_compute.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                       ctypes.c_int, ctypes.POINTER(Robustness),
                                       ctypes.c_void_p, ctypes.POINTER(Err)]
lib.vfr_robustness_compute_f32.argtypes = lib.vfr_robustness_compute.argtypes

ck = Checker("ref_metrics_scipy")
rng = np.random.default_rng(20260601)


def meb(P):
    P = np.ascontiguousarray(P, dtype=np.float64)
    n, d = P.shape
    r, e = MebResult(), Err()
    rc = lib.vfr_meb(P.ctypes.data, n, d, ctypes.byref(r), ctypes.byref(e))
    if rc != 0:
        raise RuntimeError(e.message.decode())
    out = dict(radius=r.radius, dual_radius=r.dual_radius, error_bound=r.error_bound,
               iterations=r.iterations, fallback=r.used_fallback,
               support=np.array(r.support[:r.support_size]),
               weights=np.array(r.weights[:n]), centre=np.array(r.centre[:d]))
    lib.vfr_meb_result_free(ctypes.byref(r))
    return out


def robustness(clean, perturbed, f32=False):
    dt = np.float32 if f32 else np.float64
    clean = np.ascontiguousarray(clean, dtype=dt)
    perturbed = np.ascontiguousarray(perturbed, dtype=dt)
    m, d = perturbed.shape
    cos = np.zeros(m)
    r, e = Robustness(), Err()
    fn = lib.vfr_robustness_compute_f32 if f32 else lib.vfr_robustness_compute
    rc = fn(clean.ctypes.data, perturbed.ctypes.data, m, d, ctypes.byref(r), cos.ctypes.data,
            ctypes.byref(e))
    if rc != 0:
        raise RuntimeError(e.message.decode())
    return r.r_cs, r.r_ed, r.dr, cos


def reduced(P):
    """Centred points in the coordinates of their SVD (rank r), scaled to unit size."""
    P = P - P.mean(axis=0)
    U, S, _ = np.linalg.svd(P, full_matrices=False)
    if S[0] == 0:
        return np.zeros((len(P), 1)), 1.0
    r = int((S > S[0] * 1e-13).sum())
    X = U[:, :r] * S[:r]
    scale = np.abs(X).max()
    return X / scale, scale


def scipy_primal_radius(P):
    """min t s.t. ||x_j - c||^2 <= t by SLSQP; returns max_j ||p_j - c|| (an upper bound)."""
    X, scale = reduced(P)
    n, r = X.shape
    jac_t = np.zeros(r + 1)
    jac_t[-1] = 1

    def cons(z):
        return z[-1] - np.sum((X - z[:-1]) ** 2, axis=1)

    def cons_jac(z):
        J = np.empty((n, r + 1))
        J[:, :-1] = 2 * (X - z[:-1])
        J[:, -1] = 1
        return J

    z0 = np.zeros(r + 1)
    z0[-1] = np.sum(X ** 2, axis=1).max() * 1.01
    res = minimize(lambda z: z[-1], z0, jac=lambda z: jac_t, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": cons, "jac": cons_jac}],
                   options={"ftol": 1e-16, "maxiter": 500})
    return np.sqrt(np.sum((X - res.x[:-1]) ** 2, axis=1).max()) * scale


def scipy_dual_radius(P):
    """max_a sum a_i G_ii - a^T G a over the simplex by SLSQP: sqrt of it (a lower bound)."""
    X, scale = reduced(P)
    n = len(X)
    G = X @ X.T
    b = np.diag(G)
    res = minimize(lambda a: a @ G @ a - b @ a, np.full(n, 1.0 / n), jac=lambda a: 2 * G @ a - b,
                   method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1,
                                 "jac": lambda a: np.ones(n)}],
                   options={"ftol": 1e-16, "maxiter": 1000})
    a = np.clip(res.x, 0, None)
    a /= a.sum()
    c = a @ X
    return np.sqrt(max(a @ np.sum((X - c) ** 2, axis=1), 0.0)) * scale


def check_own_certificate(P, res, what):
    """NumPy checks of our answer that hold whatever algorithm produced it."""
    w, c, R = res["weights"], res["centre"], res["radius"]
    ok = ck.check(w.min() >= 0 and abs(w.sum() - 1) <= 1e-12, f"{what}: weights not a simplex vector")
    c_np = w @ P
    # NumPy's own rounding: coordinates carry an absolute error of a few ulps of max |p|.
    ulps = 16 * np.finfo(float).eps * np.abs(P).max()
    ok &= ck.check(np.abs(c_np - c).max() <= ulps, f"{what}: centre != sum w_i p_i "
                   f"({np.abs(c_np - c).max():.2e})")
    dist = np.linalg.norm(P - c_np, axis=1)
    ok &= ck.check(dist.max() <= R * (1 + 1e-12) + ulps,
                   f"{what}: a point lies outside the ball ({dist.max() - R:.2e})")
    lower = np.sqrt(w @ dist ** 2)  # weak duality: a lower bound on the optimum
    ok &= ck.check(R - lower <= 1e-9 and res["error_bound"] <= 1e-9,
                   f"{what}: duality gap {R - lower:.2e} (reported {res['error_bound']:.2e})")
    ok &= ck.check(set(res["support"].tolist()) == set(np.nonzero(w > 0)[0].tolist()),
                   f"{what}: support set != positive weights")
    return R - lower


def unit_rows(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def random_orthogonal(d):
    Q, Rq = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(Rq))


def point_set(kind, n, d):
    if kind == "gauss":
        return rng.standard_normal((n, d))
    if kind == "clusters":
        centres = rng.standard_normal((4, d)) * 3
        return centres[rng.integers(0, 4, n)] + 0.05 * rng.standard_normal((n, d))
    if kind == "aniso":
        scales = np.geomspace(1e3, 1e-4, d)
        return rng.standard_normal((n, d)) * scales
    if kind.startswith("sphere"):  # unit vectors perturbed around a centre, as embeddings
        eps = float(kind[6:])
        c = unit_rows(rng.standard_normal((1, d)))
        return unit_rows(c + eps * rng.standard_normal((n, d)) / np.sqrt(d))
    if kind == "lowdim":  # an affine subspace of dimension 3
        return rng.standard_normal((n, 3)) @ rng.standard_normal((3, d)) + rng.standard_normal(d)
    if kind == "duplicates":
        base = rng.standard_normal((max(1, n // 3), d))
        return base[rng.integers(0, len(base), n)]
    raise ValueError(kind)


# ---- 1. MEB against SciPy on random point sets -----------------------------------------
worst_vs_scipy = 0.0
worst_gap = 0.0
worst_bracket = 0.0
cases = 0
t_ours = 0.0
t0 = time.time()
configs = [(1, 2), (2, 3), (3, 2), (5, 2), (10, 3), (30, 10), (60, 60), (100, 100), (200, 512),
           (300, 1536), (256, 1024), (40, 1536), (120, 20)]
kinds = ["gauss", "clusters", "aniso", "sphere1e-1", "sphere1e-3", "sphere1e-6", "lowdim",
         "duplicates"]
for (n, d) in configs:
    for kind in kinds:
        if n >= 200 and kind not in ("sphere1e-1", "sphere1e-6", "gauss", "lowdim"):
            continue  # keep the run short; the large sizes cover the embedding-like sets
        P = point_set(kind, n, d)
        what = f"meb {kind} n={n} d={d}"
        ts = time.perf_counter()
        res = meb(P)
        t_ours += time.perf_counter() - ts
        gap = check_own_certificate(P, res, what)
        if gap >= worst_gap:
            worst_gap, worst_gap_case = gap, f"{what} (R={res['radius']:.3g})"
        ck.check(res["fallback"] == 0, f"{what}: needed the fallback")
        up = scipy_primal_radius(P)
        R = res["radius"]
        ck.check(R <= up + 1e-9, f"{what}: ours {R!r} > SciPy's upper bound {up!r}")
        ck.check(abs(R - up) <= 1e-9, f"{what}: ours {R!r} vs SciPy {up!r}")
        if abs(R - up) >= worst_vs_scipy:
            worst_vs_scipy, worst_vs_scipy_case = abs(R - up), f"{what} (R={R:.3g})"
        if n <= 30:
            lo = scipy_dual_radius(P)
            ulps = 16 * np.finfo(float).eps * np.abs(P).max()
            ck.check(R >= lo - 1e-12 * R - ulps, f"{what}: ours {R!r} < SciPy's lower bound {lo!r}")
            worst_bracket = max(worst_bracket, up - lo)
        cases += 1
print(f"MEB vs SciPy: {cases} random sets, worst |ours - SciPy primal| = {worst_vs_scipy:.2e} "
      f"[{worst_vs_scipy_case}], worst own duality gap = {worst_gap:.2e} [{worst_gap_case}], widest SciPy bracket (n<=30) = {worst_bracket:.2e}, "
      f"ours {t_ours * 1e3:.1f} ms in all, test {time.time() - t0:.1f} s")

# ---- 2. MEB known answers ---------------------------------------------------------------
worst_known = 0.0
known = 0


def known_case(P, R_exact, what, tol=1e-12):
    global worst_known, known
    res = meb(P)
    check_own_certificate(P, res, what)
    err = abs(res["radius"] - R_exact)
    worst_known = max(worst_known, err)
    known += 1
    ck.check(err <= tol, f"{what}: radius {res['radius']!r} vs exact {R_exact!r}")
    return res


for n, d in [(2, 2), (3, 3), (10, 10), (50, 64), (256, 1024), (300, 300)]:
    Q = random_orthogonal(d)
    S = np.eye(n, d) @ Q  # n orthonormal rows: a regular simplex with edge sqrt(2)
    res = known_case(S, np.sqrt((n - 1) / n), f"regular simplex n={n} d={d}")
    ck.check(np.abs(res["weights"] - 1.0 / n).max() <= 1e-12, f"regular simplex n={n}: weights not 1/n")
for d in [2, 3, 100, 1536]:
    u = unit_rows(rng.standard_normal((1, d)))[0]
    known_case(np.stack([u, -u]), 1.0, f"antipodal pair d={d}")
    others = unit_rows(rng.standard_normal((20, d)))
    known_case(np.vstack([others[:7], u, others[7:], -u]), 1.0, f"antipodal pair + 20 unit vectors d={d}")
for d in [2, 5, 768]:
    Q = random_orthogonal(d)[:2]  # a great circle
    for theta in [1e-6, 0.3, 2.0, 3.1]:
        ang = np.concatenate([[0, theta], rng.uniform(0, theta, 30)])
        P = np.stack([np.cos(ang), np.sin(ang)], axis=1) @ Q
        known_case(P, np.sin(theta / 2), f"arc of {theta} rad d={d}")
    ang = np.array([0, 2 * np.pi / 3, 4 * np.pi / 3, 0.5, 1.0])
    known_case(np.stack([np.cos(ang), np.sin(ang)], axis=1) @ Q, 1.0, f"great circle d={d}")
for d in [1, 4, 1536]:
    p = rng.standard_normal((1, d))
    res = known_case(p, 0.0, f"n=1 d={d}", tol=0)
    ck.check(np.array_equal(res["centre"], p[0]), f"n=1 d={d}: centre is not the point")
    q = rng.standard_normal((2, d))
    known_case(q, np.linalg.norm(q[0] - q[1]) / 2, f"n=2 d={d}")
    known_case(np.repeat(p, 17, axis=0), 0.0, f"17 equal points d={d}", tol=0)
    base = rng.standard_normal((6, d))
    R6 = meb(base)["radius"]
    known_case(np.vstack([base, base[::-1], base[2:4]]), R6, f"duplicated points d={d}")
    tiny = p + 1e-9 * rng.standard_normal((2, d))
    known_case(tiny, np.linalg.norm(tiny[0] - tiny[1]) / 2, f"two points 1e-9 apart d={d}",
               tol=1e-20)
for d in range(2, 9):  # cube vertices: 2^d cospherical points, massively affinely dependent
    cube = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    Q = random_orthogonal(d)
    known_case(cube @ Q + rng.standard_normal(d), np.sqrt(d) / 2, f"cube vertices d={d}")
    for nudge in [1e-13, 1e-11, 1e-9]:  # nearly cospherical: the exchange steps at work
        P = np.vstack([cube, cube[:3]]) + nudge * rng.standard_normal((2 ** d + 3, d))
        res = meb(P @ Q)
        check_own_certificate(P @ Q, res, f"cube d={d} nudged by {nudge}")
        ck.check(res["fallback"] == 0, f"cube d={d} nudged by {nudge}: needed the fallback")
        ck.check(abs(res["radius"] - np.sqrt(d) / 2) <= 10 * nudge * np.sqrt(d),
                 f"cube d={d} nudged by {nudge}: radius {res['radius']!r}")
    cross = np.vstack([np.eye(d), -np.eye(d)]) @ Q
    known_case(cross, 1.0, f"cross-polytope d={d}")
print(f"MEB known answers: {known} cases, worst error {worst_known:.2e}")

# ---- 3. per-image metrics against NumPy -------------------------------------------------
worst_rcs = worst_red = worst_cos = worst_dr = worst_sqrt = 0.0
mcases = 0
for d in [8, 512, 768, 1024]:
    for eps in [1e-4, 1e-2, 0.3, 3.0]:
        for m in [1, 5, 10]:
            z = rng.standard_normal(d)
            raw0 = z * rng.uniform(0.1, 50)
            rawk = (z + eps * rng.standard_normal((m, d))) * rng.uniform(0.1, 50, (m, 1))
            r_cs, r_ed, dr, cos = robustness(raw0, rawk)
            z0 = raw0 / np.linalg.norm(raw0)
            zk = rawk / np.linalg.norm(rawk, axis=1, keepdims=True)
            cos_np = zk @ z0
            rcs_np = np.max((1 - cos_np) / 2)
            red_np = np.max(np.linalg.norm(zk - z0, axis=1)) / 2
            dr_np = scipy_primal_radius(np.vstack([z0, zk]))
            worst_rcs = max(worst_rcs, abs(r_cs - rcs_np))
            worst_red = max(worst_red, abs(r_ed - red_np))
            worst_cos = max(worst_cos, np.abs(cos - cos_np).max())
            worst_dr = max(worst_dr, abs(dr - dr_np))
            worst_sqrt = max(worst_sqrt, abs(r_ed - np.sqrt(r_cs)))
            what = f"metrics d={d} eps={eps} m={m}"
            ck.check(abs(r_cs - rcs_np) <= 1e-12, f"{what}: r_cs {r_cs!r} vs {rcs_np!r}")
            ck.check(abs(r_ed - red_np) <= 1e-12, f"{what}: r_ed {r_ed!r} vs {red_np!r}")
            ck.check(np.abs(cos - cos_np).max() <= 1e-12, f"{what}: cosines differ")
            ck.check(dr <= dr_np + 1e-9 and abs(dr - dr_np) <= 1e-9, f"{what}: dr {dr!r} vs SciPy {dr_np!r}")
            ck.check(abs(r_ed - np.sqrt(r_cs)) <= 1e-12, f"{what}: r_ed != sqrt(r_cs)")
            # R_ed <= DR (a ball holding z0 and z_k has radius >= half their distance) and
            # DR <= 2 R_ed (the ball of radius 2 R_ed about z0 holds all of S)
            ck.check(r_ed <= dr + 1e-12 and dr <= 2 * r_ed + 1e-12, f"{what}: not R_ed <= DR <= 2 R_ed")
            # float32 input, computed in double: same as the float64 path on the same values
            f = robustness(raw0.astype(np.float32), rawk.astype(np.float32), f32=True)
            g = robustness(raw0.astype(np.float32).astype(np.float64),
                           rawk.astype(np.float32).astype(np.float64))
            ck.check(f[:3] == g[:3], f"{what}: float32 path differs from float64 on equal values")
            mcases += 1
print(f"metrics vs NumPy/SciPy: {mcases} cases, worst |r_cs| {worst_rcs:.2e}, |r_ed| {worst_red:.2e}, "
      f"|cos| {worst_cos:.2e}, |dr - SciPy| {worst_dr:.2e}, |r_ed - sqrt(r_cs)| {worst_sqrt:.2e}")

# ---- 4. the five properties --------------------------------------------------------------
worst_rot = 0.0
worst_mono = 0.0
prop_cases = 0
for trial in range(40):
    d = int(rng.choice([2, 3, 16, 512, 1024]))
    m = int(rng.integers(1, 12))
    eps = float(rng.choice([1e-6, 1e-3, 0.1, 1.0, 10.0]))
    z = rng.standard_normal(d)
    raw0 = z * rng.uniform(0.5, 2)
    rawk = z + eps * rng.standard_normal((m, d))
    r_cs, r_ed, dr, _ = robustness(raw0, rawk)
    what = f"property trial {trial} d={d} m={m} eps={eps}"
    # bounded
    ck.check(all(0 <= v <= 1 for v in (r_cs, r_ed, dr)), f"{what}: not in [0, 1]")
    # monotone: the first j levels are a subset of the first j+1
    prev = (0.0, 0.0, 0.0)
    for j in range(1, m + 1):
        cur = robustness(raw0, rawk[:j])[:3]
        ck.check(all(c >= p for c, p in zip(cur[:2], prev[:2])), f"{what}: r_cs/r_ed not monotone at {j}")
        ck.check(cur[2] >= prev[2] - 1e-12, f"{what}: dr not monotone at {j} ({cur[2]!r} < {prev[2]!r})")
        worst_mono = max(worst_mono, prev[2] - cur[2])
        prev = cur
    # rotation invariance under a random orthogonal map
    Q = random_orthogonal(d)
    rot = robustness(Q @ raw0, rawk @ Q.T)[:3]
    diff = max(abs(a - b) for a, b in zip(rot, (r_cs, r_ed, dr)))
    worst_rot = max(worst_rot, diff)
    ck.check(diff <= 1e-9, f"{what}: not rotation invariant ({diff:.2e})")
    # optimal: all equal gives exactly 0, any difference gives > 0
    same = np.repeat(raw0[None, :], m, axis=0) * (2.0 ** rng.integers(-3, 4, (m, 1)))
    ck.check(robustness(raw0, same)[:3] == (0.0, 0.0, 0.0), f"{what}: equal embeddings do not give 0")
    nudged = same.copy()
    nudged[-1, int(rng.integers(0, d))] *= 1 + 1e-12
    ck.check(all(v > 0 for v in robustness(raw0, nudged)[:3]), f"{what}: distinct embeddings give 0")
    # worst: an antipodal pair in S gives DR = 1
    u = rng.standard_normal(d)
    anti = np.vstack([rawk, u, -3 * u])
    a_cs, a_ed, a_dr, _ = robustness(raw0, anti)
    ck.check(abs(a_dr - 1) <= 1e-12, f"{what}: dr {a_dr!r} with an antipodal pair")
    a2 = robustness(raw0, np.vstack([rawk, -raw0]))[:3]
    ck.check(all(abs(v - 1) <= 1e-12 for v in a2), f"{what}: z(P) = -z(x) does not give 1 for all three")
    prop_cases += 1
# The antipodal pair excluding z(x): orthogonal to z(x), R_cs = 1/2, R_ed = sqrt(1/2) < 1 = DR.
e = np.eye(3)
r_cs, r_ed, dr, _ = robustness(e[0], np.stack([e[1], -e[1]]))
ck.check(abs(r_cs - 0.5) <= 1e-15 and abs(r_ed - np.sqrt(0.5)) <= 1e-15 and abs(dr - 1) <= 1e-15,
         f"antipodal pair excluding z(x): r_cs={r_cs}, r_ed={r_ed}, dr={dr}")
print(f"properties: {prop_cases} random trials, worst rotation difference {worst_rot:.2e}, "
      f"worst monotonicity violation {worst_mono:.2e}; antipodal pair without z(x): "
      f"r_cs={r_cs:.3f} r_ed={r_ed:.3f} dr={dr:.3f}")

# ---- 5. bad input is an error, not a crash ----------------------------------------------
e = Err()
r = MebResult()
ck.check(lib.vfr_meb(None, 3, 3, ctypes.byref(r), ctypes.byref(e)) != 0, "meb accepted NULL points")
bad = np.array([[0.0, np.nan]])
ck.check(lib.vfr_meb(bad.ctypes.data, 1, 2, ctypes.byref(r), ctypes.byref(e)) != 0
         and b"non-finite" in e.message, "meb accepted NaN")
try:
    robustness(np.zeros(4), np.ones((2, 4)))
    ck.check(False, "a zero embedding was accepted")
except RuntimeError as ex:
    ck.check("zero" in str(ex), f"zero embedding message: {ex}")
ck.finish()
