"""Independent PyTorch reference for vfrobust's vision towers (CLIP ViT, DINOv2, DINOv2 with registers).

Written from Hugging Face transformers' model definitions and image processors (the library whose
behaviour vfrobust matches), with Hugging Face's parameter names, so that a state dict of these
modules is a real checkpoint. Nothing here uses vfrobust's C code. It provides:

  - config builders (`clip_config`, `dinov2_config`, `PRESETS`) with HF config.json keys;
  - `CLIPModel` (vision tower + projection, and the text tower's weights) and `Dinov2Model`
    (with or without register tokens, MLP or SwiGLU FFN), forward in any float dtype with
    attention written out explicitly (torch 1.13 has no fused attention);
  - `randomize`: non-trivial random values for every tensor (layer norms, layer scale, tokens,
    position embeddings included), deterministic from a seed;
  - `write_hf_folder`: config.json, preprocessor_config.json and model.safetensors (F32/F16/BF16)
    written with json + NumPy alone (Debian has no safetensors package);
  - `preprocess`: the HF image processors' pipeline on a PIL image (convert RGB, Pillow resize of
    the shortest side with HF's output-size rule, center crop, rescale, normalize).
"""
import copy
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RESCALE = 0.00392156862745098  # 1/255 as HF writes it


# ----------------------------------------------------------------------------------------------
# configs (HF config.json keys)

def clip_config(hidden, layers, heads, inter, patch, image, proj, act="quick_gelu",
                text=(64, 2, 4, 256)):
    """A CLIPModel config. text = (hidden, layers, heads, intermediate) of the text tower; the
    text tower is not what this reference tests, so it is small unless asked otherwise."""
    th, tl, tn, ti = text
    vision = {"model_type": "clip_vision_model", "hidden_size": hidden, "intermediate_size": inter,
              "num_attention_heads": heads, "num_hidden_layers": layers, "patch_size": patch,
              "image_size": image, "num_channels": 3, "hidden_act": act, "layer_norm_eps": 1e-5,
              "projection_dim": proj, "attention_dropout": 0.0, "dropout": 0.0,
              "initializer_factor": 1.0, "initializer_range": 0.02}
    textc = {"model_type": "clip_text_model", "hidden_size": th, "intermediate_size": ti,
             "num_attention_heads": tn, "num_hidden_layers": tl, "max_position_embeddings": 77,
             "vocab_size": 49408, "hidden_act": act, "layer_norm_eps": 1e-5, "projection_dim": proj,
             "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "attention_dropout": 0.0,
             "dropout": 0.0, "initializer_factor": 1.0, "initializer_range": 0.02}
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": proj,
            "logit_scale_init_value": 2.6592, "initializer_factor": 1.0,
            "torch_dtype": "float32", "vision_config": vision, "text_config": textc}


def dinov2_config(hidden, layers, heads, patch, image, registers=0, swiglu=False, mlp_ratio=4,
                  act="gelu"):
    cfg = {"architectures": ["Dinov2WithRegistersModel" if registers else "Dinov2Model"],
           "model_type": "dinov2_with_registers" if registers else "dinov2",
           "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
           "mlp_ratio": mlp_ratio, "patch_size": patch, "image_size": image, "num_channels": 3,
           "hidden_act": act, "layer_norm_eps": 1e-6, "layerscale_value": 1.0,
           "use_swiglu_ffn": swiglu, "qkv_bias": True, "drop_path_rate": 0.0,
           "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
           "initializer_range": 0.02, "torch_dtype": "float32"}
    if registers:
        cfg["num_register_tokens"] = registers
    return cfg


def clip_preprocessor(shortest, crop, legacy=False):
    """CLIPImageProcessor's preprocessor_config.json. legacy=True writes the older layout of the
    openai checkpoints ("size": 224, "crop_size": 224, CLIPFeatureExtractor)."""
    if legacy:
        return {"crop_size": crop, "do_center_crop": True, "do_normalize": True, "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": CLIP_MEAN,
                "image_std": CLIP_STD, "resample": 3, "size": shortest}
    return {"crop_size": {"height": crop, "width": crop}, "do_center_crop": True,
            "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": CLIP_MEAN, "image_processor_type": "CLIPImageProcessor",
            "image_std": CLIP_STD, "resample": 3, "rescale_factor": RESCALE,
            "size": {"shortest_edge": shortest}}


