"""`vfrobust ops` and `vfrobust perturb`: output against Pillow, exit codes, error lines."""
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfr_testlib as T  # noqa: E402


def run(*args):
    r = subprocess.run([T.BIN] + list(args), capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def main():
    ck = T.Checker("ref_perturb_cli")
    tmp = tempfile.mkdtemp(prefix="vfr_perturb_cli_")
    rng = np.random.default_rng(3)
    arr = np.clip(rng.normal(128, 60, size=(45, 61, 3)), 0, 255).astype(np.uint8)
    src = os.path.join(tmp, "in.png")
    Image.fromarray(arr).save(src)
    im = Image.open(src).convert("RGB")
    out = os.path.join(tmp, "out.png")

    rc, so, se = run("ops")
    ck.check(rc == 0 and all(n in so for n in ("jpeg", "gaussian_blur", "pixelate", "10..100")),
             f"ops: rc {rc}, {se}")
    rc, so, se = run("ops", "--json")
    try:
        cat = json.loads(so)
    except ValueError:
        cat = {}
    ops = {o["name"]: o for o in cat.get("ops", [])}
    ic_ops = [n for n in ops if n.startswith("ic_")]
    ck.check(rc == 0 and len(ops) - len(ic_ops) == 16, f"ops --json: rc {rc}, {len(ops)} ops")
    ck.check(sorted(cat.get("presets", {}).get("imagenet-c-all", [])) == sorted(ic_ops)
             and cat["presets"].get("all") == [o["name"] for o in cat["ops"]], "ops --json: presets")
    ck.check(ops.get("jpeg", {}).get("domain") == [10, 100] and ops["jpeg"]["parameter"] == "q"
             and ops["jpeg"]["identity"] is None and ops["jpeg"]["integer"] is True, "ops --json: jpeg row")
    ck.check(ops.get("brightness", {}).get("identity") == 1.0, "ops --json: brightness identity")
    ck.check(cat.get("presets", {}).get("editing9") == ["jpeg", "brightness", "contrast", "saturation",
                                                       "sharpness", "hue", "gaussian_blur",
                                                       "gaussian_noise", "rescale"], "editing9 preset")

    cases = [
        ("brightness:1.3", lambda: ImageEnhance.Brightness(im).enhance(1.3)),
        ("contrast:f=0.6", lambda: ImageEnhance.Contrast(im).enhance(0.6)),
        ("gaussian_blur:sigma=1.7", lambda: im.filter(ImageFilter.GaussianBlur(1.7))),
        ("flip", lambda: im.transpose(Image.FLIP_LEFT_RIGHT)),
    ]

    def jpeg_then_brightness():
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=50)
        buf.seek(0)
        return ImageEnhance.Brightness(Image.open(buf).convert("RGB")).enhance(1.2)

    cases.append(("jpeg:50+brightness:f=1.2", jpeg_then_brightness))
    for spec, ref in cases:
        rc, so, se = run("perturb", spec, src, out)
        same = rc == 0 and np.array_equal(np.array(Image.open(out).convert("RGB")), np.array(ref()))
        ck.check(same, f"perturb {spec}: rc {rc} {se.strip()} (output differs from Pillow)")

    outs = []
    for seed in ("5", "5", "6"):
        path = os.path.join(tmp, f"noise{len(outs)}.png")
        rc, so, se = run("perturb", "--seed", seed, "gaussian_noise:0.05", src, path)
        ck.check(rc == 0, f"noise seed {seed}: {se}")
        outs.append(np.array(Image.open(path)) if rc == 0 else None)
    if all(o is not None for o in outs):
        ck.check(np.array_equal(outs[0], outs[1]), "same --seed must give the same file")
        ck.check(not np.array_equal(outs[0], outs[2]), "different --seed must differ")

    sheet = os.path.join(tmp, "sheet.png")
    rc, so, se = run("perturb", "--sheet", "--levels", "3", "--cell", "32", src, sheet)
    ok = rc == 0 and os.path.exists(sheet)
    if ok:
        w, h = Image.open(sheet).size
        # 61x45 scaled to at most 32: 32x24 cells, 3 columns, 9 rows, 4-pixel gaps, a label
        # column of 4 + 8 * 14 ("gaussian_noise") and a 14-pixel value line per row.
        ok = (w, h) == (116 + 3 * 32 + 4 * 4, 9 * (24 + 14) + 10 * 4) and "row 9: rescale" in so
    ck.check(ok, f"--sheet: rc {rc} {se.strip()} {so[:200]}")

    bad = os.path.join(tmp, "bad.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not a png")
    usage_cases = [
        ("perturb", "jpeg:150", src, out), ("perturb", "jpg:50", src, out),
        ("perturb", "jpeg", src, out), ("perturb", "jpeg:10..90", src, out),
        ("perturb", "jpeg:50"), ("perturb", "--bogus", "jpeg:50", src, out),
        ("perturb", "--seed", "-3", "jpeg:50", src, out), ("ops", "--bogus"),
        ("perturb", "--sheet", "--levels", "0", src, out),
        ("perturb", "brightness:1.2", src, os.path.join(tmp, "out.bmp")),
    ]
    for args in usage_cases:
        rc, so, se = run(*args)
        want = 2
        lines = se.strip().splitlines()
        ck.check(rc == want and len(lines) == 1 and lines[0].startswith("vfrobust: "),
                 f"{' '.join(args[:3])}: rc {rc} (want {want}), stderr {se!r}")
    for args, what in ((("perturb", "jpeg:50", os.path.join(tmp, "missing.png"), out), "missing.png"),
                       (("perturb", "jpeg:50", bad, out), "bad.png"),
                       (("perturb", "jpeg:50", src, os.path.join(tmp, "no", "dir", "o.png")), "o.png")):
        rc, so, se = run(*args)
        lines = se.strip().splitlines()
        ck.check(rc == 1 and len(lines) == 1 and lines[0].startswith("vfrobust: ") and what in lines[0],
                 f"{what}: rc {rc}, stderr {se!r}")
    rc, so, se = run("perturb", "jpg:50", src, out)
    ck.check("unknown" in se and "gaussian_blur" in se, f"unknown op lists valid names: {se!r}")
    for cmd in ("ops", "perturb"):
        rc, so, se = run(cmd, "--help")
        ck.check(rc == 0 and "usage: vfrobust " + cmd in so, f"{cmd} --help: rc {rc}")
    ck.finish()


if __name__ == "__main__":
    main()
