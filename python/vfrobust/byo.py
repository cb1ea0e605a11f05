"""Bring your own embeddings: the variants of a study as files for any model, and a study
from the embeddings that model made (the library's vfr_perturb_set and vfr_score)."""
import csv
import ctypes
import os
import tempfile

import numpy as np

from vfrobust import _interrupt, _lib
from vfrobust._error import Error


def _int_arg(name, v, lo, hi):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
        raise Error(f"{name} {v!r}: expected an integer in {lo}..{hi}")
    return int(v)


def perturb_set(data, out, ops="editing9", levels=10, seed=0, limit=0, per_class=0, threads=0):
    """Writes every variant `vfrobust eval` would embed (each image clean and at every level
    of every op) as PNG files under `out`, with out/manifest.csv and out/perturb_set.json,
    as `vfrobust perturb-set` does. Returns the manifest's rows: a list of dicts with image,
    op, level and file (an absolute path), in the order score() expects embeddings."""
    L = _lib.lib()
    p = L.vfr_perturb_set_default_params()
    keep = [_lib.cstr(data, "data"), _lib.cstr(ops, "ops"), _lib.cstr(out, "out")]
    p.data, p.ops, p.out_dir = keep
    p.levels = _int_arg("levels", levels, 1, 1024)
    p.seed = _int_arg("seed", seed, 0, 2**64 - 1)
    p.limit = _int_arg("limit", limit, 0, 2**30)
    p.per_class = _int_arg("per_class", per_class, 0, 2**30)
    p.threads = _int_arg("threads", threads, 0, 1024)
    rows = ctypes.c_int64(0)
    err = _lib.vfr_error()
    status = []

    def call(_, stop):
        del stop
        status.append(L.vfr_perturb_set(ctypes.byref(p), ctypes.byref(rows), ctypes.byref(err)))

    _interrupt.run_chunks(call, [0])
    _lib.check(status[0], err)
    return read_manifest(os.path.join(os.fspath(out), "manifest.csv"))


def read_manifest(path):
    """The rows of a manifest.csv: dicts with image, op, level and file (made absolute)."""
    path = os.fspath(path)
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise Error(f"{path}: cannot read ({e.strerror})", 2) from None
    for r in rows:
        if set(r) != {"image", "op", "level", "file"}:
            raise Error(f"{path}: expected the columns image,op,level,file", 3)
        r["file"] = os.path.join(base, r["file"])
    return rows


def score(manifest, embeddings, out, model_name=None, report=True):
    """Writes the study outputs into `out` (per_image.csv, curves.csv, summary.json,
    embeddings/, and report.html unless report=False) from embeddings row-aligned with the
    manifest: a float32 (rows, d) array or a .npy file. Returns vfrobust.Study(out)."""
    from vfrobust.study import Study
    L = _lib.lib()
    tmp = None
    if isinstance(embeddings, (str, bytes, os.PathLike)):
        emb_path = embeddings
    else:
        if hasattr(embeddings, "detach"):
            embeddings = embeddings.detach().cpu().numpy()
        a = np.asarray(embeddings)
        if a.ndim != 2 or a.dtype.kind not in "fiu":
            raise Error(f"embeddings: shape {a.shape} dtype {a.dtype}, expected a (rows, d) float array")
        fd, tmp = tempfile.mkstemp(suffix=".npy", prefix="vfrobust-")
        os.close(fd)
        np.save(tmp, np.ascontiguousarray(a, dtype="<f4"))
        emb_path = tmp
        if model_name is None:
            model_name = "embeddings"
    try:
        p = L.vfr_score_default_params()
        keep = [_lib.cstr(manifest, "manifest"), _lib.cstr(emb_path, "embeddings"), _lib.cstr(out, "out")]
        p.manifest, p.embeddings, p.out_dir = keep
        if model_name is not None:
            keep.append(_lib.cstr(model_name, "model_name"))
            p.model_name = keep[-1]
        err = _lib.vfr_error()
        status = []

        def call(_, stop):
            del stop
            st = L.vfr_score(ctypes.byref(p), ctypes.byref(err))
            if not st and report:
                st = L.vfr_report_build(keep[2], ctypes.byref(err))
            status.append(st)

        _interrupt.run_chunks(call, [0])
        _lib.check(status[0], err)
    finally:
        if tmp:
            os.unlink(tmp)
    return Study(out)
