"""vfr_text_utf8 (file-name bytes to UTF-8 text for JSON and HTML) against Python's own UTF-8
decoder with the "backslashreplace" handler, on hand-picked edge cases (overlongs,
surrogates, code points above U+10FFFF, truncated sequences) and random byte strings."""
import ctypes
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import Checker, load_internal_lib  # noqa: E402

C = Checker("ref_text_utf8")
lib = load_internal_lib()
lib.vfr_text_utf8.restype = ctypes.c_void_p
lib.vfr_text_utf8.argtypes = [ctypes.c_char_p]
lib.vfr_free.argtypes = [ctypes.c_void_p]


def ours(b):
    p = lib.vfr_text_utf8(b)
    s = ctypes.string_at(p)
    lib.vfr_free(p)
    return s


cases = [b"", b"plain.jpg", b"caf\xe9.jpg", "café ☕ 𝄞".encode(), b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
         b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xe2\x82", b"\xe2\x82A", b"\xf0\x9f\x98", b"\x80\xbf",
         b"\xc2\xa0\xc2", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"a\\x41b"]
rng = random.Random(7)
alphabet = [bytes([i]) for i in range(1, 256)] + ["é".encode(), "€".encode(), "𝄞".encode()]
cases += [b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(3000)]
bad = 0
for b in cases:
    want = b.decode("utf-8", "backslashreplace").encode("utf-8")
    got = ours(b)
    if got != want:
        bad += 1
        if bad <= 5:
            print(f"  {b!r}: ours {got!r}, Python {want!r}")
C.check(bad == 0, f"{bad} of {len(cases)} byte strings differ from Python's backslashreplace")
C.check(all(ours(b).decode("utf-8") is not None for b in cases[:50]), "always valid UTF-8")
C.finish()
