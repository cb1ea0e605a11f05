"""Every file name survives every output: names and labels with commas, quotes and bytes
that are not UTF-8 come back whole from the CSVs (every text field quoted, RFC 4180; read
with Python's csv module) and, in JSON and HTML, with each non-UTF-8 byte written as \\xNN
exactly as Python's "backslashreplace" decodes it."""
import csv
import html
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, DATA, Checker  # noqa: E402

C = Checker("ref_names_survive")
tmp = tempfile.mkdtemp(prefix="vfr_names_")
model = os.path.join(tmp, "model")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
modelref.write_hf_folder(model, cfg, modelref.clip_preprocessor(32, 32),
                         modelref.randomize(modelref.build_model(cfg), seed=2).eval())
data = os.path.join(tmp, "data").encode()
odd_class = b'cl,a"ss \xff'
names = {odd_class: [b"caf\xe9.jpg", b'a,b "q".jpg', b"\xe2\x82.jpg"], b"plain": [b"ok.jpg", b"line\nbreak.jpg"]}
k = 0
for c, files in names.items():
    os.makedirs(os.path.join(data, c))
    for f in files:
        shutil.copy(os.path.join(DATA, "cifar10", "test", "cat", f"{k:04d}.jpg").encode(), os.path.join(data, c, f))
        k += 1
blob = open(os.path.join(DATA, "cifar10", "test", "cat", "0009.jpg"), "rb").read()
bad = b"plain/bad\xfe.jpg"
with open(os.path.join(data, bad), "wb") as f:
    f.write(blob[:100])
out = os.path.join(tmp, "out")
r = subprocess.run([BIN.encode(), b"eval", b"--model", model.encode(), b"--data", data, b"--out", out.encode(),
                    b"--ops", b"brightness", b"--levels", b"2"], capture_output=True)
C.check(r.returncode == 0, f"eval: {r.stderr[-500:]}")


def rel(c, f):
    return os.fsdecode(c + b"/" + f)


# ImageFolder order: classes sorted by bytes, files by bytes
order = [(rel(c, f), os.fsdecode(c)) for c in sorted(names) for f in sorted(names[c])]


def read(path):
    text = open(path, "rb").read().decode("utf-8", "surrogateescape")
    return text, list(csv.reader(io.StringIO(text, newline="")))


text, rows = read(os.path.join(out, "embeddings", "images.csv"))
C.check([(r_[1], r_[2]) for r_ in rows[1:]] == order, f"images.csv names and labels come back whole: {rows[1:]}")
body = text.split("\n", 1)[1]
first = body.split("\n")[0]
C.check(first.startswith('0,"') and first.endswith('"') and '","' in first,
        f"images.csv quotes its text fields, the label too: {first!r}")
text, rows = read(os.path.join(out, "per_image.csv"))
C.check([r_[1] for r_ in rows[1:]] == [n for n, _ in order], f"per_image.csv image column: {[r_[1] for r_ in rows[1:]]}")
C.check(text.split("\n")[1].startswith('"model","'), f"per_image.csv text fields quoted: {text.splitlines()[1][:40]!r}")
text, rows = read(os.path.join(out, "curves.csv"))
C.check(text.split("\n")[1].startswith('"model","brightness","'), f"curves.csv text fields quoted: {text.splitlines()[1]!r}")

raw = open(os.path.join(out, "summary.json"), "rb").read()
try:
    summary = json.loads(raw.decode("utf-8"))
    valid = True
except (UnicodeDecodeError, ValueError) as e:
    valid, summary = False, {}
    print(e)
C.check(valid, "summary.json is valid UTF-8 JSON")
sk = summary.get("images", {}).get("skipped_files", [])
escaped = bad.decode("utf-8", "backslashreplace")
C.check(len(sk) == 1 and sk[0]["file"] == escaped and escaped in sk[0]["reason"],
        f"the skipped file keeps its name, \\xNN for the byte that is not UTF-8: {sk}")
C.check(summary.get("data") == data.decode("utf-8", "backslashreplace"), "summary.json data path")
page = open(os.path.join(out, "report.html"), "rb").read()
try:
    page = page.decode("utf-8")
    C.check(html.escape(escaped, quote=False) in page, "report.html shows the skipped file's name")
except UnicodeDecodeError:
    C.check(False, "report.html is valid UTF-8")

shutil.rmtree(tmp, ignore_errors=True)
C.finish()
