"""The Python package's perturbations: equal to the bytes `vfrobust perturb` writes, to
Pillow itself for the ops Pillow defines, Perturbation's levels and transform, errors as
vfrobust.Error on bad input, and the binding's overhead over the bare C call."""
import ctypes
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_testlib  # noqa: E402,F401
from vfr_testlib import BIN, DATA, SRC, Checker  # noqa: E402
import vfrobust  # noqa: E402

C = Checker("ref_python_perturb")
tmp = tempfile.mkdtemp(prefix="vfr_pyperturb_")

rng = np.random.default_rng(5)
noise_path = os.path.join(tmp, "noise.png")
Image.fromarray(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)).save(noise_path)
images = [os.path.join(SRC, "examples", "sample.png"), noise_path]
images += sorted(glob.glob(os.path.join(DATA, "cifar10", "test", "cat", "*.jpg")))[:2]


def cli(spec, path, seed=0):
    out = os.path.join(tmp, "cli.png")
    r = subprocess.run([BIN, "perturb", "--seed", str(seed), spec, path, out], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


# ---- equal to the CLI's bytes ----------------------------------------------------------------
specs = [("jpeg:50", 0), ("jpeg:q=90", 0), ("brightness:1.3", 0), ("contrast:0.6", 0),
         ("saturation:1.7", 0), ("sharpness:2.5", 0), ("hue:-0.05", 0), ("gaussian_blur:1.5", 0),
         ("gaussian_noise:0.05", 0), ("gaussian_noise:0.05", 12345), ("rescale:0.4", 0),
         ("gamma:1.8", 0), ("posterize:3", 0), ("rotate:12", 0), ("crop:0.6", 0), ("flip", 0),
         ("webp:60", 0), ("pixelate:0.3", 0), ("jpeg:50+brightness:1.2", 0),
         ("gaussian_noise:0.02+gaussian_blur:1+jpeg:70", 9)]
for path in images:
    with Image.open(path) as im:
        pil = im.convert("RGB")
    arr = np.asarray(pil)
    for spec, seed in specs:
        want = cli(spec, path, seed)
        got_path = vfrobust.perturb(path, spec, seed=seed)
        got_arr = vfrobust.perturb(arr, spec, seed=seed)
        got_pil = vfrobust.perturb(pil, spec, seed=seed)
        name = f"{os.path.basename(path)} {spec} seed {seed}"
        C.check(isinstance(got_arr, np.ndarray) and got_arr.dtype == np.uint8, f"{name}: array out")
        C.check(isinstance(got_pil, Image.Image) and got_pil.mode == "RGB", f"{name}: PIL out")
        C.check(np.array_equal(got_path, want), f"{name}: path input differs from the CLI")
        C.check(np.array_equal(got_arr, want), f"{name}: array input differs from the CLI")
        C.check(np.array_equal(np.asarray(got_pil), want), f"{name}: PIL input differs from the CLI")
C.check(not np.array_equal(vfrobust.perturb(arr, "gaussian_noise:0.05", seed=1),
                           vfrobust.perturb(arr, "gaussian_noise:0.05", seed=2)), "the seed changes the noise")


# ---- equal to Pillow where Pillow defines the op ----------------------------------------------
def pil_jpeg(im, q):
    path = os.path.join(tmp, "pil.jpg")
    im.save(path, quality=q)
    with Image.open(path) as j:
        return j.convert("RGB")


def pil_rescale(im, s):
    w, h = im.size
    small = im.resize((max(1, int(np.floor(w * s + 0.5))), max(1, int(np.floor(h * s + 0.5)))), Image.BICUBIC)
    return small.resize((w, h), Image.BICUBIC)


pillow_refs = [
    ("jpeg:35", lambda im: pil_jpeg(im, 35)),
    ("brightness:0.7", lambda im: ImageEnhance.Brightness(im).enhance(0.7)),
    ("contrast:1.4", lambda im: ImageEnhance.Contrast(im).enhance(1.4)),
    ("saturation:0.3", lambda im: ImageEnhance.Color(im).enhance(0.3)),
    ("sharpness:2.0", lambda im: ImageEnhance.Sharpness(im).enhance(2.0)),
    ("gaussian_blur:2.2", lambda im: im.filter(ImageFilter.GaussianBlur(2.2))),
    ("rescale:0.5", lambda im: pil_rescale(im, 0.5)),
    ("posterize:2", lambda im: ImageOps.posterize(im, 2)),
    ("flip", lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)),
    ("rotate:-20", lambda im: im.rotate(-20, resample=Image.BILINEAR)),
    ("jpeg:60+brightness:1.25", lambda im: ImageEnhance.Brightness(pil_jpeg(im, 60)).enhance(1.25)),
]
for path in images:
    with Image.open(path) as im:
        pil = im.convert("RGB")
    for spec, ref in pillow_refs:
        got = vfrobust.perturb(pil, spec)
        C.check(np.array_equal(np.asarray(got), np.asarray(ref(pil))), f"{os.path.basename(path)} {spec}: differs from Pillow")

