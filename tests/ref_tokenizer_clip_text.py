"""Reference test of the CLIP text tower (src/model/clip_text.c) and of the tokenizer feeding
it, against an independent PyTorch implementation of Hugging Face's CLIPTextTransformer math
(token + position embeddings, pre-LN blocks with causal attention, quick_gelu MLP,
final_layer_norm, pooling at the end-of-text token, text_projection) on random weights,
written as a Hugging Face folder (config.json + model.safetensors) made here.

Bar (SPEC section 1): cosine >= 0.99999 and max abs error <= 1e-4 x the embedding's norm.
"""
import ctypes
import json
import os
import struct
import tempfile
import time

import numpy as np
import torch

from vfr_testlib import DATA, Checker, abi, load_internal_lib

CLIP_VOCAB = os.path.join(DATA, "clip")
SOT, EOT = 49406, 49407


Error = abi.vfr_error


def write_safetensors(path, tensors):
    """tensors: name -> (numpy array, dtype string F32/F16)."""
    header, offset = {}, 0
    for name, (arr, dtype) in tensors.items():
        size = arr.size * (2 if dtype == "F16" else 4)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for arr, dtype in tensors.values():
            f.write(np.ascontiguousarray(arr, dtype=np.float16 if dtype == "F16" else np.float32).tobytes())


