"""Images against Pillow 9.4: decoding (JPEG, PNG in every colour type and depth,
WebP) equals Image.open(f).convert('RGB'); every resize filter is bit-identical to
img.resize((w, h), filter); convert('L'), crops, and JPEG encoding byte-identical to
img.save(f, "JPEG", quality=q). The reference is Pillow itself (plus a tiny PNG writer
here, built on zlib, for the PNG variants Pillow cannot write)."""
import ctypes
import glob
import io
import os
import struct
import sys
import time
import zlib

import numpy as np
from PIL import Image

import vfr_testlib as T

lib = T.load_lib()


VfrImage, VfrError, IMG_P, ERR_P = T.abi.vfr_image, T.abi.vfr_error, T.IMG_P, T.ERR_P
lib.vfr_image_decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p,
                                 IMG_P, ERR_P]
lib.vfr_image_free.argtypes = [IMG_P]
lib.vfr_resize.argtypes = [IMG_P, ctypes.c_int, ctypes.c_int, ctypes.c_int, IMG_P, ERR_P]
lib.vfr_image_to_gray.argtypes = [IMG_P, IMG_P, ERR_P]
lib.vfr_image_gray_to_rgb.argtypes = [IMG_P, IMG_P, ERR_P]
lib.vfr_crop.argtypes = [IMG_P, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, IMG_P, ERR_P]
lib.vfr_center_crop.argtypes = [IMG_P, ctypes.c_int, ctypes.c_int, IMG_P, ERR_P]
lib.vfr_jpeg_encode.argtypes = [IMG_P, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                                ctypes.POINTER(ctypes.c_size_t), ERR_P]
lib.vfr_png_encode.argtypes = [IMG_P, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                               ctypes.POINTER(ctypes.c_size_t), ERR_P]
lib.vfr_webp_encode.argtypes = [IMG_P, ctypes.c_float, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                                ctypes.POINTER(ctypes.c_size_t), ERR_P]
lib.vfr_free.argtypes = [ctypes.c_void_p]

FILTERS = {"NEAREST": (0, Image.Resampling.NEAREST), "BOX": (1, Image.Resampling.BOX),
           "BILINEAR": (2, Image.Resampling.BILINEAR), "HAMMING": (3, Image.Resampling.HAMMING),
           "BICUBIC": (4, Image.Resampling.BICUBIC), "LANCZOS": (5, Image.Resampling.LANCZOS)}
MODES = {1: "L", 3: "RGB", 4: "RGBA"}

ck = T.Checker("ref_image_pillow")
rng = np.random.default_rng(20240611)


def to_vfr(a):
    """A view of a (H,W) or (H,W,C) uint8 array as a vfr_image (keep `a` alive)."""
    return T.image_view(a)


def from_vfr(img):
    """Copies a library-owned vfr_image into a (H,W[,C]) array and frees it."""
    return T.image_take(lib, img)


def call(fn, *args):
    out, err = VfrImage(), VfrError()
    rc = fn(*args, ctypes.byref(out), ctypes.byref(err))
    if rc != 0:
        return None, err.message.decode()
    return from_vfr(out), ""


def decode(data, name="mem"):
    return call(lib.vfr_image_decode, data, len(data), name.encode(), None)


def encoded(fn, img, *args):
    buf, n, err = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t(), VfrError()
    rc = fn(ctypes.byref(img), *args, ctypes.byref(buf), ctypes.byref(n), ctypes.byref(err))
    if rc != 0:
        return None
    data = ctypes.string_at(buf, n.value)
    lib.vfr_free(buf)
    return data


