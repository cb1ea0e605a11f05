"""The Python package's ctypes structs against the C headers: a small C program compiled
against include/ prints sizeof and offsetof of every field, which must equal ctypes'."""
import ctypes
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_testlib  # noqa: E402,F401
from vfr_testlib import SRC, Checker  # noqa: E402
from vfrobust import _lib  # noqa: E402

C = Checker("ref_python_abi")
tmp = tempfile.mkdtemp(prefix="vfr_abi_")
lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "vfrobust.h"', "int main(void) {"]
for name, cls in _lib.STRUCTS.items():
    lines.append(f'  printf("{name} size %zu\\n", sizeof({name}));')
    for field, _ in cls._fields_:
        lines.append(f'  printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
lines += ["  return 0;", "}"]
src = os.path.join(tmp, "abi.c")
with open(src, "w") as f:
    f.write("\n".join(lines) + "\n")
exe = os.path.join(tmp, "abi")
cc = subprocess.run(["cc", "-std=c11", "-I", os.path.join(SRC, "include"), src, "-o", exe],
                    capture_output=True, text=True)
if not C.check(cc.returncode == 0, f"compiling the layout probe: {cc.stderr.strip()}"):
    C.finish()
got = dict(line.rsplit(" ", 1) for line in subprocess.run([exe], capture_output=True, text=True,
                                                           check=True).stdout.splitlines())
for name, cls in _lib.STRUCTS.items():
    C.check(int(got[f"{name} size"]) == ctypes.sizeof(cls),
            f"sizeof({name}): C {got[f'{name} size']}, ctypes {ctypes.sizeof(cls)}")
    for field, _ in cls._fields_:
        off = getattr(cls, field).offset
        C.check(int(got[f"{name}.{field}"]) == off, f"offsetof({name}, {field}): C {got[f'{name}.{field}']}, ctypes {off}")
# every struct field of the header is mirrored: the C sizes equal only if none is missing,
# which the size checks above already assert
C.finish()
