#!/usr/bin/env python3
"""Bring your own embeddings: measure a model vfrobust does not run itself, with vfrobust's
perturbations, metrics and reports.

    1. vfrobust.perturb_set   writes every variant of the study as PNG files + manifest.csv
    2. your model             embeds the files in manifest order, on any device
    3. vfrobust.score         turns the embeddings into per_image.csv, curves.csv,
                              summary.json and report.html, as `vfrobust eval` writes them

The model here is the project's PyTorch reference implementation of CLIP / DINOv2 vision
towers (tests/modelref.py) loading a Hugging Face folder's model.safetensors, so the result
can be checked against `vfrobust eval` on the same folder. To measure another model, replace
`embed_batch` (it gets PIL images and returns a float32 NumPy array (B, d)).

    python3 examples/torch_embeddings.py --model models/clip-vit-tiny-patch4-cifar10 \\
        --data ../shared/data/cifar10/test --limit 20 --ops jpeg,gaussian_blur --levels 5 \\
        --device cpu --out out/torch-study

Without installing the package, point PYTHONPATH at python/ and VFROBUST_LIB at the
built library (or keep the repository's build/ folder where it is).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import vfrobust  # noqa: E402
import modelref  # noqa: E402

_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    """name -> float32 torch tensor, read with NumPy (F32, F16, BF16)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = blob[a:b]
        if t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, _DTYPES[t["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(t["shape"]).copy())
    return out


def load_reference_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    pp_path = os.path.join(folder, "preprocessor_config.json")
    with open(pp_path) as f:
        pp = json.load(f)
    if config.get("model_type") == "clip_vision_model":  # a vision tower alone: wrap it as CLIPModel
        c = config
        full = modelref.clip_config(c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                                    c["intermediate_size"], c["patch_size"], c["image_size"],
                                    c.get("projection_dim", 512), c.get("hidden_act", "quick_gelu"))
        full["vision_config"].update({k: v for k, v in c.items() if k not in ("model_type", "architectures")})
        config = full
    model = modelref.build_model(config).eval()
    tensors = read_safetensors(os.path.join(folder, "model.safetensors"))
    missing = [k for k in model.state_dict() if k not in tensors and "text" not in k and "token" not in k
               and "logit_scale" not in k]
    if missing:
        raise SystemExit(f"{folder}/model.safetensors: missing {missing[:3]}...")
    model.load_state_dict({k: v for k, v in tensors.items() if k in model.state_dict()}, strict=False)
    return model, pp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face CLIP or DINOv2 folder")
    ap.add_argument("--data", required=True, help="ImageFolder, folder of images or .csv list")
    ap.add_argument("--out", required=True, help="study folder to write")
    ap.add_argument("--variants", help="where perturb-set writes the PNG files (default OUT/variants)")
    ap.add_argument("--ops", default="editing9")
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps ...")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16", "float16"])
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()

    variants = args.variants or os.path.join(args.out, "variants")
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    rows = vfrobust.perturb_set(args.data, variants, ops=args.ops, levels=args.levels, seed=args.seed,
                                limit=args.limit, per_class=args.per_class)
    print(f"perturb-set: {len(rows)} files in {time.time() - t0:.1f} s", file=sys.stderr)

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    model, pp = load_reference_model(args.model)
    model = model.to(device=device, dtype=dtype)

    def embed_batch(images):
        """PIL images -> float32 (B, d): replace this with any model."""
        pixels = np.stack([modelref.preprocess(im, pp) for im in images])
        with torch.no_grad():
            out = model(torch.from_numpy(pixels).to(device=device, dtype=dtype))
        return out.float().cpu().numpy()

    t0 = time.time()
    chunks = []
    for start in range(0, len(rows), args.batch):
        images = [Image.open(r["file"]).convert("RGB") for r in rows[start:start + args.batch]]
        chunks.append(embed_batch(images))
    emb = np.concatenate(chunks).astype(np.float32)
    np.save(os.path.join(args.out, "byo_embeddings.npy"), emb)
    print(f"embedded {emb.shape[0]} x {emb.shape[1]} on {device} in {time.time() - t0:.1f} s", file=sys.stderr)

    name = os.path.basename(os.path.normpath(args.model))
    study = vfrobust.score(os.path.join(variants, "manifest.csv"), emb, args.out, model_name=name)
    for op, domain in study.ops:
        dr = study.metric("dr", op, domain)
        print(f"{op:16s} {domain:12s} mean DR {dr.mean():.4f}  median {np.median(dr):.4f}")
    print(f"wrote {args.out}/per_image.csv, curves.csv, summary.json, report.html", file=sys.stderr)


if __name__ == "__main__":
    main()
