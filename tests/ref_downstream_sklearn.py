"""Downstream classifiers and regressions against independent references.

- Linear probe vs scikit-learn's LogisticRegression(multi_class='multinomial', lbfgs) at the
  same C on the same data: objective values, coefficients and test accuracy, on overlapping
  Gaussian blobs and on fixed NumPy features of real CIFAR-10 images; with and without
  standardisation (sklearn's StandardScaler in a pipeline), and the validation-chosen C.
- k-NN (DINO weighting) vs a NumPy brute-force implementation: identical predictions,
  scores to 1e-12 relative.
- Regressions vs scipy.stats.linregress / np.corrcoef / np.polyfit to 1e-9.
"""
import ctypes as C
import glob
import os
import sys
import time
import warnings

import numpy as np
from scipy import stats
from scipy.special import logsumexp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfr_testlib  # noqa: E402

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


abi = vfr_testlib.abi
Error, ProbeParams, Probe = abi.vfr_error, abi.vfr_linear_probe_params, abi.vfr_linear_probe
KnnParams, LinearFit, DrBin = abi.vfr_knn_params, abi.vfr_linear_fit, abi.vfr_dr_bin
PerImage, AcrossOps = abi.vfr_per_image_regression, abi.vfr_across_ops_regression


lib = vfr_testlib.load_lib()
lib.vfr_linear_probe_default_params.restype = ProbeParams
lib.vfr_knn_default_params.restype = KnnParams
ck = vfr_testlib.Checker("ref_downstream_sklearn")
warnings.filterwarnings("ignore")  # sklearn's ConvergenceWarning / newton-cg line search notes


def ptr(a, ctype):
    return a.ctypes.data_as(C.POINTER(ctype))


def f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def i32(x):
    return np.ascontiguousarray(x, dtype=np.int32)


# ---- wrappers ---------------------------------------------------------------------------

def probe_fit(x, y, classes, c, standardize, tol=1e-10, grid=None, seed=0, max_iterations=20000):
    p = lib.vfr_linear_probe_default_params()
    p.c = c
    p.standardize = standardize
    p.gradient_tolerance = tol
    p.max_iterations = max_iterations
    p.seed = seed
    if grid is not None:
        g = np.ascontiguousarray(grid, dtype=np.float64)
        p.c_grid, p.c_grid_count = ptr(g, C.c_double), len(g)
    probe, err = Probe(), Error()
    x, y = f32(x), i32(y)
    rc = lib.vfr_linear_probe_fit(ptr(x, C.c_float), ptr(y, C.c_int), len(x), x.shape[1], classes,
                                  C.byref(p), C.byref(probe), C.byref(err))
    assert rc == 0, err.message.decode()
    w = np.ctypeslib.as_array(probe.weight, shape=(probe.class_count * probe.dim,)).reshape(
        probe.class_count, probe.dim).copy()
    b = np.ctypeslib.as_array(probe.bias, shape=(probe.class_count,)).copy()
    return probe, w, b


def probe_predict(probe, x):
    x = f32(x)
    out, err = np.zeros(len(x), dtype=np.int32), Error()
    rc = lib.vfr_linear_probe_predict(C.byref(probe), ptr(x, C.c_float), len(x), x.shape[1],
                                      ptr(out, C.c_int), C.byref(err))
    assert rc == 0, err.message.decode()
    return out


def probe_proba(probe, x):
    x = f32(x)
    out, err = np.zeros((len(x), probe.class_count)), Error()
    rc = lib.vfr_linear_probe_predict_proba(C.byref(probe), ptr(x, C.c_float), len(x), x.shape[1],
                                            ptr(out, C.c_double), C.byref(err))
    assert rc == 0, err.message.decode()
    return out


