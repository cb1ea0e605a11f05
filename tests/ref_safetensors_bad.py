"""Malformed safetensors files: each must be refused with the right status code and a
one-line message that starts with the file's path and says what is wrong (naming the
tensor where one is at fault), and never crash (this test also runs under ASan).

The files are built here byte by byte with struct/json; nothing of the C reader is reused.
"""
import ctypes as C
import json
import os
import struct
import tempfile

import vfr_testlib as T

EINVAL, EIO, EFORMAT, ENOMEM, ELIMIT, EUNSUPPORTED = 1, 2, 3, 4, 5, 6


Error = T.abi.vfr_error


lib = T.load_internal_lib()
lib.vfr_safetensors_open.argtypes = [C.c_char_p, C.POINTER(C.c_void_p), C.POINTER(Error)]
lib.vfr_safetensors_close.argtypes = [C.c_void_p]
lib.vfr_safetensors_get_f32.argtypes = [C.c_void_p, C.c_char_p, C.c_int, C.POINTER(C.c_int64),
                                        C.POINTER(C.c_void_p), C.POINTER(C.c_void_p),
                                        C.POINTER(Error)]
lib.vfr_free.argtypes = [C.c_void_p]

chk = T.Checker("ref_safetensors_bad")
tmp = tempfile.mkdtemp(prefix="vfr_ref_safetensors_bad_")
PATCH = "vision_model.embeddings.patch_embedding.weight"


def raw_file(name, blob):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(blob)
    return path


def header_file(name, header, data=b"", header_text=None, length=None):
    """header: dict (dumped with json) or header_text: bytes as is; length overrides N."""
    text = header_text if header_text is not None else json.dumps(header).encode()
    n = len(text) if length is None else length
    return raw_file(name, struct.pack("<Q", n) + text + data)


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def expect_refused(path, code, *fragments):
    h, err = C.c_void_p(), Error()
    rc = lib.vfr_safetensors_open(path.encode(), C.byref(h), C.byref(err))
    msg = err.message.decode("utf-8", "replace")
    name = os.path.basename(path)
    ok = rc == code and not h.value and msg.startswith(path + ": ") and "\n" not in msg
    missing = [f for f in fragments if f not in msg]
    chk.check(ok and not missing, f"{name}: rc {rc} (want {code}), message {msg!r}, missing {missing}")
    if h.value:
        lib.vfr_safetensors_close(h)
    print(f"  {name}: {msg}")


def good_data(n_floats):
    return struct.pack(f"<{n_floats}f", *[float(i) for i in range(n_floats)])


# ---- sizes and the header length --------------------------------------------------------------
expect_refused(raw_file("empty.safetensors", b""), EFORMAT, "empty file")
expect_refused(raw_file("seven.safetensors", b"\x10\x00\x00\x00\x00\x00\x00"), EFORMAT, "7 bytes")
expect_refused(header_file("zero_header.safetensors", None, header_text=b""), EFORMAT, "empty header")
good = header_file("good.safetensors", {PATCH: tensor("F32", [2, 4], 0, 32)}, good_data(8))
with open(good, "rb") as f:
    good_bytes = f.read()
expect_refused(raw_file("cut_in_header.safetensors", good_bytes[:20]), EFORMAT,
               "header length", "exceeds the file (20 bytes)")
expect_refused(raw_file("cut_in_data.safetensors", good_bytes[:-5]), EFORMAT,
               f"tensor '{PATCH}'", "data_offsets [0, 32] exceed the data buffer (27 bytes)")
expect_refused(header_file("huge_length.safetensors", None, header_text=b"{}", length=2**63 + 5),
               EFORMAT, "header length 9223372036854775813 exceeds the file")
# A header above the 100 MB cap, in a sparse file (no disk space used).
path = os.path.join(tmp, "over_cap.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", 100_000_001))
    f.truncate(8 + 100_000_001 + 16)
expect_refused(path, ELIMIT, "header length 100000001 exceeds the 100000000-byte limit")
os.unlink(path)

# ---- the JSON itself -----------------------------------------------------------------------------
expect_refused(header_file("not_json.safetensors", None, header_text=b'{"a": nope}'), EFORMAT,
               "header is not valid JSON", "line 1, column")
expect_refused(header_file("multiline.safetensors", None, header_text=b'{\n"a":\n  {"dtype": }\n}'),
               EFORMAT, "header is not valid JSON (line 3")
