"""report.html in headless Chromium: `vfrobust eval` on a small random-weight CLIP folder and a
few CIFAR-10 images (one corrupt), a synthetic downstream.json, `vfrobust report DIR`, then the
page is loaded by Debian's chromium (no network) and checked: no console errors, every plot
present and drawn with a non-empty box, the sample grid decoded at its own size, a screenshot
kept as a test artifact ($VFROBUST_BUILD/report_screenshot.png), each figures/*.svg valid XML.
A negative control (a page with a console error and a broken image) checks that the console
capture itself works. Chromium missing is a failure, not a skip."""
import atexit
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref  # noqa: E402
from vfr_testlib import BIN, BUILD, SRC, Checker  # noqa: E402

C = Checker("ref_report_chromium")
tmp = tempfile.mkdtemp(prefix="vfr_report_")
atexit.register(shutil.rmtree, tmp, True)  # also when a check ends the test early
LEVELS = 3


def round_ticks(levels):
    """The labels a level axis should carry: steps of 1, 2 or 5 times a power of ten giving
    about 5 over the levels' range, from the first level when it is a multiple of a tenth of
    the step, else from the first multiple of the step (docs/report.md)."""
    lo, hi = min(levels), max(levels)
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    f = raw / mag
    step = (1 if f < 1.5 else 2 if f < 3.5 else 5 if f < 7.5 else 10) * mag
    tenth = step / 10
    start = lo if abs(lo / tenth - round(lo / tenth)) < 1e-6 else math.ceil(lo / step - 1e-9) * step
    out, k = [], 0
    while start + k * step <= hi + 1e-9 * step:
        out.append(f"{round((start + k * step) / tenth) * tenth:.6g}")
        k += 1
    return out
SVG_NS = "{http://www.w3.org/2000/svg}"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    C.check(False, "chromium not found (scripts/install-deps.sh installs Debian's chromium)")
    C.finish()