def knn(train, ytrain, classes, query, k=20, t=0.07):
    train, ytrain, query = f32(train), i32(ytrain), f32(query)
    pred, scores, err = np.zeros(len(query), dtype=np.int32), np.zeros((len(query), classes)), Error()
    p = KnnParams(k, t)
    rc = lib.vfr_knn_classify(ptr(train, C.c_float), ptr(ytrain, C.c_int), len(train), train.shape[1],
                              classes, ptr(query, C.c_float), len(query), C.byref(p),
                              ptr(pred, C.c_int), ptr(scores, C.c_double), C.byref(err))
    assert rc == 0, err.message.decode()
    return pred, scores


# ---- independent references (NumPy / SciPy / sklearn) ------------------------------------

def np_objective(x, y, w, b, c):
    """mean cross-entropy + ||W||^2 / (2 c n): sklearn's objective divided by c n."""
    x = x.astype(np.float64)
    z = x @ w.T + b
    n = len(x)
    return np.mean(logsumexp(z, axis=1) - z[np.arange(n), y]) + (w ** 2).sum() / (2 * c * n)


def np_gradient_norm(x, y, w, b, c):
    x = x.astype(np.float64)
    z = x @ w.T + b
    p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    p[np.arange(len(x)), y] -= 1
    gw = p.T @ x / len(x) + w / (c * len(x))
    gb = p.sum(0) / len(x)
    return max(np.abs(gw).max(), np.abs(gb).max())


def sk_fit(x, y, c, standardize, solver):
    """sklearn's fit, mapped to raw feature space with a centred intercept. lbfgs is sklearn's
    default solver (it stops on a relative decrease of 64 eps, short of the optimum on
    ill-conditioned problems); newton-cg at tol 1e-8 converges quadratically, its last step
    landing near the rounding floor (gradients ~1e-12; tighter tolerances only thrash)."""
    lr = LogisticRegression(C=c, multi_class="multinomial", solver=solver,
                            tol=1e-12 if solver == "lbfgs" else 1e-8,
                            max_iter=100000 if solver == "lbfgs" else 200)
    x = x.astype(np.float64)
    if not standardize:
        lr.fit(x, y)
        w, b = lr.coef_.copy(), lr.intercept_.copy()
        return lr, w, b - b.mean(), None
    model = make_pipeline(StandardScaler(), lr).fit(x, y)
    sc = model[0]
    w = lr.coef_ / sc.scale_
    b = lr.intercept_ - (lr.coef_ * (sc.mean_ / sc.scale_)).sum(1)
    return model, w, b - b.mean(), (sc.mean_, sc.scale_, lr.coef_, lr.intercept_)


def np_knn(train, ytrain, classes, query, k=20, t=0.07):
    """DINO's weighted k-NN, brute force in float64; ties to the lower train index/class."""
    tr = train.astype(np.float64)
    tr /= np.linalg.norm(tr, axis=1, keepdims=True)
    q = query.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    sims = q @ tr.T
    k = min(k, len(train))
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(sims, order, axis=1)
    scores = np.zeros((len(query), classes))
    for r in range(k):
        np.add.at(scores, (np.arange(len(query)), ytrain[order[:, r]]), np.exp(top[:, r] / t))
    return scores.argmax(1), scores


# ---- data --------------------------------------------------------------------------------

def blobs(rng, n, d, classes, spread):
    centres = rng.normal(size=(classes, d)) * spread
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    return f32(x * 3.0 + 1.5), y.astype(np.int32)  # offset and scale: standardisation matters


def cifar_features(root, per_class_train, per_class_test):
    """Fixed NumPy features: 16x16 box-downsampled RGB (768) through a fixed Gaussian random
    projection to 256 dims, plus an 8-bin-per-channel colour histogram (24)."""
    from PIL import Image
    classes = sorted(os.listdir(os.path.join(root, "train")))
    proj = np.random.default_rng(1234).normal(size=(768, 256)) / np.sqrt(768)

    def load(split, per_class):
        feats, labels = [], []
        for ci, cname in enumerate(classes):
            files = sorted(glob.glob(os.path.join(root, split, cname, "*.jpg")))[:per_class]
            for f in files:
                a = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255.0
                small = a.reshape(16, 2, 16, 2, 3).mean(axis=(1, 3)).reshape(-1)
                hist = np.concatenate([np.histogram(a[..., ch], bins=8, range=(0, 1))[0] / 1024.0
                                       for ch in range(3)])
                feats.append(np.concatenate([small @ proj, hist]))
                labels.append(ci)
        return f32(np.array(feats)), np.array(labels, dtype=np.int32)

    return load("train", per_class_train), load("test", per_class_test), len(classes)


