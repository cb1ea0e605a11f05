"""gaussian_noise: reproducible bytes and the right distribution.

- The same seed gives the same bytes with 1 and with 2 OpenMP threads (separate processes).
- Different seeds give different noise; sigma 0 is the identity.
- On a mid-grey image (no clipping) out - x follows round(N(0, 255 sigma)): chi-square of
  the integer histogram against the rounded normal's probabilities (SciPy), mean and
  standard deviation within sampling error, and no correlation between neighbours.
"""
import ctypes
import hashlib
import os
import subprocess
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfr_testlib as T  # noqa: E402


lib = T.load_lib()
lib.vfr_gaussian_noise.argtypes = [T.IMG_P, ctypes.c_double, ctypes.c_uint64, T.IMG_P, T.ERR_P]


def noise(arr, sigma, seed):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    img = T.image_view(arr)
    out, err = T.abi.vfr_image(), T.abi.vfr_error()
    rc = lib.vfr_gaussian_noise(ctypes.byref(img), sigma, seed, ctypes.byref(out), ctypes.byref(err))
    if rc:
        raise RuntimeError(err.message.decode())
    return T.image_take(lib, out)


def test_image(w=613, h=411):
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def emit():
    """Child mode: print the digest of the noisy test image for this thread count."""
    out = noise(test_image(), 0.08, 12345)
    print(hashlib.sha256(out.tobytes()).hexdigest())


def digest_with_threads(k):
    env = dict(os.environ, OMP_NUM_THREADS=str(k))
    r = subprocess.run([sys.executable, __file__, "--emit"], env=env, capture_output=True,
                       text=True, timeout=120)
    return r.stdout.strip()


def main():
    ck = T.Checker("ref_perturb_noise")
    d1, d2, d3 = digest_with_threads(1), digest_with_threads(2), digest_with_threads(3)
    print(f"digest with 1/2/3 threads: {d1[:16]} {d2[:16]} {d3[:16]}")
    ck.check(len(d1) == 64 and d1 == d2 == d3, "same seed must give the same bytes for any thread count")

    img = test_image()
    a, b = noise(img, 0.05, 1), noise(img, 0.05, 2)
    ck.check(np.array_equal(a, noise(img, 0.05, 1)), "same seed, same process: same bytes")
    frac_diff = float(np.mean(a != b))
    print(f"seeds 1 vs 2: {frac_diff:.3f} of the values differ")
    ck.check(frac_diff > 0.9, f"different seeds must differ (only {frac_diff:.3f} of values do)")
    ck.check(np.array_equal(noise(img, 0.0, 5), img), "sigma 0 must be the identity")

    grey = np.full((512, 512, 3), 128, dtype=np.uint8)
    for sigma in (0.01, 0.05, 0.08):  # 128 is > 6 sigma away: no clipping
        d = noise(grey, sigma, 99).astype(np.int64).ravel() - 128
        s = 255.0 * sigma
        n = d.size
        ck.check(d.min() > -128 and d.max() < 127, f"sigma {sigma}: clipping reached")
        mean, std = d.mean(), d.std()
        std_expect = np.sqrt(s * s + 1.0 / 12.0)  # rounding adds a uniform(-1/2, 1/2)
        mean_tol = 5 * std_expect / np.sqrt(n)
        std_tol = 5 * std_expect / np.sqrt(2 * n)
        ck.check(abs(mean) < mean_tol, f"sigma {sigma}: mean {mean:.4f} beyond {mean_tol:.4f}")
        ck.check(abs(std - std_expect) < std_tol,
                 f"sigma {sigma}: std {std:.4f} vs {std_expect:.4f} (tol {std_tol:.4f})")
        # Histogram of the integers against P(k) = Phi((k+1/2)/s) - Phi((k-1/2)/s); tails pooled.
        k = np.arange(-int(4 * s) - 1, int(4 * s) + 2)
        p = stats.norm.cdf((k + 0.5) / s) - stats.norm.cdf((k - 0.5) / s)
        p[0] = stats.norm.cdf((k[0] + 0.5) / s)
        p[-1] = stats.norm.sf((k[-1] - 0.5) / s)
        obs = np.array([np.sum(d <= k[0])] + [np.sum(d == v) for v in k[1:-1]] + [np.sum(d >= k[-1])])
        keep = p * n >= 5
        exp_ = p[keep] * n
        obs_k = obs[keep].astype(float)
        exp_ *= obs_k.sum() / exp_.sum()
        chi = stats.chisquare(obs_k, exp_)
        lag = np.corrcoef(d[:-1], d[1:])[0, 1]
        print(f"sigma {sigma}: n={n} mean {mean:+.4f} std {std:.4f} (expect {std_expect:.4f}) "
              f"chi2 p={chi.pvalue:.3g} lag-1 r={lag:+.5f}")
        ck.check(chi.pvalue > 1e-4, f"sigma {sigma}: histogram is not the rounded normal (p={chi.pvalue:.3g})")
        ck.check(abs(lag) < 5 / np.sqrt(n), f"sigma {sigma}: neighbours correlated (r={lag:.5f})")
    ck.finish()


if __name__ == "__main__":
    if "--emit" in sys.argv:
        emit()
    else:
        main()