def chromium(url, *extra, timeout=120):
    """Runs headless Chromium on url with nothing able to reach the network; returns
    (exit status, stdout, the console lines of its log)."""
    profile = tempfile.mkdtemp(prefix="profile_", dir=tmp)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000", *extra, url]
    # not the sanitizer runtime a sanitizer build preloads into this test (Chromium hangs under it)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                                           "LSAN_OPTIONS")}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    try:
        out_, err_ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the browser and its helper processes
        out_, err_ = proc.communicate()
        return -1, out_, [], f"timed out after {timeout} s\n" + err_
    console = [ln for ln in err_.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    return proc.returncode, out_, console, err_


# ---- negative control: the console capture sees errors -------------------------------------------------
bad = os.path.join(tmp, "bad.html")
with open(bad, "w") as f:
    f.write("<!DOCTYPE html><html><body><img src=\"data:image/png;base64,AAAA\">"
            "<script>console.error('vfr-control-error'); undefined_function_vfr();</script></body></html>")
rc, dom, console, _ = chromium("file://" + bad, "--dump-dom")
C.check(rc == 0 and "<body>" in dom, f"chromium runs (exit {rc})")
C.check(any("vfr-control-error" in ln for ln in console) and any("undefined_function_vfr" in ln for ln in console),
        f"the console capture sees console.error and an uncaught exception: {console}")

# ---- a small model, a small ImageFolder, eval ------------------------------------------------------------
model_dir = os.path.join(tmp, "tiny-clip")
cfg = modelref.clip_config(64, 2, 4, 128, 8, 32, 32)
pp = modelref.clip_preprocessor(32, 32)
modelref.write_hf_folder(model_dir, cfg, pp, modelref.randomize(modelref.build_model(cfg), seed=5).eval())

data = os.path.join(tmp, "data")
DEMO = os.path.join(SRC, "data", "cifar10-demo")  # the shipped CIFAR-10 sample: runs on a fresh clone
classes = ["airplane", "cat", "ship"]
for c in classes:
    os.makedirs(os.path.join(data, c))
    for k in range(2):
        shutil.copy(os.path.join(DEMO, "test", c, f"{k:04d}.jpg"), os.path.join(data, c, f"{k}.jpg"))
BAD_NAME = "corrupt&<b>x.jpg"  # markup in a file name must come out as text
with open(os.path.join(data, "ship", BAD_NAME), "wb") as f:  # not an image: skipped
    f.write(b"\xff\xd8\xff\xe0 this is not a JPEG <script>alert(1)</script>")

out = os.path.join(tmp, "study")
r = subprocess.run([BIN, "eval", "--model", model_dir, "--data", data, "--out", out, "--levels", str(LEVELS),
                    "--seed", "1"], capture_output=True, text=True)
C.check(r.returncode == 0, f"eval exit {r.returncode}: {r.stderr[-2000:]}")
if r.returncode != 0:
    C.finish()
summary = json.load(open(os.path.join(out, "summary.json")))
ops = [o["op"] for o in summary["per_op"]]

# ---- a synthetic downstream.json (SPEC section 8), then `vfrobust report DIR` ------------------------------
rng = np.random.default_rng(0)
per_op = [{"op": o["op"], "domain": o["domain"], "mean_dr": float(o["dr"]["mean"]),
           "accuracy_drop": float(0.8 * o["dr"]["mean"] + rng.normal(0, 0.01))} for o in summary["per_op"]]
xs = np.array([p["mean_dr"] for p in per_op])
ys = np.array([p["accuracy_drop"] for p in per_op])
slope, icpt = np.polyfit(xs, ys, 1)
r2 = 1 - np.sum((ys - (slope * xs + icpt)) ** 2) / np.sum((ys - ys.mean()) ** 2)
bins = [{"mean_dr": 0.02 + 0.05 * k, "accuracy": 0.9 - 0.3 * k / 6, "n": 10 + k} for k in range(6)]
downstream = {
    "protocol": "linear", "clean_accuracy": 0.9,
    "per_level": [{"op": o, "level": 1.0, "accuracy": 0.85, "n": 6} for o in ops],
    "per_op": per_op,
    "regression": {"per_image": {"slope": -1.2, "intercept": 0.9, "r2": 0.41, "pearson_r": -0.64, "bins": bins},
                   "across_ops": {"slope": float(slope), "intercept": float(icpt), "r2": float(r2),
                                  "leave_one_op_out_mae": 0.01}},
}
with open(os.path.join(out, "downstream.json"), "w") as f:
    json.dump(downstream, f)
r = subprocess.run([BIN, "report", out], capture_output=True, text=True)
C.check(r.returncode == 0, f"report exit {r.returncode}: {r.stderr}")
report = os.path.join(out, "report.html")
html = open(report, encoding="utf-8").read()
r = subprocess.run([BIN, "report", out], capture_output=True, text=True)
C.check(r.returncode == 0 and open(report, encoding="utf-8").read() == html, "a second build writes the same bytes")

# ---- self-contained: no scripts, no external resources --------------------------------------------------
C.check("<script" not in html.lower(), "no scripts in the report (and the corrupt file's name is escaped)")
refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html, re.I)
C.check(all(u.startswith("data:") or u.startswith("#") for u in refs), f"only inline resources: {refs[:5]}")
C.check("url(" not in html and "@import" not in html, "no external CSS")

# ---- figures/*.svg parse as XML and are the plots of the page --------------------------------------------
figs = sorted(glob.glob(os.path.join(out, "figures", "*.svg")))
want = {f"curve-{i}" for i in range(len(ops))} | {f"dr-hist-{i}" for i in range(len(ops))} \
    | {"dr-overview", "dr-vs-accuracy-drop", "dr-vs-accuracy-per-image"}
