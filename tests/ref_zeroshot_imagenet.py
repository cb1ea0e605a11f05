"""Zero-shot ImageNet as CLIP runs it: `vfrobust downstream --protocol zeroshot --classes imagenet
--templates simple|openai80` on a small synset-named ImageFolder with a random-weight OpenCLIP
RN50 folder (real shape), against a PyTorch reference (tests/openclipref.py) that prompts every
class with CLIP's name for its synset and each template (tokenized by the reference BPE of
tests/ref_tokenizer.py), normalises each text embedding, averages per class, normalises again,
and takes the argmax of the cosine with the clean image embedding: the predictions must be
equal. Also: the built-in class names cover all 1,000 synsets of data/imagenet/classes.tsv (the
shipped copy of CLIP's list), a folder that is no synset is refused with one line, and the
built-in template sets equal the shipped files.

The tokenizer data (vocab.json, merges.txt) comes from ../shared/data/clip; without it the
zero-shot run is skipped (the name and template checks still run)."""
import csv
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

import vfr_testlib as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openclipref as R  # noqa: E402
from ref_open_clip_torch import synthetic_image  # noqa: E402

torch.set_num_threads(2)
ck = T.Checker("ref_zeroshot_imagenet")
IMAGENET = os.path.join(T.SRC, "data", "imagenet")


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 512)]


def read_classes():
    with open(os.path.join(IMAGENET, "classes.tsv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["synset"] for r in rows], [r["clip_name"] for r in rows]


def read_templates(name):
    with open(os.path.join(IMAGENET, f"templates-{name}.txt"), encoding="utf-8") as f:
        return [t.strip() for t in f if t.strip()]


def check_tables():
    synsets, names = read_classes()
    ck.check(len(synsets) == 1000 and len(set(synsets)) == 1000, f"{len(synsets)} synsets")
    lib = T.load_internal_lib()  # src/downstream/zeroshot.h is internal
    lib.vfr_zeroshot_class_names.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                             ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p)),
                                             ctypes.POINTER(Error)]
    # the folders of a dataset in reverse order: the lookup must not rely on the index
    folders = synsets[::-1]
    arr = (ctypes.c_char_p * 1000)(*[s.encode() for s in folders])
    out, e = ctypes.POINTER(ctypes.c_char_p)(), Error()
    rc = lib.vfr_zeroshot_class_names(b"imagenet", arr, 1000, ctypes.byref(out), ctypes.byref(e))
    if ck.check(rc == 0, f"class names: {e.message.decode()}"):
        got = [out[i].decode() for i in range(1000)]
        want = names[::-1]
        bad = [(f, g, w) for f, g, w in zip(folders, got, want) if g != w]
        ck.check(not bad, f"{len(bad)} synsets mapped wrongly, e.g. {bad[:3]}")
        print(f"all 1000 synsets map to CLIP's names ({got[-1]!r} ... {got[0]!r})")
    arr = (ctypes.c_char_p * 2)(b"n01440764", b"n99999999")
    rc = lib.vfr_zeroshot_class_names(b"imagenet", arr, 2, ctypes.byref(out), ctypes.byref(e))
    ck.check(rc != 0 and "n99999999" in e.message.decode(), f"unknown synset: {e.message.decode()}")
    lib.vfr_zeroshot_templates_read.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p)),
                                                ctypes.POINTER(ctypes.c_int), ctypes.POINTER(Error)]
    lib.vfr_zeroshot_templates_free.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    for name, n in (("openai80", 80), ("simple", 7)):
        t, cnt = ctypes.POINTER(ctypes.c_char_p)(), ctypes.c_int()
        rc = lib.vfr_zeroshot_templates_read(name.encode(), ctypes.byref(t), ctypes.byref(cnt), ctypes.byref(e))
        got = [t[i].decode() for i in range(cnt.value)] if rc == 0 else []
        ck.check(rc == 0 and got == read_templates(name) and len(got) == n, f"templates {name}: {len(got)}")
        if rc == 0:
            lib.vfr_zeroshot_templates_free(t, cnt)