# ---- ops() and Perturbation --------------------------------------------------------------------
catalog = vfrobust.ops()
names = [o["name"] for o in catalog]
C.check(set(["jpeg", "brightness", "contrast", "saturation", "sharpness", "hue", "gaussian_blur",
             "gaussian_noise", "rescale"]) <= set(names), f"ops() lists the default nine: {names}")
listed = subprocess.run([BIN, "ops"], capture_output=True, text=True).stdout
C.check(all(n in listed for n in names), "every op of ops() is in `vfrobust ops`")
jpeg = next(o for o in catalog if o["name"] == "jpeg")
C.check(jpeg["domain"] == (10, 100) and jpeg["integer"] and jpeg["param"] == "q", f"jpeg's entry: {jpeg}")

p = vfrobust.Perturbation("gaussian_blur:0..3", levels=10)
C.check(len(p) == 10 and np.allclose(p.levels, np.linspace(0, 3, 10), rtol=0, atol=1e-15), f"blur levels {p.levels}")
C.check(np.array_equal(vfrobust.Perturbation("jpeg", levels=5).levels, [10, 33, 55, 78, 100]),
        "jpeg at 5 levels: 10, 33, 55, 78, 100 (rounded, halves away from zero)")
C.check(len(vfrobust.Perturbation("jpeg:50", levels=7)) == 1, "a LEVEL spec has one level")
arr = np.asarray(Image.open(images[0]).convert("RGB"))
outs = []
for k, v in enumerate(p.levels):
    got = p.apply(arr, k)
    outs.append(got)
    C.check(np.array_equal(got, np.asarray(Image.fromarray(arr).filter(ImageFilter.GaussianBlur(v)))),
            f"level {k} (sigma {v}) equals Pillow's GaussianBlur")
C.check(np.array_equal(outs[0], arr), "sigma 0 leaves the image unchanged")
t = vfrobust.Perturbation("gaussian_blur:0..3", levels=10, seed=3)
draws = [t(arr) for _ in range(12)]
C.check(all(any(np.array_equal(d, o) for o in outs) for d in draws), "the transform returns one of the levels")
C.check(len({d.tobytes() for d in draws}) > 1, "the transform draws different levels")
t2 = vfrobust.Perturbation("gaussian_blur:0..3", levels=10, seed=3)
C.check(all(np.array_equal(a, t2(arr)) for a in draws), "the transform is reproducible from its seed")
try:
    import torch
    chw = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    got = p.apply(chw, 4)
    C.check(isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(chw.shape) and
            np.array_equal(got.permute(1, 2, 0).numpy(), outs[4]), "torch uint8 (3, H, W) in and out")
except ImportError:
    pass

# non-contiguous and other layouts are accepted and mean the same pixels
big = np.asarray(Image.open(images[1]).convert("RGB"))
view = big[::2, 1::3]
C.check(np.array_equal(vfrobust.perturb(view, "contrast:0.5"), vfrobust.perturb(view.copy(), "contrast:0.5")),
        "a strided view equals its contiguous copy")
gray = big[:, :, 1].copy()
C.check(np.array_equal(vfrobust.perturb(gray, "brightness:1.1"),
                       np.asarray(ImageEnhance.Brightness(Image.fromarray(gray).convert("RGB")).enhance(1.1))),
        "(H, W) gray input is Pillow's convert('RGB')")
rgba = np.dstack([big, np.full(big.shape[:2], 7, np.uint8)])
C.check(np.array_equal(vfrobust.perturb(rgba, "flip"), big[:, ::-1]), "(H, W, 4) drops alpha")

# ---- bad input: vfrobust.Error, never a crash --------------------------------------------------
bad_jpeg = os.path.join(tmp, "broken.jpg")
with open(images[2], "rb") as f:
    blob = f.read()
