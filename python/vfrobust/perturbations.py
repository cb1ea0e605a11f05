"""The perturbation catalog, SPEC strings, and perturbing images (the library's own ops,
bit-identical to `vfrobust perturb`)."""
import ctypes
import functools

import numpy as np

from vfrobust import _images, _lib
from vfrobust._error import Error

MAX_LEVELS = 4096


def _s(b):
    return b.decode("utf-8") if b is not None else None


def ops():
    """The catalog: a list of dicts with name, param, param_desc, domain (lo, hi),
    valid (min, max), identity (None when the op has none), integer, uses_seed, reference."""
    L = _lib.lib()
    out = []
    for i in range(L.vfr_op_count()):
        op = L.vfr_op_at(i).contents
        out.append({"name": _s(op.name), "param": _s(op.param), "param_desc": _s(op.param_desc),
                    "domain": (op.lo, op.hi), "valid": (op.min, op.max),
                    "min_open": bool(op.min_open),
                    "identity": op.identity if op.has_identity else None,
                    "integer": bool(op.integer), "uses_seed": bool(op.uses_seed),
                    "reference": _s(op.reference)})
    return out


@functools.lru_cache(maxsize=256)
def _parse(text):
    """text (bytes) -> vfr_spec; cached: parsing is pure and specs are reused per image."""
    spec = _lib.vfr_spec()
    err = _lib.vfr_error()
    _lib.check(_lib.lib().vfr_spec_parse(text, ctypes.byref(spec), ctypes.byref(err)), err)
    return spec


def parse_spec(spec):
    if not isinstance(spec, str):
        raise Error(f"SPEC: expected a string such as 'jpeg:50', got {type(spec).__name__}")
    return _parse(_lib.cstr(spec, "SPEC"))


def _check_seed(seed):
    if type(seed) is not int:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise Error(f"seed {seed!r}: expected an integer in 0..2^64-1")
        seed = int(seed)
    if not 0 <= seed < 2**64:
        raise Error(f"seed {seed!r}: expected an integer in 0..2^64-1")
    return seed


def _apply_chain(a, chain, seed):
    """a: uint8 (H, W, 3) C-contiguous; chain: vfr_chain. Returns the perturbed array."""
    seed = _check_seed(seed)
    src = _images.view(a)
    out = _lib.vfr_image()
    err = _lib.vfr_error()
    st = _lib.lib().vfr_perturb_apply(src, chain, seed, out, err)
    if st:
        _lib.check(st, err)
    return _images.take(out)


_LEVEL_CHAINS = {}  # SPEC text -> its vfr_chain (immutable once parsed)


def _level_chain(spec):
    chain = _LEVEL_CHAINS.get(spec) if type(spec) is str else None
    if chain is None:
        s = parse_spec(spec)
        if s.kind == _lib.SPEC_DOMAIN:
            raise Error(f"{spec}: perturb applies one level (e.g. {_s(s.op.contents.name)}:"
                        f"{s.op.contents.hi:g}), not a domain; use Perturbation for domains")
        chain = s.chain
        if len(_LEVEL_CHAINS) < 1024:
            _LEVEL_CHAINS[spec] = chain
    return chain


def perturb(img, spec, seed=0):
    """img under one level or a chain: perturb(img, "jpeg:50"), "jpeg:50+brightness:1.2".
    img: uint8 NumPy (H, W, 3) (or (H, W), (H, W, 4), converted as Pillow does), a PIL image,
    a torch uint8 tensor, or a file path (decoded as the CLI does). Returns the same kind (a
    path gives an array). The bytes equal `vfrobust perturb --seed SEED SPEC IN out.png`."""
    chain = _level_chain(spec)
    if (type(img) is np.ndarray and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
            and img.flags.c_contiguous and img.size):
        return _apply_chain(img, chain, seed)  # the common case, without conversions
    if _images.is_path(img):
        return _apply_chain(_images.take(_images.load(img)), chain, seed)
    a = _images.as_rgb_array(img)
    return _images.like_input(_apply_chain(a, chain, seed), img)


class Perturbation:
    """One op over a domain at m levels (as a study samples it), or a fixed level or chain.

        p = Perturbation("gaussian_blur:0..3", levels=10)
        p.values          # the 10 parameter values, float64 (m,)
        p.apply(img, k)   # img at level k (0 <= k < len(p)), deterministic in seed
        p(img)            # a transform for data pipelines: a level (and a noise seed)
                          # drawn from the object's own generator, seeded by `seed`

    Input and output kinds as perturb(): NumPy, PIL or a torch uint8 tensor.
    """

    def __init__(self, spec, levels=10, seed=0):
        if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or \
                not 1 <= levels <= MAX_LEVELS:
            raise Error(f"levels {levels!r}: expected an integer in 1..{MAX_LEVELS}")
        self.spec = spec
        self._spec = parse_spec(spec)
        m = int(levels)
        chains = (_lib.vfr_chain * m)()
        values = (ctypes.c_double * m)()
        got = ctypes.c_int(0)
        err = _lib.vfr_error()
        _lib.check(_lib.lib().vfr_spec_levels(ctypes.byref(self._spec), m, chains, values, m,
                                              ctypes.byref(got), ctypes.byref(err)), err)
        self._chains = [chains[k] for k in range(got.value)]
        self.values = np.array(values[:got.value], dtype=np.float64)
        self.kind = ("level", "domain", "chain")[self._spec.kind]
        self.op = _s(self._spec.op.contents.name) if self._spec.op else None
        self.text = _s(self._spec.text)
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self._chains)

    @property
    def levels(self):
        """The parameter values of the levels (the same as .values)."""
        return self.values

    def apply(self, img, level=0, seed=0):
        if not isinstance(level, (int, np.integer)) or not -len(self) <= level < len(self):
            raise Error(f"level {level!r}: expected an index in 0..{len(self) - 1}")
        a = _images.as_rgb_array(img)
        return _images.like_input(_apply_chain(a, self._chains[level], seed), img)

    def __call__(self, img):
        level = int(self._rng.integers(len(self)))
        seed = int(self._rng.integers(2**63))
        return self.apply(img, level, seed)

    def __repr__(self):
        return f"Perturbation({self.text!r}, levels={len(self)})"
