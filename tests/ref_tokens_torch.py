"""`vfrobust embed --tokens` (dense features) against the PyTorch reference of tests/modelref.py.

Random-weight DINOv2 (with registers, and SwiGLU) and CLIP folders are written as Hugging Face
folders; the CLI embeds PNG files with --tokens for the last 1 and 2 layers, with and without
the final layernorm, and every token of every image is compared with the reference's hidden
states (the reference's own forward, its layers collected one by one; the final norm is its
`layernorm` / `post_layernorm`): cosine >= 0.99999 and max |diff| <= 1e-4 * ||ref|| per token.
The CLS token of the normed last layer must also equal `embed`'s DINOv2 pooler output (same
bar), and a bad --layers is refused with one line."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as M  # noqa: E402
import vfr_testlib as T  # noqa: E402

torch.set_num_threads(2)
ck = T.Checker("ref_tokens_torch")
COS_BAR, REL_BAR = 0.99999, 1e-4


def hidden_states(model, config, pixels):
    """(B, L, T, D) float64: every block's output, and the final norm module."""
    m = model.to(torch.float64)
    x = torch.from_numpy(pixels).to(torch.float64)
    out = []
    with torch.no_grad():
        if config["model_type"] == "clip":
            v = m.vision_model
            h = v.pre_layrnorm(v.embeddings(x))
            for layer in v.encoder.layers:
                h = layer(h)
                out.append(h)
            norm = v.post_layernorm
        else:
            h = m.embeddings(x)
            for layer in m.encoder.layer:
                h = layer(h)
                out.append(h)
            norm = m.layernorm
    return torch.stack(out, 1), norm


def compare(tag, ref, got):
    if not ck.check(got is not None and got.shape == ref.shape and got.dtype == np.float32,
                    f"{tag}: shape {None if got is None else got.shape}, want {ref.shape} float32"):
        return 1.0, 0.0
    r = ref.reshape(-1, ref.shape[-1])
    g = got.reshape(-1, got.shape[-1]).astype(np.float64)
    nr = np.linalg.norm(r, axis=1)
    cos = (r * g).sum(1) / (nr * np.linalg.norm(g, axis=1))
    rel = np.abs(r - g).max(1) / nr
    ck.check(cos.min() >= COS_BAR and rel.max() <= REL_BAR,
             f"{tag}: worst cosine {cos.min():.8f}, worst max|diff|/||ref|| {rel.max():.2e}")
    return cos.min(), rel.max()


def run(folder, paths, out, extra):
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([T.BIN, "embed", "--model", folder, "--threads", "2", "--out", out] + extra + paths,
                       capture_output=True, text=True, timeout=600)
    return p, (np.load(out) if p.returncode == 0 else None)


def main():
    tmp = tempfile.mkdtemp(prefix="vfr_tokens_")
    imgs = [T.wavy_image(64, 64, 1), T.wavy_image(90, 70, 2), T.wavy_image(50, 81, 3)]
    paths = []
    for i, im in enumerate(imgs):
        paths.append(os.path.join(tmp, f"im{i}.png"))
        im.save(paths[-1])
    cases = [("dinov2-reg", M.dinov2_config(64, 3, 4, 14, 56, registers=4), M.bit_preprocessor(60, 56)),
             ("dinov2-swiglu", M.dinov2_config(48, 2, 4, 8, 32, swiglu=True), M.bit_preprocessor(40, 32, 40)),
             ("clip", M.clip_config(64, 3, 4, 128, 8, 32, 32), M.clip_preprocessor(32, 32))]
    for name, config, pp in cases:
        model = M.randomize(M.build_model(config), 7)
        folder = os.path.join(tmp, name)
        M.write_hf_folder(folder, config, pp, model)
        pixels = np.ascontiguousarray(np.stack([M.preprocess(Image.open(p), pp) for p in paths]))
        hs, norm = hidden_states(model, config, pixels)
        with torch.no_grad():
            normed = norm(hs).numpy()
        raw = hs.numpy()
        L = raw.shape[1]
        for k in (1, 2):
            for use_norm in (True, False):
                src = normed if use_norm else raw
                ref = np.concatenate([src[:, L - k + j] for j in range(k)], axis=-1)  # (B, T, k*D)
                extra = ["--tokens", "--layers", str(k)] + ([] if use_norm else ["--no-norm"])
                p, got = run(folder, paths, os.path.join(tmp, "t.npy"), extra)
                ck.check(p.returncode == 0, f"{name} {extra}: exit {p.returncode}: {p.stderr.strip()}")
                c, r = compare(f"{name} layers {k} norm {use_norm}", ref, got)
                print(f"{name:14s} --layers {k} {'norm   ' if use_norm else 'no-norm'} shape {ref.shape} "
                      f"worst 1-cos {1 - c:.1e} worst rel {r:.1e}")
        if config["model_type"] != "clip":
            p, pooled = run(folder, paths, os.path.join(tmp, "e.npy"), [])
            p2, tok = run(folder, paths, os.path.join(tmp, "t.npy"), ["--tokens"])
            ck.check(pooled is not None and tok is not None and
                     np.abs(tok[:, 0, :] - pooled).max() <= 1e-5 * np.linalg.norm(pooled, axis=1).min(),
                     f"{name}: CLS of the normed last layer differs from the pooler output")
        p, _ = run(folder, paths, os.path.join(tmp, "t.npy"), ["--tokens", "--layers", str(L + 1)])
        lines = p.stderr.strip().splitlines()
        ck.check(p.returncode == 2 and len(lines) == 1 and "--layers" in lines[0], f"{name}: too many layers: {p.stderr}")
    shutil.rmtree(tmp)
    ck.finish()


main()