def pil_rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def photo_like(w, h, seed):
    """Smooth gradients, hard edges, texture and noise: exercises every code path."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.zeros((h, w, 3))
    for ch in range(3):
        fx, fy, ph = r.uniform(0.5, 6, 3)
        a[..., ch] = 128 + 90 * np.sin(fx * x / max(w, 1) * 6.28 + ph) * np.cos(fy * y / max(h, 1) * 6.28)
    for _ in range(6):
        cx, cy, rad = r.uniform(0, w), r.uniform(0, h), r.uniform(2, max(3, min(w, h) / 3))
        a[(x - cx) ** 2 + (y - cy) ** 2 < rad ** 2] = r.uniform(0, 255, 3)
    a += r.normal(0, 12, a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


def save(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


# ---- a tiny PNG writer for the variants Pillow cannot produce --------------------
def png_bytes(rows, w, h, depth, ctype, plte=None, trns=None, interlace=0):
    """rows: packed scanlines, or for interlace=1 already the Adam7 pass scanlines."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def adam7_rows(a):
    """(H,W,C) array of whole-byte samples -> scanlines of the 7 Adam7 passes."""
    rows = []
    for (x0, y0, dx, dy) in ADAM7:
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            rows += [r.tobytes() for r in sub]
    return rows


def pack_bits(vals, depth):
    """(H,W) ints < 2**depth -> list of packed rows, MSB first."""
    rows = []
    per = 8 // depth
    for r in vals:
        pad = (-len(r)) % per
        r = np.concatenate([r, np.zeros(pad, dtype=r.dtype)]).reshape(-1, per)
        b = np.zeros(len(r), dtype=np.int64)
        for i in range(per):
            b = (b << depth) | r[:, i]
        rows.append(b.astype(np.uint8).tobytes())
    return rows


def check_decode(data, what):
    ours, msg = decode(data)
    try:
        ref = pil_rgb(data)
    except Exception as e:  # Pillow refuses: so must we
        ck.check(ours is None, f"decode {what}: Pillow raises {e!r} but we decoded")
        return
    ck.check(ours is not None and ours.shape == ref.shape and np.array_equal(ours, ref),
             f"decode {what}: differs from Pillow ({msg or 'pixels'})")


