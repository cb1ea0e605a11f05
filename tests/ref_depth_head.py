"""The depth head, the depth metrics and depth PNGs against independent references.

- vfr_depth_fit_* (closed-form ridge, streamed in batches) against NumPy's lstsq on the
  augmented system [Xc; sqrt(lambda) I] w = [yc; 0] built here (centred features): weights,
  bias and predictions within 1e-6 relative, on correlated features with a large common
  offset (the shifted sums must not lose precision), for several ridges, and ridge 0 against
  plain lstsq with an intercept column. Collinear features with ridge 0 are refused.
- vfr_depth_metrics_compute against NumPy on random predictions with invalid pixels, a mask
  and min/max depth: every metric to 1e-12 relative; no valid pixel gives NaN.
- Depth PNGs: vfr_depth_png_write read back with Pillow (16-bit grey, rounded values),
  vfr_depth_png_read of Pillow-written 16-bit and 8-bit PNGs, and a damaged file refused
  with one line naming it.
"""
import ctypes as C
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import Checker, load_lib  # noqa: E402

CK = Checker("ref_depth_head")
lib = load_lib()


class Error(C.Structure):
    _fields_ = [("code", C.c_int), ("message", C.c_char * 512)]


class Head(C.Structure):
    _fields_ = [("dim", C.c_int), ("weight", C.POINTER(C.c_double)), ("bias", C.c_double),
                ("ridge", C.c_double), ("lambda_", C.c_double), ("n", C.c_int64)]


class Metrics(C.Structure):
    _fields_ = [(k, C.c_double) for k in ("rmse", "mse", "abs_rel", "log10", "delta1", "delta2", "delta3")] + \
               [("n", C.c_int64)]


class DepthMap(C.Structure):
    _fields_ = [("width", C.c_int), ("height", C.c_int), ("depth", C.POINTER(C.c_float))]


lib.vfr_depth_fit_begin.argtypes = [C.c_int, C.POINTER(C.c_void_p), C.POINTER(Error)]
lib.vfr_depth_fit_add.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_int64, C.POINTER(Error)]
lib.vfr_depth_fit_solve.argtypes = [C.c_void_p, C.c_double, C.POINTER(Head), C.POINTER(Error)]
lib.vfr_depth_fit_free.argtypes = [C.c_void_p]
lib.vfr_depth_head_predict.argtypes = [C.POINTER(Head), C.c_void_p, C.c_int64, C.c_void_p, C.POINTER(Error)]
lib.vfr_depth_head_free.argtypes = [C.POINTER(Head)]
lib.vfr_depth_metrics_compute.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_int64, C.c_double, C.c_double,
                                          C.POINTER(Metrics), C.POINTER(Error)]
lib.vfr_depth_png_read.argtypes = [C.c_char_p, C.c_double, C.POINTER(DepthMap), C.POINTER(Error)]
lib.vfr_depth_png_write.argtypes = [C.c_char_p, C.POINTER(DepthMap), C.c_double, C.POINTER(Error)]
lib.vfr_depth_map_free.argtypes = [C.POINTER(DepthMap)]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def fit(x, y, ridge, batch):
    h, err = C.c_void_p(), Error()
    assert lib.vfr_depth_fit_begin(x.shape[1], C.byref(h), C.byref(err)) == 0
    for s in range(0, len(x), batch):
        xb, yb = np.ascontiguousarray(x[s:s + batch]), np.ascontiguousarray(y[s:s + batch])
        assert lib.vfr_depth_fit_add(h, xb.ctypes.data, yb.ctypes.data, len(xb), C.byref(err)) == 0
    head = Head()
    rc = lib.vfr_depth_fit_solve(h, ridge, C.byref(head), C.byref(err))
    lib.vfr_depth_fit_free(h)
    return rc, head, err.message.decode()


