"""`vfrobust train` and `vfrobust classify` against PyTorch (Debian python3-torch).

A tiny CLIP vision tower (hidden 32, 2 layers, 2 heads, MLP 64, patch 4 at 32 px, projection 16)
and 3 CIFAR-10 classes x 8 training images. Checked:
  a. random initialisation (a config folder without weights): OUT/init/model.safetensors has
     exactly the tensors of Hugging Face's CLIPVisionModelWithProjection (names, shapes);
     layer norms 1 and 0, biases 0; each weight tensor's mean and standard deviation within
     sampling error of Hugging Face CLIP's _init_weights (initializer_factor 1), the pooled
     standardised values normal (Kolmogorov-Smirnov); the config's initializer_range is
     honoured (0.04 here); another seed gives other weights, the same seed the same file;
  b. replay: from a folder of modelref weights with a head, full-batch steps without
     augmentation, torch in float64 (modelref's modules and preprocessing, cross-entropy with
     label smoothing, torch.optim.AdamW, the warmup + half-cosine schedule): per-epoch loss and
     learning rate of train.json, and every final tensor, the head included;
  c. `vfrobust classify` on images of two of the three classes (so classes must be matched by
     name): per-image predictions (--out CSV) equal the argmax of the trained folder's weights
     run in torch, the accuracy exact;
  d. --stop-after then --resume (shift and flip augmentation, batch smaller than the set, from
     a random initialisation): model.safetensors byte-identical to an uninterrupted run;
  e. bad usage and bad input: exit 2 / exit 1 with one stderr line naming the culprit.
"""
import csv as csv_module
import json
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import stats
from torch import nn

import modelref as R
import vfr_testlib as T

THREADS = 1
torch.set_num_threads(THREADS)
ck = T.Checker("ref_train_torch")
CIFAR = os.path.join(T.DATA, "cifar10")
CLASSES = ["airplane", "cat", "ship"]
PER_CLASS = 8
D, LAYERS, HEADS, MLP, PATCH, IMAGE, PROJ = 32, 2, 2, 64, 4, 32, 16
INIT_RANGE = 0.04  # not HF's default 0.02, so the config's value must be read


def vision_config():
    return {"architectures": ["CLIPVisionModelWithProjection"], "model_type": "clip_vision_model",
            "hidden_size": D, "intermediate_size": MLP, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "patch_size": PATCH, "image_size": IMAGE,
            "projection_dim": PROJ, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
            "num_channels": 3, "initializer_range": INIT_RANGE, "initializer_factor": 1.0}


class Classifier(nn.Module):
    """CLIPVisionModelWithProjection's tensors plus the head, with the file's names:
    logits = visual_projection(vision_model(x)) W^T + b."""

    def __init__(self, vc, classes):
        super().__init__()
        self.vision_model = R.CLIPVisionTransformer(vc)
        self.visual_projection = nn.Linear(vc["hidden_size"], vc["projection_dim"], bias=False)
        self.classifier_head = nn.Linear(vc["projection_dim"], classes)

    def forward(self, pixels):
        return self.classifier_head(self.visual_projection(self.vision_model(pixels)))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], np.float32).reshape(info["shape"])
    return out


def run(*args, expect=0):
    cmd = [T.BIN, *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stderr[-2000:])
    ck.check(p.returncode == expect, f"{' '.join(cmd[1:])}: exit {p.returncode}, want {expect}")
    return p


def one_line_naming(p, what, name):
    ok = p.stderr.startswith("vfrobust: ") and p.stderr.count("\n") == 1 and name in p.stderr
    ck.check(ok, f"{what}: stderr {p.stderr!r} should be one line naming {name}")


def lr_at(s, total, warmup, lr_max, lr_min):
    """adamw.h's schedule: linear warmup, then a half cosine from lr_max to lr_min."""
    if s < warmup:
        return lr_max * (s + 1) / warmup
    prog = (s - warmup) / (total - warmup)
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + np.cos(np.pi * prog))


def make_image_folder(root, split, classes, per_class, first=0):
    for c in classes:
        os.makedirs(os.path.join(root, c))
        for i in range(first, first + per_class):
            shutil.copy(os.path.join(CIFAR, split, c, f"{i:04d}.jpg"), os.path.join(root, c))


