"""Dataset statistics, histograms and robustness curves against NumPy.

numpy.mean, numpy.std (ddof=0), numpy.median, numpy.percentile (default 'linear' method),
numpy.histogram(values, bins, range=(0, 1)) and numpy.nanmean/nanstd are the references.
"""
import ctypes

import numpy as np

from vfr_testlib import Checker, abi, load_lib


Err, Stats = abi.vfr_error, abi.vfr_stats


lib = load_lib()
lib.vfr_stats_compute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Stats),
                                  ctypes.POINTER(Err)]
lib.vfr_quantile.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_double,
                             ctypes.POINTER(ctypes.c_double), ctypes.POINTER(Err)]
lib.vfr_histogram01.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                ctypes.POINTER(ctypes.c_long), ctypes.POINTER(Err)]
lib.vfr_curve.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(Err)]

ck = Checker("ref_metrics_stats")
rng = np.random.default_rng(7)


def close(a, b, rel=1e-13):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or a == b


def datasets():
    for n in [1, 2, 3, 4, 5, 10, 11, 99, 1000, 12345]:
        yield f"uniform n={n}", rng.uniform(0, 1, n)
        yield f"beta n={n}", rng.beta(0.5, 8, n)  # skewed like real DR values
    yield "ties", np.repeat(rng.uniform(0, 1, 7), 13)
    yield "constant", np.full(50, 0.25)
    yield "tiny values", rng.uniform(0, 1e-9, 500)
    yield "edges", np.array([i / 10 for i in range(11)] * 3 + [0.3, 0.7, 0.30000000000000004])


worst = {}
cases = 0
for name, x in datasets():
    x = np.ascontiguousarray(x, dtype=np.float64)
    st, e = Stats(), Err()
    rc = lib.vfr_stats_compute(x.ctypes.data, len(x), ctypes.byref(st), ctypes.byref(e))
    if not ck.check(rc == 0, f"{name}: {e.message.decode()}"):
        continue
    ref = dict(mean=np.mean(x), std=np.std(x), median=np.median(x), p10=np.percentile(x, 10),
               p90=np.percentile(x, 90), min=x.min(), max=x.max())
    for key, want in ref.items():
        got = getattr(st, key)
        # std of a constant set: NumPy's rounding may leave ~1e-17, ours too; compare absolutely
        tol_abs = 1e-15 * max(np.abs(x).max(), 1e-300) if key == "std" else 0
        ok = close(got, want) or abs(got - want) <= tol_abs
        ck.check(ok, f"{name}: {key} {got!r} vs NumPy {want!r}")
        if want != 0:
            worst[key] = max(worst.get(key, 0), abs(got - want) / abs(want))
    for q in [0, 0.01, 0.25, 0.333, 0.5, 0.9, 0.999, 1]:
        out = ctypes.c_double()
        lib.vfr_quantile(x.ctypes.data, len(x), q, ctypes.byref(out), ctypes.byref(e))
        want_q = np.quantile(x, q)
        ck.check(close(out.value, want_q), f"{name}: quantile {q} {out.value!r} vs {want_q!r}")
        worst["quantile"] = max(worst.get("quantile", 0), abs(out.value - want_q) / max(abs(want_q), 1e-300))
    for bins in [1, 3, 10, 20, 50, 100]:
        counts = np.zeros(bins, dtype=np.int_)
        outside = ctypes.c_long()
        y = np.concatenate([x, [-0.5, 1.5, 1.0, 0.0]])
        lib.vfr_histogram01(y.ctypes.data, len(y), bins, counts.ctypes.data, ctypes.byref(outside),
                            ctypes.byref(e))
        want, _ = np.histogram(y, bins=bins, range=(0, 1))
        ck.check(np.array_equal(counts, want) and outside.value == 2,
                 f"{name}: histogram with {bins} bins differs from NumPy")
    cases += 1
print(f"stats vs NumPy: {cases} data sets, worst relative errors: " +
      ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items())))

# Values exactly on the edges i/bins, and one ulp either side, for every bin count.
edge_cases = 0
for bins in range(1, 101):
    edges = np.linspace(0, 1, bins + 1)
    y = np.concatenate([edges, np.nextafter(edges, -1), np.nextafter(edges, 2), np.arange(bins) / bins])
    counts = np.zeros(bins, dtype=np.int_)
    outside = ctypes.c_long()
    lib.vfr_histogram01(y.ctypes.data, len(y), bins, counts.ctypes.data, ctypes.byref(outside),
                        ctypes.byref(Err()))
    want, _ = np.histogram(y, bins=bins, range=(0, 1))
    ck.check(np.array_equal(counts, want), f"edges with {bins} bins: {counts} vs {want}")
    ck.check(outside.value == len(y) - want.sum(), f"edges with {bins} bins: outside count")
    edge_cases += 1
print(f"histogram edge values: {edge_cases} bin counts, values on and one ulp beside every edge")

# Robustness curve: per-level mean and population std, NaN = missing.
for n_img, m in [(1, 1), (5, 3), (200, 10), (1000, 7)]:
    c = rng.uniform(0.2, 1, (n_img, m))
    c[rng.uniform(size=c.shape) < 0.1] = np.nan
    if n_img > 1:
        c[:, 0] = np.nan  # a level with no value at all
    mean, std = np.zeros(m), np.zeros(m)
    cnt = np.zeros(m, dtype=np.intc)
    rc = lib.vfr_curve(c.ctypes.data, n_img, m, mean.ctypes.data, std.ctypes.data, cnt.ctypes.data,
                       ctypes.byref(Err()))
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_mean, want_std = np.nanmean(c, axis=0), np.nanstd(c, axis=0)
    want_cnt = (~np.isnan(c)).sum(axis=0)
    same_nan = np.array_equal(np.isnan(mean), np.isnan(want_mean))
    ok = rc == 0 and same_nan and np.array_equal(cnt, want_cnt)
    fin = ~np.isnan(want_mean)
    ok = ok and np.allclose(mean[fin], want_mean[fin], rtol=1e-13, atol=0)
    ok = ok and np.allclose(std[fin], want_std[fin], rtol=1e-12, atol=1e-15)
    ck.check(ok, f"curve {n_img} x {m}: mean/std/count differ from numpy.nanmean/nanstd")
ck.finish()