# ---- linear probe ------------------------------------------------------------------------

def compare_probe(tag, xtr, ytr, xte, yte, classes, c, standardize):
    t0 = time.time()
    probe, w, b = probe_fit(xtr, ytr, classes, c, standardize, tol=1e-10)
    t_ours = time.time() - t0
    t0 = time.time()
    model_l, _, _, std_l = sk_fit(xtr, ytr, c, standardize, "lbfgs")
    t_sk = time.time() - t0
    t0 = time.time()
    model, wsk, bsk, sk_std = sk_fit(xtr, ytr, c, standardize, "newton-cg")
    t_nt = time.time() - t0
    acc_ours = (probe_predict(probe, xte) == yte).mean()
    acc_sk = (model_l.predict(xte.astype(np.float64)) == yte).mean()
    agree = (probe_predict(probe, xte) == model_l.predict(xte.astype(np.float64))).mean()
    if standardize:
        mean, scale, coef_s, icpt_s = sk_std
        xs = (xtr.astype(np.float64) - mean) / scale
        w_s = w * scale  # our raw-space weights mapped back to the standardised space
        b_s = b + (w * mean).sum(1)
        f_ours, f_sk = np_objective(xs, ytr, w_s, b_s, c), np_objective(xs, ytr, coef_s, icpt_s, c)
        f_lbfgs = np_objective(xs, ytr, std_l[2], std_l[3], c)
        g_ours = np_gradient_norm(xs, ytr, w_s, b_s, c)
        g_ref = np_gradient_norm(xs, ytr, coef_s, icpt_s, c)
    else:
        f_ours, f_sk = np_objective(xtr, ytr, w, b, c), np_objective(xtr, ytr, wsk, bsk, c)
        f_lbfgs = np_objective(xtr, ytr, model_l.coef_, model_l.intercept_, c)
        g_ours = np_gradient_norm(xtr, ytr, w, b, c)
        g_ref = np_gradient_norm(xtr, ytr, wsk, bsk, c)
        # our objective function agrees with the NumPy one at sklearn's solution
        fc = C.c_double()
        err = Error()
        wsk_c, bsk_c, x32, y32 = np.ascontiguousarray(wsk), np.ascontiguousarray(bsk), f32(xtr), i32(ytr)
        rc = lib.vfr_linear_probe_objective(ptr(x32, C.c_float), ptr(y32, C.c_int), len(x32), x32.shape[1],
                                            classes, ptr(wsk_c, C.c_double), ptr(bsk_c, C.c_double),
                                            C.c_double(c), C.byref(fc), C.byref(err))
        ck.check(rc == 0 and abs(fc.value - f_sk) <= 1e-12 * abs(f_sk),
                 f"{tag}: objective function {fc.value!r} vs NumPy {f_sk!r}")
    coef_err = np.abs(w - wsk).max() / np.abs(wsk).max()
    bias_err = np.abs(b - bsk).max() / max(np.abs(bsk).max(), 1e-12)
    proba = probe_proba(probe, xte)
    proba_err = np.abs(proba - model.predict_proba(xte.astype(np.float64))).max()
    print(f"  {tag}: C={c:g} std={standardize} test acc ours {acc_ours:.4f} sklearn-lbfgs {acc_sk:.4f} "
          f"(same prediction {agree:.4f}) | f ours {f_ours:.15f} newton-cg rel {(f_ours - f_sk) / f_sk:+.1e} "
          f"lbfgs rel {(f_ours - f_lbfgs) / f_lbfgs:+.1e} | vs newton-cg: coef {coef_err:.1e} "
          f"bias {bias_err:.1e} proba {proba_err:.1e} | grad ours {g_ours:.1e} ({probe.iterations} iters) newton-cg {g_ref:.1e} "
          f"| {t_ours:.2f}s, sklearn lbfgs {t_sk:.2f}s newton-cg {t_nt:.2f}s", flush=True)
    ck.check(probe.converged == 1, f"{tag}: converged")
    ck.check(abs(acc_ours - acc_sk) <= 0.005, f"{tag}: accuracy {acc_ours} vs sklearn {acc_sk}")
    ck.check(f_ours <= f_lbfgs * (1 + 1e-15), f"{tag}: objective {f_ours!r} above sklearn lbfgs's {f_lbfgs!r}")
    ck.check(abs(f_ours - f_sk) <= 1e-13 * abs(f_sk), f"{tag}: objective {f_ours!r} vs newton-cg {f_sk!r}")
    ck.check(g_ours <= 1e-9, f"{tag}: NumPy gradient norm at our solution {g_ours:.2e}")
    ck.check(coef_err <= 1e-5, f"{tag}: coefficients differ by {coef_err:.2e} (relative)")
    ck.check(bias_err <= 1e-5, f"{tag}: biases differ by {bias_err:.2e} (relative)")
    ck.check(proba_err <= 1e-6, f"{tag}: probabilities differ by {proba_err:.2e}")
    ck.check(np.abs(proba.sum(1) - 1).max() < 1e-12, f"{tag}: probabilities sum to 1")
    ck.check(np.array_equal(proba.argmax(1), probe_predict(probe, xte)), f"{tag}: predict = argmax proba")
    return probe, acc_ours


