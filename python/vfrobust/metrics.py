"""Robustness metrics on embeddings: the Divergence Radius (exact minimum enclosing ball)
and per-image R_cs, R_ed, DR, computed by the library (docs/metrics.md)."""
import collections
import ctypes
import os

import numpy as np

from vfrobust import _interrupt, _lib
from vfrobust._error import Error

Robustness = collections.namedtuple("Robustness", ["r_cs", "r_ed", "dr"])
Ball = collections.namedtuple("Ball", ["radius", "centre", "error_bound", "support"])

_ROWS_PER_CHUNK = 256


def _float_array(x, what, ndim):
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise Error(f"{what}: not an array ({e})") from None
    if a.dtype.kind not in "fiu":
        raise Error(f"{what}: dtype {a.dtype}, expected a real floating-point array")
    if a.ndim != ndim:
        raise Error(f"{what}: shape {tuple(a.shape)}, expected {ndim} dimensions")
    if any(s == 0 for s in a.shape):
        raise Error(f"{what}: shape {tuple(a.shape)} is empty")
    if any(s >= 2**31 for s in a.shape):
        raise Error(f"{what}: shape {tuple(a.shape)} is too large", 5)
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    return np.ascontiguousarray(a, dtype=dtype)


def minimum_enclosing_ball(points):
    """The exact smallest ball around the rows of points (n, d): radius, centre (d,),
    certified error_bound and the support indices (see vfr_meb)."""
    p = _float_array(points, "points", 2).astype(np.float64, copy=False)
    res = _lib.vfr_meb_result()
    err = _lib.vfr_error()
    L = _lib.lib()
    n, d = p.shape
    _lib.check(L.vfr_meb(p.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), n, d,
                         ctypes.byref(res), ctypes.byref(err)), err)
    try:
        centre = np.ctypeslib.as_array(res.centre, shape=(d,)).copy()
        support = np.ctypeslib.as_array(res.support, shape=(res.support_size,)).copy()
        return Ball(res.radius, centre, res.error_bound, support)
    finally:
        L.vfr_meb_result_free(ctypes.byref(res))


def divergence_radius(Z, normalize=True):
    """DR of the embeddings Z (n, d): the radius of the minimum enclosing ball of the rows,
    each L2-normalised first (normalize=False: of the rows as given). In [0, 1] when
    normalised; 0 when all rows point the same way."""
    z = _float_array(Z, "Z", 2).astype(np.float64, copy=False)
    if normalize:
        norms = np.linalg.norm(z, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            bad = int(np.flatnonzero(~np.isfinite(norms) | (norms == 0))[0])
            raise Error(f"Z: row {bad} is zero or not finite and cannot be normalised")
        z = z / norms[:, None]
    return minimum_enclosing_ball(z).radius


def robustness(clean, perturbed, with_cos=False, threads=None):
    """Per-image robustness of raw embeddings: clean (N, d), perturbed (N, m, d) (level k of
    image i in perturbed[i, k]). Returns Robustness(r_cs, r_ed, dr), each float64 (N,), and
    with with_cos=True also cos (N, m), the cosine of each level to the clean embedding.
    float32 input is computed as the study does (vfr_robustness_compute_f32); other real
    dtypes in float64. Runs in `threads` worker threads (default: all cores); Ctrl-C stops it."""
    c = _float_array(clean, "clean", 2)
    p = _float_array(perturbed, "perturbed", 3)
    N, d = c.shape
    if p.shape[0] != N or p.shape[2] != d:
        raise Error(f"perturbed: shape {tuple(p.shape)} does not match clean {tuple(c.shape)}: "
                    f"expected ({N}, m, {d})")
    if p.dtype != c.dtype:
        c, p = c.astype(np.float64), p.astype(np.float64)
    m = p.shape[1]
    out = np.empty((N, 3), dtype=np.float64)
    cos = np.empty((N, m), dtype=np.float64)
    L = _lib.lib()
    f32 = c.dtype == np.float32
    fn = L.vfr_robustness_compute_f32 if f32 else L.vfr_robustness_compute
    ptype = ctypes.POINTER(ctypes.c_float if f32 else ctypes.c_double)
    dptr = ctypes.POINTER(ctypes.c_double)
    cb, pb, cosb = c.ctypes.data, p.ctypes.data, cos.ctypes.data
    isz = c.itemsize

    def block(rows, stop):
        r = _lib.vfr_robustness()
        err = _lib.vfr_error()
        for i in rows:
            if stop.is_set():
                return
            st = fn(ctypes.cast(cb + i * d * isz, ptype), ctypes.cast(pb + i * m * d * isz, ptype),
                    m, d, ctypes.byref(r), ctypes.cast(cosb + i * m * 8, dptr), ctypes.byref(err))
            if st:
                raise Error(f"image {i}: {err.message.decode('utf-8', 'replace')}", st)
            out[i] = (r.r_cs, r.r_ed, r.dr)

    workers = threads or os.cpu_count() or 1
    chunks = [range(s, min(N, s + _ROWS_PER_CHUNK)) for s in range(0, N, _ROWS_PER_CHUNK)]
    # keep the arrays alive in the closure for as long as any worker runs
    block.keep = (c, p, out, cos)
    _interrupt.run_chunks(block, chunks, workers)
    res = Robustness(out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy())
    return (*res, cos) if with_cos else res
