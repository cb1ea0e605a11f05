"""The table of scripts/finetune-experiment.sh: original against jpeg-tuned, from the two studies'
summary.json and downstream.json and the tuning run's finetune.json. Prints Markdown; exits 1
when a target is missed (mean jpeg DR down >= 30%, linear-probe accuracy under jpeg up, clean
accuracy within 1 point).

usage: finetune_table.py OUT    (OUT holds original/, tuned-study/ and tuned/)
"""
import json
import os
import sys


def load(*parts):
    with open(os.path.join(*parts)) as f:
        return json.load(f)


def per_op(study):
    s, d = load(study, "summary.json"), load(study, "downstream.json")
    dr = {e["op"]: (e["domain"], e["dr"]["mean"]) for e in s["per_op"]}
    drop = {e["op"]: e["accuracy_drop"] for e in d["per_op"]}
    under = {}
    for e in d["per_level"]:
        under.setdefault(e["op"], []).append(e["accuracy"])
    under = {op: sum(v) / len(v) for op, v in under.items()}
    return s, d, dr, drop, under


def main():
    out = sys.argv[1]
    s0, d0, dr0, drop0, acc0 = per_op(os.path.join(out, "original"))
    s1, d1, dr1, drop1, acc1 = per_op(os.path.join(out, "tuned-study"))
    ft = load(out, "tuned", "finetune.json")
    st = ft["settings"]
    lines = [
        f"Tuned on jpeg (q 10..100): {st['steps']} steps of {st['batch']} over "
        f"{len(ft['image_names'])} training images, {st['epochs']} epoch{'s' if st['epochs'] != 1 else ''}, "
        f"lambda {st['lambda']:g}{' on both views' if st.get('l2_both_views') else ''}, "
        f"peak lr {st['lr']:.3g}, warmup {st['warmup']}, {ft['train_seconds']:.0f} s. "
        f"Studies: {s0['images']['used']} test images, 10 levels per op, linear probe.",
        "",
        f"Clean accuracy of the probe: {d0['clean_accuracy']:.4f} original, "
        f"{d1['clean_accuracy']:.4f} tuned "
        f"({100 * (d1['clean_accuracy'] - d0['clean_accuracy']):+.2f} points).",
        "",
        "| op | domain | mean DR original | mean DR tuned | change | probe accuracy under op, original | tuned | accuracy drop (points) original | tuned |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op, (dom, a) in dr0.items():
        b = dr1[op][1]
        lines.append(f"| {op} | {dom} | {a:.4f} | {b:.4f} | {100 * (b - a) / a:+.1f}% | "
                     f"{acc0[op]:.4f} | {acc1[op]:.4f} | {100 * drop0[op]:.2f} | {100 * drop1[op]:.2f} |")
    fall = (dr0["jpeg"][1] - dr1["jpeg"][1]) / dr0["jpeg"][1]
    clean = 100 * (d1["clean_accuracy"] - d0["clean_accuracy"])
    targets = [(fall >= 0.30, f"mean jpeg DR down {100 * fall:.1f}% (target >= 30%)"),
               (acc1["jpeg"] > acc0["jpeg"],
                f"probe accuracy under jpeg {acc0['jpeg']:.4f} -> {acc1['jpeg']:.4f} (target: up)"),
               (abs(clean) <= 1.0, f"clean accuracy {clean:+.2f} points (target: within 1)")]
    lines.append("")
    for ok, what in targets:
        lines.append(f"- {'met' if ok else 'MISSED'}: {what}")
    print("\n".join(lines))
    sys.exit(0 if all(ok for ok, _ in targets) else 1)


if __name__ == "__main__":
    main()
