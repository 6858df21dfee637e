#!/usr/bin/python3
"""Training curves of bench/dllm runs as one SVG: training loss and held-out loss against the step.

Reads the `train_log.json` files that train.py writes (curve: step, loss; heldout: step, heldout_loss) and
writes plain SVG, so it needs nothing beyond the standard library (matplotlib is not installed everywhere).

    /usr/bin/python3 bench/dllm/plot_training.py --out docs/img/dllm-training.svg \
        A=bench/results/dllm/2026-12-01-h200-A-train_log.json B=bench/results/dllm/2026-12-01-h200-B-train_log.json
"""
import argparse
import json
import math
import os
import sys

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 45
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def load(path):
    with open(path) as f:
        log = json.load(f)
    train = [(p["step"], p["loss"]) for p in log["curve"]]
    heldout = [(p["step"], p["heldout_loss"]) for p in log["heldout"]]
    if not train or not heldout:
        raise ValueError(f"{path}: no 'curve' or 'heldout' points")
    return train, heldout


def nice_ticks(lo, hi, count=5):
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (m * step) <= count:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def svg(runs, title):
    xmax = max(max(s for s, _ in t + h) for _, t, h in runs)
    ys = [v for _, t, h in runs for _, v in t + h]
    ylo, yhi = 0.0, math.ceil(max(ys))
    px = lambda s: LEFT + (WIDTH - LEFT - RIGHT) * s / xmax
    py = lambda v: HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (v - ylo) / (yhi - ylo)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>']
    for v in nice_ticks(ylo, yhi):
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for s in nice_ticks(0, xmax):
        out.append(f'<text x="{px(s):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{s:g}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" stroke="black"/>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="black"/>')
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">training step</text>')
    out.append(f'<text transform="translate(16 {HEIGHT / 2}) rotate(-90)" text-anchor="middle">'
               'loss (nats per masked byte, 1/t weighted)</text>')
    for i, (name, train, heldout) in enumerate(runs):
        c = COLORS[i % len(COLORS)]
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in train)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5" opacity="0.6"/>')
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in heldout)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2" stroke-dasharray="5,3"/>')
        for s, v in heldout:
            out.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="3" fill="{c}"/>')
        y = TOP + 14 + 18 * i
        last = heldout[-1][1]
        out.append(f'<line x1="{WIDTH - 330}" x2="{WIDTH - 305}" y1="{y - 4}" y2="{y - 4}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{WIDTH - 300}" y="{y}">{name}: train (solid) / held-out (dashed), {last:.3f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=train_log.json")
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--title", default="bench/dllm training on an H200")
    a = ap.parse_args(argv)
    runs = []
    for spec in a.runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            ap.error(f"run '{spec}': expected NAME=train_log.json")
        try:
            runs.append((name, *load(path)))
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as e:
            ap.error(f"run '{spec}': {e}")
    text = svg(runs, a.title)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)  # never a half-written plot
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
