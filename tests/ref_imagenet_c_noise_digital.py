"""ImageNet-C noise and digital ops (src/perturb/ic_noise.c, ic_digital.c) against our Python
reference from the published algorithm (tests/ic_reference_noise_digital.py: NumPy's legacy
RandomState, default_rng through skimage's random_noise, skimage HSV, Pillow).

Every op x severity 1..5 on 7 images (224x224, 32x32, 500x375, gray converted to RGB, flat,
photos, saturated noise) with the same seed, and a second seed (2^32 - 1) on two images.
Asserts per op: every uint8 value identical (the float64 arithmetic is NumPy's, in its
order, so nothing is allowed to differ), and prints the identical-fraction / max-diff table.
Then the command line: `vfrobust perturb --seed S ic_NAME:K in.png out.png` equals the
reference after np.random.seed(S) for each op (the seed reaches the op unchanged).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ic_harness as H  # noqa: E402
import vfr_testlib as T  # noqa: E402
from ic_reference_noise_digital import REFERENCES  # noqa: E402

SEED = 12345


def main():
    ck = T.Checker("ref_imagenet_c_noise_digital")
    images = H.test_images()
    table = H.Table()
    for name, ref in REFERENCES.items():
        for iname, x in images.items():
            seeds = [SEED] + ([2**32 - 1] if iname in ("photo224", "noise45x37") else [])
            for seed in seeds:
                for sev in range(1, 6):
                    ours = H.apply(name, x, sev, seed)
                    theirs = ref(x, sev, seed)
                    same, total, mx = H.compare(ours, theirs)
                    table.add(name, same, total, mx)
                    ck.check(same == total, f"{name}:{sev} on {iname} (seed {seed}): {total - same} of {total} "
                                            f"values differ, max {mx}")
    table.print()

    tmp = tempfile.mkdtemp(prefix="vfr_ic_cli_")
    src = os.path.join(tmp, "in.png")
    x = images["mixed500x375"]
    Image.fromarray(x).save(src)
    for k, (name, ref) in enumerate(REFERENCES.items()):
        sev, seed = 1 + k % 5, 4242 + 1000003 * k
        dst = os.path.join(tmp, f"{name}.png")
        r = subprocess.run([T.BIN, "perturb", "--seed", str(seed), f"{name}:{sev}", src, dst],
                           capture_output=True, text=True, timeout=120)
        ok = r.returncode == 0 and os.path.exists(dst)
        ours = np.array(Image.open(dst).convert("RGB")) if ok else None
        ck.check(ok and np.array_equal(ours, ref(x, sev, seed)),
                 f"vfrobust perturb --seed {seed} {name}:{sev}: rc {r.returncode} {r.stderr.strip()}")
    ck.finish()


if __name__ == "__main__":
    main()
