"""A model folder loaded by the library (CLIP, DINOv2), and its embeddings."""
import ctypes
import threading

import numpy as np

from vfrobust import _images, _interrupt, _lib
from vfrobust._error import Error

_PRECISIONS = {"fp32": 0, "bf16": 1}
_POOLINGS = {"cls": 0, "cls+mean": 1}


class Model:
    """Model(dir, precision="fp32", threads=0, pooling="cls", batch=16)

    A Hugging Face CLIP or DINOv2 folder (config.json, model.safetensors) run by the library.
    precision: "fp32", "bf16" (needs AVX-512) or "auto" (bf16 where supported).
    .embed(images) returns the raw embeddings float32 (N, d), the values `vfrobust embed`
    writes; .info is a dict of the architecture (vfr_model_info). A Model may be shared by
    threads: calls on one Model run one at a time."""

    def __init__(self, dir, precision="fp32", threads=0, pooling="cls", batch=16):
        L = _lib.lib()
        if precision == "auto":
            precision = "bf16" if L.vfr_bf16_supported() else "fp32"
        if precision not in _PRECISIONS:
            raise Error(f"precision {precision!r}: expected fp32, bf16 or auto")
        if pooling not in _POOLINGS:
            raise Error(f"pooling {pooling!r}: expected cls or cls+mean")
        for name, v, lo, hi in (("threads", threads, 0, 1024), ("batch", batch, 1, 4096)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
                raise Error(f"{name} {v!r}: expected an integer in {lo}..{hi}")
        self._handle = None
        self._lock = threading.Lock()
        p = L.vfr_model_default_params()
        p.threads = int(threads)
        p.pooling = _POOLINGS[pooling]
        p.max_batch = int(batch)
        p.precision = _PRECISIONS[precision]
        self.batch = int(batch)
        handle = ctypes.c_void_p()
        err = _lib.vfr_error()
        _lib.check(L.vfr_model_load(_lib.cstr(dir, "model folder"), ctypes.byref(p),
                                    ctypes.byref(handle), ctypes.byref(err)), err)
        self._handle = handle
        self.dir = str(dir)
        info = _lib.vfr_model_info()
        L.vfr_model_get_info(handle, ctypes.byref(info))
        self.info = {name: (getattr(info, name).decode() if isinstance(getattr(info, name), bytes)
                            else getattr(info, name)) for name, _ in info._fields_}
        self.info["precision"] = precision
        self.info["pooling"] = pooling

    @property
    def embed_dim(self):
        return self.info["embed_dim"]

    def _live(self):
        if self._handle is None:
            raise Error(f"{getattr(self, 'dir', 'model')}: the model has been closed")
        return self._handle

    def embed(self, images):
        """images: a list of file paths, PIL images or uint8 (H, W, 3) arrays (sizes may
        differ), or one uint8 array (N, H, W, 3). Each is preprocessed by the model's own
        pipeline. Returns float32 (N, embed_dim). Ctrl-C stops between batches."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            items = list(images)
        elif _images.is_path(images) or isinstance(images, np.ndarray) or _images._is_pil(images):
            items = [images]
        else:
            try:
                items = list(images)
            except TypeError:
                raise Error(f"images: expected a list of images, got {type(images).__name__}") from None
        handle = self._live()
        n, d = len(items), self.embed_dim
        out = np.empty((n, d), dtype=np.float32)
        if n == 0:
            return out
        L = _lib.lib()

        def chunk(start, stop):
            del stop
            count = min(self.batch, n - start)
            owned, arrays = [], []
            imgs = (_lib.vfr_image * count)()
            try:
                for k in range(count):
                    x = items[start + k]
                    if _images.is_path(x):
                        img = _images.load(x)
                        owned.append(img)
                        imgs[k] = img
                    else:
                        a = _images.as_rgb_array(x, f"image {start + k}")
                        arrays.append(a)
                        imgs[k] = _images.view(a)
                err = _lib.vfr_error()
                dst = out[start:start + count].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                with self._lock:
                    _lib.check(L.vfr_model_embed_images(self._live(), imgs, count, dst,
                                                        ctypes.byref(err)), err)
            finally:
                for img in owned:
                    L.vfr_image_free(ctypes.byref(img))

        _interrupt.run_chunks(chunk, range(0, n, self.batch), workers=1)
        del handle
        return out

    def preprocess(self, img):
        """The model's input for one image: float32 (3, input_height, input_width)."""
        h, w = self.info["input_height"], self.info["input_width"]
        px = np.empty((3, h, w), dtype=np.float32)
        err = _lib.vfr_error()
        L = _lib.lib()
        if _images.is_path(img):
            raw = _images.load(img)
            try:
                with self._lock:
                    st = L.vfr_model_preprocess(self._live(), ctypes.byref(raw),
                                                _lib.cstr(img, "image path"),
                                                px.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                ctypes.byref(err))
            finally:
                L.vfr_image_free(ctypes.byref(raw))
        else:
            a = _images.as_rgb_array(img)
            v = _images.view(a)
            with self._lock:
                st = L.vfr_model_preprocess(self._live(), ctypes.byref(v), None,
                                            px.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                            ctypes.byref(err))
        _lib.check(st, err)
        return px

    def embed_pixels(self, pixels):
        """The forward pass on preprocessed inputs float32 (B, 3, input_height, input_width);
        returns float32 (B, embed_dim)."""
        if hasattr(pixels, "detach") and hasattr(pixels, "numpy"):
            pixels = pixels.detach().cpu().numpy()
        px = np.asarray(pixels)
        h, w = self.info["input_height"], self.info["input_width"]
        if px.dtype.kind != "f":
            raise Error(f"pixels: dtype {px.dtype}, expected float32")
        if px.ndim != 4 or px.shape[1:] != (3, h, w) or px.shape[0] < 1:
            raise Error(f"pixels: shape {tuple(px.shape)}, expected (B, 3, {h}, {w})")
        px = np.ascontiguousarray(px, dtype=np.float32)
        B = px.shape[0]
        out = np.empty((B, self.embed_dim), dtype=np.float32)
        L = _lib.lib()
        per = max(1, self.batch)

        def chunk(start, stop):
            del stop
            count = min(per, B - start)
            err = _lib.vfr_error()
            with self._lock:
                _lib.check(L.vfr_model_embed_pixels(
                    self._live(), px[start:start + count].ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                    count, out[start:start + count].ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                    ctypes.byref(err)), err)

        _interrupt.run_chunks(chunk, range(0, B, per), workers=1)
        return out

    def close(self):
        """Frees the model now (it is freed when garbage-collected otherwise)."""
        with self._lock:
            if self._handle is not None:
                _lib.lib().vfr_model_free(self._handle)
                self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None:
                _lib.lib().vfr_model_free(self._handle)
                self._handle = None
        except Exception:
            pass

    def __repr__(self):
        return (f"Model({self.dir!r}, family={self.info['family']!r}, "
                f"embed_dim={self.embed_dim}, precision={self.info['precision']!r})")
