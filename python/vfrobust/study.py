"""A study folder's results (written by `vfrobust eval` or `vfrobust score`) as NumPy arrays.

This reads the documented files (docs/study.md) with NumPy: summary.json, per_image.csv,
curves.csv and embeddings/ (memory-mapped). `image_embeddings(i)` and `dr(i, j)` go through
the library's study read API (vfr_study_open), which checks the folder's files against each
other on first use."""
import csv
import json
import os

import ctypes

import numpy as np

from vfrobust import _lib
from vfrobust._error import Error


def _read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise Error(f"{path}: cannot read ({e.strerror})", 2) from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise Error(f"{path}: not a CSV file ({e})", 3) from None
    if not rows:
        raise Error(f"{path}: empty file, expected a header row", 3)
    return rows[0], rows[1:]


def _columns(path, header, want):
    idx = {}
    for name in want:
        if name not in header:
            raise Error(f"{path}: no `{name}` column (header: {','.join(header)})", 3)
        idx[name] = header.index(name)
    return idx


class Study:
    """Study(dir): the results of one study.

      .summary          summary.json as a dict
      .model            the model's name
      .ops              [(op, domain), ...] in the study's order
      .images           names of the used images, (N,) in row order
      .labels           their class names ("" when unlabelled)
      .metric(name, op, domain=None)   float64 (N,) of "r_cs", "r_ed" or "dr"
      .per_image        {(op, domain): {"r_cs", "r_ed", "dr": float64 (N,)}}
      .curves           {(op, domain): {"level": [str], "mean_cos", "std_cos": float64 (m,), "n": int (m,)}}
      .clean_embeddings()            float32 (N, d) (memory-mapped)
      .embeddings(op, domain=None)   float32 (N, m, d) (memory-mapped)
      .image_embeddings(i)           float32 (rows, d): image i clean, then every op's levels
                                     (the library's read API)
      .dr(i, j)                      image i's DR under op j (the library's read API)
    """

    _handle = None

    def __init__(self, dir):
        self.dir = os.fspath(dir)
        path = os.path.join(self.dir, "summary.json")
        try:
            with open(path, encoding="utf-8") as f:
                self.summary = json.load(f)
        except OSError as e:
            raise Error(f"{path}: cannot read ({e.strerror}); is {self.dir} a study folder?", 2) from None
        except ValueError as e:
            raise Error(f"{path}: not valid JSON ({e})", 3) from None
        if not isinstance(self.summary, dict) or not isinstance(self.summary.get("per_op"), list):
            raise Error(f"{path}: no per_op list", 3)
        self.model = self.summary.get("model")
        self.ops = [(o["op"], o["domain"]) for o in self.summary["per_op"]]
        self._read_per_image()
        self._read_curves()
        self._read_names()

    def _read_per_image(self):
        path = os.path.join(self.dir, "per_image.csv")
        header, rows = _read_csv(path)
        c = _columns(path, header, ["image", "op", "domain", "r_cs", "r_ed", "dr"])
        acc = {key: {"image": [], "r_cs": [], "r_ed": [], "dr": []} for key in self.ops}
        for line, r in enumerate(rows, start=2):
            if len(r) != len(header):
                raise Error(f"{path}:{line}: {len(r)} fields, expected {len(header)}", 3)
            key = (r[c["op"]], r[c["domain"]])
            if key not in acc:
                raise Error(f"{path}:{line}: op {key[0]} domain {key[1]} is not in summary.json", 3)
            a = acc[key]
            a["image"].append(r[c["image"]])
            try:
                for m in ("r_cs", "r_ed", "dr"):
                    a[m].append(float(r[c[m]]))
            except ValueError:
                raise Error(f"{path}:{line}: a metric is not a number", 3) from None
        self.per_image = {}
        first = None
        for key, a in acc.items():
            if first is None:
                first = a["image"]
            elif a["image"] != first:
                raise Error(f"{path}: op {key[0]} does not list the same images as {self.ops[0][0]}", 3)
            self.per_image[key] = {m: np.array(a[m], dtype=np.float64) for m in ("r_cs", "r_ed", "dr")}
        self.images = np.array(first if first is not None else [], dtype=object)

    def _read_curves(self):
        path = os.path.join(self.dir, "curves.csv")
        self.curves = {}
        if not os.path.exists(path):
            return
        header, rows = _read_csv(path)
        c = _columns(path, header, ["op", "level", "mean_cos", "std_cos", "n"])
        # curves.csv names ops without domains: rows of one op come in the study's order
        by_op = {}
        for r in rows:
            by_op.setdefault(r[c["op"]], []).append(r)
        used = {}
        for key in self.ops:
            m = len(next(o for o in self.summary["per_op"] if (o["op"], o["domain"]) == key)["levels"])
            start = used.get(key[0], 0)
            chunk = by_op.get(key[0], [])[start:start + m]
            used[key[0]] = start + m

            def num(s):
                return float(s) if s != "" else np.nan
            self.curves[key] = {"level": [r[c["level"]] for r in chunk],
                                "mean_cos": np.array([num(r[c["mean_cos"]]) for r in chunk]),
                                "std_cos": np.array([num(r[c["std_cos"]]) for r in chunk]),
                                "n": np.array([int(r[c["n"]]) for r in chunk])}

    def _read_names(self):
        path = os.path.join(self.dir, "embeddings", "images.csv")
        self.labels = np.array([""] * len(self.images), dtype=object)
        if os.path.exists(path):
            header, rows = _read_csv(path)
            c = _columns(path, header, ["image", "label"])
            self.labels = np.array([r[c["label"]] for r in rows], dtype=object)
            if len(self.images) == 0:
                self.images = np.array([r[c["image"]] for r in rows], dtype=object)

    def _key(self, op, domain):
        keys = [k for k in self.ops if k[0] == op and (domain is None or k[1] == domain)]
        if not keys:
            raise Error(f"{self.dir}: no op {op}{'' if domain is None else ' domain ' + domain} "
                        f"(ops: {', '.join(o for o, _ in self.ops)})")
        if len(keys) > 1:
            raise Error(f"{self.dir}: op {op} appears with domains "
                        f"{', '.join(d for _, d in keys)}: name one")
        return keys[0]

    def metric(self, name, op, domain=None):
        if name not in ("r_cs", "r_ed", "dr"):
            raise Error(f"metric {name!r}: expected r_cs, r_ed or dr")
        return self.per_image[self._key(op, domain)][name]

    def _npy(self, stem):
        path = os.path.join(self.dir, "embeddings", stem + ".npy")
        try:
            return np.load(path, mmap_mode="r")
        except OSError as e:
            raise Error(f"{path}: cannot read ({e})", 2) from None
        except ValueError as e:
            raise Error(f"{path}: not a .npy file ({e})", 3) from None

    def clean_embeddings(self):
        return self._npy("clean")

    def embeddings(self, op, domain=None):
        key = self._key(op, domain)
        unique = sum(1 for k in self.ops if k[0] == key[0]) == 1
        text = key[0] if unique else f"{key[0]}_{key[1]}"
        stem = "".join(ch if ch.isalnum() and ch.isascii() or ch in ".-=+_" else "_" for ch in text)
        if stem in ("clean", "images"):
            stem += "_op"
        return self._npy(stem)

    def _study(self):
        if self._handle is None:
            lib, err, h = _lib.lib(), _lib.vfr_error(), ctypes.c_void_p()
            _lib.check(lib.vfr_study_open(_lib.cstr(self.dir, "dir"), ctypes.byref(h), ctypes.byref(err)), err)
            self._handle = h
            self._info = _lib.vfr_study_info()
            lib.vfr_study_get_info(h, ctypes.byref(self._info))
        return self._handle

    def image_embeddings(self, i):
        h = self._study()
        if not 0 <= i < self._info.images:
            raise Error(f"{self.dir}: image {i} out of range (the study has {self._info.images})")
        out = np.zeros((self._info.rows, self._info.dim), np.float32)
        err = _lib.vfr_error()
        _lib.check(_lib.lib().vfr_study_embeddings(h, i, out.ctypes.data_as(_lib._f32p), ctypes.byref(err)), err)
        return out

    def dr(self, i, j):
        h = self._study()
        return _lib.lib().vfr_study_dr(h, i, j)

    def __del__(self):
        if self._handle is not None and _lib is not None:
            _lib.lib().vfr_study_close(self._handle)
            self._handle = None

    def __repr__(self):
        return f"Study({self.dir!r}, model={self.model!r}, images={len(self.images)}, ops={len(self.ops)})"
