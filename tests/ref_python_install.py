"""`pip install ./python` offline into a fresh virtual environment (Debian's pip, setuptools
and wheel, no index, no build isolation), from a copy of python/ as a clean clone has it:
with a built library (bundled into the package, then used with nothing set) and without
one (the package installs; its first call names the missing library; VFROBUST_LIB fixes it)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vfr_testlib import BIN, LIB, SRC, Checker  # noqa: E402

C = Checker("ref_python_install")
tmp = tempfile.mkdtemp(prefix="vfr_pyinstall_")
env0 = {k: v for k, v in os.environ.items() if not k.startswith("VFROBUST_") and k != "PYTHONPATH"}
env0["PIP_NO_INDEX"] = "1"
env0["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"


def clean_copy(dst):
    shutil.copytree(os.path.join(SRC, "python"), dst,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "lib"))
    return dst


def venv(name):
    path = os.path.join(tmp, name)
    r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", path],
                       capture_output=True, text=True)
    C.check(r.returncode == 0, f"python3 -m venv: {r.stderr}")
    return path


def pip_install(v, src, env):
    r = subprocess.run([os.path.join(v, "bin", "pip"), "install", "--no-index", "--no-build-isolation", src],
                       capture_output=True, text=True, env=env, cwd=tmp)
    C.check(r.returncode == 0, f"pip install {src}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return r


PROBE = """
import sys, numpy as np, vfrobust
print(vfrobust.__file__)
print(vfrobust.lib_path())
a = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
out = vfrobust.perturb(a, "jpeg:40+contrast:1.3")
np.save(sys.argv[1], out)
print(len(vfrobust.ops()))
"""

# ---- with a built library: bundled at install time ---------------------------------------------
v1 = venv("with-lib")
src1 = clean_copy(os.path.join(tmp, "clone1", "python"))
pip_install(v1, src1, dict(env0, VFROBUST_LIB=LIB))
shutil.rmtree(os.path.join(tmp, "clone1"))  # the installed package must not need its source
probe_out = os.path.join(tmp, "probe.npy")
r = subprocess.run([os.path.join(v1, "bin", "python"), "-c", PROBE, probe_out], capture_output=True,
                   text=True, env=env0, cwd=tmp)
lines = r.stdout.split("\n")
C.check(r.returncode == 0, f"import from the venv: {r.stderr}")
if r.returncode == 0:
    C.check(lines[0].startswith(v1), f"the venv's copy is imported: {lines[0]}")
    C.check(lines[1].startswith(v1) and lines[1].endswith("libvfrobust.so"), f"the bundled library is used: {lines[1]}")
    import numpy as np
    from PIL import Image
    src_png = os.path.join(tmp, "probe_in.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(src_png)
    cli_png = os.path.join(tmp, "probe_cli.png")
    subprocess.run([BIN, "perturb", "jpeg:40+contrast:1.3", src_png, cli_png], check=True)
    C.check(np.array_equal(np.load(probe_out), np.asarray(Image.open(cli_png).convert("RGB"))),
            "the installed package's perturb equals the CLI")

# ---- without a library ---------------------------------------------------------------------------
v2 = venv("without-lib")
src2 = clean_copy(os.path.join(tmp, "clone2", "python"))  # no ../build next to it
pip_install(v2, src2, env0)
r = subprocess.run([os.path.join(v2, "bin", "python"), "-c",
                    "import vfrobust\ntry:\n  vfrobust.ops()\nexcept vfrobust.Error as e:\n  print('ERROR', e)"],
                   capture_output=True, text=True, env=env0, cwd=tmp)
C.check(r.returncode == 0 and r.stdout.startswith("ERROR libvfrobust.so: not found") and "VFROBUST_LIB" in r.stdout,
        f"no library: a vfrobust.Error naming it: {r.stdout!r} {r.stderr!r}")
r = subprocess.run([os.path.join(v2, "bin", "python"), "-c", PROBE, probe_out], capture_output=True,
                   text=True, env=dict(env0, VFROBUST_LIB=LIB), cwd=tmp)
C.check(r.returncode == 0 and r.stdout.split("\n")[1] == LIB, f"VFROBUST_LIB at run time: {r.stdout!r} {r.stderr!r}")
r = subprocess.run([os.path.join(v2, "bin", "python"), "-c", "import vfrobust\ntry:\n  vfrobust.ops()\nexcept vfrobust.Error as e:\n  print('ERROR', e)"],
                   capture_output=True, text=True, env=dict(env0, VFROBUST_LIB=os.path.join(tmp, "nope.so")), cwd=tmp)
C.check("nope.so: VFROBUST_LIB names no file" in r.stdout, f"a wrong VFROBUST_LIB: {r.stdout!r}")
C.finish()