def test_probe_blobs():
    rng = np.random.default_rng(7)
    x, y = blobs(rng, 3000, 24, 5, spread=0.6)
    xtr, ytr, xte, yte = x[:2000], y[:2000], x[2000:], y[2000:]
    for c in (0.01, 1.0, 100.0):
        compare_probe("blobs", xtr, ytr, xte, yte, 5, c, standardize=0)
    for c in (0.01, 1.0):
        compare_probe("blobs", xtr, ytr, xte, yte, 5, c, standardize=1)
    # validation-chosen C: deterministic for a seed, and as good as sklearn at that C
    p1, w1, _ = probe_fit(xtr, ytr, 5, 0.0, 1, tol=1e-8, seed=3)
    p2, w2, _ = probe_fit(xtr, ytr, 5, 0.0, 1, tol=1e-8, seed=3)
    ck.check(p1.c == p2.c and np.array_equal(w1, w2), "validation choice is deterministic")
    ck.check(p1.c in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0) and 0 <= p1.validation_accuracy <= 1,
             f"chosen C {p1.c} from the default grid, validation accuracy {p1.validation_accuracy}")
    print(f"  blobs: validation chose C={p1.c:g} (validation accuracy {p1.validation_accuracy:.4f})")
    compare_probe("blobs-chosen", xtr, ytr, xte, yte, 5, p1.c, standardize=1)
    # a custom grid of one value is that value
    p3, _, _ = probe_fit(xtr, ytr, 5, 0.0, 1, tol=1e-8, grid=[0.5])
    ck.check(p3.c == 0.5, "one-value grid")
    for p in (p1, p2, p3):
        lib.vfr_linear_probe_free(C.byref(p))