def make_model(folder, D, L, H, I, E, eos_token_id, dtype="F32", seed=0):
    """A random CLIP text tower in folder; returns its weights (numpy, as stored) and text_config."""
    g = np.random.default_rng(seed)
    V, P = 49408, 77
    np_dtype = np.float16 if dtype == "F16" else np.float32

    def normal(mean, std, shape):
        return (mean + g.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np_dtype)

    w = {
        "text_model.embeddings.token_embedding.weight": normal(0, 0.02, (V, D)),
        "text_model.embeddings.position_embedding.weight": normal(0, 0.01, (P, D)),
        "text_model.final_layer_norm.weight": normal(1, 0.1, D),
        "text_model.final_layer_norm.bias": normal(0, 0.1, D),
        "text_projection.weight": normal(0, D ** -0.5, (E, D)),
    }
    for l in range(L):
        p = f"text_model.encoder.layers.{l}."
        for n in ("layer_norm1", "layer_norm2"):
            w[p + n + ".weight"] = normal(1, 0.1, D)
            w[p + n + ".bias"] = normal(0, 0.1, D)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[p + "self_attn." + n + ".weight"] = normal(0, D ** -0.5, (D, D))
            w[p + "self_attn." + n + ".bias"] = normal(0, 0.02, D)
        w[p + "mlp.fc1.weight"] = normal(0, D ** -0.5, (I, D))
        w[p + "mlp.fc1.bias"] = normal(0, 0.02, I)
        w[p + "mlp.fc2.weight"] = normal(0, I ** -0.5, (D, I))
        w[p + "mlp.fc2.bias"] = normal(0, 0.02, D)
    write_safetensors(os.path.join(folder, "model.safetensors"), {k: (v, dtype) for k, v in w.items()})
    config = {
        "model_type": "clip", "projection_dim": E,
        "text_config": {"hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H,
                        "intermediate_size": I, "vocab_size": V, "max_position_embeddings": P,
                        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "eos_token_id": eos_token_id},
        "vision_config": {"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                          "intermediate_size": 128, "patch_size": 32, "image_size": 224},
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    return w, config["text_config"]


class _Float64View:
    def __init__(self, arrays):
        self.arrays = arrays

    def __getitem__(self, name):
        return torch.from_numpy(self.arrays[name].astype(np.float64))


def reference_text_embeds(w, cfg, ids):
    """HF CLIPTextTransformer + text_projection, in float64 from the stored weights (numpy
    arrays, converted one at a time to keep memory low)."""
    stored = w
    w = _Float64View(stored)
    ids = torch.as_tensor(ids, dtype=torch.long)
    B, T = ids.shape
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    rows = torch.from_numpy(stored["text_model.embeddings.token_embedding.weight"][ids.numpy()].astype(np.float64))
    x = rows + w["text_model.embeddings.position_embedding.weight"][:T]
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    F = torch.nn.functional
    for l in range(cfg["num_hidden_layers"]):
        p = f"text_model.encoder.layers.{l}."

        def lin(name, t):
            return F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

        h = F.layer_norm(x, (D,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], cfg["layer_norm_eps"])
        q, k, v = (lin("self_attn." + n, h).view(B, T, H, hd).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
        scores = q @ k.transpose(-1, -2) * hd ** -0.5 + causal
        a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + lin("self_attn.out_proj", a)
        h = F.layer_norm(x, (D,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], cfg["layer_norm_eps"])
        h = lin("mlp.fc1", h)
        h = h * torch.sigmoid(1.702 * h)
        x = x + lin("mlp.fc2", h)
    x = F.layer_norm(x, (D,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"],
                     cfg["layer_norm_eps"])
    if cfg["eos_token_id"] == 2:
        pos = ids.argmax(-1)
    else:
        pos = (ids == cfg["eos_token_id"]).int().argmax(-1)
    pooled = x[torch.arange(B), pos]
    return (pooled @ w["text_projection.weight"].T).numpy()


class Lib:
    def __init__(self):
        self.lib = lib = load_internal_lib()
        lib.vfr_clip_text_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Error)]
        lib.vfr_clip_text_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                              ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Error)]
        lib.vfr_clip_text_free.argtypes = [ctypes.c_void_p]
        lib.vfr_clip_text_dim.argtypes = [ctypes.c_void_p]
        lib.vfr_tokenizer_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Error)]
        lib.vfr_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.POINTER(Error)]
        lib.vfr_tokenizer_free.argtypes = [ctypes.c_void_p]

    def load(self, folder):
        h, e = ctypes.c_void_p(), Error()
        rc = self.lib.vfr_clip_text_load(folder.encode(), ctypes.byref(h), ctypes.byref(e))
        return rc, h, e.message.decode()

    def forward(self, h, ids, dim):
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        out = np.zeros((ids.shape[0], dim), dtype=np.float32)
        e = Error()
        rc = self.lib.vfr_clip_text_forward(h, ids.ctypes.data, ids.shape[0], ids.shape[1], out.ctypes.data, 2,
                                            ctypes.byref(e))
        return rc, out, e.message.decode()

    def tokenize(self, texts, pad):
        tok, e = ctypes.c_void_p(), Error()
        assert self.lib.vfr_tokenizer_load(CLIP_VOCAB.encode(), ctypes.byref(tok), ctypes.byref(e)) == 0, e.message
        rows = []
        for t in texts:
            ids = (ctypes.c_int32 * 77)(*([pad] * 77))
            n = ctypes.c_int()
            assert self.lib.vfr_tokenize(tok, t.encode(), 77, ids, ctypes.byref(n), 1, ctypes.byref(e)) == 0
            rows.append(list(ids))
        self.lib.vfr_tokenizer_free(tok)
        return np.array(rows, dtype=np.int32)


def agree(ck, label, got, want):
    worst_cos, worst_rel = 1.0, 0.0
    for g, r in zip(got.astype(np.float64), want):
        cos = float(g @ r / (np.linalg.norm(g) * np.linalg.norm(r)))
        rel = float(np.abs(g - r).max() / np.linalg.norm(r))
        worst_cos, worst_rel = min(worst_cos, cos), max(worst_rel, rel)
    ck.check(worst_cos >= 0.99999 and worst_rel <= 1e-4, f"{label}: cosine {worst_cos:.8f}, max err/norm {worst_rel:.2e}")
    print(f"{label}: {len(got)} embeddings, worst cosine {worst_cos:.9f}, max abs err / norm {worst_rel:.2e}", flush=True)


