"""The Python package's Model: embeddings equal to `vfrobust embed` (paths, PIL images,
arrays, one 4-D batch), close to the independent PyTorch reference, .info equal to
`vfrobust model-info --json`, preprocess/embed_pixels, errors on bad input, and Ctrl-C
interrupting a long embed()."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
import python_testlib  # noqa: E402,F401
from vfr_testlib import BIN, DATA, SRC, Checker  # noqa: E402
import vfrobust  # noqa: E402

torch.set_num_threads(2)
C = Checker("ref_python_model")
tmp = tempfile.mkdtemp(prefix="vfr_pymodel_")

folders = {}
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
clip = modelref.randomize(modelref.build_model(cfg), seed=7).eval()
folders["clip"] = (os.path.join(tmp, "clip"), cfg, modelref.clip_preprocessor(32, 32), clip)
dcfg = modelref.dinov2_config(48, 2, 4, 8, 32)
dino = modelref.randomize(modelref.build_model(dcfg), seed=8).eval()
folders["dinov2"] = (os.path.join(tmp, "dino"), dcfg, modelref.bit_preprocessor(36, 32), dino)
for folder, c, pp, m in folders.values():
    modelref.write_hf_folder(folder, c, pp, m)

files = sorted(glob.glob(os.path.join(DATA, "cifar10", "test", "dog", "*.jpg")))[:5]
files.append(os.path.join(SRC, "examples", "sample.png"))  # another size: resized and cropped
pils = [Image.open(f).convert("RGB") for f in files]

for fam, (folder, c, pp, ref) in folders.items():
    for pooling in (["cls", "cls+mean"] if fam == "dinov2" else ["cls"]):
        out = os.path.join(tmp, f"{fam}.npy")
        r = subprocess.run([BIN, "embed", "--model", folder, "--pooling", pooling, "--out", out] + files,
                           capture_output=True, text=True)
        if not C.check(r.returncode == 0, f"vfrobust embed: {r.stderr}"):
            continue
        want = np.load(out)
        model = vfrobust.Model(folder, pooling=pooling)
        tag = f"{fam} {pooling}"
        got = model.embed(files)
        C.check(got.dtype == np.float32 and got.shape == want.shape, f"{tag}: shape {got.shape} vs {want.shape}")
        C.check(np.array_equal(got, want), f"{tag}: embed(paths) != vfrobust embed, max diff {np.max(np.abs(got - want))}")
        C.check(np.array_equal(model.embed(pils), want), f"{tag}: embed(PIL images) != vfrobust embed")
        C.check(np.array_equal(model.embed([np.asarray(p) for p in pils]), want), f"{tag}: embed(arrays)")
        batch = np.stack([np.asarray(p) for p in pils[:5]])
        out5 = os.path.join(tmp, f"{fam}5.npy")
        subprocess.run([BIN, "embed", "--model", folder, "--pooling", pooling, "--out", out5] + files[:5], check=True)
        C.check(np.array_equal(model.embed(batch), np.load(out5)), f"{tag}: embed(one (N, H, W, 3) array)")
        # the forward pass's summation order depends on the batch, as the CLI's --batch does
        b2 = vfrobust.Model(folder, pooling=pooling, batch=2).embed(files)
        r2 = subprocess.run([BIN, "embed", "--model", folder, "--pooling", pooling, "--batch", "2", "--out", out5] + files)
        C.check(r2.returncode == 0 and np.array_equal(b2, np.load(out5)), f"{tag}: batch=2 equals embed --batch 2")
        C.check(np.max(np.abs(b2 - want)) <= 1e-5 * np.max(np.linalg.norm(want, axis=1)), f"{tag}: batch 2 vs 16")
        px = np.stack([modelref.preprocess(p, pp) for p in pils])
        C.check(np.max(np.abs(np.stack([model.preprocess(p) for p in pils]) - px)) < 1e-5,
                f"{tag}: preprocess() vs the PyTorch reference's preprocessing")
        C.check(np.array_equal(model.embed_pixels(np.stack([model.preprocess(f) for f in files])), want),
                f"{tag}: embed_pixels(preprocess()) equals embed()")
        ref_emb = modelref.embed(ref, px, pooling="cls_mean" if pooling == "cls+mean" else "cls")
        cos = np.sum(ref_emb * want, axis=1) / np.linalg.norm(ref_emb, axis=1) / np.linalg.norm(want, axis=1)
        rel = np.max(np.abs(ref_emb - want), axis=1) / np.linalg.norm(ref_emb, axis=1)
        C.check(np.min(cos) >= 0.99999 and np.max(rel) <= 1e-4, f"{tag}: vs PyTorch cos {np.min(cos)}, rel {np.max(rel)}")
        info = json.loads(subprocess.run([BIN, "model-info", "--json", folder], capture_output=True, text=True).stdout)
        for k in ("family", "model_type", "hidden_size", "num_layers", "num_heads", "patch_size",
                  "input_height", "input_width", "num_parameters"):
            if k in info:
                C.check(model.info[k] == info[k], f"{tag}: info[{k}] {model.info[k]!r} vs model-info {info[k]!r}")
        C.check(model.info["embed_dim"] == want.shape[1], f"{tag}: embed_dim")
        model.close()

# ---- precision and bad input -------------------------------------------------------------------
folder = folders["clip"][0]
m = vfrobust.Model(folder, precision="auto")
C.check(m.info["precision"] in ("fp32", "bf16"), "precision auto")
try:
    b = vfrobust.Model(folder, precision="bf16")
    e = b.embed(files)
    want = vfrobust.Model(folder).embed(files)
    cosb = np.sum(e * want, axis=1) / np.linalg.norm(e, axis=1) / np.linalg.norm(want, axis=1)
    C.check(np.min(cosb) > 0.999, f"bf16 embeddings close to fp32: {np.min(cosb)}")
except vfrobust.Error as e:
    C.check(e.code == 6 and "bf16" in str(e).lower() or "avx512" in str(e).lower(), f"bf16 unsupported: {e}")

broken = os.path.join(tmp, "broken")
shutil.copytree(folder, broken)
st = os.path.join(broken, "model.safetensors")
with open(st, "rb") as f:
    blob = f.read()
with open(st, "wb") as f:
    f.write(blob[: len(blob) // 2])
bad_jpeg = os.path.join(tmp, "broken.jpg")
with open(files[0], "rb") as f:
    data = f.read()
with open(bad_jpeg, "wb") as f:
    f.write(data[:100])
closed = vfrobust.Model(folder)
closed.close()
for what, fn, needle in [
    ("missing folder", lambda: vfrobust.Model(os.path.join(tmp, "absent")), "absent"),
    ("truncated safetensors", lambda: vfrobust.Model(broken), "model.safetensors"),
    ("bad precision", lambda: vfrobust.Model(folder, precision="fp16"), "precision"),
    ("bad pooling", lambda: vfrobust.Model(folder, pooling="mean"), "pooling"),
    ("bad batch", lambda: vfrobust.Model(folder, batch=0), "batch"),
    ("cls+mean on CLIP", lambda: vfrobust.Model(folder, pooling="cls+mean"), None),
    ("missing image", lambda: m.embed([files[0], os.path.join(tmp, "absent.jpg")]), "absent.jpg"),
    ("corrupt image", lambda: m.embed([bad_jpeg]), "broken.jpg"),
    ("float image", lambda: m.embed([np.zeros((32, 32, 3))]), "dtype"),
    ("2-channel image", lambda: m.embed([np.zeros((32, 32, 2), np.uint8)]), "shape"),
    ("not images", lambda: m.embed(5), "images"),
    ("pixels shape", lambda: m.embed_pixels(np.zeros((2, 3, 16, 16), np.float32)), "shape"),
    ("pixels dtype", lambda: m.embed_pixels(np.zeros((2, 3, 32, 32), np.uint8)), "dtype"),
    ("closed model", lambda: closed.embed(files), "closed"),
]:
    try:
        fn()
        C.check(False, f"{what}: no error")
    except vfrobust.Error as e:
        C.check(str(e) and "\n" not in str(e) and (needle is None or needle in str(e)), f"{what}: message {e!r}")
    except Exception as e:  # noqa: BLE001
        C.check(False, f"{what}: {type(e).__name__} instead of vfrobust.Error: {e}")
C.check(m.embed([]).shape == (0, 32), "no images: an empty (0, d) array")

# ---- Ctrl-C interrupts a long embed() ---------------------------------------------------------
big = os.path.join(tmp, "big")
bcfg = modelref.clip_config(256, 4, 4, 1024, 8, 64, 64)
modelref.write_hf_folder(big, bcfg, modelref.clip_preprocessor(64, 64),
                         modelref.randomize(modelref.build_model(bcfg), seed=9))
child = f"""
import sys, time
sys.path.insert(0, {os.path.join(SRC, 'python')!r})
import numpy as np, vfrobust
m = vfrobust.Model({big!r}, threads=1, batch=4)
imgs = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(2000)]
t = time.perf_counter(); m.embed(imgs[:8]); per = (time.perf_counter() - t) / 8
print("READY", per * len(imgs), flush=True)
try:
    m.embed(imgs)
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
m.close()
print("CLOSED", flush=True)
"""
proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
line = proc.stdout.readline().split()
expected = float(line[1]) if line and line[0] == "READY" else 0
time.sleep(0.3)
t_sig = time.perf_counter()
proc.send_signal(signal.SIGINT)
out = proc.communicate(timeout=300)[0]
t_exit = time.perf_counter()
C.check("INTERRUPTED" in out and "CLOSED" in out, f"Ctrl-C raised KeyboardInterrupt in embed(), then close() worked: {out!r}")
C.check(t_exit - t_sig < min(1.5, expected / 2) and expected > 1.5,
        f"Ctrl-C stopped within {t_exit - t_sig:.2f} s an embed that takes about {expected:.1f} s")
C.finish()