def check_head():
    rs = np.random.RandomState(3)
    n, d = 5000, 48
    mix = rs.normal(size=(d, d)) / np.sqrt(d)
    x = (rs.normal(size=(n, d)) @ mix + 40.0 + rs.normal(size=d)).astype(np.float32)  # offset, correlated
    w_true = rs.normal(size=d)
    y = (x.astype(np.float64) @ w_true * 0.1 + 3.0 + rs.normal(scale=0.2, size=n)).astype(np.float32)
    X, Y = x.astype(np.float64), y.astype(np.float64)
    mx, my = X.mean(0), Y.mean()
    Xc, Yc = X - mx, Y - my
    for ridge in (1e-3, 1e-1, 1.0):
        lam = ridge * np.trace(Xc.T @ Xc) / d
        A = np.vstack([Xc, np.sqrt(lam) * np.eye(d)])
        B = np.concatenate([Yc, np.zeros(d)])
        w_ref = np.linalg.lstsq(A, B, rcond=None)[0]
        b_ref = my - mx @ w_ref
        for batch in (n, 777):
            rc, head, msg = fit(x, y, ridge, batch)
            if not CK.check(rc == 0, f"ridge {ridge}: solve failed: {msg}"):
                continue
            w = np.ctypeslib.as_array(head.weight, shape=(d,)).copy()
            CK.check(rel(w, w_ref) <= 1e-6, f"ridge {ridge} batch {batch}: weights rel {rel(w, w_ref):.2e}")
            CK.check(abs(head.bias - b_ref) <= 1e-6 * abs(b_ref), f"ridge {ridge}: bias {head.bias} vs {b_ref}")
            CK.check(abs(head.lambda_ - lam) <= 1e-9 * lam and head.n == n, "lambda and n")
            pred = np.zeros(n)
            err = Error()
            lib.vfr_depth_head_predict(C.byref(head), x.ctypes.data, n, pred.ctypes.data, C.byref(err))
            ref = X @ w_ref + b_ref
            CK.check(rel(pred, ref) <= 1e-6, f"ridge {ridge}: predictions rel {rel(pred, ref):.2e}")
            print(f"ridge {ridge:g} batch {batch}: weights rel {rel(w, w_ref):.1e}, predictions rel {rel(pred, ref):.1e}")
            lib.vfr_depth_head_free(C.byref(head))
    # ridge 0: ordinary least squares with an intercept
    A = np.hstack([X, np.ones((n, 1))])
    sol = np.linalg.lstsq(A, Y, rcond=None)[0]
    rc, head, msg = fit(x, y, 0.0, 1000)
    if CK.check(rc == 0, f"ridge 0: {msg}"):
        w = np.ctypeslib.as_array(head.weight, shape=(d,)).copy()
        CK.check(rel(w, sol[:d]) <= 1e-6 and abs(head.bias - sol[d]) <= 1e-6 * abs(sol[d]),
                 f"ridge 0 vs lstsq: weights rel {rel(w, sol[:d]):.2e}, bias {head.bias} vs {sol[d]}")
        lib.vfr_depth_head_free(C.byref(head))
    # collinear columns without ridge are refused
    xc = np.hstack([x[:, :5], x[:, :1]]).astype(np.float32)
    rc, head, msg = fit(xc, y, 0.0, 1000)
    CK.check(rc != 0 and "collinear" in msg, f"collinear features: rc {rc} {msg}")