def class_embeddings(model, bpe, names, templates):
    rows = []
    with torch.no_grad():
        for name in names:
            ids = np.zeros((len(templates), 77), np.int64)
            for k, t in enumerate(templates):
                tok = bpe.tokenize(t.replace("{}", name))
                ids[k, :len(tok)] = tok
            e = model.text(torch.from_numpy(ids)).numpy()
            e /= np.linalg.norm(e, axis=1, keepdims=True)
            m = e.mean(0)
            rows.append(m / np.linalg.norm(m))
    return np.stack(rows)


def check_zeroshot():
    clip_data = os.path.join(T.DATA, "clip")
    if not os.path.isfile(os.path.join(clip_data, "vocab.json")):
        print(f"zero-shot run skipped: no {clip_data}/vocab.json")
        return
    from ref_tokenizer import ReferenceBPE
    bpe = ReferenceBPE(clip_data)
    synsets, names = read_classes()
    picked = [0, 207, 281, 409, 817]  # tench, golden retriever, tabby cat, analog clock, sports car
    with tempfile.TemporaryDirectory(prefix="vfr_zeroshot_in_") as tmp:
        cfg = {"embed_dim": 1024, "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64,
                                                 "patch_size": None},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}
        model = R.randomize(R.CLIP(cfg), 21).double()
        folder = os.path.join(tmp, "RN50")
        R.write_folder(folder, cfg, model)
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(clip_data, f), os.path.join(folder, f))
        data = os.path.join(tmp, "val")
        paths, pixels = [], []
        for c, idx in enumerate(picked):
            os.makedirs(os.path.join(data, synsets[idx]))
            for k, (w, h) in enumerate(((256, 256), (300, 240), (231, 320))):
                im = synthetic_image(w, h, 100 * c + k)
                p = os.path.join(data, synsets[idx], f"{k}.png")
                im.save(p)
                paths.append(f"{synsets[idx]}/{k}.png")
                pixels.append(R.preprocess(im, 224))
        with torch.no_grad():
            img = model.visual(torch.from_numpy(np.stack(pixels)).double()).numpy()
        for tname in ("simple", "openai80"):
            templates = read_templates(tname)
            text = class_embeddings(model, bpe, [names[i] for i in picked], templates)
            cos = (img / np.linalg.norm(img, axis=1, keepdims=True)) @ text.T
            want = {p: synsets[picked[j]] for p, j in zip(paths, cos.argmax(1))}
            top2 = np.sort(cos, 1)[:, -2:]
            out = os.path.join(tmp, f"out-{tname}")
            r = subprocess.run([T.BIN, "downstream", "--model", folder, "--test", data, "--out", out,
                                "--protocol", "zeroshot", "--classes", "imagenet", "--templates", tname,
                                "--ops", "brightness", "--levels", "2", "--threads", "2"],
                               capture_output=True, text=True, timeout=1200)
            if not ck.check(r.returncode == 0, f"downstream {tname}: {r.stderr.strip()[-500:]}"):
                continue
            with open(os.path.join(out, "predictions.csv"), newline="") as f:
                got = {row["image"]: row["predicted"] for row in csv.DictReader(f) if row["op"] == "clean"}
            ck.check(got == want, f"{tname}: predictions {got} vs reference {want}")
            print(f"{tname} ({len(templates)} templates): {len(got)} clean predictions equal the reference's "
                  f"({len(set(want.values()))} classes predicted; smallest top-2 margin "
                  f"{(top2[:, 1] - top2[:, 0]).min():.2e})", flush=True)
        # a folder that is no synset: one line naming it
        os.makedirs(os.path.join(data, "not_a_synset"))
        shutil.copy(os.path.join(data, synsets[0], "0.png"), os.path.join(data, "not_a_synset", "0.png"))
        r = subprocess.run([T.BIN, "downstream", "--model", folder, "--test", data, "--out",
                            os.path.join(tmp, "bad"), "--protocol", "zeroshot", "--classes", "imagenet",
                            "--ops", "brightness", "--levels", "2", "--threads", "2"],
                           capture_output=True, text=True, timeout=1200)
        ck.check(r.returncode != 0 and r.stderr.count("\n") == 1 and "not_a_synset" in r.stderr,
                 f"non-synset folder: {r.returncode} {r.stderr.strip()}")
        print(f"non-synset folder: {r.stderr.strip()}")


def main():
    check_tables()
    check_zeroshot()
    ck.finish()


if __name__ == "__main__":
    main()
