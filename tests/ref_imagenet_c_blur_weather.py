"""ImageNet-C blur, weather and geometric ops (src/perturb/ic_blur.c, ic_weather.c,
ic_geometric.c on src/perturb/ic_filters.c) against our Python reference from the published
algorithm (tests/ic_reference_blur_weather.py: NumPy's legacy RandomState, scipy.ndimage,
scikit-image, OpenCV).

Every op x severity 1..5 on 7 images (224x224, 32x32, 500x375, gray converted to RGB, flat,
photos, saturated noise) with the same seed, and a second seed (2^32 - 1) on two images; frost also with seeds
that pick each of its five overlays, on three images.
Asserts per op the fraction of identical uint8 values and the largest difference against the
op's bar (EXACT: every value identical; the ops whose reference computes in a way no direct
sum reproduces -- cv2.filter2D's DFT for kernels of 50 taps and more -- at least 99.9%
identical and no value more than 2 apart), and prints the identical-fraction / max-diff table.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ic_harness as H  # noqa: E402
import vfr_testlib as T  # noqa: E402
from ic_reference_blur_weather import REFERENCES  # noqa: E402

SEED = 12345


def frost_seeds():
    """Seeds whose first draw, randint(5), picks each of frost1..frost5 in turn."""
    seeds = {}
    s = 0
    while len(seeds) < 5:
        np.random.seed(s)
        seeds.setdefault(int(np.random.randint(5)), s)
        s += 1
    return [seeds[i] for i in range(5)]
# ops whose reference arithmetic cannot be reproduced term for term (see the docstring)
NEAR = {"ic_defocus_blur"}


def spatter_without_liquid(ck):
    """Small images where no liquid passes the threshold: the reference's mask is then 0/0 =
    NaN and its output all 0; seen and matched on the same seeds."""
    rs = np.random.RandomState(3)
    empty = 0
    for seed in range(40):
        x = rs.randint(0, 256, (12, 10, 3)).astype(np.uint8)
        for sev in (1, 2):
            with np.errstate(invalid="ignore"):  # the 0/0 itself
                theirs = REFERENCES["ic_spatter"](x, sev, seed)
            empty += int(not theirs.any())
            ours = H.apply("ic_spatter", x, sev, seed)
            ck.check(np.array_equal(ours, theirs), f"ic_spatter:{sev} on 12x10 (seed {seed}): "
                                                   f"{int((ours != theirs).sum())} values differ")
    ck.check(empty >= 5, f"ic_spatter: only {empty} of the 80 small cases had no liquid")


def main():
    want = sys.argv[1:]
    ck = T.Checker("ref_imagenet_c_blur_weather")
    images = H.test_images()
    table = H.Table()
    for name, ref in REFERENCES.items():
        if want and name not in want:
            continue
        for iname, x in images.items():
            seeds = [SEED] + ([2**32 - 1] if iname in ("photo224", "noise45x37") else [])
            if name == "ic_frost" and iname in ("photo224", "mixed500x375", "cifar32"):
                seeds += frost_seeds()
            for seed in seeds:
                for sev in range(1, 6):
                    ours = H.apply(name, x, sev, seed)
                    theirs = ref(x, sev, seed)
                    same, total, mx = H.compare(ours, theirs)
                    table.add(name, same, total, mx)
                    if name not in NEAR:
                        ck.check(same == total, f"{name}:{sev} on {iname} (seed {seed}): {total - same} of "
                                                f"{total} values differ, max {mx}")
        if name == "ic_spatter":
            spatter_without_liquid(ck)
        same, total, mx = table.rows[name]
        if name in NEAR:
            ck.check(same >= 0.999 * total and mx <= 2,
                     f"{name}: {100.0 * same / total:.4f}% identical, max diff {mx} (bar: 99.9%, 2)")
    table.print()
    ck.finish()


if __name__ == "__main__":
    main()