def bit_preprocessor(shortest, crop_h, crop_w=None):
    """BitImageProcessor's preprocessor_config.json (the DINOv2 checkpoints' processor)."""
    return {"crop_size": {"height": crop_h, "width": crop_w or crop_h}, "do_center_crop": True,
            "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": IMAGENET_MEAN, "image_processor_type": "BitImageProcessor",
            "image_std": IMAGENET_STD, "resample": 3, "rescale_factor": RESCALE,
            "size": {"shortest_edge": shortest}}


# The real checkpoints' shapes (vision side) and processors.
PRESETS = {
    "clip-vit-b32": lambda: (clip_config(768, 12, 12, 3072, 32, 224, 512),
                             clip_preprocessor(224, 224, legacy=True)),
    "clip-vit-b16": lambda: (clip_config(768, 12, 12, 3072, 16, 224, 512),
                             clip_preprocessor(224, 224)),
    "clip-vit-l14": lambda: (clip_config(1024, 24, 16, 4096, 14, 224, 768),
                             clip_preprocessor(224, 224)),
    "dinov2-s14": lambda: (dinov2_config(384, 12, 6, 14, 518), bit_preprocessor(256, 224)),
    "dinov2-s14-reg": lambda: (dinov2_config(384, 12, 6, 14, 518, registers=4),
                               bit_preprocessor(256, 224)),
}


# ----------------------------------------------------------------------------------------------
# building blocks

def activation(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return lambda x: F.gelu(x)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    raise ValueError(f"unknown hidden_act {name}")


def multi_head_attention(x, q_lin, k_lin, v_lin, heads):
    """x is (B,T,D); softmax(q k^T / sqrt(hd)) v per head, heads concatenated -> (B,T,D)."""
    b, t, d = x.shape
    hd = d // heads
    q = q_lin(x).view(b, t, heads, hd).transpose(1, 2)
    k = k_lin(x).view(b, t, heads, hd).transpose(1, 2)
    v = v_lin(x).view(b, t, heads, hd).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (hd ** -0.5)
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d)


# ----------------------------------------------------------------------------------------------
# CLIP

class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return self.out_proj(multi_head_attention(x, self.q_proj, self.k_proj, self.v_proj,
                                                  self.heads))


class CLIPMLP(nn.Module):
    def __init__(self, d, inter, act):
        super().__init__()
        self.act = activation(act)
        self.fc1, self.fc2 = nn.Linear(d, inter), nn.Linear(inter, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    """Pre-LN block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = CLIPAttention(d, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(d, c["intermediate_size"], c["hidden_act"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.num_positions = (c["image_size"] // p) ** 2 + 1
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.patch_embedding = nn.Conv2d(3, d, kernel_size=p, stride=p, bias=False)
        self.position_embedding = nn.Embedding(self.num_positions, d)

    def forward(self, pixels):
        # pixels is (B,3,H,W) at the trained size; CLIP does not interpolate positions.
        patches = self.patch_embedding(pixels).flatten(2).transpose(1, 2)  # (B,N,D)
        if patches.shape[1] + 1 != self.num_positions:
            raise ValueError("CLIP input size differs from the trained image_size")
        cls = self.class_embedding.expand(pixels.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight.unsqueeze(0)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = CLIPVisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])  # HF's spelling
        self.encoder = CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, pixels):
        h = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
        return self.post_layernorm(h[:, 0, :])  # pooled CLS


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])


class CLIPTextTransformer(nn.Module):
    """The text tower's parameters (written into checkpoints; its forward is not tested here)."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = CLIPTextEmbeddings(c)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class CLIPModel(nn.Module):
    """CLIPModel's parameters; forward(pixels) = image_embeds of CLIPVisionModelWithProjection
    (visual_projection of the post-layernormed CLS token, not normalised)."""

    def __init__(self, config):
        super().__init__()
        vc, tc = config["vision_config"], config["text_config"]
        proj = config["projection_dim"]
        self.vision_model = CLIPVisionTransformer(vc)
        self.visual_projection = nn.Linear(vc["hidden_size"], proj, bias=False)
        self.text_model = CLIPTextTransformer(tc)
        self.text_projection = nn.Linear(tc["hidden_size"], proj, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config["logit_scale_init_value"]))

    def forward(self, pixels):
        return self.visual_projection(self.vision_model(pixels))