def dataset(root):
    """(path, class name) in ImageFolder order: classes sorted, files sorted."""
    return [(os.path.join(root, c, f), c) for c in sorted(os.listdir(root))
            for f in sorted(os.listdir(os.path.join(root, c)))]


def pixels(items, pp):
    return torch.tensor(np.stack([R.preprocess(Image.open(p), pp) for p, _ in items]))


# ---- a. random initialisation ----------------------------------------------------------------

def hf_init_std(name):
    """Hugging Face CLIPPreTrainedModel._init_weights (initializer_factor f = 1): the standard
    deviation of weight `name`, None for a constant (layer norm weight 1, biases 0)."""
    f = 1.0
    if name.endswith("class_embedding"):
        return D ** -0.5 * f
    if "patch_embedding" in name or "position_embedding" in name:
        return INIT_RANGE * f
    if any(k in name for k in ("q_proj.weight", "k_proj.weight", "v_proj.weight")):
        return D ** -0.5 * (2 * LAYERS) ** -0.5 * f
    if "out_proj.weight" in name:
        return D ** -0.5 * f
    if "fc1.weight" in name:
        return (2 * D) ** -0.5 * f
    if "fc2.weight" in name:
        return D ** -0.5 * (2 * LAYERS) ** -0.5 * f
    if name == "visual_projection.weight":
        return D ** -0.5 * f  # CLIPVisionModelWithProjection: hidden_size^-0.5 * factor
    return None


def check_init(tmp, cfg_dir, data):
    outs = {}
    for tag, seed in (("s3", 3), ("s3_again", 3), ("s4", 4)):
        outs[tag] = os.path.join(tmp, "init_" + tag)
        run("train", "--model", cfg_dir, "--data", data, "--out", outs[tag], "--epochs", 1,
            "--batch", 64, "--seed", seed, "--threads", THREADS, "--quiet")
    path = os.path.join(outs["s3"], "init", "model.safetensors")
    got = read_safetensors(path)
    want = Classifier(vision_config(), len(CLASSES))
    shapes = {n: tuple(p.shape) for n, p in want.named_parameters()
              if not n.startswith("classifier_head")}
    ck.check(set(got) == set(shapes), f"init tensor names: extra {set(got) - set(shapes)}, "
             f"missing {set(shapes) - set(got)}")
    zs, worst = [], 0.0
    for n, shape in shapes.items():
        if n not in got:
            continue
        v = got[n].astype(np.float64)
        ck.check(v.shape == shape, f"init {n}: shape {v.shape}, want {shape}")
        std = hf_init_std(n)
        if std is None:
            const = 1.0 if ("norm" in n and n.endswith(".weight")) else 0.0
            ck.check(np.all(v == const), f"init {n}: not all {const}")
            continue
        k = v.size
        s = float(v.std())
        # sampling error: sd(mean) = std / sqrt(k), sd(sample std) ~ std / sqrt(2k); 5 sigma
        dev_s = abs(s / std - 1) / (1 / np.sqrt(2 * k))
        dev_m = abs(float(v.mean())) / (std / np.sqrt(k))
        worst = max(worst, dev_s, dev_m)
        ck.check(dev_s <= 5 and dev_m <= 5,
                 f"init {n}: mean {v.mean():.3g} std {s:.4g}, want 0 and {std:.4g} "
                 f"({dev_m:.1f} / {dev_s:.1f} sampling sd)")
        zs.append(v.ravel() / std)
    z = np.concatenate(zs)
    ks = stats.kstest(z, "norm")
    print(f"  init: {len(shapes)} tensors, worst mean/std deviation {worst:.2f} sampling sd; "
          f"KS vs N(0,1) on {z.size} standardised values p = {ks.pvalue:.3f}")
    ck.check(ks.pvalue > 1e-4, f"init: standardised weights not normal (KS p {ks.pvalue:.2g})")
    same = open(path, "rb").read() == open(os.path.join(outs["s3_again"], "init",
                                                         "model.safetensors"), "rb").read()
    ck.check(same, "init: the same seed gave a different file")
    other = read_safetensors(os.path.join(outs["s4"], "init", "model.safetensors"))
    for n in shapes:
        if hf_init_std(n) is not None and n in got and n in other:
            ck.check(not np.any(got[n] == other[n]), f"init {n}: seeds 3 and 4 share values")
    cfg = json.load(open(os.path.join(outs["s3"], "init", "config.json")))
    ck.check(cfg.get("id2label") == {str(i): c for i, c in enumerate(CLASSES)},
             f"init config id2label {cfg.get('id2label')}")
    return outs["s3"]


