"""ImageNet-C noise and digital ops (src/perturb/ic_noise.c, ic_digital.c) against our Python
reference from the published algorithm (tests/ic_reference_noise_digital.py: NumPy's legacy
RandomState, default_rng through skimage's random_noise, skimage HSV, Pillow).

Every op x severity 1..5 on 7 images (224x224, 32x32, 500x375, gray converted to RGB, flat,
photos, saturated noise) with the same seed, and a second seed (2^32 - 1) on two images.
Asserts per op: every uint8 value identical (the float64 arithmetic is NumPy's, in its
order, so nothing is allowed to differ), and prints the identical-fraction / max-diff table.
"""
import os
import sys

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
    ck.finish()


if __name__ == "__main__":
    main()
