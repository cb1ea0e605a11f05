"""The one place that knows libvfrobust's C ABI: where the library is, the structs of
include/vfrobust/*.h mirrored as ctypes types, the prototypes, and error handling.

The library is looked up, first found wins:
  1. the file named by the environment variable VFROBUST_LIB;
  2. the copy bundled into the installed package (vfrobust/lib/libvfrobust.so, put there
     by `pip install ./python` when it finds a built library);
  3. the build tree of the source checkout this package lies in (../build/libvfrobust.so
     relative to python/), for use without installing.

The structs below must match the headers field for field; tests/ref_python_abi.py
compiles the headers and compares every size and offset.
"""
import ctypes
import os
import threading

from vfrobust._error import Error

_HERE = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = "libvfrobust.so"

ERROR_MESSAGE_MAX = 512
CHAIN_MAX = 8
SPEC_TEXT_MAX = 256
SPEC_LEVEL, SPEC_DOMAIN, SPEC_CHAIN = 0, 1, 2


# ---- structs (include/vfrobust/*.h) ----------------------------------------------------

class vfr_error(ctypes.Structure):  # error.h
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * ERROR_MESSAGE_MAX)]


class vfr_image(ctypes.Structure):  # image.h
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("channels", ctypes.c_int),
                ("stride", ctypes.c_size_t), ("data", ctypes.c_void_p)]  # uint8_t *


class vfr_op(ctypes.Structure):  # perturb.h
    _fields_ = [("name", ctypes.c_char_p), ("param", ctypes.c_char_p),
                ("param_desc", ctypes.c_char_p), ("lo", ctypes.c_double), ("hi", ctypes.c_double),
                ("min", ctypes.c_double), ("max", ctypes.c_double), ("min_open", ctypes.c_int),
                ("has_identity", ctypes.c_int), ("identity", ctypes.c_double),
                ("identity_lossy", ctypes.c_int), ("integer", ctypes.c_int),
                ("discrete", ctypes.c_int), ("uses_seed", ctypes.c_int),
                ("presets", ctypes.c_uint), ("preset_rank", ctypes.c_int),
                ("reference", ctypes.c_char_p), ("apply", ctypes.c_void_p)]


class vfr_level(ctypes.Structure):
    _fields_ = [("op", ctypes.POINTER(vfr_op)), ("value", ctypes.c_double)]


class vfr_chain(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("steps", vfr_level * CHAIN_MAX)]


class vfr_spec(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("op", ctypes.POINTER(vfr_op)), ("lo", ctypes.c_double),
                ("hi", ctypes.c_double), ("chain", vfr_chain),
                ("text", ctypes.c_char * SPEC_TEXT_MAX)]


class vfr_meb_result(ctypes.Structure):  # metrics.h
    _fields_ = [("n", ctypes.c_int), ("d", ctypes.c_int), ("radius", ctypes.c_double),
                ("dual_radius", ctypes.c_double), ("error_bound", ctypes.c_double),
                ("iterations", ctypes.c_int), ("used_fallback", ctypes.c_int),
                ("support_size", ctypes.c_int), ("support", ctypes.POINTER(ctypes.c_int)),
                ("weights", ctypes.POINTER(ctypes.c_double)),
                ("centre", ctypes.POINTER(ctypes.c_double))]


class vfr_robustness(ctypes.Structure):
    _fields_ = [("r_cs", ctypes.c_double), ("r_ed", ctypes.c_double), ("dr", ctypes.c_double),
                ("dr_error_bound", ctypes.c_double)]


class vfr_stats(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int)] + [(k, ctypes.c_double) for k in
                                        ("mean", "std", "median", "p10", "p90", "min", "max")]


class vfr_linear_probe_params(ctypes.Structure):  # downstream.h
    _fields_ = [("c", ctypes.c_double), ("c_grid", ctypes.POINTER(ctypes.c_double)),
                ("c_grid_count", ctypes.c_int), ("validation_fraction", ctypes.c_double),
                ("seed", ctypes.c_uint64), ("standardize", ctypes.c_int),
                ("max_iterations", ctypes.c_int), ("gradient_tolerance", ctypes.c_double),
                ("history", ctypes.c_int)]


class vfr_linear_probe(ctypes.Structure):
    _fields_ = [("class_count", ctypes.c_int), ("dim", ctypes.c_int),
                ("weight", ctypes.POINTER(ctypes.c_double)), ("bias", ctypes.POINTER(ctypes.c_double)),
                ("c", ctypes.c_double), ("validation_accuracy", ctypes.c_double),
                ("objective", ctypes.c_double), ("gradient_norm", ctypes.c_double),
                ("iterations", ctypes.c_int), ("converged", ctypes.c_int)]


class vfr_knn_params(ctypes.Structure):
    _fields_ = [("k", ctypes.c_int), ("temperature", ctypes.c_double)]


