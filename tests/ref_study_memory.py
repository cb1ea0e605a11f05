"""An eval's peak memory does not grow with the number of levels: each perturbed variant is
reduced to the model's input crop as soon as it is made, so a large image at 10 levels
needs about what it needs at 2. Peak RSS of the child process (getrusage, in a fresh
subprocess per run)."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, Checker  # noqa: E402

C = Checker("ref_study_memory")
if os.environ.get("VFROBUST_ASAN_PRELOAD"):  # ASan's shadow and quarantine are not the program's
    print("SKIP ref_study_memory: peak memory means nothing under AddressSanitizer")
    sys.exit(0)
tmp = tempfile.mkdtemp(prefix="vfr_memory_")
model = os.path.join(tmp, "model")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=1).eval())
data = os.path.join(tmp, "data")
os.makedirs(data)
W, H = 3000, 2000
y, x = np.mgrid[0:H, 0:W]
img = np.stack([x * 255 // W, y * 255 // H, (x + y) % 256], -1).astype(np.uint8)
Image.fromarray(img).save(os.path.join(data, "big.jpg"), quality=90)
image_mb = W * H * 3 / 2 ** 20

PEAK = r"""
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.stderr[-300:].replace("\n", " "))
"""


def peak_mb(levels):
    out = os.path.join(tmp, f"out{levels}")
    r = subprocess.run([sys.executable, "-c", PEAK, BIN, "eval", "--model", model, "--data", data, "--out", out,
                        "--ops", "brightness:0.6..0.95,contrast:0.6..0.95,saturation:0.6..0.95", "--levels",
                        str(levels), "--threads", "2"], capture_output=True, text=True)
    rc, kb, err = r.stdout.split(" ", 2)
    C.check(rc == "0", f"eval --levels {levels}: {err}")
    return int(kb) / 1024


p2, p10 = peak_mb(2), peak_mb(10)
print(f"peak RSS: {p2:.0f} MB at 2 levels, {p10:.0f} MB at 10 levels ({image_mb:.0f} MB per full-size variant)")
# 10 levels make 24 more variants than 2 levels: held at full size they would add ~24 x 17 MB.
C.check(p10 < p2 + 2 * image_mb, f"peak grows with the levels: {p2:.0f} MB -> {p10:.0f} MB")
C.check(p10 < 10 * image_mb, f"peak {p10:.0f} MB is under ten full-size variants")
shutil.rmtree(tmp, ignore_errors=True)
C.finish()