with open(bad_jpeg, "wb") as f:
    f.write(blob[: len(blob) // 3])
small = big[:8, :8].copy()
bad_calls = [
    ("unknown op", lambda: vfrobust.perturb(small, "nope:3"), "nope"),
    ("value out of range", lambda: vfrobust.perturb(small, "jpeg:500"), "jpeg"),
    ("empty spec", lambda: vfrobust.perturb(small, ""), None),
    ("dangling chain", lambda: vfrobust.perturb(small, "jpeg:50+"), None),
    ("spec not a string", lambda: vfrobust.perturb(small, 50), "SPEC"),
    ("NUL in spec", lambda: vfrobust.perturb(small, "jpeg:50\0x"), "NUL"),
    ("domain in perturb", lambda: vfrobust.perturb(small, "jpeg:10..90"), "domain"),
    ("float dtype", lambda: vfrobust.perturb(small.astype(np.float32), "flip"), "dtype"),
    ("int64 dtype", lambda: vfrobust.perturb(small.astype(np.int64), "flip"), "dtype"),
    ("5 channels", lambda: vfrobust.perturb(np.zeros((4, 4, 5), np.uint8), "flip"), "shape"),
    ("1-D", lambda: vfrobust.perturb(np.zeros(12, np.uint8), "flip"), "shape"),
    ("empty", lambda: vfrobust.perturb(np.zeros((0, 4, 3), np.uint8), "flip"), "empty"),
    ("not an image", lambda: vfrobust.perturb([1, 2, 3], "flip"), "expected"),
    ("missing file", lambda: vfrobust.perturb(os.path.join(tmp, "absent.png"), "flip"), "absent.png"),
    ("truncated JPEG", lambda: vfrobust.perturb(bad_jpeg, "flip"), "broken.jpg"),
    ("negative seed", lambda: vfrobust.perturb(small, "gaussian_noise:0.1", seed=-1), "seed"),
    ("seed 2^64", lambda: vfrobust.perturb(small, "gaussian_noise:0.1", seed=2**64), "seed"),
    ("0 levels", lambda: vfrobust.Perturbation("jpeg", levels=0), "levels"),
    ("level out of range", lambda: vfrobust.Perturbation("jpeg", levels=3).apply(small, 3), "level"),
    ("bad domain spec", lambda: vfrobust.Perturbation("gaussian_blur:0..5000"), "gaussian_blur"),
]
for what, fn, needle in bad_calls:
    try:
        fn()
        C.check(False, f"{what}: no error")
    except vfrobust.Error as e:
        msg = str(e)
        C.check("\n" not in msg and msg and (needle is None or needle in msg), f"{what}: message {msg!r}")
    except Exception as e:  # noqa: BLE001
        C.check(False, f"{what}: {type(e).__name__} instead of vfrobust.Error: {e}")

# ---- overhead of the binding over the C call -----------------------------------------------------
from vfrobust import _images, _lib  # noqa: E402

L = _lib.lib()
img224 = np.random.default_rng(11).integers(0, 256, (224, 224, 3), dtype=np.uint8)
for spec in ["jpeg:50", "brightness:1.2"]:
    parsed = vfrobust.perturbations.parse_spec(spec)
    src = _images.view(img224)
    out = _lib.vfr_image()
    err = _lib.vfr_error()

    def c_call():
        L.vfr_perturb_apply(ctypes.byref(src), ctypes.byref(parsed.chain), 0, ctypes.byref(out), ctypes.byref(err))
        L.vfr_image_free(ctypes.byref(out))

    def py_call():
        vfrobust.perturb(img224, spec, seed=0)

    # single calls, C and Python interleaved; the fastest of each is its cost without the
    # preemptions and cache refills a loaded machine adds to some calls
    reps = 300 if spec.startswith("jpeg") else 2000
    for f in (c_call, py_call):
        for _ in range(20):
            f()
    times = {"c": [], "py": []}
    clock = time.perf_counter_ns
    for _ in range(reps):
        for name, f in (("c", c_call), ("py", py_call)):
            t0 = clock()
            f()
            times[name].append(clock() - t0)
    best = {k: np.percentile(v, 5) * 1e-9 for k, v in times.items()}
    ratio = best["py"] / best["c"]
    print(f"perturb {spec} 224x224: C {best['c'] * 1e6:.1f} us, Python {best['py'] * 1e6:.1f} us, "
          f"overhead {100 * (ratio - 1):+.1f}%", flush=True)
    C.check(ratio <= 1.10, f"{spec}: the Python call takes {ratio:.3f}x the C call (bar 1.10)")
C.finish()