# ---- b. replay in torch ----------------------------------------------------------------------

def start_folder(root, pp):
    """modelref's random tower (CLIPVisionModelWithProjection names) with a random head."""
    vc = vision_config()
    full = R.clip_config(D, LAYERS, HEADS, MLP, PATCH, IMAGE, PROJ, text=(32, 1, 2, 64))
    model = R.randomize(R.build_model(full), 7)  # the text tower is dropped below
    tensors = {n: p.detach() for n, p in model.named_parameters()
               if n.startswith("vision_model.") or n == "visual_projection.weight"}
    g = torch.Generator().manual_seed(8)
    tensors["classifier_head.weight"] = 0.3 * torch.randn(len(CLASSES), PROJ, generator=g)
    tensors["classifier_head.bias"] = 0.1 * torch.randn(len(CLASSES), generator=g)
    os.makedirs(root)
    with open(os.path.join(root, "config.json"), "w") as f:
        json.dump(vc, f)
    with open(os.path.join(root, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f)
    R.write_safetensors(os.path.join(root, "model.safetensors"), tensors)
    return {n: t.numpy() for n, t in tensors.items()}


def load(tensors):
    m = Classifier(vision_config(), len(CLASSES)).double()
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(torch.tensor(tensors[n], dtype=torch.float64))
    return m


def check_replay(tmp, start, init, data, pp):
    opt = {"lr": 1e-3, "lr_min": 1e-5, "wd": 0.05, "beta1": 0.85, "beta2": 0.99, "eps": 1e-8,
           "warmup": 1, "epochs": 3, "smoothing": 0.1}
    out = os.path.join(tmp, "replay")
    n_img = len(CLASSES) * PER_CLASS
    run("train", "--model", start, "--data", data, "--out", out, "--pad", 0, "--no-flip",
        "--batch", n_img, "--epochs", opt["epochs"], "--warmup", opt["warmup"], "--lr", opt["lr"],
        "--lr-min", opt["lr_min"], "--wd", opt["wd"], "--beta1", opt["beta1"], "--beta2",
        opt["beta2"], "--adam-eps", opt["eps"], "--label-smoothing", opt["smoothing"],
        "--seed", 2, "--threads", THREADS, "--quiet")
    rep = json.load(open(os.path.join(out, "train.json")))
    ck.check(rep["classes"] == CLASSES, f"classes {rep['classes']}")
    items = dataset(data)
    x = pixels(items, pp).double()
    y = torch.tensor([CLASSES.index(c) for _, c in items])
    model = load(init)
    params = list(model.parameters())
    optim = torch.optim.AdamW(params, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]),
                              eps=opt["eps"], weight_decay=opt["wd"])
    losses, lrs = [], []
    for s in range(opt["epochs"]):  # one full-batch step per epoch
        lr = lr_at(s, opt["epochs"], opt["warmup"], opt["lr"], opt["lr_min"])
        for group in optim.param_groups:
            group["lr"] = lr
        optim.zero_grad()
        loss = F.cross_entropy(model(x), y, label_smoothing=opt["smoothing"])
        loss.backward()
        optim.step()
        losses.append(loss.item())
        lrs.append(lr)
    ours = [e["loss"] for e in rep["epochs"]]
    ck.check(len(ours) == opt["epochs"], f"train.json has {len(ours)} epochs")
    lerr = max(abs(a - b) / abs(b) for a, b in zip(ours, losses))
    lrerr = max(abs(e["lr_last"] - b) / b for e, b in zip(rep["epochs"], lrs))
    print(f"  replay: per-epoch loss ours {np.round(ours, 6).tolist()} torch "
          f"{np.round(losses, 6).tolist()}: worst rel err {lerr:.2e}; lr rel err {lrerr:.1e}")
    ck.check(lerr <= 1e-4, f"replay: loss rel err {lerr:.2e}")
    ck.check(lrerr <= 1e-9, f"replay: lr rel err {lrerr:.2e}")
    got = read_safetensors(os.path.join(out, "model.safetensors"))
    ref = {n: p.detach().numpy() for n, p in model.named_parameters()}
    ck.check(set(got) == set(ref), f"replay: tensors {sorted(set(got) ^ set(ref))} differ")
    lr_sum, worst, wname = sum(lrs), 0.0, ""
    for n in ref:
        if n not in got:
            continue
        if n.endswith("self_attn.k_proj.bias"):
            # d loss / d(key bias) is exactly 0 (it adds q.b to every logit of a softmax row);
            # its float rounding noise, normalised by Adam, moves it by up to about lr per step
            # in any direction, so only that bound is checked.
            moved = float(np.max(np.abs(got[n] - init[n])))
            ck.check(moved <= 1.5 * lr_sum, f"replay: {n} moved {moved:.2e} > {lr_sum:.2e}")
            continue
        e = float(np.max(np.abs(got[n] - ref[n])) / np.max(np.abs(ref[n])))
        if e > worst:
            worst, wname = e, n
        ck.check(e <= 1e-3, f"replay: {n} max abs diff / max abs {e:.2e}")
        ck.check(np.any(got[n] != init[n]), f"replay: {n} did not change")
    print(f"  replay: {len(ref)} tensors, worst max|diff|/max|torch| {worst:.2e} ({wname}); "
          f"key biases bound-checked only")
    cfg = json.load(open(os.path.join(out, "config.json")))
    ck.check(cfg.get("id2label") == {str(i): c for i, c in enumerate(CLASSES)},
             f"replay config id2label {cfg.get('id2label')}")
    return out