def test_probe_and_knn_cifar():
    root = os.path.join(vfr_testlib.DATA, "cifar10")
    if not os.path.isdir(root):
        ck.check(False, f"{root}: CIFAR-10 not found")
        return
    t0 = time.time()
    (xtr, ytr), (xte, yte), classes = cifar_features(root, 300, 100)
    print(f"  cifar10: {len(xtr)} train, {len(xte)} test, {xtr.shape[1]} features "
          f"({time.time() - t0:.1f}s to load)", flush=True)
    t0 = time.time()
    probe, _, _ = probe_fit(xtr, ytr, classes, 0.0, 1, tol=1e-6, max_iterations=1000)  # defaults
    print(f"  cifar10: choosing C over 7 values took {time.time() - t0:.1f}s")
    print(f"  cifar10: validation chose C={probe.c:g} (validation accuracy {probe.validation_accuracy:.4f})")
    p, acc = compare_probe("cifar10", xtr, ytr, xte, yte, classes, probe.c, standardize=1)
    ck.check(acc > 0.25, f"cifar10 probe accuracy {acc} is well above chance (0.1)")
    lib.vfr_linear_probe_free(C.byref(p))
    lib.vfr_linear_probe_free(C.byref(probe))
    compare_probe("cifar10", xtr, ytr, xte, yte, classes, 0.1, standardize=0)

    t0 = time.time()
    pred, scores = knn(xtr, ytr, classes, xte)
    t_ours = time.time() - t0
    ref_pred, ref_scores = np_knn(xtr, ytr, classes, xte)
    same = (pred == ref_pred).sum()
    serr = np.abs(scores - ref_scores).max() / ref_scores.max()
    print(f"  cifar10 knn: {same}/{len(pred)} identical predictions, accuracy {(pred == yte).mean():.4f}, "
          f"max rel score diff {serr:.1e}, {t_ours:.2f}s", flush=True)
    ck.check(same == len(pred), f"cifar10 knn: {len(pred) - same} predictions differ from NumPy")
    ck.check(serr <= 1e-12, f"cifar10 knn: scores differ by {serr:.1e}")


def test_knn_synthetic():
    rng = np.random.default_rng(11)
    total = 0
    for (ntr, nq, d, classes, k, t) in [(5000, 700, 64, 10, 20, 0.07), (3000, 300, 8, 3, 20, 0.07),
                                        (15, 40, 5, 4, 20, 0.07), (500, 257, 33, 7, 1, 0.5),
                                        (2100, 260, 16, 6, 50, 0.02)]:
        x, y = blobs(rng, ntr + nq, d, classes, spread=0.4)
        pred, scores = knn(x[:ntr], y[:ntr], classes, x[ntr:], k, t)
        ref_pred, ref_scores = np_knn(x[:ntr], y[:ntr], classes, x[ntr:], k, t)
        serr = np.abs(scores - ref_scores).max() / ref_scores.max()
        ck.check(np.array_equal(pred, ref_pred),
                 f"knn n={ntr} k={k}: {(pred != ref_pred).sum()} predictions differ")
        ck.check(serr <= 1e-12, f"knn n={ntr} k={k}: scores differ by {serr:.1e}")
        total += len(pred)
    print(f"  knn synthetic: {total} queries over 5 configurations compared", flush=True)


# ---- regressions -------------------------------------------------------------------------

def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(b))


def check_fit(tag, fit, x, y):
    ref = stats.linregress(x, y)
    r = np.corrcoef(x, y)[0, 1]
    ok = (close(fit.slope, ref.slope) and close(fit.intercept, ref.intercept) and
          close(fit.pearson_r, ref.rvalue) and close(fit.pearson_r, r) and
          close(fit.r2, ref.rvalue ** 2) and fit.n == len(x))
    ck.check(ok, f"{tag}: ours slope {fit.slope!r} intercept {fit.intercept!r} r {fit.pearson_r!r} vs "
                 f"linregress {ref.slope!r} {ref.intercept!r} {ref.rvalue!r} corrcoef {r!r}")
    return max(abs(fit.slope - ref.slope), abs(fit.intercept - ref.intercept), abs(fit.pearson_r - r))


