"""`vfrobust compare` against the studies' own JSON files, read here independently.

Three random-weight CLIP folders (modelref), studied on a few images of the shipped
data/cifar10-demo: linear-probe downstream studies for two models, a plain eval for the third.
Checked:
  - every cell of `compare --markdown`'s tables (mean DR, mean R_cs, accuracy drop in points,
    images, protocol, clean accuracy) equals the value formatted from summary.json and
    downstream.json as Python reads them; a dash where a study has no downstream.json; with
    two studies, the change row equals the relative change (DR, R_cs) and the points
    difference (drop); compare.json holds the same values at full precision; table.md equals
    the --markdown output;
  - studies whose ops, domains or levels differ are refused with exit 1 and one line naming
    both folders and the difference; a folder without summary.json is named;
  - report.html in headless Chromium (no network): no console messages (a negative control
    proves the capture works), every figure laid out and drawn (heat maps with a cell per
    model and op, one curve per model on each op's plot, a scatter point per model and op
    with downstream results).
"""
import atexit
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelref as R  # noqa: E402
from vfr_testlib import BIN, SRC, Checker  # noqa: E402

C = Checker("ref_compare")
tmp = tempfile.mkdtemp(prefix="vfr_compare_")
atexit.register(shutil.rmtree, tmp, True)
DEMO = os.path.join(SRC, "data", "cifar10-demo")
OPS, LEVELS = "jpeg,brightness", 3
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)


def must(r, what):
    if not C.check(r.returncode == 0, f"{what}: exit {r.returncode}: {r.stderr[-1500:]}"):
        C.finish()


# ---- models and studies ---------------------------------------------------------------------------------
models = {}
for name, seed, layers in (("alpha", 1, 2), ("beta", 2, 1), ("gamma", 3, 2)):
    cfg = R.clip_config(32, layers, 2, 64, 8, 32, 16, text=(32, 1, 2, 64))
    d = os.path.join(tmp, name)
    R.write_hf_folder(d, cfg, R.clip_preprocessor(32, 32), R.randomize(R.build_model(cfg), seed).eval())
    models[name] = d


def study(name, model, downstream, ops=OPS, levels=LEVELS):
    out = os.path.join(tmp, "study-" + name)
    common = ["--ops", ops, "--levels", levels, "--seed", 0, "--threads", 2, "--out", out]
    if downstream:
        r = run("downstream", "--model", model, "--train", os.path.join(DEMO, "train"), "--test",
                os.path.join(DEMO, "test"), "--per-class", 3, "--protocol", "linear", *common)
    else:
        r = run("eval", "--model", model, "--data", os.path.join(DEMO, "test"), "--per-class", 2, *common)
    must(r, f"study {name}")
    return out


studies = [study("alpha", models["alpha"], True), study("beta", models["beta"], True),
           study("gamma", models["gamma"], False)]


