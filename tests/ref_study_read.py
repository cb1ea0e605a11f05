"""The study read API (vfr_study_open ...) against NumPy/csv readings of the same files:
embeddings bit-identical to np.load of embeddings/*.npy, DR equal to per_image.csv,
names and labels equal to embeddings/images.csv, and one-line errors naming the file for a
damaged folder."""
import csv
import ctypes as C
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import BIN, SRC, Checker, load_lib  # noqa: E402

CK = Checker("ref_study_read")
tmp = tempfile.mkdtemp(prefix="vfr_study_read_")
MODEL = os.path.join(SRC, "models", "clip-vit-tiny-patch4-cifar10")
DATA = os.path.join(SRC, "data", "cifar10-demo", "test")


class Error(C.Structure):
    _fields_ = [("code", C.c_int), ("message", C.c_char * 512)]


class Info(C.Structure):
    _fields_ = [("images", C.c_int), ("dim", C.c_int), ("op_count", C.c_int), ("rows", C.c_int),
                ("model", C.c_char_p), ("model_dir", C.c_char_p), ("data", C.c_char_p),
                ("seed", C.c_uint64), ("perturb_after_preprocess", C.c_int)]


class Op(C.Structure):
    _fields_ = [("name", C.c_char_p), ("domain", C.c_char_p), ("levels", C.c_int),
                ("values", C.POINTER(C.c_double)), ("level_text", C.POINTER(C.c_char_p)),
                ("first_row", C.c_int)]


lib = load_lib()
lib.vfr_study_open.argtypes = [C.c_char_p, C.POINTER(C.c_void_p), C.POINTER(Error)]
lib.vfr_study_close.argtypes = [C.c_void_p]
lib.vfr_study_get_info.argtypes = [C.c_void_p, C.POINTER(Info)]
lib.vfr_study_get_op.argtypes = [C.c_void_p, C.c_int, C.POINTER(Op), C.POINTER(Error)]
lib.vfr_study_image_name.argtypes = [C.c_void_p, C.c_int]
lib.vfr_study_image_name.restype = C.c_char_p
lib.vfr_study_image_label.argtypes = [C.c_void_p, C.c_int]
lib.vfr_study_image_label.restype = C.c_char_p
lib.vfr_study_embeddings.argtypes = [C.c_void_p, C.c_int, C.POINTER(C.c_float), C.POINTER(Error)]
lib.vfr_study_dr.argtypes = [C.c_void_p, C.c_int, C.c_int]
lib.vfr_study_dr.restype = C.c_double

out = os.path.join(tmp, "study")
ops = "gaussian_blur:0..2,jpeg:20..90,jpeg:60..95,brightness"
r = subprocess.run([BIN, "eval", "--model", MODEL, "--data", DATA, "--out", out, "--ops", ops,
                    "--levels", "3", "--limit", "12", "--seed", "5"], capture_output=True, text=True)
CK.check(r.returncode == 0, f"eval failed: {r.stderr}")

h = C.c_void_p()
err = Error()
rc = lib.vfr_study_open(out.encode(), C.byref(h), C.byref(err))
CK.check(rc == 0, f"open: {err.message}")
info = Info()
lib.vfr_study_get_info(h, C.byref(info))
summary = json.load(open(os.path.join(out, "summary.json")))
clean = np.load(os.path.join(out, "embeddings", "clean.npy"))
CK.check(info.images == clean.shape[0] == 12 and info.dim == clean.shape[1], "image count and width")
CK.check(info.op_count == 4 and info.rows == 1 + 3 * 4, f"ops {info.op_count} rows {info.rows}")
CK.check(info.seed == 5 and info.model.decode() == summary["model"], "settings")

stems = ["gaussian_blur", "jpeg_20..90", "jpeg_60..95", "brightness"]
with open(os.path.join(out, "embeddings", "images.csv"), newline="") as f:
    names = list(csv.reader(f))[1:]
per_image = {}
with open(os.path.join(out, "per_image.csv"), newline="") as f:
    for row in list(csv.DictReader(f)):
        per_image[(row["image"], row["op"], row["domain"])] = float(row["dr"])
op_arrays, op_infos = [], []
for j in range(info.op_count):
    op = Op()
    CK.check(lib.vfr_study_get_op(h, j, C.byref(op), C.byref(err)) == 0, "get_op")
    op_infos.append(op)
    CK.check(op.name.decode() == summary["per_op"][j]["op"] and op.domain.decode() == summary["per_op"][j]["domain"],
             f"op {j} name/domain")
    CK.check([op.values[k] for k in range(op.levels)] == summary["per_op"][j]["levels"], f"op {j} levels")
    op_arrays.append(np.load(os.path.join(out, "embeddings", stems[j] + ".npy")))
buf = np.zeros((info.rows, info.dim), dtype=np.float32)
bufp = buf.ctypes.data_as(C.POINTER(C.c_float))
for i in range(info.images):
    CK.check(lib.vfr_study_image_name(h, i).decode() == names[i][1], f"name {i}")
    CK.check(lib.vfr_study_image_label(h, i).decode() == names[i][2], f"label {i}")
    CK.check(lib.vfr_study_embeddings(h, i, bufp, C.byref(err)) == 0, f"embeddings {i}: {err.message}")
    want = [clean[i:i + 1]] + [a[i] for a in op_arrays]
    CK.check(np.array_equal(buf, np.concatenate(want, 0)), f"image {i}: embeddings differ from the .npy files")
    for j, op in enumerate(op_infos):
        dr = lib.vfr_study_dr(h, i, j)
        CK.check(dr == per_image[(names[i][1], op.name.decode(), op.domain.decode())], f"dr {i},{j}")
CK.check(np.isnan(lib.vfr_study_dr(h, info.images, 0)), "dr out of range is NaN")
CK.check(lib.vfr_study_embeddings(h, -1, bufp, C.byref(err)) != 0, "image -1 refused")
lib.vfr_study_close(h)

# Damaged folders: one-line errors naming the file.
bad = os.path.join(tmp, "bad")
shutil.copytree(out, bad)
with open(os.path.join(bad, "embeddings", "jpeg_20..90.npy"), "r+b") as f:
    f.truncate(200)
rc = lib.vfr_study_open(bad.encode(), C.byref(h), C.byref(err))
msg = err.message.decode()
CK.check(rc != 0 and "jpeg_20..90.npy" in msg and "\n" not in msg, f"truncated npy: {msg}")
os.remove(os.path.join(bad, "summary.json"))
rc = lib.vfr_study_open(bad.encode(), C.byref(h), C.byref(err))
msg = err.message.decode()
CK.check(rc != 0 and "summary.json" in msg, f"no summary: {msg}")
shutil.copytree(out, bad + "2")
with open(os.path.join(bad + "2", "per_image.csv"), "a") as f:
    f.write('"m","extra.jpg","jpeg","20..90",0,0,0\n')
rc = lib.vfr_study_open((bad + "2").encode(), C.byref(h), C.byref(err))
msg = err.message.decode()
CK.check(rc != 0 and "per_image.csv" in msg, f"extra per_image row: {msg}")

shutil.rmtree(tmp)
CK.finish()
