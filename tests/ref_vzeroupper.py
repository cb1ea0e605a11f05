"""Every function of libvfrobust.so that touches a 256- or 512-bit register also clears
the upper halves (vzeroupper) somewhere in its body: code that leaves them dirty makes
every later SSE instruction of the process slow on some CPUs (6x on an AMD Zen 5 here,
MT19937's doubles 0.9 -> 5.8 ns each, for NumPy's SSE code in the same process too). GCC
inserts vzeroupper itself, except where it assumes a call has cleaned the state (a plain
function never does), so a function that calls out after its vector loops needs an
explicit _mm256_zeroupper(). The reference is binutils' objdump of the built library."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import LIB, Checker  # noqa: E402

C = Checker("ref_vzeroupper")
if not shutil.which("objdump"):
    print("SKIP ref_vzeroupper: no objdump (binutils)")
    sys.exit(0)
lib = sys.argv[1] if len(sys.argv) > 1 else LIB  # another build's library, to check it
# GCC inserts vzeroupper only when it optimises (-O2 and above): the Debug build's library
# (the sanitizers' build) has none anywhere, so there is nothing to check in it
cache = os.path.join(os.environ.get("VFROBUST_BUILD", ""), "CMakeCache.txt")
if len(sys.argv) == 1 and os.path.exists(cache):
    with open(cache) as f:
        kind = re.search(r"^CMAKE_BUILD_TYPE:STRING=(.*)$", f.read(), re.M)
    if kind and kind.group(1) == "Debug":
        print("SKIP ref_vzeroupper: a Debug build (GCC places vzeroupper only when optimising)")
        sys.exit(0)
out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", lib], capture_output=True, text=True)
C.check(out.returncode == 0, f"objdump -d {lib}: {out.stderr.strip()[:200]}")
funcs, cur = {}, None
for line in out.stdout.splitlines():
    m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
    if m:
        cur = m.group(1)
        funcs[cur] = [0, 0]
        continue
    if cur is None or "\t" not in line:
        continue
    if re.search(r"%[yz]mm\d", line):
        funcs[cur][0] += 1
    if "vzeroupper" in line:
        funcs[cur][1] += 1
wide = [f for f, (w, _) in funcs.items() if w]
C.check(len(funcs) > 500 and len(wide) > 20,
        f"{lib}: read {len(funcs)} functions, {len(wide)} with wide registers")
for f in sorted(wide):
    C.check(funcs[f][1] > 0, f"{f} uses {funcs[f][0]} wide-register instructions and never "
            "runs vzeroupper (add _mm256_zeroupper() before it returns)")
print(f"{len(wide)} functions with 256/512-bit registers, "
      f"{sum(1 for f in wide if funcs[f][1])} of them with vzeroupper")
C.finish()
