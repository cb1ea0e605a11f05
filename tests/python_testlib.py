"""Imports the vfrobust Python package from this source tree (python/) and points it at the
build's library, for the tests/ref_python_*.py tests (not a reference itself)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import LIB, SRC  # noqa: E402

os.environ["VFROBUST_LIB"] = LIB
sys.path.insert(0, os.path.join(SRC, "python"))
import vfrobust  # noqa: E402,F401