expect_refused(header_file("array.safetensors", None, header_text=b"[1, 2]"), EFORMAT,
               "header must be a JSON object, not an array")
expect_refused(header_file("bad_utf8.safetensors", None, header_text=b'{"\xff\xfe": {}}'), EFORMAT,
               "header is not valid JSON")
expect_refused(header_file("trailing.safetensors", None, header_text=b'{} x'), EFORMAT,
               "header is not valid JSON")
expect_refused(header_file("dup_name.safetensors", None,
                           header_text=b'{"w": {"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                       b' "w": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                           data=good_data(2)), EFORMAT, "duplicate")
expect_refused(header_file("big_int.safetensors", None,
                           header_text=b'{"w": {"dtype":"F32","shape":[100000000000000000000],'
                                       b'"data_offsets":[0,4]}}'), EFORMAT, "not valid JSON")

# ---- entries -------------------------------------------------------------------------------------
expect_refused(header_file("entry_list.safetensors", {"w": [1, 2]}), EFORMAT,
               "tensor 'w': entry must be an object")
expect_refused(header_file("no_dtype.safetensors", {"w": {"shape": [1], "data_offsets": [0, 4]}},
                           good_data(1)), EFORMAT, "tensor 'w': no 'dtype'")
expect_refused(header_file("no_shape.safetensors", {"w": {"dtype": "F32", "data_offsets": [0, 4]}},
                           good_data(1)), EFORMAT, "tensor 'w': no 'shape'")
expect_refused(header_file("no_offsets.safetensors", {"w": {"dtype": "F32", "shape": [1]}},
                           good_data(1)), EFORMAT, "tensor 'w': no 'data_offsets'")
expect_refused(header_file("unknown_dtype.safetensors", {"w": tensor("F33", [1], 0, 4)}, good_data(1)),
               EFORMAT, "tensor 'w': unknown dtype 'F33'")
expect_refused(header_file("dtype_int.safetensors", {"w": tensor(32, [1], 0, 4)}, good_data(1)),
               EFORMAT, "tensor 'w': 'dtype' must be a string")
expect_refused(header_file("neg_shape.safetensors", {"w": tensor("F32", [2, -2], 0, 16)}, good_data(4)),
               EFORMAT, "tensor 'w': shape[1] is negative (-2)")
expect_refused(header_file("real_shape.safetensors", {"w": tensor("F32", [2.0], 0, 8)}, good_data(2)),
               EFORMAT, "tensor 'w': shape[0] must be an integer, not a real number")
expect_refused(header_file("shape_obj.safetensors", {"w": tensor("F32", {"a": 1}, 0, 4)}, good_data(1)),
               EFORMAT, "tensor 'w': 'shape' must be an array")
expect_refused(header_file("overflow_numel.safetensors",
                           {"w": tensor("F32", [2**40, 2**40], 0, 4)}, good_data(1)),
               ELIMIT, "tensor 'w': shape [1099511627776, 1099511627776] has more elements than fit")
expect_refused(header_file("overflow_bytes.safetensors", {"w": tensor("F32", [2**62], 0, 4)}, good_data(1)),
               ELIMIT, "tensor 'w': shape [4611686018427387904] is too large")
expect_refused(header_file("nine_dims.safetensors", {"w": tensor("F32", [1] * 9, 0, 4)}, good_data(1)),
               ELIMIT, "tensor 'w': 9 dimensions")
expect_refused(header_file("offsets_out.safetensors", {PATCH: tensor("F32", [1024], 0, 4096)},
                           good_data(512)),
               EFORMAT, f"tensor '{PATCH}': data_offsets [0, 4096] exceed the data buffer (2048 bytes)")
expect_refused(header_file("begin_after_end.safetensors", {"w": tensor("F32", [1], 8, 4)}, good_data(4)),
               EFORMAT, "tensor 'w': data_offsets [8, 4] begin after end")
expect_refused(header_file("neg_offset.safetensors", {"w": tensor("F32", [1], -4, 0)}, good_data(1)),
               EFORMAT, "tensor 'w': data_offsets[0] is negative")
expect_refused(header_file("three_offsets.safetensors", {"w": {"dtype": "F32", "shape": [1],
                                                                "data_offsets": [0, 4, 8]}}, good_data(2)),
               EFORMAT, "tensor 'w': 'data_offsets' must be [begin, end]")
