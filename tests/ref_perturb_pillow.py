"""Every Pillow-defined perturbation against Pillow 9.4 itself: bit-identical output.

Our ops are called in-process through ctypes on synthetic images of odd sizes and on
CIFAR-10 JPEGs, at values across and beyond each default domain. The references are
Pillow calls (ImageEnhance, ImageFilter, ImageOps, rotate, resize, save) and, for hue and
gamma, torchvision's PIL-path formulas written out here with Pillow and NumPy.
"""
import ctypes
import glob
import io
import math
import os
import sys
import time

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfr_testlib as T  # noqa: E402


lib = T.load_lib()
D, I, P = ctypes.c_double, ctypes.c_int, ctypes.c_void_p


def sig(name, *args):
    f = getattr(lib, name)
    f.argtypes = [T.IMG_P] + list(args) + [T.IMG_P, T.ERR_P]
    f.restype = ctypes.c_int
    return f


F_NEAREST, F_BOX, F_BILINEAR, F_HAMMING, F_BICUBIC = 0, 1, 2, 3, 4
ops_c = {
    "brightness": sig("vfr_brightness", D), "contrast": sig("vfr_contrast", D),
    "saturation": sig("vfr_saturation", D), "sharpness": sig("vfr_sharpness", D),
    "gaussian_blur": sig("vfr_gaussian_blur", D), "hue": sig("vfr_hue", D),
    "gamma": sig("vfr_gamma", D), "posterize": sig("vfr_posterize", I),
    "flip": sig("vfr_flip"), "rotate": sig("vfr_rotate", D, I),
    "crop": sig("vfr_crop_area", D), "rescale": sig("vfr_rescale", D),
    "pixelate": sig("vfr_pixelate", D), "jpeg": sig("vfr_jpeg_roundtrip", I),
    "webp": sig("vfr_webp_roundtrip", D),
}


def ours(op, arr, *args):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    img = T.image_view(arr)
    out, err = T.abi.vfr_image(), T.abi.vfr_error()
    rc = ops_c[op](ctypes.byref(img), *args, ctypes.byref(out), ctypes.byref(err))
    if rc != 0:
        raise RuntimeError(f"{op}{args}: {err.message.decode()}")
    return T.image_take(lib, out)


# ---- references -------------------------------------------------------------------

def ref_hue(im, shift):
    """torchvision F_pil.adjust_hue: H channel of Pillow's HSV += uint8(int(shift*255))."""
    h, s, v = im.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h = (np_h.astype(np.int64) + (int(shift * 255) % 256)) % 256
    h = Image.fromarray(np_h.astype(np.uint8), "L")
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def ref_gamma(im, gamma, gain=1.0):
    """torchvision F_pil.adjust_gamma."""
    gamma_map = [int((255 + 1 - 1e-3) * gain * pow(ele / 255.0, gamma)) for ele in range(256)] * 3
    return im.point(gamma_map)


def ref_crop(im, a):
    w, h = im.size
    cw = max(1, math.floor(w * math.sqrt(a) + 0.5))
    ch = max(1, math.floor(h * math.sqrt(a) + 0.5))
    x, y = (w - cw) // 2, (h - ch) // 2
    return im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)


def ref_rescale(im, s):
    w, h = im.size
    sw, sh = max(1, math.floor(w * s + 0.5)), max(1, math.floor(h * s + 0.5))
    return im.resize((sw, sh), Image.BICUBIC).resize((w, h), Image.BICUBIC)


def ref_pixelate(im, c):
    w, h = im.size
    sw, sh = max(1, math.floor(c * w)), max(1, math.floor(c * h))
    return im.resize((sw, sh), Image.BOX).resize((w, h), Image.NEAREST)


def ref_codec(im, fmt, q):
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


RESAMPLE = {F_NEAREST: Image.NEAREST, F_BILINEAR: Image.BILINEAR, F_BICUBIC: Image.BICUBIC}