got = {os.path.basename(p)[:-4] for p in figs}
C.check(got == want, f"figure files: missing {sorted(want - got)}, extra {sorted(got - want)}")
for p in figs:
    try:
        root = ET.parse(p).getroot()
        C.check(root.tag == SVG_NS + "svg" and float(root.get("width")) > 0, f"{p}: an <svg> root")
        texts = "".join(t.text or "" for t in root.iter(SVG_NS + "text"))
        C.check(len(texts) > 0, f"{p}: has text (title, tick labels)")
    except ET.ParseError as e:
        C.check(False, f"{p}: not valid XML: {e}")

# ---- the page in Chromium: the DOM after load, with an appended check script -----------------------------
# The report has no script of its own; a copy with one appended measures what was laid out and
# drawn, and writes it into the DOM that --dump-dom prints.
CHECK_JS = """<script>
window.addEventListener('load', () => {
  const r = {figures: [], images: []};
  for (const f of document.querySelectorAll('figure.plot')) {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const marks = svg ? svg.querySelectorAll('path.series, path.band, path.fit, rect.bar, circle.point') : [];
    let drawn = 0;
    for (const m of marks) { const b = m.getBBox(); if (b.width > 0 || b.height > 0) drawn++; }
    const first = svg ? svg.querySelector('path.series, rect.bar') : null;
    r.figures.push({id: f.id, w: box.width, h: box.height, marks: marks.length, drawn: drawn,
                    fits: svg ? svg.querySelectorAll('path.fit').length : 0,
                    color: first ? (first.getAttribute('stroke') === 'none' || first.tagName === 'rect'
                                    ? first.getAttribute('fill') : first.getAttribute('stroke')) : '',
                    fills: svg ? Array.from(svg.querySelectorAll('rect.bar'), e => e.getAttribute('fill')) : [],
                    texts: svg ? Array.from(svg.querySelectorAll('text'), t => t.textContent) : [],
                    title: svg && svg.querySelector('text.title') ? svg.querySelector('text.title').textContent : ''});
  }
  r.swatches = Array.from(document.querySelectorAll('table.summary .swatch'), s => getComputedStyle(s).backgroundColor);
  for (const im of document.images)
    r.images.push({cls: im.className, complete: im.complete, w: im.naturalWidth, h: im.naturalHeight});
  const pre = document.createElement('pre');
  pre.id = 'vfr-check';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""
check_page = os.path.join(out, "report_check.html")
with open(check_page, "w", encoding="utf-8") as f:
    f.write(html.replace("</body>", CHECK_JS + "</body>"))
rc, dom, console, log = chromium("file://" + check_page, "--dump-dom")
C.check(rc == 0, f"chromium --dump-dom exit {rc}: {log[-1500:]}")
C.check(console == [], f"no console messages: {console}")
m = re.search(r'<pre id="vfr-check">(.*?)</pre>', dom, re.S)
C.check(m is not None, "the check script ran after load")
res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")) if m else {"figures": [], "images": []}
by_id = {f["id"]: f for f in res["figures"]}
C.check(set(by_id) == {"fig-" + w for w in want}, f"figures in the DOM: {sorted(by_id)}")
for fid, f in sorted(by_id.items()):
    C.check(f["w"] > 100 and f["h"] > 100, f"{fid}: laid out at {f['w']}x{f['h']}")
    C.check(f["marks"] > 0 and f["drawn"] == f["marks"], f"{fid}: {f['drawn']} of {f['marks']} marks drawn")
for i, op in enumerate(ops):
    C.check(by_id.get(f"fig-curve-{i}", {}).get("title", "").startswith(op), f"curve {i} is titled {op}")
    C.check(by_id.get(f"fig-dr-hist-{i}", {}).get("title", "").startswith(op), f"histogram {i} is titled {op}")
    C.check(by_id.get(f"fig-curve-{i}", {}).get("marks", 0) >= LEVELS + 2, f"curve {i}: band, line, {LEVELS} points")
for i, o in enumerate(summary["per_op"]):
    texts = by_id.get(f"fig-curve-{i}", {}).get("texts", [])
    want_ticks = round_ticks(o["levels"])
    C.check(len(want_ticks) >= 2 and all(t in texts for t in want_ticks),
            f"curve {i}: x labels at round values {want_ticks}: {texts[:12]}")
    odd = [f"{v:.4g}" for v in o["levels"] if f"{v:.4g}" not in want_ticks and len(f"{v:.4g}") > 4]
    C.check(not any(t in texts for t in odd), f"curve {i}: no unround level labels {odd}: {texts[:12]}")
curve_colors = [by_id.get(f"fig-curve-{i}", {}).get("color") for i in range(len(ops))]
hist_colors = [by_id.get(f"fig-dr-hist-{i}", {}).get("color") for i in range(len(ops))]
C.check(curve_colors == hist_colors and len(set(curve_colors)) == len(ops),
        f"one colour per op, the same in curves and histograms: {curve_colors} {hist_colors}")


def css_rgb(hexcolor):
    return "rgb({}, {}, {})".format(*(int(hexcolor[k:k + 2], 16) for k in (1, 3, 5)))


C.check(res.get("swatches") == [css_rgb(c) for c in curve_colors if c], f"table swatches match: {res.get('swatches')}")
ov = by_id.get("fig-dr-overview", {})
C.check(ov.get("fills") == curve_colors and all(op in ov.get("texts", []) for op in ops),
        f"overview: a bar per op in its colour, labelled: {ov.get('fills')}")
sc = by_id.get("fig-dr-vs-accuracy-drop", {})
C.check(sc.get("marks", 0) == len(ops) + 1 and sc.get("fits") == 1, f"scatter: a point per op and the fit line {sc}")
C.check(by_id.get("fig-dr-vs-accuracy-per-image", {}).get("fits") == 1, "binned plot: the fit line")
C.check(sum(t in ops for t in sc.get("texts", [])) >= 2, "scatter: points labelled with op names")
C.check(f"{r2:.3f}" in by_id.get("fig-dr-vs-accuracy-drop", {}).get("title", ""), "scatter title carries R^2")
samples = Image.open(os.path.join(out, "samples.png"))
imgs = [im for im in res["images"] if im["cls"] == "samples"]
C.check(len(imgs) == 1 and imgs[0]["complete"] and (imgs[0]["w"], imgs[0]["h"]) == samples.size,
        f"the sample grid decoded at {samples.size}: {imgs}")
text = re.sub(r"<[^>]+>", " ", dom)
C.check("Skipped" in text and "corrupt&amp;&lt;b&gt;x.jpg" in dom and "<b>x" not in dom,
        "the skipped image is listed, its name escaped")
C.check(all(op in text for op in ops), "every op is named on the page")
C.check("tiny-clip" in text, "the model is named")

# ---- the unmodified page: console, and a screenshot kept as an artifact ---------------------------------
shot = os.path.join(BUILD, "report_screenshot.png")
if os.path.exists(shot):
    os.remove(shot)
rc, _, console, log = chromium("file://" + report, f"--screenshot={shot}", "--window-size=1400,3000",
                               "--hide-scrollbars")
C.check(rc == 0 and os.path.exists(shot), f"screenshot written (exit {rc}): {log[-1500:]}")
C.check(console == [], f"no console messages on report.html: {console}")
if os.path.exists(shot):
    px = np.asarray(Image.open(shot).convert("RGB")).astype(np.int32)
    C.check(px.shape[:2] == (3000, 1400), f"screenshot size {px.shape}")
    ncolors = len(np.unique(px.reshape(-1, 3) @ np.array([65536, 256, 1])))
    C.check(ncolors > 200, f"the screenshot is not blank ({ncolors} colours)")
    first = np.array([0x1F, 0x77, 0xB4])  # the first op's colour: its curve is drawn
    C.check(int(np.sum(np.all(np.abs(px - first) <= 8, axis=2))) > 50, "the first op's colour is on screen")
    print(f"screenshot: {shot} ({ncolors} colours)")

os.remove(check_page)

# ---- the fine-tuning section: a study of a model written by `vfrobust finetune` ----------------------------
tuned = os.path.join(tmp, "tuned")
demo = DEMO
r = subprocess.run([BIN, "finetune", "--model", model_dir, "--data", os.path.join(demo, "train"), "--limit", "8",
                    "--batch", "4", "--epochs", "2", "--ops", "jpeg", "--eval-data", os.path.join(demo, "test"),
                    "--eval-limit", "6", "--eval-ops",
                    "jpeg,brightness", "--eval-levels", "3", "--quiet", "--out", tuned], capture_output=True, text=True)
C.check(r.returncode == 0, f"finetune exit {r.returncode}: {r.stderr[-1500:]}")
ft = json.load(open(os.path.join(tuned, "finetune.json")))
tstudy = os.path.join(tmp, "tuned-study")
r = subprocess.run([BIN, "eval", "--model", tuned, "--data", data, "--out", tstudy, "--levels", str(LEVELS),
                    "--ops", "jpeg,brightness"], capture_output=True, text=True)
C.check(r.returncode == 0, f"eval of the tuned model exit {r.returncode}: {r.stderr[-1500:]}")
thtml = open(os.path.join(tstudy, "report.html"), encoding="utf-8").read()
C.check("<h2>Fine-tuning</h2>" in thtml and "<h2>Fine-tuning</h2>" not in html,
        "a fine-tuning section on the tuned model's report only")
for spec, before in ft["evaluation"]["before"]["mean_dr"].items():
    after = ft["evaluation"]["after"]["mean_dr"][spec]
    C.check(f"<td>{spec}</td><td>{before:.4f}</td><td>{after:.4f}</td>" in thtml,
            f"before/after row of {spec}: {before:.4f} -> {after:.4f}")
tcheck = os.path.join(tstudy, "check.html")
with open(tcheck, "w", encoding="utf-8") as f:
    f.write(thtml.replace("</body>", CHECK_JS + "</body>"))
rc, tdom, console, log = chromium("file://" + tcheck, "--dump-dom")
C.check(rc == 0 and console == [], f"tuned report in chromium: exit {rc}, console {console}")
m = re.search(r'<pre id="vfr-check">(.*?)</pre>', tdom, re.S)
tres = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")) if m else {"figures": []}
loss = {f["id"]: f for f in tres["figures"]}.get("fig-finetune-loss", {})
C.check(loss.get("w", 0) > 100 and loss.get("marks") == 3 and loss.get("drawn") == 3,
        f"the loss figure: laid out, loss, L1 and L2 drawn: {loss}")
C.check("step" in loss.get("texts", []) or any("step" in t for t in loss.get("texts", [])), "loss figure's x axis")
os.remove(tcheck)

# ---- bad input: one clear line, no report --------------------------------------------------------------
empty = os.path.join(tmp, "empty")
os.makedirs(empty)
r = subprocess.run([BIN, "report", empty], capture_output=True, text=True)
C.check(r.returncode == 1 and "summary.json" in r.stderr and r.stderr.count("\n") == 1,
        f"no summary.json: {r.returncode} {r.stderr!r}")
with open(os.path.join(out, "downstream.json"), "w") as f:
    f.write('{"protocol": "linear", "per_op": [')
r = subprocess.run([BIN, "report", out], capture_output=True, text=True)
C.check(r.returncode == 1 and "downstream.json" in r.stderr and r.stderr.count("\n") == 1,
        f"truncated downstream.json: {r.returncode} {r.stderr!r}")
r = subprocess.run([BIN, "report"], capture_output=True, text=True)
C.check(r.returncode == 2, "no DIR is bad usage")
print(f"{len(ops)} ops, {len(by_id)} figures in the DOM, {len(figs)} SVG files")
shutil.rmtree(tmp, ignore_errors=True)
C.finish()