expect_refused(header_file("size_mismatch.safetensors", {"w": tensor("F32", [3, 2], 0, 20)}, good_data(6)),
               EFORMAT, "tensor 'w': data_offsets [0, 20] hold 20 bytes but F32 [3, 2] needs 24")
expect_refused(header_file("f16_size.safetensors", {"w": tensor("F16", [4], 0, 16)}, good_data(4)),
               EFORMAT, "tensor 'w'", "needs 8")
expect_refused(header_file("overlap.safetensors", {"a": tensor("F32", [4], 0, 16),
                                                   "b": tensor("F32", [2], 8, 16)}, good_data(4)),
               EFORMAT, "tensors 'a' [0, 16] and 'b' [8, 16] overlap")
expect_refused(header_file("overlap_far.safetensors", {"a": tensor("F32", [8], 0, 32),
                                                       "b": tensor("F32", [2], 8, 16),
                                                       "c": tensor("F32", [2], 20, 28)}, good_data(8)),
               EFORMAT, "'a' [0, 32]", "overlap")
# Tensors of dtypes we cannot read are still validated.
expect_refused(header_file("overlap_i64.safetensors", {"ids": tensor("I64", [2], 0, 16),
                                                       "w": tensor("F32", [2], 8, 16)}, good_data(4)),
               EFORMAT, "'ids' [0, 16] and 'w' [8, 16] overlap")
expect_refused(header_file("u8_out.safetensors", {"mask": tensor("U8", [10], 0, 10)}, good_data(1)),
               EFORMAT, "tensor 'mask': data_offsets [0, 10] exceed the data buffer (4 bytes)")
expect_refused(header_file("bool_size.safetensors", {"m": tensor("BOOL", [3], 0, 4)}, good_data(1)),
               EFORMAT, "tensor 'm'", "BOOL [3] needs 3")
expect_refused(header_file("meta_int.safetensors", {"__metadata__": {"format": 1}}), EFORMAT,
               "'__metadata__' value 'format' must be a string")
expect_refused(header_file("meta_list.safetensors", {"__metadata__": ["pt"]}), EFORMAT,
               "'__metadata__' must be an object")
expect_refused(header_file("empty_name.safetensors", {"": tensor("F32", [1], 0, 4)}, good_data(1)),
               EFORMAT, "empty name")
expect_refused(header_file("newline_name.safetensors", {"evil\nname": tensor("F32", [4], 0, 16)}, good_data(2)),
               EFORMAT, "tensor 'evil?name': data_offsets [0, 16] exceed the data buffer (8 bytes)")

# ---- the file system ----------------------------------------------------------------------------
expect_refused(os.path.join(tmp, "absent.safetensors"), EIO, "cannot open (No such file or directory)")
expect_refused(tmp, EIO, "not a regular file")

# ---- lookups on a valid file ----------------------------------------------------------------------
path = header_file("lookups.safetensors", {PATCH: tensor("F32", [2, 4], 0, 32),
                                           "ids": tensor("I64", [2], 32, 48)}, good_data(12))
h, err = C.c_void_p(), Error()
rc = lib.vfr_safetensors_open(path.encode(), C.byref(h), C.byref(err))
if chk.check(rc == 0, f"lookups.safetensors must open: {err.message}"):
    def get(name, shape):
        shp = (C.c_int64 * max(1, len(shape)))(*shape)
        data, owned, e = C.c_void_p(), C.c_void_p(), Error()
        r = lib.vfr_safetensors_get_f32(h, name.encode(), len(shape), shp, C.byref(data),
                                        C.byref(owned), C.byref(e))
        if owned.value:
            lib.vfr_free(owned)
        return r, e.message.decode()

    for name, shape, code, frag in [
            ("text_model.missing", [2, 4], EFORMAT, "no tensor 'text_model.missing'"),
            (PATCH, [4, 2], EFORMAT, f"tensor '{PATCH}' has shape [2, 4], expected [4, 2]"),
            (PATCH, [2, 4, 1], EFORMAT, "has shape [2, 4], expected [2, 4, 1]"),
            ("ids", [2], EUNSUPPORTED, "tensor 'ids' has dtype I64")]:
        r, msg = get(name, shape)
        chk.check(r == code and msg.startswith(path + ": ") and frag in msg, f"lookup {name} {shape}: {r} {msg}")
        print(f"  lookup {name} {shape}: {msg}")
    r, msg = get(PATCH, [2, 4])
    chk.check(r == 0, f"valid lookup failed: {msg}")
    lib.vfr_safetensors_close(h)

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
chk.finish()
