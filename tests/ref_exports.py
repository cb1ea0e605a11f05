"""libvfrobust.so exports the public API and nothing else: every defined dynamic symbol
(nm -D --defined-only) starts with vfr_ and is a function declared with VFR_API in
include/, and every such function is exported. The reference is the headers themselves,
read here by a regular expression, and binutils' nm."""
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import LIB, SRC, Checker  # noqa: E402

C = Checker("ref_exports")
if not shutil.which("nm"):
    print("SKIP ref_exports: no nm (binutils)")
    sys.exit(0)
out = subprocess.run(["nm", "-D", "--defined-only", LIB], capture_output=True, text=True)
C.check(out.returncode == 0, f"nm -D {LIB}: {out.stderr.strip()}")
exported = {}
for line in out.stdout.splitlines():
    parts = line.split()
    if len(parts) >= 2:
        exported[parts[-1]] = parts[-2]
C.check(len(exported) > 50, f"{LIB}: only {len(exported)} exported symbols read")
for name in sorted(exported):
    C.check(name.startswith("vfr_"), f"{LIB} exports {name} ({exported[name]}), which lacks the vfr_ prefix")

declared, unmarked = set(), []
for path in sorted(glob.glob(os.path.join(SRC, "include", "**", "*.h"), recursive=True)):
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        m = re.match(r"^(?!typedef|#|\s)(.*?)\b(vfr_\w+)\(", line)
        if not m:
            continue
        if m.group(1).startswith("VFR_API "):
            declared.add(m.group(2))
        else:
            unmarked.append(f"{os.path.relpath(path, SRC)}:{no} {m.group(2)}")
C.check(len(declared) > 50, f"only {len(declared)} VFR_API declarations found in include/")
for u in unmarked:
    C.check(False, f"{u} is declared without VFR_API")
for name in sorted(declared - set(exported)):
    C.check(False, f"{name} is declared with VFR_API but not exported")
for name in sorted(set(exported) - declared):
    if name.startswith("vfr_"):
        C.check(False, f"{name} is exported but not declared with VFR_API in include/")
print(f"{len(exported)} exported symbols, {len(declared)} VFR_API declarations")
C.finish()
