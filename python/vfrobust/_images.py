"""Images between Python (NumPy arrays, PIL images, file paths) and vfr_image."""
import ctypes
import os

import numpy as np

from vfrobust import _lib
from vfrobust._error import Error


def _is_pil(img):
    return type(img).__module__.startswith("PIL.") and hasattr(img, "convert")


def _is_torch(img):
    return type(img).__module__.startswith("torch") and hasattr(img, "numpy")


def as_rgb_array(img, what="image"):
    """img as a C-contiguous uint8 (H, W, 3) array: PIL images are converted as
    Image.convert('RGB') does; NumPy (H, W, 3) is used as is, (H, W) gray is replicated and
    (H, W, 4) drops alpha (Pillow's conversions); a torch uint8 tensor (3, H, W) or (H, W, 3)
    is taken as its NumPy view."""
    if _is_pil(img):
        a = np.asarray(img.convert("RGB"))
    elif _is_torch(img):
        t = img.detach().cpu()
        a = t.numpy()
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
            a = a.transpose(1, 2, 0)
    elif isinstance(img, np.ndarray):
        a = img
    else:
        raise Error(f"{what}: expected a NumPy uint8 array, a PIL image or a file path, "
                    f"got {type(img).__name__}")
    if a.dtype != np.uint8:
        raise Error(f"{what}: dtype {a.dtype}, expected uint8 (0..255)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise Error(f"{what}: shape {tuple(a.shape)}, expected (H, W, 3), (H, W) or (H, W, 4)")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise Error(f"{what}: empty image of shape {tuple(a.shape)}")
    if a.shape[0] >= 2**31 or a.shape[1] >= 2**31:
        raise Error(f"{what}: {a.shape[1]}x{a.shape[0]} is too large", 5)
    return np.ascontiguousarray(a)


def address(a):
    """The address of a C-contiguous array's first byte (the cheapest way ctypes offers for
    writable arrays; read-only ones go through a.ctypes)."""
    if a.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    return a.ctypes.data


def view(a):
    """A vfr_image borrowing the pixels of a C-contiguous uint8 (H, W, 3) array (keep `a`
    alive while it is used)."""
    return _lib.vfr_image(a.shape[1], a.shape[0], 3, a.strides[0], address(a))


def _free(img):
    _lib.lib().vfr_image_free(ctypes.byref(img))


class _Pixels:
    """ctypes byte-array types of one size whose instances, laid over library-allocated
    pixels, free them (vfr_image_free) when collected."""
    types = {}

    @classmethod
    def of(cls, n):
        t = cls.types.get(n)
        if t is None:
            def __del__(self, free=_lib.lib().vfr_free, addressof=ctypes.addressof):
                free(addressof(self))  # the image's data, as vfr_image_free frees it
            t = type("Pixels", (ctypes.c_uint8 * n,), {"__del__": __del__})
            if len(cls.types) < 64:  # image sizes repeat; others take the slower path
                cls.types[n] = t
        return t


def take(img):
    """A uint8 (H, W, C) array over the pixels of a library-owned vfr_image, without a copy;
    the pixels are freed (vfr_image_free) when the last array using them goes away."""
    h, w, c, stride = img.height, img.width, img.channels, img.stride
    shape = (h, w, c) if c > 1 else (h, w)
    if h * w * c == 0:
        _free(img)
        return np.empty(shape, dtype=np.uint8)
    buf = _Pixels.of(h * stride).from_address(img.data)
    if stride == w * c:
        return np.ndarray(shape, np.uint8, buf)
    return np.ascontiguousarray(np.ndarray((h, stride), np.uint8, buf)[:, :w * c]).reshape(shape)


def load(path):
    """Decodes an image file with the library's decoders (as the CLI does) into an owned
    vfr_image; the caller frees it with vfr_image_free."""
    img = _lib.vfr_image()
    err = _lib.vfr_error()
    _lib.check(_lib.lib().vfr_image_load(_lib.cstr(path, "image path"), None, ctypes.byref(img),
                                         ctypes.byref(err)), err)
    return img


def like_input(out, original):
    """out (uint8 (H, W, 3)) in the type of `original`: PIL image, torch tensor (same layout)
    or NumPy array."""
    if _is_pil(original):
        from PIL import Image
        return Image.fromarray(out, "RGB")
    if _is_torch(original):
        import torch
        t = torch.from_numpy(out)
        if original.ndim == 3 and original.shape[0] in (1, 3, 4) and original.shape[2] not in (1, 3, 4):
            t = t.permute(2, 0, 1).contiguous()
        return t
    return out


def is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))
