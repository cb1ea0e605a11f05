"""Shared plumbing for the Python reference tests (not a reference itself).

Paths come from the environment ctest sets (see CMakeLists.txt); when run by hand,
they default to the build/ folder. Under a sanitizer build the test re-executes itself
with the ASan runtime preloaded, so that ctypes can load the instrumented library.
"""
import ctypes
import os
import sys

SRC = os.environ.get("VFROBUST_SRC", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("VFROBUST_BUILD", os.path.join(SRC, "build"))
BIN = os.environ.get("VFROBUST_BIN", os.path.join(BUILD, "vfrobust"))
LIB = os.environ.get("VFROBUST_LIB", os.path.join(BUILD, "libvfrobust.so"))
SHARED = os.environ.get("VFROBUST_SHARED", os.path.join(SRC, "..", "shared"))
DATA = os.path.join(SHARED, "data")

_preload = os.environ.get("VFROBUST_ASAN_PRELOAD")
if _preload and _preload not in os.environ.get("LD_PRELOAD", ""):
    os.environ["LD_PRELOAD"] = _preload
    os.execv(sys.executable, [sys.executable] + sys.argv)


def load_lib():
    return ctypes.CDLL(LIB)


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
