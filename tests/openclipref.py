"""Independent PyTorch reference for OpenCLIP checkpoints (ViT and ModifiedResNet towers, the text
tower) and open_clip's eval transform, written from the published architectures (OpenAI CLIP's
model.py as open_clip's model.py, transformer.py and modified_resnet.py define it), with
open_clip's parameter names so that a state dict of these modules is a real
open_clip_model.safetensors. Nothing here uses vfrobust's C code.

  - `VisionTransformer`, `TextTransformer`, `ModifiedResNet`, `CLIP` (nn.Modules; attention
    written out; BatchNorm in eval mode with its running statistics);
  - `randomize`: non-trivial random values for every tensor, BatchNorm statistics included;
  - `write_folder`: open_clip_config.json + open_clip_model.safetensors (F32, with the int64
    num_batches_tracked buffers as open_clip saves them), written with json + NumPy alone;
  - `preprocess`: open_clip's eval transform on a PIL image (torchvision Resize of the short
    side with bicubic, CenterCrop with rounded offsets, ToTensor, Normalize), by hand.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]


# ----------------------------------------------------------------------------------------------
# transformer pieces (open_clip transformer.py: ResidualAttentionBlock over nn.MultiheadAttention)

class MHA(nn.Module):
    """nn.MultiheadAttention's parameters: in_proj_weight (3D, D) stacked q, k, v; out_proj."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, causal=False):
        B, T, D = x.shape
        hd = D // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(D, dim=-1)
        q, k, v = (t.reshape(B, T, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if causal:
            mask = torch.full((T, T), float("-inf"), dtype=s.dtype).triu(1)
            s = s + mask
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        return self.out_proj(y)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, d, heads, mlp, quick):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = MHA(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(d, mlp))
        self.mlp.add_module("gelu", QuickGELU() if quick else nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(mlp, d))

    def forward(self, x, causal=False):
        x = x + self.attn(self.ln_1(x), causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, mlp, quick):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(d, heads, mlp, quick) for _ in range(layers)])

    def forward(self, x, causal=False):
        for b in self.resblocks:
            x = b(x, causal)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, image, patch, width, layers, head_width, mlp_ratio, out, quick):
        super().__init__()
        g = image // patch
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(g * g + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // head_width, int(width * mlp_ratio),
                                       quick)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, out))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)               # (B, G*G, D)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj                     # pool 'tok', x @ proj


class TextTransformer(nn.Module):
    def __init__(self, ctx, vocab, width, heads, layers, mlp_ratio, out, quick):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.empty(ctx, width))
        self.transformer = Transformer(width, layers, heads, int(width * mlp_ratio), quick)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, out))

    def forward(self, ids):
        T = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:T]
        x = self.ln_final(self.transformer(x, causal=True))
        pooled = x[torch.arange(ids.shape[0]), ids.argmax(-1)]       # pool 'argmax'
        return pooled @ self.text_projection


# ----------------------------------------------------------------------------------------------
# ModifiedResNet (modified_resnet.py)