def main():
    ck = Checker("ref_tokenizer_clip_text")
    lib = Lib()
    texts = ["a photo of a dog", "a blurry photo of a cat.", "It's 2024 &amp; the café is open",
             "a photo of " + "many " * 100 + "dogs"]
    with tempfile.TemporaryDirectory() as d:
        # Small tower, HF (EOT) and OpenAI (0) padding, full and short sequences, then F16 weights.
        w, cfg = make_model(d, D=64, L=2, H=4, I=256, E=48, eos_token_id=EOT)
        rc, h, msg = lib.load(d)
        ck.check(rc == 0, f"load small tower: {msg}")
        if rc == 0:
            ck.check(lib.lib.vfr_clip_text_dim(h) == 48, "projection_dim")
            ids_eot, ids_zero = lib.tokenize(texts, EOT), lib.tokenize(texts, 0)
            want = reference_text_embeds(w, cfg, ids_eot)
            rc1, got_eot, _ = lib.forward(h, ids_eot, 48)
            rc2, got_zero, _ = lib.forward(h, ids_zero, 48)
            ck.check(rc1 == 0 and rc2 == 0, "forward")
            agree(ck, "small tower, EOT padding", got_eot, want)
            agree(ck, "small tower, 0 padding", got_zero, reference_text_embeds(w, cfg, ids_zero))
            ck.check(np.abs(got_eot - got_zero).max() <= 1e-5 * np.abs(got_eot).max(),
                     "padding with 0 or EOT gives the same embedding")
            short = ids_eot[:2, :9]
            rc, got, _ = lib.forward(h, short, 48)
            agree(ck, "small tower, T = 9", got, reference_text_embeds(w, cfg, short))
            bad = ids_eot.copy()
            bad[1, 3] = 49408
            rc, _, msg = lib.forward(h, bad, 48)
            ck.check(rc != 0 and "outside the vocabulary" in msg, f"bad id refused: {msg}")
            rc, _, msg = lib.forward(h, np.zeros((1, 78), np.int32), 48)
            ck.check(rc != 0, "T = 78 refused")
            lib.lib.vfr_clip_text_free(h)

        w, cfg = make_model(d, D=64, L=2, H=4, I=256, E=48, eos_token_id=2, seed=1)
        rc, h, msg = lib.load(d)
        if ck.check(rc == 0, f"load legacy config: {msg}"):
            ids = lib.tokenize(texts, 0)
            rc, got, _ = lib.forward(h, ids, 48)
            agree(ck, "eos_token_id 2 (argmax pooling)", got, reference_text_embeds(w, cfg, ids))
            lib.lib.vfr_clip_text_free(h)

        w, cfg = make_model(d, D=64, L=2, H=4, I=256, E=48, eos_token_id=EOT, dtype="F16", seed=2)
        rc, h, msg = lib.load(d)
        if ck.check(rc == 0, f"load F16 tower: {msg}"):
            ids = lib.tokenize(texts, EOT)
            rc, got, _ = lib.forward(h, ids, 48)
            agree(ck, "F16 weights", got, reference_text_embeds(w, cfg, ids))
            lib.lib.vfr_clip_text_free(h)

        # A missing tensor is named.
        w_small = {k: (v, "F32") for k, v in w.items() if "layers.1.mlp.fc2.bias" not in k}
        write_safetensors(os.path.join(d, "model.safetensors"), w_small)
        rc, h, msg = lib.load(d)
        ck.check(rc != 0 and "layers.1.mlp.fc2.bias" in msg, f"missing tensor named: {msg}")

        # The real ViT-B/32 and ViT-B/16 text tower shape: 12 layers, 512 wide, 8 heads.
        t0 = time.time()
        w, cfg = make_model(d, D=512, L=12, H=8, I=2048, E=512, eos_token_id=EOT, seed=3)
        t1 = time.time()
        rc, h, msg = lib.load(d)
        if ck.check(rc == 0, f"load real-shape tower: {msg}"):
            ids = lib.tokenize(texts, EOT)
            t2 = time.time()
            rc, got, _ = lib.forward(h, ids, 512)
            t3 = time.time()
            want = reference_text_embeds(w, cfg, ids)
            t4 = time.time()
            agree(ck, "real shape (12 x 512, 8 heads)", got, want)
            print(f"real shape: write {t1 - t0:.1f} s, C forward of {len(ids)}x77 {t3 - t2:.2f} s, "
                  f"float64 torch reference {t4 - t3:.2f} s", flush=True)
            lib.lib.vfr_clip_text_free(h)
    ck.finish()


if __name__ == "__main__":
    main()
