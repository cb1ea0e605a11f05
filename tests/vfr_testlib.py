"""Shared plumbing for the Python reference tests (not a reference itself).

Paths come from the environment ctest sets (see CMakeLists.txt); when run by hand,
they default to the build/ folder. Under a sanitizer build the test re-executes itself
with the ASan runtime preloaded, so that ctypes can load the instrumented library.

The ctypes mirrors of the public structs are the Python package's (python/vfrobust/_lib.py,
checked against the headers by ref_python_abi.py), here as `abi`: tests never redefine them.
load_lib() is libvfrobust.so, which exports only the vfr_ API of include/; tests of internal
functions (src/ headers) load_internal_lib(), a build of the same sources with every
function visible.
"""
import ctypes
import os
import sys

SRC = os.environ.get("VFROBUST_SRC", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("VFROBUST_BUILD", os.path.join(SRC, "build"))
BIN = os.environ.get("VFROBUST_BIN", os.path.join(BUILD, "vfrobust"))
LIB = os.environ.get("VFROBUST_LIB", os.path.join(BUILD, "libvfrobust.so"))
INTERNAL_LIB = os.environ.get("VFROBUST_INTERNAL_LIB", os.path.join(BUILD, "libvfrobust_internal.so"))
SHARED = os.environ.get("VFROBUST_SHARED", os.path.join(SRC, "..", "shared"))
DATA = os.path.join(SHARED, "data")

_preload = os.environ.get("VFROBUST_ASAN_PRELOAD")
if _preload and _preload not in os.environ.get("LD_PRELOAD", ""):
    os.environ["LD_PRELOAD"] = _preload
    os.execv(sys.executable, [sys.executable] + sys.argv)


sys.path.insert(0, os.path.join(SRC, "python"))
from vfrobust import _lib as abi  # noqa: E402

IMG_P = ctypes.POINTER(abi.vfr_image)
ERR_P = ctypes.POINTER(abi.vfr_error)


def load_lib():
    """libvfrobust.so as a program linking it sees it."""
    return ctypes.CDLL(LIB)


def load_internal_lib():
    """The test build with every function of the library visible (internal ones too)."""
    return ctypes.CDLL(INTERNAL_LIB)


def model_prototypes(lib):
    """Declares the model calls of include/vfrobust/model.h on lib (pixel and embedding
    buffers as addresses: a.ctypes.data); returns lib."""
    P = ctypes.POINTER
    lib.vfr_model_default_params.restype = abi.vfr_model_params
    lib.vfr_model_load.argtypes = [ctypes.c_char_p, P(abi.vfr_model_params), P(ctypes.c_void_p), ERR_P]
    lib.vfr_model_free.argtypes = [ctypes.c_void_p]
    lib.vfr_model_get_info.argtypes = [ctypes.c_void_p, P(abi.vfr_model_info)]
    lib.vfr_model_embed_pixels.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                           ERR_P]
    lib.vfr_model_preprocess.argtypes = [ctypes.c_void_p, IMG_P, ctypes.c_char_p, ctypes.c_void_p, ERR_P]
    return lib


def image_view(a):
    """A vfr_image borrowing the pixels of a uint8 (H, W) or (H, W, C) array (kept on it)."""
    import numpy as np
    a = np.ascontiguousarray(a, dtype=np.uint8)
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    img = abi.vfr_image(w, h, c, w * c, a.ctypes.data)
    img._keep = a
    return img


def image_take(lib, img):
    """Copies a library-owned vfr_image into a (H, W) or (H, W, C) uint8 array and frees it."""
    import numpy as np
    h, w, c = img.height, img.width, img.channels
    lib.vfr_image_free.argtypes = [IMG_P]
    if not img.data:
        return np.zeros((h, w) if c == 1 else (h, w, c), dtype=np.uint8)
    rows = np.ctypeslib.as_array(ctypes.cast(img.data, ctypes.POINTER(ctypes.c_uint8)),
                                 shape=(h, img.stride))
    a = rows[:, :w * c].reshape((h, w) if c == 1 else (h, w, c)).copy()
    lib.vfr_image_free(ctypes.byref(img))
    return a


class Checker:
    """Counts checks; prints failures as they happen and a closing summary line."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {self.name}: {what}", flush=True)
        return ok

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def wavy_image(w, h, seed):
    """A w x h RGB PIL image of smooth waves plus seeded noise (a test input with structure
    at several scales)."""
    import numpy as np
    from PIL import Image
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / 9 + rs.rand() * 6), 128 + 100 * np.cos(yy / 7 + rs.rand() * 6),
                    128 + 80 * np.sin((xx + yy) / 5.0)], axis=-1) + rs.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
