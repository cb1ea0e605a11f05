"""ic_brightness and ic_saturate on every 8-bit RGB colour against the reference's own
scikit-image pipeline (tests/ic_reference_noise_digital.py: rgb2hsv, the V or S change,
hsv2rgb, np.uint8(np.clip(x, 0, 1) * 255)).

Both ops are functions of each pixel's three bytes alone, so the 2^24 colours cover every
input they can get. Each (op, severity) runs over all of them three times: as a 4096 x 4096
image (every pixel through the eight-pixel AVX-512 path where the CPU has it), as 2^23 rows
of 2 pixels (the two-pixel SSE2 path) and as 2^24 rows of 1 pixel (the one-pixel path).
Asserts every uint8 value identical to the reference's.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ic_harness as H  # noqa: E402
import vfr_testlib as T  # noqa: E402
from ic_reference_noise_digital import REFERENCES  # noqa: E402

CHUNK = 1 << 20  # colours per reference call (bounds the reference's float64 temporaries)


def all_colours():
    """(2^24, 3) uint8: colour i is (i >> 16, (i >> 8) & 255, i & 255)."""
    i = np.arange(1 << 24, dtype=np.uint32)
    return np.stack([i >> 16, (i >> 8) & 255, i & 255], -1).astype(np.uint8)


def main():
    ck = T.Checker("ref_imagenet_c_hsv_all")
    colours = all_colours()
    shapes = {"4096x4096": (4096, 4096, 3), "2 wide": (1 << 23, 2, 3), "1 wide": (1 << 24, 1, 3)}
    for name in ("ic_brightness", "ic_saturate"):
        ref = REFERENCES[name]
        for sev in range(1, 6):
            theirs = np.concatenate([ref(colours[i:i + CHUNK][None], sev, 0)[0]
                                     for i in range(0, len(colours), CHUNK)])
            for label, shape in shapes.items():
                ours = H.apply(name, colours.reshape(shape), sev, 0).reshape(-1, 3)
                bad = np.flatnonzero((ours != theirs).any(axis=1))
                first = ""
                if len(bad):
                    c = bad[0]
                    first = f", first colour {tuple(colours[c])}: ours {tuple(ours[c])}, reference {tuple(theirs[c])}"
                ck.check(len(bad) == 0, f"{name}:{sev} as {label}: {len(bad)} of 16777216 colours differ{first}")
            print(f"{name}:{sev}: all 16777216 colours checked three ways", flush=True)
    ck.finish()


if __name__ == "__main__":
    main()
