"""`vfrobust finetune` against a PyTorch training loop (Debian python3-torch).

Tiny random CLIP and DINOv2 folders (modelref) and 18 CIFAR-10 training images. Our run writes, per step,
the images it used and the brightness level it drew for each (finetune.json); the reference
replays them independently: Pillow's ImageEnhance.Brightness for the perturbation, modelref's
HF preprocessing, modelref's CLIPModel in float32 with autograd for the loss
L = -mean cos(f'(x), f'(Px)) - lambda mean cos(f(x), f'(x)), torch.optim.AdamW and a LambdaLR
warmup + cosine schedule. Checked:
  - per-step losses (and L1, L2, learning rate) within 1e-3 relative, for four CLIP settings:
    last 2 of 3 blocks trained with gradient accumulation (2 micro-batches); everything
    trained (embeddings included) in one micro-batch; the loss variants --l2-both-views
    (L2 = -mean (cos(f(x), f'(x)) + cos(f(x), f'(Px))) / 2, last 2 blocks) and that with
    --l1-stop-clean (f'(x) detached in L1, everything, 2 micro-batches); and DINOv2 (below);
  - the written model.safetensors: tuned vision tensors equal torch's updated weights
    (norm-wise relative error <= 1e-4 per tensor; the key biases, whose true gradient is 0,
    only within an Adam-sized bound), frozen blocks and the text tower bit-identical;
  - `vfrobust embed --model OUT` equals torch's updated model (<= 1e-4 relative);
  - --stop-after 4 then --resume gives the same final weights as the uninterrupted run;
  - a DINOv2-with-registers folder trained at 48 px and tuned at 32 px: everything trains, the
    position table through the (antialiased bicubic) resampling; same checks;
  - accum 1 and accum 2 give the same weights (<= 1e-4 relative, key biases aside);
  - the evaluation block (DR before/after in [0, 1] for two ops, clean cosine, clean k-NN
    accuracy equal to scikit-learn's KNeighborsClassifier on torch's embeddings) and
    bad-usage errors.
Also prints our step time against the PyTorch step (same model, batch and thread count).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

import modelref as R
import vfr_testlib as T

THREADS = 2
torch.set_num_threads(THREADS)
ck = T.Checker("ref_finetune_torch")
BAR_LOSS, BAR_W = 1e-3, 1e-4
CIFAR = os.path.join(T.DATA, "cifar10")


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


def rel(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    d = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (d if d > 0 else 1.0))


def run(*args, expect=0):
    cmd = [T.BIN, *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stderr[-2000:])
    ck.check(p.returncode == expect, f"{' '.join(cmd[1:4])}...: exit {p.returncode}, want {expect}")
    return p


def lr_at(s, total, warmup, lr_max, lr_min):
    if s < warmup:
        return lr_max * (s + 1) / warmup
    if s >= total:
        return lr_min
    prog = (s - warmup) / (total - warmup)
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + np.cos(np.pi * prog))


def trainable_names(model, first_layer):
    if isinstance(model, R.Dinov2Model):  # everything but the (unused) mask token
        assert first_layer == 0
        return [n for n, _ in model.named_parameters() if n != "embeddings.mask_token"]
    names = []
    for name, _ in model.vision_model.named_parameters():
        full = "vision_model." + name
        if first_layer > 0:
            if name.startswith("encoder.layers."):
                if int(name.split(".")[2]) < first_layer:
                    continue
            elif not name.startswith("post_layernorm"):
                continue
        names.append(full)
    names.append("visual_projection.weight")
    return names


# key biases: dL/db_k is exactly 0 (see below)
KEY_BIAS = ("self_attn.k_proj.bias", "attention.attention.key.bias")


def reference_loop(model0, report, pp, lam, opt):
    """Replays our run in torch; returns (per-step [loss, l1, l2, lr], tuned model, secs/step)."""
    import copy
    names = report["image_names"]
    tuned = copy.deepcopy(model0).float()
    frozen = model0.float().eval()
    params = dict(tuned.named_parameters())
    train = trainable_names(tuned, report["settings"]["first_trained_layer"])
    both_views = report["settings"]["l2_both_views"]
    stop_clean = report["settings"]["l1_stop_clean"]
    for n, p in params.items():
        p.requires_grad_(n in train)
    optim = torch.optim.AdamW([params[n] for n in train], lr=opt["lr"],
                              betas=(opt["beta1"], opt["beta2"]), eps=1e-8,
                              weight_decay=opt["wd"])
    total = len(report["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: lr_at(s, total, opt["warmup"], 1.0, 0.0))
    out, secs = [], []
    for st in report["steps"]:
        xs, ps = [], []
        for idx, pert in zip(st["images"], st["perturbations"]):
            img = Image.open(names[idx]).convert("RGB")
            (lv,) = pert["chain"]
            assert lv["op"] == "brightness"
            img = img.convert("RGB")
            xs.append(R.preprocess(img, pp))
            ps.append(R.preprocess(ImageEnhance.Brightness(img).enhance(lv["value"]), pp))
        x = torch.tensor(np.stack(xs))
        px = torch.tensor(np.stack(ps))
        t0 = time.perf_counter()
        with torch.no_grad():
            fx = frozen(x)
        optim.zero_grad()
        a, p = tuned(x), tuned(px)
        # --l1-stop-clean: f'(x) is L1's target, detached; --l2-both-views: L2 on both views
        a1 = a.detach() if stop_clean else a
        l1 = -F.cosine_similarity(a1, p, dim=1, eps=1e-12).mean()
        l2 = -F.cosine_similarity(fx, a, dim=1, eps=1e-12).mean()
        if both_views:
            l2 = (l2 - F.cosine_similarity(fx, p, dim=1, eps=1e-12).mean()) / 2
        loss = l1 + lam * l2
        loss.backward()
        lr = optim.param_groups[0]["lr"]
        optim.step()
        sched.step()
        secs.append(time.perf_counter() - t0)
        out.append([loss.item(), l1.item(), l2.item(), lr])
    return np.array(out), tuned, float(np.median(secs))


def main():
    tmp = tempfile.mkdtemp(prefix="vfr_finetune_")
    cfg = R.clip_config(64, 3, 4, 128, 8, 32, 32, text=(32, 1, 2, 64))
    pp = R.clip_preprocessor(32, 32)
    model = R.build_model(cfg)
    R.randomize(model, 11)
    mdir = os.path.join(tmp, "model")
    R.write_hf_folder(mdir, cfg, pp, model)
    # DINOv2 with registers, trained at 48 px (6x6 grid) and run at 32 px (4x4): the position
    # table trains through the antialiased bicubic resampling
    dcfg = R.dinov2_config(64, 2, 4, 8, 48, registers=2)
    dpp = R.bit_preprocessor(32, 32)
    dmodel = R.build_model(dcfg)
    R.randomize(dmodel, 12)
    ddir = os.path.join(tmp, "dino")
    R.write_hf_folder(ddir, dcfg, dpp, dmodel)
    classes = sorted(os.listdir(os.path.join(CIFAR, "train")))
    csv = os.path.join(tmp, "train.csv")
    with open(csv, "w") as f:
        f.write("path,label\n")
        for i in range(18):
            c = classes[i % len(classes)]
            f.write(f"{os.path.join(CIFAR, 'train', c, f'{i:04d}.jpg')},{c}\n")
    origs = {mdir: read_safetensors(os.path.join(mdir, "model.safetensors")),
             ddir: read_safetensors(os.path.join(ddir, "model.safetensors"))}
    orig = origs[mdir]
    models = {mdir: (cfg, pp), ddir: (dcfg, dpp)}

    opt = {"lr": 2e-3, "wd": 0.05, "beta1": 0.85, "beta2": 0.99, "warmup": 3}
    common = ["--data", csv, "--ops", "brightness:0.5..1.5", "--batch", 4,
              "--epochs", 2, "--lr", opt["lr"], "--wd", opt["wd"], "--beta1", opt["beta1"],
              "--beta2", opt["beta2"], "--warmup", opt["warmup"], "--threads", THREADS,
              "--seed", 5, "--quiet"]
    settings = {
        "last2_accum2": ["--model", mdir, "--train-blocks", 2, "--accum", 2, "--lambda", 0.7],
        "all_accum1": ["--model", mdir, "--train-blocks", 0, "--accum", 1, "--lambda", 1.0],
        "all_both_views_stop_clean": ["--model", mdir, "--accum", 2, "--lambda", 0.5,
                                      "--l2-both-views", "--l1-stop-clean"],
        "last2_both_views": ["--model", mdir, "--train-blocks", 2, "--lambda", 0.8,
                             "--l2-both-views"],
        "dinov2_reg_all_accum2": ["--model", ddir, "--accum", 2],
    }
    outs = {}
    for tag, extra in settings.items():
        cfg, pp = models[extra[1]]
        orig = origs[extra[1]]
        out = os.path.join(tmp, tag)
        evalargs = ["--eval-data", os.path.join(CIFAR, "test"), "--eval-per-class", 3,
                    "--eval-limit", 30, "--eval-levels", 3,
                    "--eval-ops", "brightness:0.5..1.5,gaussian_blur:0..2"] \
            if tag == "all_accum1" else []
        t0 = time.perf_counter()
        run("finetune", *common, *extra, *evalargs, "--out", out)
        wall = time.perf_counter() - t0
        outs[tag] = out
        rep = json.load(open(os.path.join(out, "finetune.json")))
        lam = rep["settings"]["lambda"]
        ck.check(len(rep["steps"]) == 10, f"{tag}: {len(rep['steps'])} steps, want 10")
        ours = np.array([[s["loss"], s["l1"], s["l2"], s["lr"]] for s in rep["steps"]])
        ref, tuned, ref_step = reference_loop(load_model(cfg, orig), rep, pp, lam, opt)
        worst = np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-12), axis=0)
        print(f"  {tag}: per-step rel err loss {worst[0]:.2e} l1 {worst[1]:.2e} "
              f"l2 {worst[2]:.2e} lr {worst[3]:.2e}; losses {ours[0, 0]:.5f} -> {ours[-1, 0]:.5f}")
        ck.check(worst[0] <= BAR_LOSS and worst[1] <= BAR_LOSS and worst[2] <= BAR_LOSS,
                 f"{tag}: loss rel err {worst[:3]} > {BAR_LOSS}")
        ck.check(worst[3] <= 1e-6, f"{tag}: lr rel err {worst[3]}")
        # weights
        got = read_safetensors(os.path.join(out, "model.safetensors"))
        ck.check(set(got) == set(orig), f"{tag}: tensor names differ from the original")
        tsd = {n: p.detach().numpy() for n, p in tuned.named_parameters()}
        train = set(trainable_names(tuned, rep["settings"]["first_trained_layer"]))
        wmax, changed = 0.0, 0
        lr_sum = float(np.sum(ours[:, 3]))
        for n in orig:
            if n in train and n.endswith(KEY_BIAS):
                # dL/d(key bias) is exactly 0 (it adds q.b to every logit of a softmax row),
                # so its float gradient is rounding noise that Adam's normalisation turns into
                # steps of up to about lr, different in any two implementations. Check only
                # that both moved by an Adam-sized amount.
                dg = float(np.max(np.abs(got[n] - orig[n])))
                dt = float(np.max(np.abs(tsd[n] - orig[n])))
                changed += 1
                ck.check(dg <= 3 * lr_sum and dt <= 3 * lr_sum,
                         f"{tag}: {n} moved {dg:.2e} (torch {dt:.2e}) > 3 sum(lr) {lr_sum:.2e}")
            elif n in train:
                e = rel(got[n], tsd[n])
                wmax = max(wmax, e)
                changed += int(np.any(got[n] != orig[n]))
                ck.check(e <= BAR_W, f"{tag}: {n} rel err {e:.2e} vs torch")
            else:
                ck.check(np.array_equal(got[n], orig[n]), f"{tag}: frozen {n} changed")
        print(f"  {tag}: {len(train)} tuned tensors ({changed} changed), worst rel err vs torch "
              f"{wmax:.2e} (key biases: zero true gradient, bound-checked only); "
              f"{len(orig) - len(train)} frozen tensors bit-identical")
        ck.check(changed == len(train), f"{tag}: only {changed}/{len(train)} tensors changed")
        # the folder loads in vfrobust and gives torch's embeddings
        imgs = [os.path.join(CIFAR, "test", c, "0000.jpg") for c in classes[:4]]
        npy = os.path.join(tmp, f"{tag}.npy")
        run("embed", "--model", out, "--threads", THREADS, "--out", npy, *imgs)
        emb = np.load(npy)
        with torch.no_grad():
            refe = tuned(torch.tensor(np.stack([R.preprocess(Image.open(i), pp) for i in imgs])))
        e = rel(emb, refe.numpy())
        print(f"  {tag}: vfrobust embed of the output folder vs torch rel err {e:.2e}")
        ck.check(e <= BAR_W, f"{tag}: embeddings of the tuned folder rel err {e:.2e}")
        ours_step = rep["train_seconds"] / len(rep["steps"])
        print(f"  {tag}: step time ours {ours_step * 1e3:.1f} ms (with image decode+perturb, "
              f"run wall {wall:.1f} s) vs torch {ref_step * 1e3:.1f} ms (compute only), "
              f"ratio torch/ours {ref_step / ours_step:.2f}x at {THREADS} threads")
        if "evaluation" in rep:
            ev = rep["evaluation"]
            c = ev["clean_cosine_to_original"]
            for op in ev["before"]["mean_dr"]:
                b, a = ev["before"]["mean_dr"][op], ev["after"]["mean_dr"][op]
                print(f"  {tag}: eval on {ev['images']} images: {op} mean DR {b:.4f} -> {a:.4f}")
                ck.check(0 <= a <= 1 and 0 <= b <= 1, f"{tag}: DR out of range {ev}")
            print(f"  {tag}: clean cosine to original mean {c['mean']:.4f} min {c['min']:.4f}")
            ck.check(len(ev["before"]["mean_dr"]) == 2, f"{tag}: eval ops {ev['before']}")
            ck.check(-1 <= c["min"] <= c["mean"] <= 1, f"{tag}: cosine out of range {c}")
            ck.check(ev["images"] == 30, f"{tag}: {ev['images']} evaluation images, want 30")
            # clean k-NN accuracy against scikit-learn on torch's embeddings
            from sklearn.neighbors import KNeighborsClassifier
            labels = [os.path.basename(os.path.dirname(n)) for n in rep["image_names"]]
            tlabels = [os.path.basename(os.path.dirname(n)) for n in ev["image_names"]]
            k, temp = ev["knn"]["k"], ev["knn"]["temperature"]
            for key, net in (("before", load_model(cfg, orig)), ("after", tuned)):
                with torch.no_grad():
                    tr = net(torch.tensor(np.stack([R.preprocess(Image.open(n), pp)
                                                    for n in rep["image_names"]]))).numpy()
                    te = net(torch.tensor(np.stack([R.preprocess(Image.open(n), pp)
                                                    for n in ev["image_names"]]))).numpy()
                knn = KNeighborsClassifier(n_neighbors=min(k, len(tr)), metric="cosine",
                                           algorithm="brute",
                                           weights=lambda d: np.exp((1 - d) / temp))
                acc = float(np.mean(knn.fit(tr, labels).predict(te) == np.array(tlabels)))
                got = ev[key]["knn_accuracy"]
                print(f"  {tag}: clean k-NN accuracy {key}: ours {got:.4f}, sklearn {acc:.4f}")
                ck.check(abs(got - acc) < 1e-9, f"{tag}: k-NN accuracy {key} {got} vs {acc}")

    # --resume: stop after 4 steps (checkpoint), then continue; same weights as uninterrupted
    for tag in ("last2_accum2", "dinov2_reg_all_accum2"):
        res = os.path.join(tmp, "resumed_" + tag)
        run("finetune", *common, *settings[tag], "--checkpoint-every", 2, "--stop-after", 4,
            "--out", res)
        ck.check(not os.path.exists(os.path.join(res, "model.safetensors")),
                 "stopped run wrote a model")
        run("finetune", *common, *settings[tag], "--resume", "--out", res)
        a = read_safetensors(os.path.join(outs[tag], "model.safetensors"))
        b = read_safetensors(os.path.join(res, "model.safetensors"))
        worst = max(rel(b[n], a[n]) for n in a)
        exact = all(np.array_equal(a[n], b[n]) for n in a)
        print(f"  {tag}: resume after step 4: final weights vs uninterrupted worst rel "
              f"{worst:.1e}, bit-identical {exact}")
        ck.check(exact, f"{tag}: resumed weights differ (rel {worst:.2e})")
        ra = json.load(open(os.path.join(outs[tag], "finetune.json")))["steps"]
        rb = json.load(open(os.path.join(res, "finetune.json")))["steps"]
        ck.check([s["loss"] for s in ra] == [s["loss"] for s in rb],
                 f"{tag}: resumed loss history differs")
    tag = "last2_accum2"
    res = os.path.join(tmp, "resumed_" + tag)
    a = read_safetensors(os.path.join(outs[tag], "model.safetensors"))
    # a checkpoint of other settings is refused
    p = run("finetune", *common, "--model", mdir, "--train-blocks", 2, "--accum", 1, "--lambda",
            0.7, "--resume", "--out", res, expect=2)
    ck.check("checkpoint.bin" in p.stderr and p.stderr.count("\n") == 1,
             f"resume with other settings: {p.stderr!r}")

    # accumulation does not change the result: accum 1 vs accum 2
    acc1 = os.path.join(tmp, "acc1")
    run("finetune", *common, "--model", mdir, "--train-blocks", 2, "--accum", 1, "--lambda", 0.7,
        "--out", acc1)
    c = read_safetensors(os.path.join(acc1, "model.safetensors"))
    worst = max(rel(c[n], a[n]) for n in a if not n.endswith(KEY_BIAS))
    print(f"  accum 1 vs accum 2: worst tensor rel diff {worst:.1e}")
    ck.check(worst <= BAR_W, f"accum 1 vs 2 rel {worst:.2e}")

    # bad usage and bad input: one-line errors, exit 2 / 1
    p = run("finetune", "--model", mdir, "--data", csv, "--ops", "nosuchop", "--out",
            os.path.join(tmp, "bad"), expect=2)
    ck.check(p.stderr.startswith("vfrobust: ") and p.stderr.count("\n") == 1, repr(p.stderr))
    p = run("finetune", "--model", mdir, "--data", csv, "--ops", "jpeg", expect=2)
    ck.check("--out" in p.stderr, repr(p.stderr))
    p = run("finetune", "--model", os.path.join(tmp, "nope"), "--data", csv, "--ops", "jpeg",
            "--out", os.path.join(tmp, "bad"), expect=1)
    ck.check(p.stderr.count("\n") == 1 and "nope" in p.stderr, repr(p.stderr))
    p = run("finetune", "--model", ddir, "--data", csv, "--ops", "jpeg", "--train-blocks", 1,
            "--batch", 0, "--out", os.path.join(tmp, "bad"), expect=2)
    ck.check("--batch" in p.stderr and p.stderr.count("\n") == 1, repr(p.stderr))
    shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


def load_model(cfg, tensors):
    m = R.build_model(cfg).float()
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(torch.tensor(tensors[n]))
    return m


if __name__ == "__main__":
    main()