t0 = time.time()
n_dec = ck.passed + ck.failed
# ---- decoding: PNG -------------------------------------------------------------
for (w, h) in [(1, 1), (7, 5), (33, 17), (64, 48)]:
    rgb = photo_like(w, h, w * 31 + h)
    im = Image.fromarray(rgb)
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    check_decode(save(im, "PNG"), f"PNG RGB {w}x{h}")
    check_decode(save(rgba, "PNG"), f"PNG RGBA {w}x{h}")
    check_decode(save(im.convert("L"), "PNG"), f"PNG L {w}x{h}")
    check_decode(save(im.convert("1"), "PNG"), f"PNG 1-bit {w}x{h}")
    check_decode(save(rgba.convert("LA"), "PNG"), f"PNG LA {w}x{h}")
    pim = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=200)
    check_decode(save(pim, "PNG"), f"PNG P {w}x{h}")
    check_decode(save(pim, "PNG", transparency=3), f"PNG P+tRNS {w}x{h}")
    for bits in (1, 2, 4):  # small palettes are written at low bit depth
        small = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=2 ** bits)
        check_decode(save(small, "PNG", bits=bits, transparency=0), f"PNG P {bits}-bit+tRNS {w}x{h}")
    g16 = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    g16[0, 0] = 200  # keep a few values below 256 (Pillow clamps 16-bit grey)
    check_decode(save(Image.fromarray(g16.astype("<u2"), "I;16"), "PNG"), f"PNG gray16 {w}x{h}")
    check_decode(png_bytes([r.astype(">u2").tobytes() for r in g16 // 300], w, h, 16, 0),
                 f"PNG gray16 small values {w}x{h}")
    for depth in (2, 4):
        v = rng.integers(0, 2 ** depth, (h, w))
        check_decode(png_bytes(pack_bits(v, depth), w, h, depth, 0), f"PNG gray {depth}-bit {w}x{h}")
    r16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    check_decode(png_bytes([r.astype(">u2").tobytes() for r in r16], w, h, 16, 2), f"PNG RGB16 {w}x{h}")
    a16 = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    check_decode(png_bytes([r.astype(">u2").tobytes() for r in a16], w, h, 16, 6), f"PNG RGBA16 {w}x{h}")
    check_decode(png_bytes([r.astype(">u2").tobytes() for r in a16[..., :2]], w, h, 16, 4),
                 f"PNG LA16 {w}x{h}")
    check_decode(png_bytes([r.tobytes() for r in rgb], w, h, 8, 2, trns=b"\x00\x10\x00\x20\x00\x30"),
                 f"PNG RGB+tRNS {w}x{h}")
    g8 = np.asarray(im.convert("L"))
    check_decode(png_bytes([r.tobytes() for r in g8], w, h, 8, 0, trns=b"\x00\x80"), f"PNG L+tRNS {w}x{h}")
    check_decode(png_bytes([r.astype(">u2").tobytes() for r in g16], w, h, 16, 0, trns=b"\x00\x10"),
                 f"PNG gray16+tRNS {w}x{h}")
    check_decode(png_bytes(pack_bits(rng.integers(0, 4, (h, w)), 2), w, h, 2, 0, trns=b"\x00\x01"),
                 f"PNG gray 2-bit+tRNS {w}x{h}")
    check_decode(png_bytes(adam7_rows(rgb), w, h, 8, 2, interlace=1), f"PNG RGB interlaced {w}x{h}")
    check_decode(png_bytes(adam7_rows(a16.astype(">u2")), w, h, 16, 6, interlace=1),
                 f"PNG RGBA16 interlaced {w}x{h}")
    idx = rng.integers(0, 16, (h, w), dtype=np.uint8)  # palette of 6: indices past its end
    check_decode(png_bytes([r.tobytes() for r in idx], w, h, 8, 3, plte=bytes(range(18))),
                 f"PNG P index past palette {w}x{h}")

# ---- decoding: JPEG and WebP ---------------------------------------------------
for (w, h) in [(1, 1), (7, 5), (33, 17), (224, 224), (1000, 750)]:
    rgb = photo_like(w, h, w + 7 * h)
    im = Image.fromarray(rgb)
    for q in (10, 50, 75, 95, 100):
        check_decode(save(im, "JPEG", quality=q), f"JPEG RGB q{q} {w}x{h}")
    check_decode(save(im.convert("L"), "JPEG", quality=80), f"JPEG L {w}x{h}")
    check_decode(save(im, "JPEG", quality=80, subsampling=0), f"JPEG 4:4:4 {w}x{h}")
    check_decode(save(im, "JPEG", quality=80, subsampling=1), f"JPEG 4:2:2 {w}x{h}")
    check_decode(save(im, "JPEG", quality=80, progressive=True), f"JPEG progressive {w}x{h}")
    check_decode(save(im, "JPEG", quality=80, optimize=True), f"JPEG optimized {w}x{h}")
    check_decode(save(im.convert("CMYK"), "JPEG", quality=90), f"JPEG CMYK {w}x{h}")
    check_decode(save(im, "WEBP", quality=80), f"WebP lossy {w}x{h}")
    check_decode(save(im, "WEBP", lossless=True), f"WebP lossless {w}x{h}")
    rgba = Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (h, w), dtype=np.uint8)]), "RGBA")
    check_decode(save(rgba, "WEBP", quality=70), f"WebP lossy RGBA {w}x{h}")
    check_decode(save(rgba, "WEBP", lossless=True), f"WebP lossless RGBA {w}x{h}")
# truncated and damaged files: where Pillow raises we must fail; where it decodes (a PNG
# that loses only what follows its image data) we must give the same pixels
before_cut = ck.passed + ck.failed
cut_src = photo_like(33, 17, 12)
cut_files = {"PNG": save(Image.fromarray(cut_src), "PNG"),
             "PNG interlaced": png_bytes(adam7_rows(cut_src), 33, 17, 8, 2, interlace=1),
             "PNG P": save(Image.fromarray(cut_src).convert("P"), "PNG"),
             "JPEG": save(Image.fromarray(cut_src), "JPEG", quality=90),
             "JPEG progressive": save(Image.fromarray(cut_src), "JPEG", quality=90, progressive=True),
             "WebP": save(Image.fromarray(cut_src), "WEBP", quality=90)}