class vfr_linear_fit(ctypes.Structure):
    _fields_ = [("slope", ctypes.c_double), ("intercept", ctypes.c_double), ("r2", ctypes.c_double),
                ("pearson_r", ctypes.c_double), ("n", ctypes.c_int)]


class vfr_dr_bin(ctypes.Structure):
    _fields_ = [("dr_min", ctypes.c_double), ("dr_max", ctypes.c_double),
                ("mean_dr", ctypes.c_double), ("accuracy", ctypes.c_double), ("count", ctypes.c_int)]


class vfr_per_image_regression(ctypes.Structure):
    _fields_ = [("binned", vfr_linear_fit), ("raw", vfr_linear_fit), ("bin_count", ctypes.c_int),
                ("bins", ctypes.POINTER(vfr_dr_bin))]


class vfr_across_ops_regression(ctypes.Structure):
    _fields_ = [("fit", vfr_linear_fit), ("loo_mae", ctypes.c_double),
                ("loo_predictions", ctypes.c_int), ("loo_skipped_ops", ctypes.c_int)]


class vfr_model_params(ctypes.Structure):  # model.h
    _fields_ = [("threads", ctypes.c_int), ("pooling", ctypes.c_int), ("max_batch", ctypes.c_int),
                ("precision", ctypes.c_int)]


class vfr_model_info(ctypes.Structure):
    _fields_ = [("family", ctypes.c_char * 24), ("layout", ctypes.c_char * 16),
                ("model_type", ctypes.c_char * 48),
                ("hidden_size", ctypes.c_int), ("num_layers", ctypes.c_int),
                ("num_heads", ctypes.c_int), ("intermediate_size", ctypes.c_int),
                ("patch_size", ctypes.c_int), ("image_size", ctypes.c_int),
                ("num_register_tokens", ctypes.c_int), ("input_height", ctypes.c_int),
                ("input_width", ctypes.c_int), ("num_tokens", ctypes.c_int),
                ("embed_dim", ctypes.c_int), ("num_parameters", ctypes.c_int64),
                ("flops_per_image", ctypes.c_double), ("weight_bytes", ctypes.c_int64),
                ("engine", ctypes.c_char * 16), ("engine_isa", ctypes.c_char * 32),
                ("precision", ctypes.c_int)]