# ---- c. classify -----------------------------------------------------------------------------

def check_classify(tmp, trained, pp):
    test = os.path.join(tmp, "test")
    make_image_folder(test, "test", ["ship", "cat"], 6)  # dataset order cat, ship; model's 1, 2
    items = dataset(test)
    weights = read_safetensors(os.path.join(trained, "model.safetensors"))
    with torch.no_grad():
        logits = load(weights)(pixels(items, pp).double()).numpy()
    pred = [CLASSES[i] for i in logits.argmax(1)]
    top2 = np.sort(logits, 1)[:, -2:]
    margin = float(np.min(top2[:, 1] - top2[:, 0]))
    correct = sum(p == c for p, (_, c) in zip(pred, items))
    csv = os.path.join(tmp, "pred.csv")
    p = run("classify", "--model", trained, "--data", test, "--json", "--out", csv, "--threads",
            THREADS)
    res = json.loads(p.stdout)
    lines = open(csv).read().splitlines()
    ck.check(lines[0] == "image,label,predicted", f"csv header {lines[0]!r}")
    rows = [list(r) for r in csv_module.reader(lines[1:])]
    want = [[os.path.relpath(path, test), c, pr] for (path, c), pr in zip(items, pred)]
    ck.check(rows == want, f"classify predictions {rows} != torch {want}")
    ck.check(res["images"] == len(items) and res["correct"] == correct and res["skipped"] == 0,
             f"classify {res}, torch {correct}/{len(items)}")
    ck.check(abs(res["accuracy"] - correct / len(items)) <= 1e-9, f"accuracy {res['accuracy']}")
    same = sum(r == w for r, w in zip(rows, want))
    print(f"  classify: {res['correct']}/{res['images']} correct, torch {correct}; predictions "
          f"{same}/{len(want)} equal (smallest top-2 logit margin {margin:.2e})")
    return test


# ---- d. resume -------------------------------------------------------------------------------

def check_resume(tmp, cfg_dir, data):
    common = ["train", "--model", cfg_dir, "--data", data, "--batch", 10, "--epochs", 2,
              "--lr", 2e-3, "--warmup", 2, "--seed", 5, "--threads", THREADS, "--quiet"]
    a, b = os.path.join(tmp, "full"), os.path.join(tmp, "resumed")
    run(*common, "--pad", 2, "--out", a)
    run(*common, "--pad", 2, "--stop-after", 4, "--out", b)
    ck.check(not os.path.exists(os.path.join(b, "model.safetensors")), "stopped run wrote a model")
    run(*common, "--pad", 2, "--resume", "--out", b)
    fa = open(os.path.join(a, "model.safetensors"), "rb").read()
    fb = open(os.path.join(b, "model.safetensors"), "rb").read()
    ck.check(fa == fb, "resumed model.safetensors differs from the uninterrupted run")
    la = [e["loss"] for e in json.load(open(os.path.join(a, "train.json")))["epochs"]]
    lb = [e["loss"] for e in json.load(open(os.path.join(b, "train.json")))["epochs"]]
    ck.check(la == lb, f"resumed losses {lb} != {la}")
    # augmentation is in play: without it the same run ends elsewhere
    c = os.path.join(tmp, "noaug")
    run(*common, "--pad", 0, "--no-flip", "--out", c)
    fc = open(os.path.join(c, "model.safetensors"), "rb").read()
    ck.check(fc != fa, "the augmented and plain runs gave the same model")
    print(f"  resume: stop after 4 of 6 steps, resumed model byte-identical {fa == fb}")