# ----------------------------------------------------------------------------------------------
# DINOv2 (with and without registers)

def interpolate_positions(pos, grid_h, grid_w, antialias, legacy_scale=False):
    """pos is (1, 1+S*S, D) (CLS first); returns (1, 1+grid_h*grid_w, D), the patch part resized
    bicubically (align_corners=False) to the new grid as HF's Dinov2(WithRegisters)Embeddings do
    (size=(grid_h, grid_w); antialias for dinov2_with_registers). legacy_scale=True gives the
    older HF/DINOv2 variant, scale_factor=((grid+0.1)/S), which maps coordinates slightly
    differently; it exists only so the tests can show they tell the variants apart."""
    n = pos.shape[1] - 1
    side = int(math.isqrt(n))
    d = pos.shape[2]
    grid = pos[:, 1:].reshape(1, side, side, d).permute(0, 3, 1, 2)
    dtype = grid.dtype
    kw = {"antialias": True} if antialias else {}
    if legacy_scale:
        kw["scale_factor"] = ((grid_h + 0.1) / side, (grid_w + 0.1) / side)
    else:
        kw["size"] = (grid_h, grid_w)
    grid = F.interpolate(grid.to(torch.float32), mode="bicubic", align_corners=False,
                         **kw).to(dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, d)
    return torch.cat([pos[:, :1], grid], dim=1)


class Dinov2PatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        p = c["patch_size"]
        self.projection = nn.Conv2d(3, c["hidden_size"], kernel_size=p, stride=p)


class Dinov2Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.patch_size = p
        self.registers = c.get("num_register_tokens", 0) if c["model_type"] == \
            "dinov2_with_registers" else 0
        self.antialias = c["model_type"] == "dinov2_with_registers"
        self.legacy_scale = False  # see interpolate_positions
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        if self.registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, self.registers, d))
        self.patch_embeddings = Dinov2PatchEmbeddings(c)
        n = (c["image_size"] // p) ** 2
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, d))

    def forward(self, pixels):
        b, _, h, w = pixels.shape
        x = self.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)  # (B,N,D)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        pos = self.position_embeddings
        if not (x.shape[1] == pos.shape[1] and h == w):  # HF skips the resize in this case only
            pos = interpolate_positions(pos, h // self.patch_size, w // self.patch_size,
                                        self.antialias, self.legacy_scale)
        x = x + pos
        if self.registers:  # after CLS, with no position embedding
            x = torch.cat([x[:, :1], self.register_tokens.expand(b, -1, -1), x[:, 1:]], dim=1)
        return x