CASES = {
    "brightness": ([0, 0.37, 0.5, 1, 1.3, 1.5, 2.7], lambda im, f: ImageEnhance.Brightness(im).enhance(f)),
    "contrast": ([0, 0.37, 0.5, 1, 1.5, 2.7], lambda im, f: ImageEnhance.Contrast(im).enhance(f)),
    "saturation": ([0, 0.37, 1, 1.6, 2, 2.7], lambda im, f: ImageEnhance.Color(im).enhance(f)),
    "sharpness": ([0, 0.37, 1, 2, 3, 4.5], lambda im, f: ImageEnhance.Sharpness(im).enhance(f)),
    "gaussian_blur": ([0, 0.3, 0.5, 1, 1.37, 2, 3, 5], lambda im, s: im.filter(ImageFilter.GaussianBlur(radius=s))),
    "hue": ([-0.5, -0.1, -0.05, 0, 0.03, 0.1, 0.37, 0.5], ref_hue),
    "gamma": ([0.3, 0.5, 0.8, 1, 1.5, 2.2, 4], ref_gamma),
    "posterize": (list(range(1, 9)), lambda im, b: ImageOps.posterize(im, b)),
    "flip": ([None], lambda im, _: im.transpose(Image.FLIP_LEFT_RIGHT)),
    "rotate": ([(a, f) for f in (F_NEAREST, F_BILINEAR, F_BICUBIC)
                for a in (-30, -7.5, 0.3, 5, 13, 33.3, 45, 90, 180, 270, 400)],
               lambda im, af: im.rotate(af[0], resample=RESAMPLE[af[1]])),
    "crop": ([0.3, 0.5, 0.77, 1], ref_crop),
    "rescale": ([0.1, 0.25, 0.5, 0.77, 1, 1.5], ref_rescale),
    "pixelate": ([0.1, 0.25, 0.5, 0.9, 1], ref_pixelate),
    "jpeg": (list(range(1, 101)), lambda im, q: ref_codec(im, "JPEG", q)),
    "webp": ([0, 10, 50, 80, 100], lambda im, q: ref_codec(im, "WEBP", q)),
}


def synthetic(w, h, seed):
    """A smooth gradient with edges and noise: exercises rounding everywhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255.0 / max(w - 1, 1), yy * 255.0 / max(h - 1, 1),
                     (xx + yy) % 64 * 4.0], axis=-1)
    base[(xx // 8 + yy // 8) % 2 == 0] *= 0.5
    noise = rng.integers(-40, 41, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def images():
    out = [("1x1", synthetic(1, 1, 1)), ("7x5", synthetic(7, 5, 2)), ("2x9", synthetic(2, 9, 3)),
           ("33x17", synthetic(33, 17, 4)), ("224x224", synthetic(224, 224, 5)),
           ("1000x700", synthetic(1000, 700, 6))]
    files = sorted(glob.glob(os.path.join(T.DATA, "cifar10", "test", "*", "*.jpg")))
    for f in files[::max(1, len(files) // 12)][:12]:
        out.append((os.path.relpath(f, T.DATA), np.array(Image.open(f).convert("RGB"))))
    return out


def main():
    ck = T.Checker("ref_perturb_pillow")
    imgs = images()
    only = sys.argv[1:]
    t0 = time.time()
    for op, (values, ref) in CASES.items():
        if only and op not in only:
            continue
        n = ok = 0
        worst = 0
        for name, arr in imgs:
            im = Image.fromarray(arr, "RGB")
            big = arr.shape[0] * arr.shape[1] > 300000
            for v in values:
                if big and op in ("jpeg", "webp") and v not in (1, 10, 50, 95, 100):
                    continue
                expect = np.array(ref(im, v))
                if op == "flip":
                    got = ours(op, arr)
                elif op == "rotate":
                    got = ours(op, arr, float(v[0]), v[1])
                elif op in ("posterize", "jpeg"):
                    got = ours(op, arr, int(v))
                else:
                    got = ours(op, arr, float(v))
                same = got.shape == expect.shape and np.array_equal(got, expect)
                n += 1
                ok += same
                if not same and got.shape == expect.shape:
                    diff = np.abs(got.astype(int) - expect.astype(int))
                    worst = max(worst, int(diff.max()))
                    ck.check(False, f"{op}({v}) on {name}: {int((diff > 0).sum())} values differ, max {int(diff.max())}")
                elif not same:
                    ck.check(False, f"{op}({v}) on {name}: shape {got.shape} vs {expect.shape}")
                else:
                    ck.check(True, "")
        print(f"{op}: {ok}/{n} (op, value, image) cases bit-identical to the reference"
              + (f", worst difference {worst}" if ok < n else ""), flush=True)
    if not only or "hue" in only:
        # Every one of the 2^24 RGB colours through the HSV round trip at three shifts.
        allc = np.arange(1 << 24, dtype=np.uint32)
        arr = np.stack([allc >> 16, (allc >> 8) & 255, allc & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)
        im = Image.fromarray(arr, "RGB")
        for shift in (0.0, 0.1, -0.37):
            same = np.array_equal(ours("hue", arr, shift), np.array(ref_hue(im, shift)))
            ck.check(same, f"hue({shift}) differs on the all-colours image")
            print(f"hue {shift}: all 2^24 colours {'bit-identical' if same else 'DIFFER'}", flush=True)
    print(f"time {time.time() - t0:.1f} s", flush=True)
    ck.finish()


if __name__ == "__main__":
    main()
