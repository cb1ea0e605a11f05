"""Broken OpenCLIP folders give one-line errors naming the file and the cause, never a crash:
a missing tensor, a tensor of the wrong shape, a config that disagrees with the tensors, a
folder with only a pickled .bin checkpoint, a ResNet without a BatchNorm statistic, options of
open_clip that change the architecture (refused, not ignored), and preprocess settings that
are not supported. Each through `vfrobust model-info` and `vfrobust embed`; the intact folders
load (so the errors are the breakage's)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

import vfr_testlib as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openclipref as R  # noqa: E402

ck = T.Checker("ref_open_clip_bad")
TEXT = {"context_length": 16, "vocab_size": 300, "width": 32, "heads": 2, "layers": 1}
VIT = {"embed_dim": 24, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
       "text_cfg": TEXT}
RESNET = {"embed_dim": 24, "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16,
                                          "head_width": 32}, "text_cfg": TEXT}


def one_line_error(tag, folder, needles, cmd="model-info", image=None):
    args = [T.BIN, cmd] + (["--model", folder, "--out", os.path.join(folder, "..", "x.npy"), image]
                           if cmd == "embed" else [folder])
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    err = p.stderr.strip()
    ok = p.returncode not in (0,) and p.returncode < 128 and len(err.splitlines()) == 1
    ok = ok and all(n in err for n in needles)
    ck.check(ok, f"{tag} ({cmd}): rc {p.returncode}, stderr {err!r}, want {needles}")
    print(f"{tag}: {err}")


def make(tmp, name, cfg, seed=0, edit=None, pcfg=None):
    folder = os.path.join(tmp, name)
    model = R.randomize(R.CLIP(cfg), seed)
    tensors = model.state_for_file()
    if edit:
        edit(tensors)
    R.write_folder(folder, cfg, model, pcfg, tensors)
    return folder


def main():
    with tempfile.TemporaryDirectory(prefix="vfr_oc_bad_") as tmp:
        image = os.path.join(tmp, "img.png")
        Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(image)
        for name, cfg in (("vit", VIT), ("resnet", RESNET)):
            good = make(tmp, name, cfg)
            p = subprocess.run([T.BIN, "model-info", good], capture_output=True, text=True)
            ck.check(p.returncode == 0, f"intact {name} folder loads: {p.stderr.strip()}")

        st = "open_clip_model.safetensors"
        f = make(tmp, "missing", VIT, edit=lambda t: t.pop("visual.transformer.resblocks.1.ln_2.bias"))
        one_line_error("missing tensor", f, [os.path.join(f, st), "visual.transformer.resblocks.1.ln_2.bias"])
        one_line_error("missing tensor", f, [os.path.join(f, st), "resblocks.1.ln_2.bias"], "embed", image)

        def transpose_proj(t):
            t["visual.proj"] = t["visual.proj"].t().contiguous()
        f = make(tmp, "shape", VIT, edit=transpose_proj)
        one_line_error("wrong shape", f, [os.path.join(f, st), "visual.proj", "64", "24"])

        # the config says 128 wide, the tensors are 64 wide
        f = make(tmp, "disagree", VIT)
        cfgf = os.path.join(f, "open_clip_config.json")
        with open(cfgf) as fh:
            c = json.load(fh)
        c["model_cfg"]["vision_cfg"]["width"] = 128
        with open(cfgf, "w") as fh:
            json.dump(c, fh)
        one_line_error("config disagrees", f, [os.path.join(f, st), "visual.", "128"])

        # text tower missing a tensor: the text loader names it too
        f = make(tmp, "text-missing", VIT, edit=lambda t: t.pop("ln_final.weight"))
        p = subprocess.run([T.BIN, "model-info", f], capture_output=True, text=True)
        ck.check(p.returncode == 0, "image tower loads without the text tower's ln_final")

        # only a pickled checkpoint
        f = os.path.join(tmp, "bin-only")
        os.makedirs(f)
        shutil.copy(os.path.join(tmp, "vit", "open_clip_config.json"), f)
        with open(os.path.join(f, "open_clip_pytorch_model.bin"), "wb") as fh:
            fh.write(b"PK\x03\x04 not loaded")
        one_line_error(".bin only", f, [os.path.join(f, "open_clip_pytorch_model.bin"), "pickled",
                                        "open_clip_model.safetensors"])

        f = make(tmp, "bn", RESNET, edit=lambda t: t.pop("visual.layer3.0.bn2.running_var"))
        one_line_error("ResNet BatchNorm statistic", f, [os.path.join(f, st), "visual.layer3.0.bn2.running_var"])
        f = make(tmp, "down", RESNET, edit=lambda t: t.pop("visual.layer2.0.downsample.0.weight"))
        one_line_error("ResNet shortcut", f, [os.path.join(f, st), "visual.layer2.0.downsample.0.weight"])

        for key, value in (("ls_init_value", 0.1), ("attentional_pool", True), ("no_ln_pre", True),
                           ("pool_type", "avg"), ("timm_model_name", "vit_base_patch16_224")):
            cfg = json.loads(json.dumps(VIT))
            cfg["vision_cfg"][key] = value
            f = os.path.join(tmp, f"opt-{key}")
            os.makedirs(f)
            with open(os.path.join(f, "open_clip_config.json"), "w") as fh:
                json.dump({"model_cfg": cfg}, fh)
            shutil.copy(os.path.join(tmp, "vit", st), f)
            one_line_error(f"vision_cfg.{key}", f, [os.path.join(f, "open_clip_config.json"), key, "not supported"])

        for key, value, needle in (("resize_mode", "longest", "longest"), ("interpolation", "lanczos", "lanczos")):
            f = os.path.join(tmp, f"pre-{key}")
            os.makedirs(f)
            with open(os.path.join(f, "open_clip_config.json"), "w") as fh:
                json.dump({"model_cfg": VIT, "preprocess_cfg": {key: value}}, fh)
            shutil.copy(os.path.join(tmp, "vit", st), f)
            one_line_error(f"preprocess_cfg.{key}", f, [os.path.join(f, "open_clip_config.json"), needle])

        f = os.path.join(tmp, "no-model-cfg")
        os.makedirs(f)
        with open(os.path.join(f, "open_clip_config.json"), "w") as fh:
            json.dump({"preprocess_cfg": {}}, fh)
        one_line_error("no model_cfg", f, [os.path.join(f, "open_clip_config.json"), "model_cfg"])

        f = os.path.join(tmp, "stages")
        os.makedirs(f)
        cfg = json.loads(json.dumps(RESNET))
        cfg["vision_cfg"]["layers"] = [1, 1, 1]
        with open(os.path.join(f, "open_clip_config.json"), "w") as fh:
            json.dump({"model_cfg": cfg}, fh)
        one_line_error("three ResNet stages", f, [os.path.join(f, "open_clip_config.json"), "4 stage"])

        f = os.path.join(tmp, "nothing")
        os.makedirs(f)
        one_line_error("empty folder", f, [os.path.join(f, "config.json"), "open_clip_config.json"])
    ck.finish()


if __name__ == "__main__":
    main()