class Dinov2SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class Dinov2SelfOutput(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dense = nn.Linear(d, d)


class Dinov2Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attention = Dinov2SelfAttention(d, heads)
        self.output = Dinov2SelfOutput(d)

    def forward(self, x):
        a = self.attention
        return self.output.dense(multi_head_attention(x, a.query, a.key, a.value, a.heads))


class Dinov2LayerScale(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lambda1 = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * self.lambda1


class Dinov2MLP(nn.Module):
    def __init__(self, d, hidden, act):
        super().__init__()
        self.act = activation(act)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Dinov2SwiGLUFFN(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.weights_in = nn.Linear(d, 2 * hidden)
        self.weights_out = nn.Linear(hidden, d)

    def forward(self, x):
        x1, x2 = self.weights_in(x).chunk(2, dim=-1)
        return self.weights_out(F.silu(x1) * x2)


class Dinov2Layer(nn.Module):
    """x + ls1 * attn(norm1(x)), then x + ls2 * mlp(norm2(x))."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        hidden = int(d * c["mlp_ratio"])
        self.norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.attention = Dinov2Attention(d, c["num_attention_heads"])
        self.layer_scale1 = Dinov2LayerScale(d)
        self.norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = Dinov2SwiGLUFFN(d, hidden) if c.get("use_swiglu_ffn") else \
            Dinov2MLP(d, hidden, c["hidden_act"])
        self.layer_scale2 = Dinov2LayerScale(d)

    def forward(self, x):
        x = x + self.layer_scale1(self.attention(self.norm1(x)))
        return x + self.layer_scale2(self.mlp(self.norm2(x)))


class Dinov2Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(Dinov2Layer(c) for _ in range(c["num_hidden_layers"]))


class Dinov2Model(nn.Module):
    """Dinov2Model / Dinov2WithRegistersModel; forward(pixels) = pooler_output (CLS token after
    the final layernorm)."""

    def __init__(self, config):
        super().__init__()
        self.embeddings = Dinov2Embeddings(config)
        self.encoder = Dinov2Encoder(config)
        self.layernorm = nn.LayerNorm(config["hidden_size"], eps=config["layer_norm_eps"])

    def sequence_output(self, pixels):
        """(B, T, D): every token after the final layernorm (CLS, registers, patches)."""
        x = self.embeddings(pixels)
        for layer in self.encoder.layer:
            x = layer(x)
        return self.layernorm(x)

    def forward(self, pixels):
        return self.sequence_output(pixels)[:, 0, :]

    def cls_mean(self, pixels):
        """(B, 2D): [CLS, mean of the patch tokens], registers excluded (the features HF's
        Dinov2ForImageClassification feeds its classifier)."""
        s = self.sequence_output(pixels)
        return torch.cat([s[:, 0], s[:, 1 + self.embeddings.registers:].mean(dim=1)], dim=1)


def build_model(config):
    if config["model_type"] == "clip":
        return CLIPModel(config)
    if config["model_type"] in ("dinov2", "dinov2_with_registers"):
        return Dinov2Model(config)
    raise ValueError(f"unsupported model_type {config['model_type']}")


# ----------------------------------------------------------------------------------------------
# random weights

def randomize(model, seed):
    """Fills every tensor with non-trivial random values scaled so activations stay O(1) and
    attention is far from uniform (weights ~ N(0, 1/fan_in)). Deterministic in seed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            owner = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
            shape = p.shape
            if "norm" in owner or "layrnorm" in owner:
                if leaf == "weight":
                    v = 0.5 + torch.rand(shape, generator=g)
                else:
                    v = 0.1 * torch.randn(shape, generator=g)
            elif leaf == "lambda1":
                v = 0.05 + 0.45 * torch.rand(shape, generator=g)
            elif name == "logit_scale":
                v = torch.tensor(math.log(1 / 0.07))
            elif leaf == "bias":
                v = 0.05 * torch.randn(shape, generator=g)
            elif "token_embedding" in name:
                v = 0.02 * torch.randn(shape, generator=g)
            elif p.dim() >= 2 and ("proj" in owner or "fc" in owner or "dense" in owner or
                                   owner in ("query", "key", "value", "weights_in", "weights_out",
                                             "visual_projection", "text_projection",
                                             "patch_embedding", "projection")):
                fan_in = int(np.prod(shape[1:]))
                v = torch.randn(shape, generator=g) / math.sqrt(fan_in)
            else:  # class/cls/register/mask tokens, position embeddings
                v = 0.5 * torch.randn(shape, generator=g)
            p.copy_(v)
    return model


def round_weights(model, dtype):
    """Rounds every parameter to dtype (torch.float16 / torch.bfloat16) and back to float32, so
    the reference computes from exactly the values a half-precision checkpoint stores."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    return model


# ----------------------------------------------------------------------------------------------
# Hugging Face folder writer

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def _tensor_bytes(t, dtype):
    t = t.detach().to(dtype).contiguous()
    if dtype == torch.bfloat16:  # NumPy has no bfloat16: ship the raw 16-bit patterns
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian host (x86-64, aarch64)


def write_safetensors(path, tensors, dtype=torch.float32):
    """tensors: name -> torch tensor (any float dtype), all written as dtype (F32/F16/BF16):
    8-byte LE header length, JSON header padded with spaces to a multiple of 8, then the data
    in the dict's order."""
    elt = torch.tensor([], dtype=dtype).element_size()
    header, offset = {}, 0
    for name, t in tensors.items():
        n = t.numel() * elt
        header[name] = {"dtype": _ST_DTYPES[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            f.write(_tensor_bytes(t, dtype))


def state_dict_for_file(model):
    """HF's checkpoint names: the model's parameters (no non-persistent buffers)."""
    return {name: p.detach() for name, p in model.named_parameters()}


def write_hf_folder(folder, config, preprocessor, model, dtype=torch.float32):
    os.makedirs(folder, exist_ok=True)
    cfg = copy.deepcopy(config)
    cfg["torch_dtype"] = {torch.float32: "float32", torch.float16: "float16",
                          torch.bfloat16: "bfloat16"}[dtype]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), state_dict_for_file(model), dtype)


# ----------------------------------------------------------------------------------------------
# preprocessing (CLIPImageProcessor / BitImageProcessor)

def _size_dicts(pp):
    size, crop = pp.get("size", 224), pp.get("crop_size", 224)
    shortest = size if isinstance(size, int) else size["shortest_edge"]
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    return shortest, crop["height"], crop["width"]


def resized_size(width, height, shortest):
    """HF's output size for 'shortest_edge' (default_to_square=False): the short side becomes
    `shortest`, the long side int(shortest * long / short) (truncated). Returns (w, h)."""
    short, long = (width, height) if width <= height else (height, width)
    if short == shortest:
        return width, height
    new_short, new_long = shortest, int(shortest * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def preprocess(image, pp):
    """image: PIL image; pp: preprocessor_config dict. Returns float32 (3, crop_h, crop_w)."""
    shortest, ch, cw = _size_dicts(pp)
    if pp.get("do_convert_rgb", True):
        image = image.convert("RGB")
    if pp.get("do_resize", True):
        w, h = resized_size(image.width, image.height, shortest)
        if (w, h) != image.size:
            image = image.resize((w, h), resample=pp.get("resample", 3))
    arr = np.asarray(image)
    if pp.get("do_center_crop", True):
        h, w = arr.shape[:2]
        if ch > h or cw > w:
            raise ValueError("crop larger than the resized image")
        top, left = (h - ch) // 2, (w - cw) // 2
        arr = arr[top:top + ch, left:left + cw]
    x = arr.astype(np.float32)
    if pp.get("do_rescale", True):
        x = (arr.astype(np.float64) * pp.get("rescale_factor", RESCALE)).astype(np.float32)
    if pp.get("do_normalize", True):
        mean = np.asarray(pp["image_mean"], dtype=np.float32)
        std = np.asarray(pp["image_std"], dtype=np.float32)
        x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def embed(model, pixels, dtype=torch.float64, pooling="cls"):
    """pixels: (B,3,H,W) float32 NumPy array; returns (B, d) NumPy embeddings computed in dtype.
    pooling "cls_mean" (DINOv2 only) returns [CLS, mean(patch tokens)], (B, 2D)."""
    m = model.to(dtype)
    fn = m.cls_mean if pooling == "cls_mean" else m
    with torch.no_grad():
        out = fn(torch.from_numpy(pixels).to(dtype)).to(torch.float64).numpy()
    model.to(torch.float32)
    return out


def vision_flops(config, image_h, image_w):
    """Multiply-add FLOPs (2 per MAC) of one image through the vision tower + projection."""
    if config["model_type"] == "clip":
        c = config["vision_config"]
        d, inter, p = c["hidden_size"], c["intermediate_size"], c["patch_size"]
        t = (image_h // p) * (image_w // p) + 1
        mlp = 2 * d * inter
        extra = d * config["projection_dim"]
    else:
        c = config
        d, p = c["hidden_size"], c["patch_size"]
        hidden = int(d * c["mlp_ratio"])
        if c.get("use_swiglu_ffn"):
            hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
            mlp = 3 * d * hidden
        else:
            mlp = 2 * d * hidden
        t = (image_h // p) * (image_w // p) + 1 + c.get("num_register_tokens", 0)
        extra = 0
    patch = (image_h // p) * (image_w // p) * d * 3 * p * p
    per_layer = t * (4 * d * d + mlp) + 2 * t * t * d
    return 2 * (patch + c["num_hidden_layers"] * per_layer + extra)