class vfr_perturb_set_params(ctypes.Structure):  # perturb_set.h
    _fields_ = [("data", ctypes.c_char_p), ("ops", ctypes.c_char_p), ("levels", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("limit", ctypes.c_int), ("per_class", ctypes.c_int),
                ("out_dir", ctypes.c_char_p), ("threads", ctypes.c_int)]


class vfr_score_params(ctypes.Structure):
    _fields_ = [("manifest", ctypes.c_char_p), ("embeddings", ctypes.c_char_p),
                ("model_name", ctypes.c_char_p), ("out_dir", ctypes.c_char_p)]


class vfr_study_info(ctypes.Structure):  # study.h
    _fields_ = [("images", ctypes.c_int), ("dim", ctypes.c_int), ("op_count", ctypes.c_int),
                ("rows", ctypes.c_int), ("model", ctypes.c_char_p), ("model_dir", ctypes.c_char_p),
                ("data", ctypes.c_char_p), ("seed", ctypes.c_uint64),
                ("perturb_after_preprocess", ctypes.c_int)]


class vfr_study_op(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("domain", ctypes.c_char_p), ("levels", ctypes.c_int),
                ("values", ctypes.POINTER(ctypes.c_double)),
                ("level_text", ctypes.POINTER(ctypes.c_char_p)), ("first_row", ctypes.c_int)]


STRUCTS = {"vfr_error": vfr_error, "vfr_image": vfr_image, "vfr_op": vfr_op,
           "vfr_level": vfr_level, "vfr_chain": vfr_chain, "vfr_spec": vfr_spec,
           "vfr_meb_result": vfr_meb_result, "vfr_robustness": vfr_robustness,
           "vfr_stats": vfr_stats, "vfr_linear_probe_params": vfr_linear_probe_params,
           "vfr_linear_probe": vfr_linear_probe, "vfr_knn_params": vfr_knn_params,
           "vfr_linear_fit": vfr_linear_fit, "vfr_dr_bin": vfr_dr_bin,
           "vfr_per_image_regression": vfr_per_image_regression,
           "vfr_across_ops_regression": vfr_across_ops_regression,
           "vfr_model_params": vfr_model_params, "vfr_model_info": vfr_model_info,
           "vfr_perturb_set_params": vfr_perturb_set_params, "vfr_score_params": vfr_score_params,
           "vfr_study_info": vfr_study_info, "vfr_study_op": vfr_study_op}

# ---- prototypes --------------------------------------------------------------------------

_P = ctypes.POINTER
_f32p = _P(ctypes.c_float)
_f64p = _P(ctypes.c_double)
_err = _P(vfr_error)
_img = _P(vfr_image)
_int = ctypes.c_int
_PROTOTYPES = {
    "vfr_version": (ctypes.c_char_p, []),
    "vfr_status_name": (ctypes.c_char_p, [_int]),
    "vfr_free": (None, [ctypes.c_void_p]),
    "vfr_image_free": (None, [_img]),
    "vfr_image_load": (_int, [ctypes.c_char_p, ctypes.c_void_p, _img, _err]),
    "vfr_op_count": (_int, []),
    "vfr_op_at": (_P(vfr_op), [_int]),
    "vfr_spec_parse": (_int, [ctypes.c_char_p, _P(vfr_spec), _err]),
    "vfr_spec_levels": (_int, [_P(vfr_spec), _int, _P(vfr_chain), _f64p, _int, _P(_int), _err]),
    "vfr_perturb_apply": (_int, [_img, _P(vfr_chain), ctypes.c_uint64, _img, _err]),
    "vfr_meb": (_int, [_f64p, _int, _int, _P(vfr_meb_result), _err]),
    "vfr_meb_result_free": (None, [_P(vfr_meb_result)]),
    "vfr_robustness_compute": (_int, [_f64p, _f64p, _int, _int, _P(vfr_robustness), _f64p, _err]),
    "vfr_robustness_compute_f32": (_int, [_f32p, _f32p, _int, _int, _P(vfr_robustness), _f64p,
                                          _err]),
    "vfr_model_default_params": (vfr_model_params, []),
    "vfr_model_load": (_int, [ctypes.c_char_p, _P(vfr_model_params), _P(ctypes.c_void_p), _err]),
    "vfr_model_free": (None, [ctypes.c_void_p]),
    "vfr_model_get_info": (None, [ctypes.c_void_p, _P(vfr_model_info)]),
    "vfr_model_embed_images": (_int, [ctypes.c_void_p, _img, _int, _f32p, _err]),
    "vfr_model_preprocess": (_int, [ctypes.c_void_p, _img, ctypes.c_char_p, _f32p, _err]),
    "vfr_model_embed_pixels": (_int, [ctypes.c_void_p, _f32p, _int, _f32p, _err]),
    "vfr_bf16_supported": (_int, []),
    "vfr_perturb_set_default_params": (vfr_perturb_set_params, []),
    "vfr_perturb_set": (_int, [_P(vfr_perturb_set_params), _P(ctypes.c_int64), _err]),
    "vfr_score_default_params": (vfr_score_params, []),
    "vfr_score": (_int, [_P(vfr_score_params), _err]),
    "vfr_report_build": (_int, [ctypes.c_char_p, _err]),
    "vfr_study_open": (_int, [ctypes.c_char_p, _P(ctypes.c_void_p), _err]),
    "vfr_study_close": (None, [ctypes.c_void_p]),
    "vfr_study_get_info": (None, [ctypes.c_void_p, _P(vfr_study_info)]),
    "vfr_study_get_op": (_int, [ctypes.c_void_p, _int, _P(vfr_study_op), _err]),
    "vfr_study_embeddings": (_int, [ctypes.c_void_p, _int, _f32p, _err]),
    "vfr_study_dr": (ctypes.c_double, [ctypes.c_void_p, _int, _int]),
}

_lock = threading.Lock()
_lib = None
_lib_path = None


def candidates():
    """The places looked at, in order (see the module's docstring)."""
    out = []
    env = os.environ.get("VFROBUST_LIB")
    if env:
        out.append(env)
    out.append(os.path.join(_HERE, "lib", LIB_NAME))
    out.append(os.path.join(os.path.dirname(os.path.dirname(_HERE)), "build", LIB_NAME))
    return out


def lib():
    """The loaded library (loaded on first use); Error when none can be found or loaded."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = candidates()
        for i, path in enumerate(tried):
            explicit = i == 0 and os.environ.get("VFROBUST_LIB")
            if not os.path.isfile(path):
                if explicit:
                    raise Error(f"{path}: VFROBUST_LIB names no file")
                continue
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                raise Error(f"{path}: cannot load ({e})") from None
            for name, (res, args) in _PROTOTYPES.items():
                fn = getattr(handle, name)
                fn.restype = res
                fn.argtypes = args
            _lib, _lib_path = handle, path
            return _lib
        raise Error(f"{LIB_NAME}: not found (looked at {', '.join(tried)}); build the library "
                    "(cmake -S . -B build && cmake --build build) or set VFROBUST_LIB")


def lib_path():
    """The file the library was loaded from."""
    lib()
    return _lib_path


def check(status, err):
    """Raises Error with the library's message when status is non-zero."""
    if status:
        msg = err.message.decode("utf-8", "replace") or lib().vfr_status_name(status).decode()
        raise Error(msg, status)


def cstr(s, what):
    """s as NUL-free UTF-8 bytes for a char* argument."""
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, str):
        b = s.encode("utf-8", "surrogateescape")
    else:
        raise Error(f"{what}: expected a string, got {type(s).__name__}", 1)
    if b"\0" in b:
        raise Error(f"{what}: contains a NUL character", 1)
    return b