for what, data in cut_files.items():
    for n in range(len(data) - 1, 0, -max(1, len(data) // 150)):
        check_decode(data[:n], f"{what} cut to {n} of {len(data)} bytes")
png = bytearray(cut_files["PNG"])
idat = png.index(b"IDAT")
length = struct.unpack(">I", png[idat - 4:idat])[0]
png[idat + 4 + length] ^= 0xFF  # IDAT CRC wrong: Pillow does not check it
check_decode(bytes(png), "PNG with a wrong IDAT CRC")
png = bytearray(cut_files["PNG"])
png[20] ^= 0xFF  # IHDR damaged: Pillow checks that CRC
check_decode(bytes(png), "PNG with a wrong IHDR CRC")
print(f"decode of cut/damaged files: {ck.passed + ck.failed - before_cut} cases compared", flush=True)
cifar = sorted(glob.glob(os.path.join(T.DATA, "cifar10", "test", "*", "*.jpg")))
cifar = cifar[::max(1, len(cifar) // 200)][:200]
for p in cifar:
    with open(p, "rb") as f:
        check_decode(f.read(), p)
ck.check(len(cifar) > 0, "CIFAR-10 test JPEGs found under $VFROBUST_SHARED/data/cifar10/test")
n_cifar = len(cifar)
n_dec = ck.passed + ck.failed - n_dec
print(f"decode: {n_dec} cases compared ({n_cifar} CIFAR-10 JPEGs), {time.time() - t0:.1f}s", flush=True)

# ---- resize --------------------------------------------------------------------
t0 = time.time()
before = (ck.passed, ck.failed)
sources = [(1, 1), (7, 5), (33, 17), (224, 224), (1000, 750), (5, 300)]
targets = [(1, 1), (1, 5), (3, 2), (7, 5), (16, 16), (33, 17), (50, 40), (224, 224), (300, 9), (512, 384)]
for (sw, sh) in sources:
    base = photo_like(sw, sh, sw * 3 + sh)
    for c in (1, 3, 4):
        if c == 1:
            arr = np.asarray(Image.fromarray(base).convert("L"))
        elif c == 3:
            arr = base
        else:
            arr = np.dstack([base, rng.integers(0, 256, (sh, sw), dtype=np.uint8)])
            arr[: sh // 2, : sw // 2, 3] = 255  # some opaque, some transparent regions
            arr[sh // 2:, sw // 2:, 3] = 0
        pim = Image.fromarray(arr, MODES[c])
        src = to_vfr(arr)
        tgts = targets + [(sw, sh), (sw, max(1, sh // 3)), (max(1, sw // 3), sh), (sw * 2 + 1, sh)]
        if (sw, sh) == (1000, 750) and c != 3:
            tgts = [(224, 224), (7, 5), (1000, 375)]  # keep the run short
        for (tw, th) in tgts:
            for name, (fid, pf) in FILTERS.items():
                ref = np.asarray(pim.resize((tw, th), pf))
                ours, msg = call(lib.vfr_resize, ctypes.byref(src), tw, th, fid)
                ok = ours is not None and ours.shape == ref.shape and np.array_equal(ours, ref)
                if not ok and ours is not None and ours.shape == ref.shape:
                    msg = f"max |diff| {np.abs(ours.astype(int) - ref).max()}, {np.count_nonzero(ours != ref)} values"
                ck.check(ok, f"resize {name} {MODES[c]} {sw}x{sh} -> {tw}x{th}: {msg}")
sweep = np.random.default_rng(7)
for i in range(400):  # random sizes and ratios, every filter and channel count
    sw, sh = (int(v) for v in sweep.integers(1, 70, 2))
    tw, th = (int(v) for v in sweep.integers(1, 90, 2))
    c = (1, 3, 4)[i % 3]
    name = list(FILTERS)[(i // 3) % 6]
    arr = sweep.integers(0, 256, (sh, sw, c) if c > 1 else (sh, sw), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(arr, MODES[c]).resize((tw, th), FILTERS[name][1]))
    ours, msg = call(lib.vfr_resize, ctypes.byref(to_vfr(arr)), tw, th, FILTERS[name][0])
    ck.check(ours is not None and np.array_equal(ours, ref), f"resize {name} {MODES[c]} random {sw}x{sh} -> {tw}x{th} {msg}")
n_res = ck.passed + ck.failed - sum(before)
print(f"resize: {n_res} cases compared ({ck.failed - before[1]} mismatched), {time.time() - t0:.1f}s", flush=True)

# ---- conversions and crops -----------------------------------------------------
before = ck.passed + ck.failed
for (w, h) in [(1, 1), (7, 5), (33, 17), (224, 224)]:
    rgb = photo_like(w, h, w * h + 1)
    rgba = np.dstack([rgb, rng.integers(0, 256, (h, w), dtype=np.uint8)])
    ours, msg = call(lib.vfr_image_to_gray, ctypes.byref(to_vfr(rgb)))
    ck.check(ours is not None and np.array_equal(ours, np.asarray(Image.fromarray(rgb).convert("L"))),
             f"convert L from RGB {w}x{h} {msg}")
    ours, msg = call(lib.vfr_image_to_gray, ctypes.byref(to_vfr(rgba)))
    ck.check(ours is not None and np.array_equal(ours, np.asarray(Image.fromarray(rgba, "RGBA").convert("L"))),
             f"convert L from RGBA {w}x{h} {msg}")
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    ours, msg = call(lib.vfr_image_gray_to_rgb, ctypes.byref(to_vfr(gray)))
    ck.check(ours is not None and np.array_equal(ours, np.asarray(Image.fromarray(gray).convert("RGB"))),
             f"convert RGB from L {w}x{h} {msg}")
    for (cx, cy, cw, chh) in [(0, 0, w, h), (0, 0, 1, 1), (w - 1, h - 1, 1, 1), (w // 3, h // 4, w - w // 3, h - h // 4)]:
        ours, msg = call(lib.vfr_crop, ctypes.byref(to_vfr(rgb)), cx, cy, cw, chh)
        ref = np.asarray(Image.fromarray(rgb).crop((cx, cy, cx + cw, cy + chh)))
        ck.check(ours is not None and np.array_equal(ours, ref), f"crop {w}x{h} at {cx},{cy} {cw}x{chh} {msg}")
    for (cw, chh) in [(w, h), (1, 1), (max(1, w - 3), max(1, h - 2)), ((w + 1) // 2, (h + 1) // 2)]:
        ours, msg = call(lib.vfr_center_crop, ctypes.byref(to_vfr(rgb)), cw, chh)
        left, top = (w - cw) // 2, (h - chh) // 2
        ref = np.asarray(Image.fromarray(rgb).crop((left, top, left + cw, top + chh)))
        ck.check(ours is not None and np.array_equal(ours, ref), f"center crop {w}x{h} -> {cw}x{chh} {msg}")
    ours, msg = call(lib.vfr_crop, ctypes.byref(to_vfr(rgb)), 1, 0, w, h)
    ck.check(ours is None and "crop" in msg, f"crop outside the image must fail ({msg})")
# rows with padding after the pixels (stride > width * channels)
for c in (1, 3, 4):
    a = photo_like(37, 23, 11)
    a = np.asarray(Image.fromarray(a).convert("L")) if c == 1 else a
    a = np.dstack([a, a[..., 0]]) if c == 4 else a
    padded = np.zeros((23, 37 * c + 13), dtype=np.uint8)
    padded[:, :37 * c] = a.reshape(23, 37 * c)
    view = VfrImage(37, 23, c, padded.shape[1], padded.ctypes.data)
    pim = Image.fromarray(a, MODES[c])
    ours, msg = call(lib.vfr_resize, ctypes.byref(view), 20, 31, FILTERS["BICUBIC"][0])
    ck.check(ours is not None and np.array_equal(ours, np.asarray(pim.resize((20, 31), Image.Resampling.BICUBIC))),
             f"resize of a padded-stride {MODES[c]} image {msg}")
    ours, msg = call(lib.vfr_crop, ctypes.byref(view), 3, 2, 30, 20)
    ck.check(ours is not None and np.array_equal(ours, np.asarray(pim.crop((3, 2, 33, 22)))),
             f"crop of a padded-stride {MODES[c]} image {msg}")
    if c != 4:
        ck.check(encoded(lib.vfr_jpeg_encode, view, 85) == save(pim, "JPEG", quality=85),
                 f"JPEG encode of a padded-stride {MODES[c]} image")
    if c != 1:
        ours, msg = call(lib.vfr_image_to_gray, ctypes.byref(view))
        ck.check(ours is not None and np.array_equal(ours, np.asarray(pim.convert("L"))),
                 f"convert L of a padded-stride {MODES[c]} image {msg}")
print(f"convert/crop: {ck.passed + ck.failed - before} cases compared", flush=True)

# ---- JPEG encoding: byte-identical ----------------------------------------------
t0 = time.time()
before = (ck.passed, ck.failed)
enc_imgs = [photo_like(64, 48, 5), photo_like(33, 17, 6), photo_like(1, 1, 7), photo_like(224, 224, 8),
            photo_like(1000, 750, 9)]
for arr in enc_imgs:
    h, w = arr.shape[:2]
    for mode in ("RGB", "L"):
        a = arr if mode == "RGB" else np.asarray(Image.fromarray(arr).convert("L"))
        src, pim = to_vfr(a), Image.fromarray(a, mode)
        qs = range(1, 101) if (w, h) == (64, 48) else (1, 2, 10, 50, 75, 90, 99, 100)
        for q in qs:
            ours = encoded(lib.vfr_jpeg_encode, src, q)
            ck.check(ours == save(pim, "JPEG", quality=q), f"JPEG encode {mode} {w}x{h} q={q} not byte-identical")
n_enc = ck.passed + ck.failed - sum(before)
print(f"jpeg encode: {n_enc} cases compared ({ck.failed - before[1]} differ), {time.time() - t0:.2f}s", flush=True)

# ---- PNG and WebP encoding ------------------------------------------------------
# PNG: lossless, so Pillow must read back exactly the input. WebP: libwebp's default
# config at quality q is what Pillow's save(quality=q) uses, so the bytes must agree.
before = ck.passed + ck.failed
for (w, h) in [(1, 1), (33, 17), (224, 224)]:
    for c in (1, 3, 4):
        arr = photo_like(w, h, 8 + w)
        arr = np.asarray(Image.fromarray(arr).convert("L")) if c == 1 else arr
        if c == 4:
            arr = np.dstack([arr, rng.integers(0, 256, (h, w), dtype=np.uint8)])
        data = encoded(lib.vfr_png_encode, to_vfr(arr))
        back = np.asarray(Image.open(io.BytesIO(data))) if data else None
        ck.check(back is not None and np.array_equal(back, arr),
                 f"PNG encode {MODES[c]} {w}x{h} round-trips through Pillow")
        for q in (0, 10, 50, 75, 90, 100):
            data = encoded(lib.vfr_webp_encode, to_vfr(arr), float(q))
            ck.check(data is not None and data == save(Image.fromarray(arr, MODES[c]), "WEBP", quality=q),
                     f"WebP encode {MODES[c]} {w}x{h} q={q} not byte-identical to Pillow")
print(f"png/webp encode: {ck.passed + ck.failed - before} cases compared", flush=True)

# ---- speed: resize against Pillow, single-threaded (reported, not asserted: the
# machine is shared; CPU time of this thread, best of 5 interleaved rounds) ----------
big = photo_like(1000, 750, 99)
src, pim = to_vfr(big), Image.fromarray(big)
for name, size in [("BICUBIC", (224, 224)), ("BILINEAR", (500, 375)), ("LANCZOS", (1600, 1200))]:
    fid, pf = FILTERS[name]
    tp = to = float("inf")
    for _ in range(5):
        t = time.thread_time()
        pim.resize(size, pf)
        tp = min(tp, time.thread_time() - t)
        t = time.thread_time()
        call(lib.vfr_resize, ctypes.byref(src), size[0], size[1], fid)
        to = min(to, time.thread_time() - t)
    print(f"speed: resize {name} 1000x750 -> {size[0]}x{size[1]} RGB: ours {to * 1e3:.2f} ms, "
          f"Pillow {tp * 1e3:.2f} ms (ratio {to / tp:.2f})", flush=True)

ck.finish()