def check_metrics():
    rs = np.random.RandomState(5)
    n = 20000
    t = rs.uniform(0.2, 12, n).astype(np.float32)
    t[rs.rand(n) < 0.1] = 0
    p = (t * rs.uniform(0.6, 1.5, n) + 0.05).astype(np.float32)
    p[p <= 0] = 0.01
    mask = (rs.rand(n) < 0.8).astype(np.uint8)
    for use_mask, lo, hi in ((False, 0, 0), (True, 1e-3, 10.0), (True, 0.5, 8.0)):
        m, err = Metrics(), Error()
        rc = lib.vfr_depth_metrics_compute(p.ctypes.data, t.ctypes.data, mask.ctypes.data if use_mask else None, n,
                                           lo, hi, C.byref(m), C.byref(err))
        v = t > 0
        if use_mask:
            v &= mask > 0
        if lo > 0:
            v &= t >= lo
        if hi > 0:
            v &= t <= hi
        P, T = p[v].astype(np.float64), t[v].astype(np.float64)
        ratio = np.maximum(P / T, T / P)
        ref = {"mse": np.mean((P - T) ** 2), "rmse": np.sqrt(np.mean((P - T) ** 2)),
               "abs_rel": np.mean(np.abs(P - T) / T), "log10": np.mean(np.abs(np.log10(P) - np.log10(T))),
               "delta1": np.mean(ratio < 1.25), "delta2": np.mean(ratio < 1.25 ** 2),
               "delta3": np.mean(ratio < 1.25 ** 3)}
        CK.check(rc == 0 and m.n == v.sum(), f"metrics n {m.n} vs {v.sum()}")
        for k, r in ref.items():
            CK.check(abs(getattr(m, k) - r) <= 1e-12 * max(abs(r), 1e-300), f"metric {k}: {getattr(m, k)} vs {r}")
    m = Metrics()
    z = np.zeros(10, np.float32)
    rc = lib.vfr_depth_metrics_compute(z.ctypes.data, z.ctypes.data, None, 10, 0, 0, C.byref(m), C.byref(Error()))
    CK.check(rc == 0 and m.n == 0 and np.isnan(m.rmse), "no valid pixel: NaN")


def check_png(tmp):
    rs = np.random.RandomState(9)
    d = rs.uniform(0, 12, (17, 23)).astype(np.float32)
    d[0, :3] = 0
    m = DepthMap(23, 17, d.ctypes.data_as(C.POINTER(C.c_float)))
    path = os.path.join(tmp, "d.png")
    err = Error()
    CK.check(lib.vfr_depth_png_write(path.encode(), C.byref(m), 1000.0, C.byref(err)) == 0, "png write")
    with Image.open(path) as im:
        back = np.asarray(im).astype(np.int64)
        CK.check(im.mode in ("I", "I;16"), f"16-bit grey mode {im.mode}")
    CK.check(np.array_equal(back, np.floor(d.astype(np.float64) * 1000 + 0.5).astype(np.int64)), "written values")
    # Pillow-written 16-bit and 8-bit PNGs read back
    mm = rs.randint(0, 65536, (9, 14)).astype(np.uint16)
    Image.fromarray(mm, "I;16").save(os.path.join(tmp, "p16.png"))
    out = DepthMap()
    rc = lib.vfr_depth_png_read(os.path.join(tmp, "p16.png").encode(), 1000.0, C.byref(out), C.byref(err))
    if CK.check(rc == 0 and (out.width, out.height) == (14, 9), f"read 16-bit: {err.message}"):
        got = np.ctypeslib.as_array(out.depth, shape=(9, 14)).copy()
        CK.check(np.array_equal(got, (mm / 1000.0).astype(np.float32)), "16-bit values / scale")
        lib.vfr_depth_map_free(C.byref(out))
    g8 = rs.randint(0, 256, (5, 6)).astype(np.uint8)
    Image.fromarray(g8, "L").save(os.path.join(tmp, "p8.png"))
    rc = lib.vfr_depth_png_read(os.path.join(tmp, "p8.png").encode(), 10.0, C.byref(out), C.byref(err))
    if CK.check(rc == 0, f"read 8-bit: {err.message}"):
        got = np.ctypeslib.as_array(out.depth, shape=(5, 6)).copy()
        CK.check(np.array_equal(got, (g8 / 10.0).astype(np.float32)), "8-bit values / scale")
        lib.vfr_depth_map_free(C.byref(out))
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(tmp, "rgb.png"))
    for name, data in (("bad.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10), ("rgb.png", None)):
        path = os.path.join(tmp, name)
        if data is not None:
            open(path, "wb").write(data)
        rc = lib.vfr_depth_png_read(path.encode(), 1000.0, C.byref(out), C.byref(err))
        msg = err.message.decode()
        CK.check(rc != 0 and name in msg and "\n" not in msg, f"{name}: {msg}")


tmp = tempfile.mkdtemp(prefix="vfr_depth_head_")
check_head()
check_metrics()
check_png(tmp)
shutil.rmtree(tmp)
CK.finish()