def test_regressions():
    rng = np.random.default_rng(5)
    worst = 0.0
    cases = 0
    for n, bins in [(1000, 10), (997, 10), (53, 7), (12, 20), (5000, 25)]:
        dr = rng.beta(2, 5, size=n)
        dr[rng.integers(0, n, size=n // 10)] = dr[0]  # ties across bin edges
        correct = (rng.uniform(size=n) < 1 / (1 + np.exp(-(2 - 6 * dr)))).astype(np.int32)
        out, err = PerImage(), Error()
        drc = np.ascontiguousarray(dr)
        rc = lib.vfr_per_image_regression_compute(ptr(drc, C.c_double), ptr(correct, C.c_int), n, bins,
                                                  C.byref(out), C.byref(err))
        if not ck.check(rc == 0, err.message.decode()):
            continue
        # reference bins: stable sort by DR, boundaries floor(j n / B)
        b = min(bins, n)
        order = np.argsort(dr, kind="stable")
        edges = (np.arange(b + 1) * n) // b
        mean_dr = np.array([dr[order[edges[j]:edges[j + 1]]].mean() for j in range(b)])
        acc = np.array([correct[order[edges[j]:edges[j + 1]]].mean() for j in range(b)])
        got = [out.bins[j] for j in range(out.bin_count)]
        ck.check(out.bin_count == b, f"bins {out.bin_count} vs {b}")
        ck.check(all(g.count == edges[j + 1] - edges[j] and close(g.mean_dr, mean_dr[j]) and
                     close(g.accuracy, acc[j]) and g.dr_min == dr[order[edges[j]]] and
                     g.dr_max == dr[order[edges[j + 1] - 1]] for j, g in enumerate(got)),
                 f"n={n}: bin contents")
        worst = max(worst, check_fit(f"n={n} binned", out.binned, mean_dr, acc))
        worst = max(worst, check_fit(f"n={n} raw", out.raw, dr, correct.astype(np.float64)))
        lib.vfr_per_image_regression_free(C.byref(out))
        cases += 1

    for n_ops, n_dom in [(9, 3), (15, 1), (4, 5)]:
        ops = np.repeat(rng.permutation(100)[:n_ops], n_dom).astype(np.int32)
        rng.shuffle(ops)
        mdr = rng.uniform(0.05, 0.6, size=len(ops))
        drop = 0.8 * mdr - 0.02 + rng.normal(scale=0.05, size=len(ops))
        out, err = AcrossOps(), Error()
        mdr_c, drop_c = np.ascontiguousarray(mdr), np.ascontiguousarray(drop)
        rc = lib.vfr_across_ops_regression_compute(ptr(ops, C.c_int), ptr(mdr_c, C.c_double),
                                                   ptr(drop_c, C.c_double), len(ops), C.byref(out),
                                                   C.byref(err))
        if not ck.check(rc == 0, err.message.decode()):
            continue
        worst = max(worst, check_fit(f"{n_ops} ops fit", out.fit, mdr, drop))
        errors = []
        for o in np.unique(ops):
            keep = ops != o
            slope, icpt = np.polyfit(mdr[keep], drop[keep], 1)
            errors.extend(np.abs(icpt + slope * mdr[~keep] - drop[~keep]))
        ck.check(close(out.loo_mae, np.mean(errors)) and out.loo_predictions == len(ops) and
                 out.loo_skipped_ops == 0,
                 f"{n_ops} ops: leave-one-op-out MAE {out.loo_mae!r} vs {np.mean(errors)!r}")
        worst = max(worst, abs(out.loo_mae - np.mean(errors)))
        cases += 1
    print(f"  regressions: {cases} cases vs linregress/corrcoef/polyfit, worst abs diff {worst:.1e}",
          flush=True)


if __name__ == "__main__":
    t_all = time.time()
    for test in (test_regressions, test_knn_synthetic, test_probe_blobs, test_probe_and_knn_cifar):
        t0 = time.time()
        test()
        print(f"{test.__name__}: {time.time() - t0:.1f}s", flush=True)
    print(f"total {time.time() - t_all:.1f}s")
    ck.finish()