class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential()
            self.downsample.add_module("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False))
            self.downsample.add_module("1", nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        if self.stride > 1:
            out = F.avg_pool2d(out, self.stride)
        out = self.bn3(self.conv3(out))
        idt = x
        if self.downsample is not None:
            idt = self.downsample(F.avg_pool2d(x, self.stride) if self.stride > 1 else x)
        return F.relu(out + idt)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial, embed, heads, out):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(spacial * spacial + 1, embed))
        self.k_proj = nn.Linear(embed, embed)
        self.q_proj = nn.Linear(embed, embed)
        self.v_proj = nn.Linear(embed, embed)
        self.c_proj = nn.Linear(embed, out)
        self.heads = heads

    def forward(self, x):
        x = x.flatten(2).transpose(1, 2)                             # (B, HW, C)
        x = torch.cat([x.mean(1, keepdim=True), x], 1) + self.positional_embedding
        B, L, C = x.shape
        hd = C // self.heads
        q, k, v = (p(x).reshape(B, L, self.heads, hd).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y = ((q @ k.transpose(-1, -2) / math.sqrt(hd)).softmax(-1) @ v)
        y = self.c_proj(y.transpose(1, 2).reshape(B, L, C))
        return y[:, 0]


class ModifiedResNet(nn.Module):
    def __init__(self, layers, out, heads, image, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        inplanes = width
        for i, n in enumerate(layers):
            planes = width * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(inplanes, planes, 2 if (i > 0 and j == 0) else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.attnpool = AttentionPool2d(image // 32, width * 32, heads, out)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = F.avg_pool2d(x, 2)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, t, quick = cfg["vision_cfg"], cfg["text_cfg"], cfg.get("quick_gelu", False)
        e = cfg["embed_dim"]
        if isinstance(v["layers"], list):
            self.visual = ModifiedResNet(v["layers"], e, v["width"] * 32 // v.get("head_width", 64),
                                         v["image_size"], v["width"])
        else:
            self.visual = VisionTransformer(v["image_size"], v["patch_size"], v["width"],
                                            v["layers"], v.get("head_width", 64),
                                            v.get("mlp_ratio", 4.0), e, quick)
        self.text = TextTransformer(t.get("context_length", 77), t.get("vocab_size", 49408),
                                    t["width"], t["heads"], t["layers"], t.get("mlp_ratio", 4.0),
                                    e, quick)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def state_for_file(self):
        """open_clip's names: the text tower sits at the top level."""
        out = {}
        for name, t in self.state_dict().items():
            out[name[len("text."):] if name.startswith("text.") else name] = t.detach()
        return out


def randomize(model, seed):
    """Weights ~ N(0, 1/fan_in), norms 0.5..1.5, biases and embeddings small, BatchNorm
    statistics random (mean ~ N(0, 0.1^2), var 0.5..1.5). Deterministic in seed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf, owner = name.rsplit(".", 1)[-1], name.rsplit(".", 2)[-2] if "." in name else ""
            if owner == "bn3" or (owner == "1" and "downsample" in name):
                # the residual branches small, as open_clip's zero init of bn3 intends, so the
                # activations stay O(1) through the stages
                v = 0.1 + 0.2 * torch.rand(p.shape, generator=g) if leaf == "weight" else \
                    0.05 * torch.randn(p.shape, generator=g)
            elif owner.startswith("ln") or owner.startswith("bn"):
                v = 0.5 + torch.rand(p.shape, generator=g) if leaf == "weight" else \
                    0.1 * torch.randn(p.shape, generator=g)
            elif leaf in ("bias", "in_proj_bias"):
                v = 0.05 * torch.randn(p.shape, generator=g)
            elif name == "logit_scale":
                v = torch.tensor(math.log(1 / 0.07))
            elif "token_embedding" in name:
                v = 0.02 * torch.randn(p.shape, generator=g)
            elif leaf in ("proj", "text_projection"):
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[0])
            elif p.dim() >= 2 and "positional" not in leaf:
                v = torch.randn(p.shape, generator=g) / math.sqrt(int(np.prod(p.shape[1:])))
            else:  # class embedding, positional embeddings
                v = 0.5 * torch.randn(p.shape, generator=g)
            p.copy_(v)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("num_batches_tracked"):
                b.fill_(1000)
    return model.eval()


def write_safetensors(path, tensors):
    """tensors: name -> torch tensor; float tensors as F32, int64 as I64."""
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        if t.dtype == torch.int64:
            data, dt = t.numpy().astype("<i8").tobytes(), "I64"
        else:
            data, dt = t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes(), "F32"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_folder(folder, cfg, model, preprocess_cfg=None, tensors=None):
    os.makedirs(folder, exist_ok=True)
    pc = preprocess_cfg or {"mean": OPENAI_MEAN, "std": OPENAI_STD, "interpolation": "bicubic",
                            "resize_mode": "shortest"}
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": pc}, f, indent=2)
    write_safetensors(os.path.join(folder, "open_clip_model.safetensors"),
                      tensors if tensors is not None else model.state_for_file())


# ----------------------------------------------------------------------------------------------
# open_clip's eval transform (torchvision semantics, by hand on Pillow)

def preprocess(image, size, mean=OPENAI_MEAN, std=OPENAI_STD, resample=Image.BICUBIC,
               squash=False):
    """Resize (short side -> size, long side int(size * long / short); or squash to size x
    size), CenterCrop (pad floor((size - s) / 2) before when smaller; offsets
    int(round((s - size) / 2)), half to even), convert RGB, ToTensor (uint8 / 255 in float32),
    Normalize. Returns float32 (3, size, size)."""
    w, h = image.size
    if squash:
        nw, nh = size, size
    elif w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    if (nw, nh) != (w, h):
        image = image.resize((nw, nh), resample)
    arr = np.asarray(image.convert("RGB"))
    H, W = arr.shape[:2]
    if H < size or W < size:
        pt, pl = max(size - H, 0) // 2, max(size - W, 0) // 2
        pad = np.zeros((max(H, size), max(W, size), 3), np.uint8)
        pad[pt:pt + H, pl:pl + W] = arr
        arr = pad
        H, W = arr.shape[:2]
    top, left = int(round((H - size) / 2.0)), int(round((W - size) / 2.0))
    arr = arr[top:top + size, left:left + size]
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32).div(255)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return ((x - m) / s).numpy()