# ---- e. bad usage and input ------------------------------------------------------------------

def check_errors(tmp, cfg_dir, data, start, init_out, pp):
    bad = os.path.join(tmp, "bad_out")
    p = run("train", "--model", cfg_dir, "--out", bad, expect=2)
    ck.check("--data" in p.stderr and p.stderr.count("\n") == 1, f"no --data: {p.stderr!r}")
    flat = os.path.join(tmp, "flat")
    os.makedirs(flat)
    for i in range(4):
        shutil.copy(os.path.join(CIFAR, "train", "cat", f"{i:04d}.jpg"), flat)
    p = run("train", "--model", start, "--data", flat, "--out", bad, "--quiet", expect=1)
    one_line_naming(p, "flat folder", flat)
    single = os.path.join(tmp, "single")
    make_image_folder(single, "train", ["dog"], 4)
    p = run("train", "--model", start, "--data", single, "--out", bad, "--quiet", expect=1)
    one_line_naming(p, "one class", single)
    # DINOv2: a config without weights (no random initialisation) and a folder with weights
    dino_cfg = os.path.join(tmp, "dino_cfg")
    os.makedirs(dino_cfg)
    with open(os.path.join(dino_cfg, "config.json"), "w") as f:
        json.dump(R.dinov2_config(32, 2, 2, 4, 32), f)
    with open(os.path.join(dino_cfg, "preprocessor_config.json"), "w") as f:
        json.dump(R.bit_preprocessor(32, 32), f)
    p = run("train", "--model", dino_cfg, "--data", data, "--out", bad, "--quiet", expect=1)
    one_line_naming(p, "DINOv2 config", os.path.join(dino_cfg, "config.json"))
    dino = os.path.join(tmp, "dino")
    dcfg = R.dinov2_config(32, 2, 2, 4, 32)
    R.write_hf_folder(dino, dcfg, R.bit_preprocessor(32, 32),
                      R.randomize(R.build_model(dcfg), 3))
    p = run("train", "--model", dino, "--data", data, "--out", bad, "--quiet", expect=1)
    one_line_naming(p, "DINOv2 folder", dino)
    garbage = os.path.join(tmp, "garbage")
    os.makedirs(garbage)
    with open(os.path.join(garbage, "config.json"), "w") as f:
        f.write("{\"model_type\": \"clip_vision_model\", ")
    with open(os.path.join(garbage, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f)
    p = run("train", "--model", garbage, "--data", data, "--out", bad, "--quiet", expect=1)
    one_line_naming(p, "garbage config", os.path.join(garbage, "config.json"))
    headless = os.path.join(init_out, "init")
    p = run("classify", "--model", headless, "--data", data, expect=1)
    one_line_naming(p, "classify without a head", os.path.join(headless, "model.safetensors"))
    p = run("classify", "--model", init_out, "--data", flat, expect=1)
    one_line_naming(p, "classify on unlabelled images", flat)


def main():
    tmp = tempfile.mkdtemp(prefix="vfr_train_")
    try:
        pp = R.clip_preprocessor(IMAGE, IMAGE)
        cfg_dir = os.path.join(tmp, "recipe")
        os.makedirs(cfg_dir)
        with open(os.path.join(cfg_dir, "config.json"), "w") as f:
            json.dump(vision_config(), f)
        with open(os.path.join(cfg_dir, "preprocessor_config.json"), "w") as f:
            json.dump(pp, f)
        data = os.path.join(tmp, "train")
        make_image_folder(data, "train", CLASSES, PER_CLASS)
        init_out = check_init(tmp, cfg_dir, data)
        start = os.path.join(tmp, "start")
        init = start_folder(start, pp)
        trained = check_replay(tmp, start, init, data, pp)
        check_classify(tmp, trained, pp)
        check_resume(tmp, cfg_dir, data)
        check_errors(tmp, cfg_dir, data, start, init_out, pp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
