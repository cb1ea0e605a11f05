"""Speed of our Pillow-defined perturbations against Pillow 9.4, single thread, one run.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_perturb.py [path/to/libvfrobust.so] [OP...]
Each op runs on the same 224x224 and 1024x768 RGB images in-process (ours through ctypes,
Pillow through its Python API, as the research stack calls it). Timing alternates batches
of our calls and Pillow's (each batch repeats the call for about 2 ms) and keeps each
side's best per-call time, so machine load hits both sides alike and tiny ops are timed
over many calls. Prints, per op and size, both times and the ratio
ours/Pillow speed (= Pillow time / our time; > 1 means we are faster).
"""
import ctypes
import io
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before the library (and its OpenMP) loads

import numpy as np  # noqa: E402
from PIL import Image, ImageEnhance, ImageFilter, ImageOps  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "VFROBUST_LIB", os.path.join(HERE, "..", "build", "libvfrobust.so"))


sys.path.insert(0, os.path.join(HERE, "..", "python"))
from vfrobust._lib import vfr_error as VfrError, vfr_image as VfrImage  # noqa: E402  (include/'s mirrors)


lib = ctypes.CDLL(LIB)
lib.vfr_image_free.argtypes = [ctypes.POINTER(VfrImage)]


def fn(name, *args):
    f = getattr(lib, name)
    f.argtypes = [ctypes.POINTER(VfrImage)] + list(args) + [ctypes.POINTER(VfrImage),
                                                          ctypes.POINTER(VfrError)]
    return f


D, I = ctypes.c_double, ctypes.c_int
NEAREST, BILINEAR, BICUBIC = 0, 2, 4
ONLY = sys.argv[2:]  # optional op-name prefixes to run


def ref_hue(im, shift):
    h, s, v = im.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h += np.uint8(int(shift * 255) % 256)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


def ref_gamma(im, g):
    return im.point([int((255 + 1 - 1e-3) * pow(e / 255.0, g)) for e in range(256)] * 3)


def ref_codec(im, fmt, q):
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=q)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def resize_back(im, s, down, up):
    w, h = im.size
    return im.resize((max(1, int(w * s + 0.5)), max(1, int(h * s + 0.5))), down).resize((w, h), up)


def crop_back(im, a):
    w, h = im.size
    cw, ch = int(w * a ** 0.5 + 0.5), int(h * a ** 0.5 + 0.5)
    x, y = (w - cw) // 2, (h - ch) // 2
    return im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)


OPS = [
    ("brightness 1.3", fn("vfr_brightness", D), (1.3,), lambda im: ImageEnhance.Brightness(im).enhance(1.3)),
    ("contrast 1.3", fn("vfr_contrast", D), (1.3,), lambda im: ImageEnhance.Contrast(im).enhance(1.3)),
    ("saturation 1.3", fn("vfr_saturation", D), (1.3,), lambda im: ImageEnhance.Color(im).enhance(1.3)),
    ("sharpness 2", fn("vfr_sharpness", D), (2.0,), lambda im: ImageEnhance.Sharpness(im).enhance(2.0)),
    ("gaussian_blur 2", fn("vfr_gaussian_blur", D), (2.0,), lambda im: im.filter(ImageFilter.GaussianBlur(2.0))),
    ("hue 0.05", fn("vfr_hue", D), (0.05,), lambda im: ref_hue(im, 0.05)),
    ("gamma 0.8", fn("vfr_gamma", D), (0.8,), lambda im: ref_gamma(im, 0.8)),
    ("posterize 3", fn("vfr_posterize", I), (3,), lambda im: ImageOps.posterize(im, 3)),
    ("flip", fn("vfr_flip"), (), lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)),
    ("rotate 13 nearest", fn("vfr_rotate", D, I), (13.0, NEAREST), lambda im: im.rotate(13, Image.NEAREST)),
    ("rotate 13 bilinear", fn("vfr_rotate", D, I), (13.0, BILINEAR), lambda im: im.rotate(13, Image.BILINEAR)),
    ("rotate 13 bicubic", fn("vfr_rotate", D, I), (13.0, BICUBIC), lambda im: im.rotate(13, Image.BICUBIC)),
    ("crop 0.6", fn("vfr_crop_area", D), (0.6,), lambda im: crop_back(im, 0.6)),
    ("rescale 0.5", fn("vfr_rescale", D), (0.5,), lambda im: resize_back(im, 0.5, Image.BICUBIC, Image.BICUBIC)),
    ("pixelate 0.3", fn("vfr_pixelate", D), (0.3,),
     lambda im: im.resize((int(0.3 * im.width), int(0.3 * im.height)), Image.BOX).resize(im.size, Image.NEAREST)),
    ("jpeg 75", fn("vfr_jpeg_roundtrip", I), (75,), lambda im: ref_codec(im, "JPEG", 75)),
    ("webp 75", fn("vfr_webp_roundtrip", D), (75.0,), lambda im: ref_codec(im, "WEBP", 75)),
]


def calls_per_batch(call, target=2e-3):
    """How many back-to-back calls make a batch of about `target` seconds (at least 1)."""
    t = time.perf_counter()
    call()
    dt = time.perf_counter() - t
    return max(1, min(1000, int(target / max(dt, 1e-7))))


def paired_best(ours, pillow, budget=0.8, min_rounds=5, max_rounds=200):
    """Best per-call time of each side. Rounds alternate one batch of ours and one of
    Pillow's, so load on the shared machine affects both alike; a batch repeats the call
    enough times that the timer and one-off stalls don't dominate tiny ops."""
    n_ours, n_pil = calls_per_batch(ours), calls_per_batch(pillow)
    best_ours = best_pil = float("inf")
    spent, rounds = 0.0, 0
    while rounds < min_rounds or (spent < budget and rounds < max_rounds):
        for call, n, side in ((ours, n_ours, 0), (pillow, n_pil, 1)):
            t = time.perf_counter()
            for _ in range(n):
                call()
            dt = time.perf_counter() - t
            spent += dt
            if side == 0:
                best_ours = min(best_ours, dt / n)
            else:
                best_pil = min(best_pil, dt / n)
        rounds += 1
    return best_ours, best_pil


def main():
    rng = np.random.default_rng(0)
    print(f"library {os.path.realpath(LIB)}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"{'op':<20} {'size':>9} {'ours ms':>9} {'Pillow ms':>10} {'speed ours/Pillow':>18}")
    ratios = []
    for w, h in ((224, 224), (1024, 768)):
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.clip(np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) + rng.integers(-30, 31, (h, w, 3)),
                      0, 255).astype(np.uint8)
        im = Image.fromarray(arr, "RGB")
        img = VfrImage(w, h, 3, w * 3, arr.ctypes.data)
        for name, f, args, ref in OPS:
            if ONLY and not any(name.startswith(o) for o in ONLY):
                continue
            out, err = VfrImage(), VfrError()

            def ours():
                if f(ctypes.byref(img), *args, ctypes.byref(out), ctypes.byref(err)):
                    raise RuntimeError(err.message.decode())
                lib.vfr_image_free(ctypes.byref(out))

            t_ours, t_pil = paired_best(ours, lambda: ref(im))
            ratios.append(t_pil / t_ours)
            print(f"{name:<20} {w:>4}x{h:<4} {t_ours * 1e3:9.3f} {t_pil * 1e3:10.3f} {t_pil / t_ours:18.2f}",
                  flush=True)
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean speed ours/Pillow: {geo:.2f}; slowest op ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