def read(d, name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None


def parse_tables(md):
    """Markdown tables as lists of rows (lists of cell strings), header row first."""
    tables, cur = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+:?", c) for c in cells):
                cur.append(cells)
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    return tables


def f4(v):
    return f"{v:.4f}"


def check_tables(dirs, md, what):
    tables = parse_tables(md)
    sums = [read(d, "summary.json") for d in dirs]
    downs = [read(d, "downstream.json") for d in dirs]
    any_down = any(downs)
    ops = [o["op"] for o in sums[0]["per_op"]]
    C.check(len(tables) == 3 + any_down, f"{what}: {len(tables)} tables")
    if len(tables) < 3 + any_down:
        return
    names = [s["model"] for s in sums]
    labels = [n if names.count(n) == 1 else f"{n} ({d})" for n, d in zip(names, dirs)]
    # the studies table
    head, rows = tables[0][0], tables[0][1:]
    C.check(head[:3] == ["model", "study", "images"], f"{what}: studies header {head}")
    for row, s, dn, lab, d in zip(rows, sums, downs, labels, dirs):
        ok = row[0] == lab and row[1] == f"`{d}`" and row[2] == str(s["images"]["used"])
        if any_down:
            ok &= row[3] == (dn["protocol"] if dn else "–")
            ok &= row[4] == (f4(dn["clean_accuracy"]) if dn else "–")
        C.check(ok, f"{what}: studies row {row}")
    C.check(len(rows) == len(dirs), f"{what}: a studies row per study")
    # models x ops
    kinds = [("dr", lambda s, dn, i: s["per_op"][i]["dr"]["mean"], f4),
             ("r_cs", lambda s, dn, i: s["per_op"][i]["r_cs"]["mean"], f4)]
    if any_down:
        kinds.append(("drop", lambda s, dn, i: dn["per_op"][i]["accuracy_drop"] if dn else None,
                      lambda v: f"{100 * v:.2f}"))
    cells = 0
    for t, (kind, get, fmt) in enumerate(kinds):
        tab = tables[1 + t]
        C.check(tab[0] == ["model"] + ops, f"{what}: {kind} header {tab[0]}")
        for m, (s, dn) in enumerate(zip(sums, downs)):
            row = tab[1 + m]
            C.check(row[0] == labels[m], f"{what}: {kind} row {m} is {labels[m]}: {row[0]}")
            for i in range(len(ops)):
                if kind == "drop":  # downstream.json lists the same ops in the same order
                    C.check(dn is None or (dn["per_op"][i]["op"] == ops[i]), f"{what}: downstream op order")
                v = get(s, dn, i)
                want = "–" if v is None else fmt(v)
                C.check(row[1 + i] == want, f"{what}: {kind} of {labels[m]} under {ops[i]}: {row[1 + i]} != {want}")
                cells += 1
        if len(dirs) == 2:
            ch = tab[3]
            for i in range(len(ops)):
                a, b = get(sums[0], downs[0], i), get(sums[1], downs[1], i)
                want = f"{100 * (b - a):.2f}" if kind == "drop" else f"{100 * (b - a) / a:.1f}"
                C.check(ch[1 + i] == want, f"{what}: change of {kind} under {ops[i]}: {ch[1 + i]} != {want}")
                cells += 1
        else:
            C.check(len(tab) == 1 + len(dirs), f"{what}: {kind}: a row per study, no change row")
    return cells


out = os.path.join(tmp, "cmp")
r = run("compare", *studies, "--out", out, "--markdown")
must(r, "compare")
md = r.stdout
n_cells = check_tables(studies, md, "all studies")
C.check(open(os.path.join(out, "table.md")).read() == md, "table.md is the --markdown output")
cj = json.load(open(os.path.join(out, "compare.json")))
for m, d in enumerate(studies):
    s, dn = read(d, "summary.json"), read(d, "downstream.json")
    for i, o in enumerate(s["per_op"]):
        C.check(cj["mean_dr"][m][i] == o["dr"]["mean"] and cj["mean_r_cs"][m][i] == o["r_cs"]["mean"],
                f"compare.json: DR and R_cs of study {m}, op {i} at full precision")
        want = dn["per_op"][i]["accuracy_drop"] if dn else None
        C.check(cj["accuracy_drop"][m][i] == want, f"compare.json: drop of study {m}, op {i}")
    C.check(cj["studies"][m]["clean_accuracy"] == (dn["clean_accuracy"] if dn else None), "compare.json: clean accuracy")
C.check([o["levels"] for o in cj["ops"]] == [o["levels"] for o in read(studies[0], "summary.json")["per_op"]],
        "compare.json: the levels")
r2 = run("compare", studies[0], studies[1], "--markdown")
must(r2, "compare of two")
n_cells += check_tables(studies[:2], r2.stdout, "2 studies")
print(f"{n_cells} table cells checked")

# ---- mismatched studies are refused ----------------------------------------------------------------------
bad_levels = study("levels4", models["beta"], False, levels=4)
bad_op = study("contrast", models["beta"], False, ops="jpeg,contrast")
bad_count = study("jpeg-only", models["beta"], False, ops="jpeg")
for other, words in ((bad_levels, ["levels of jpeg differ", "4 levels", "3 levels"]),
                     (bad_op, ["op 2 is contrast", "not brightness"]),
                     (bad_count, ["1 ops (jpeg)", "2 (jpeg,brightness)"])):
    r = run("compare", studies[0], other, "--out", os.path.join(tmp, "refused"))
    line = r.stderr.strip()
    C.check(r.returncode == 1 and r.stderr.count("\n") == 1 and other in line and studies[0] in line
            and all(w in line for w in words), f"refused: {r.returncode} {line!r}")
    C.check(not os.path.exists(os.path.join(tmp, "refused", "report.html")), "nothing written when refused")
r = run("compare", studies[0], os.path.join(tmp, "nothing"), "--markdown")
C.check(r.returncode == 1 and "nothing/summary.json" in r.stderr and r.stderr.count("\n") == 1,
        f"a folder that is not a study: {r.stderr!r}")
r = run("compare", studies[0])
C.check(r.returncode == 2, "compare without --out or --markdown is bad usage")

# ---- the pages in Chromium -------------------------------------------------------------------------------
if not CHROMIUM:
    C.check(False, "chromium not found (scripts/install-deps.sh installs Debian's chromium)")
    C.finish()


def chromium(url, *extra, timeout=120):
    profile = tempfile.mkdtemp(prefix="profile_", dir=tmp)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
            *extra, url]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                                           "LSAN_OPTIONS")}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    try:
        o, e = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        o, e = proc.communicate()
        return -1, o, ["timed out"]
    return proc.returncode, o, [ln for ln in e.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


bad = os.path.join(tmp, "bad.html")
with open(bad, "w") as f:
    f.write("<!DOCTYPE html><html><body><script>console.error('vfr-control-error'); nope_vfr();</script></body></html>")
rc, dom, console = chromium("file://" + bad, "--dump-dom")
C.check(rc == 0 and any("vfr-control-error" in ln for ln in console) and any("nope_vfr" in ln for ln in console),
        f"negative control: the console capture sees errors ({rc}, {console})")

CHECK_JS = """<script>
window.addEventListener('load', () => {
  const r = [];
  for (const f of document.querySelectorAll('figure.plot')) {
    const svg = f.querySelector('svg'), box = svg.getBoundingClientRect();
    const marks = svg.querySelectorAll('path.series, rect.bar, circle.point, rect.cell');
    let drawn = 0;
    for (const m of marks) { const b = m.getBBox(); if (b.width > 0 || b.height > 0) drawn++; }
    r.push({id: f.id, w: box.width, h: box.height, marks: marks.length, drawn: drawn,
            series: svg.querySelectorAll('path.series').length, points: svg.querySelectorAll('circle.point').length,
            cells: Array.from(svg.querySelectorAll('text.value'), t => t.textContent),
            bars: svg.querySelectorAll('rect.bar').length});
  }
  const ft = Array.from(document.querySelectorAll('table.finetune tr'), tr => Array.from(tr.cells, c => c.textContent));
  const pre = document.createElement('pre');
  pre.id = 'vfr-check';
  pre.textContent = JSON.stringify({figures: r, finetune: ft});
  document.body.appendChild(pre);
});
</script>"""


def inspect(page, what):
    html = open(page, encoding="utf-8").read()
    C.check("<script" not in html.lower(), f"{what}: no script in the page")
    rc, _, console = chromium("file://" + page, "--screenshot=" + os.path.join(tmp, "shot.png"),
                              "--window-size=1400,2400")
    C.check(rc == 0 and console == [], f"{what}: renders with no console messages ({rc}): {console}")
    check = page + ".check.html"
    with open(check, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", CHECK_JS + "</body>"))
    rc, dom, console = chromium("file://" + check, "--dump-dom")
    m = re.search(r'<pre id="vfr-check">(.*?)</pre>', dom, re.S)
    C.check(rc == 0 and console == [] and m is not None, f"{what}: the check script ran ({rc}, {console})")
    os.remove(check)
    res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")) if m else {"figures": [], "finetune": []}
    figs = {f["id"][4:]: f for f in res["figures"]}
    for name, f in figs.items():
        C.check(f["w"] > 100 and f["h"] > 60 and f["marks"] > 0 and f["drawn"] == f["marks"],
                f"{what}: figure {name} laid out ({f['w']}x{f['h']}) and drawn ({f['drawn']}/{f['marks']})")
    return figs, res["finetune"]


figs, ft = inspect(os.path.join(out, "report.html"), "compare report")
n_ops, n_models = 2, len(studies)
want = {"heatmap-dr", "heatmap-accuracy-drop", "curve-0", "curve-1", "dr-vs-accuracy-drop"}
C.check(set(figs) == want, f"compare figures: {sorted(figs)}")
s_all = [read(d, "summary.json") for d in studies]
C.check(figs.get("heatmap-dr", {}).get("cells") == [f4(s["per_op"][i]["dr"]["mean"]) for s in s_all for i in range(2)],
        f"the DR heat map's cells are the table's: {figs.get('heatmap-dr', {}).get('cells')}")
C.check(len(figs.get("heatmap-accuracy-drop", {}).get("cells", [])) == n_ops * n_models, "drop heat map: every cell")
for i in range(n_ops):
    C.check(figs.get(f"curve-{i}", {}).get("series") == n_models, f"curve {i}: a line per model")
C.check(figs.get("dr-vs-accuracy-drop", {}).get("points") == 2 * n_ops, "scatter: a point per op of each downstream study")
C.finish()
