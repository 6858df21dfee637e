#!/usr/bin/python3
"""The figures of docs/algorithms.md, as SVG, from the library's own output in data/:

- worked_example.json: written by `coreroute_docs_examples update` (tests/docs_examples.cpp,
  the reference library's scores, votes and coresets of the worked examples);
- sweep-<preset>-N<N>.json: `coreroute sweep` on the synthetic presets (run_sweeps.sh).

Writes scores.svg, votes.svg, t_vs_n.svg, pareto.svg and sweep_table.md (the measured
table of docs/algorithms.md's "which policy when", between its `sweep-table` markers) next
to this script, or into
the folder given as the first argument (the docs_figures test regenerates them there
and compares them with the checked-in ones). Plain
Python (json only): no plotting library needed. Run with Debian's /usr/bin/python3 or any
Python 3.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


class Svg:
    def __init__(self, width, height):
        self.w, self.h, self.parts = width, height, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#000", rotate=None):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{color}" {FONT}{tr}>{s}</text>')

    def line(self, x1, y1, x2, y2, color="#000", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                 f'stroke-width="{width}"{d}/>')

    def rect(self, x, y, w, h, fill, stroke="none", width=1):
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                 f'stroke="{stroke}" stroke-width="{width}"/>')

    def polyline(self, pts, color, width=2, dash=None, markers=True):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.add(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="{width}"{d}/>')
        if markers:
            for x, y in pts:
                self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')

    def save(self, name):
        body = "\n".join(self.parts)
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
               f'viewBox="0 0 {self.w} {self.h}">\n<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n')
        with open(os.path.join(OUT, name), "w") as f:
            f.write(svg)


class Axes:
    """A plot area at (x0, y0) of size w x h with linear axes."""

    def __init__(self, svg, x0, y0, w, h, xlim, ylim, title, xlabel, ylabel, xticks, yticks):
        self.s, self.x0, self.y0, self.w, self.h, self.xlim, self.ylim = svg, x0, y0, w, h, xlim, ylim
        svg.rect(x0, y0, w, h, "none", "#444")
        svg.text(x0 + w / 2, y0 - 10, title, 13, "middle", "bold")
        svg.text(x0 + w / 2, y0 + h + 36, xlabel, 12, "middle")
        svg.text(x0 - 42, y0 + h / 2, ylabel, 12, "middle", rotate=-90)
        for t in xticks:
            x = self.X(t)
            svg.line(x, y0 + h, x, y0 + h + 5, "#444")
            svg.line(x, y0, x, y0 + h, "#eee")
            svg.text(x, y0 + h + 18, fmt_tick(t), 11, "middle")
        for t in yticks:
            y = self.Y(t)
            svg.line(x0 - 5, y, x0, y, "#444")
            svg.line(x0, y, x0 + w, y, "#eee")
            svg.text(x0 - 8, y + 4, fmt_tick(t), 11, "end")

    def X(self, v):
        return self.x0 + (v - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * self.w

    def Y(self, v):
        return self.y0 + self.h - (v - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * self.h

    def legend(self, items, x=None, y=None):
        x = self.x0 + 10 if x is None else x
        y = self.y0 + 16 if y is None else y
        for i, (label, color, dash) in enumerate(items):
            yy = y + 16 * i
            self.s.line(x, yy - 4, x + 22, yy - 4, color, 2, dash)
            self.s.text(x + 28, yy, label, 11)


def fmt_tick(t):
    return str(int(t)) if float(t).is_integer() else f"{t:g}"


def heat(v, vmax):
    """White to dark blue."""
    a = max(0.0, min(1.0, v / vmax)) if vmax > 0 else 0
    r, g, b = (int(255 - a * (255 - c)) for c in (8, 48, 107))
    return f"rgb({r},{g},{b})"


def scores_figure(ex):
    N, M, K = ex["N"], ex["M"], ex["K"]
    cell, left, top = 62, 70, 60
    svg = Svg(left + M * cell + 40, top + N * cell + 80)
    svg.text(left + M * cell / 2, 24, f"Worked example: scores s[n, i], each token's top-{K} outlined", 14, "middle", "bold")
    vmax = max(max(row) for row in ex["r"])
    for n in range(N):
        svg.text(left - 10, top + n * cell + cell / 2 + 4, f"token {n}", 12, "end")
        for i in range(M):
            v = ex["r"][n][i]
            x, y = left + i * cell, top + n * cell
            svg.rect(x, y, cell, cell, heat(v, vmax), "#fff", 1)
            svg.text(x + cell / 2, y + cell / 2 + 4, f"{v:.4f}", 11, "middle", color="#fff" if v > 0.6 * vmax else "#000")
        for rank, i in enumerate(ex["topk"][n]):
            x, y = left + i * cell, top + n * cell
            svg.rect(x + 2, y + 2, cell - 4, cell - 4, "none", "#d62728", 3)
            svg.text(x + cell - 6, y + 14, f"#{rank + 1}", 10, "end", "bold", "#d62728")
    for i in range(M):
        svg.text(left + i * cell + cell / 2, top + N * cell + 18, f"e{i}", 12, "middle")
    svg.text(left + M * cell / 2, top + N * cell + 44, "expert i (red outline: the token's top-K, #1 first; ties go to the lower id)", 12, "middle")
    svg.save("scores.svg")


def votes_figure(ex, cuts):
    order, V = ex["rank_order"], ex["votes"]
    total = sum(V)
    M = ex["M"]
    svg = Svg(720, 430)
    ax = Axes(svg, 80, 50, 560, 300, (-0.5, M - 0.5), (0, 1.0),
              f"Saliency votes in rank order; cumulative P against top_p = {ex['top_p']}",
              "", "P = V / sum V", [], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    svg.text(ax.x0 + ax.w / 2, ax.y0 + ax.h + 48, "rank q in the block's ranking by V (expert id below)", 12, "middle")
    bw = 0.6 * ax.w / M
    cum, pts = 0.0, []
    for q, i in enumerate(order):
        p = V[i] / total
        x = ax.X(q)
        svg.rect(x - bw / 2, ax.Y(p), bw, ax.Y(0) - ax.Y(p), "#1f77b4")
        svg.text(x, ax.Y(0) + 16, f"q={q}", 10, "middle")
        svg.text(x, ax.Y(0) + 28, f"e{i}", 10, "middle", "bold")
        svg.text(x, ax.Y(p) - 4, f"{p:.4f}" if p > 0 else "0", 10, "middle")
        cum += p
        pts.append((x, ax.Y(cum)))
    svg.polyline(pts, "#ff7f0e")
    svg.line(ax.x0, ax.Y(ex["top_p"]), ax.x0 + ax.w, ax.Y(ex["top_p"]), "#d62728", 1.5, "6,4")
    svg.text(ax.x0 + ax.w - 4, ax.Y(ex["top_p"]) - 5, f"top_p = {ex['top_p']}", 11, "end", color="#d62728")
    for k, (label, size) in enumerate(cuts):
        x = ax.X(size - 0.5)
        svg.line(x, ax.y0, x, ax.y0 + ax.h, COLORS[2 + k], 2, "2,3")
        svg.text(x + 4, ax.Y(0.5 - 0.07 * k), label, 11, color=COLORS[2 + k])
    ax.legend([("P of the expert at rank q (bar)", "#1f77b4", None), ("cumulative P after rank q", "#ff7f0e", None)])
    svg.save("votes.svg")


PANELS = {  # preset -> (title, policies shown in t_vs_n)
    "llada-moe": ("LLaDA-MoE (M = 64, K = 8, softmax)",
                  ["vanilla", "top-4", "union k=2", "union k=3", "vote beta=0.6", "vote beta=0.4", "blockdist p=0.6"]),
    "llada2-mini": ("LLaDA2.0-mini (M = 256, K = 8, sigmoid + bias, groups 8:4)",
                    ["vanilla", "top-4", "union k=2", "union k=3", "vote beta=0.15", "vote beta=0.1", "blockdist p=0.6"]),
}
NS = [1, 2, 4, 8, 16, 24, 32]


def rows(preset, N):
    return load(f"sweep-{preset}-N{N}.json")["tables"][0]["rows"]


def t_vs_n_figure():
    svg = Svg(1100, 440)
    for p, (preset, (title, policies)) in enumerate(PANELS.items()):
        data = {N: {r["policy"]: r for r in rows(preset, N)} for N in NS}
        ymax = max(data[32]["vanilla"]["mean"]["unique_experts"], 1) * 1.1
        ax = Axes(svg, 70 + p * 540, 50, 440, 320, (0, 33), (0, ymax), title,
                  "tokens per block N", "unique experts T per block", [1, 4, 8, 16, 24, 32],
                  [t for t in range(0, int(ymax) + 1, 20 if ymax > 60 else 10)])
        items = []
        for c, pol in enumerate(policies):
            pts = [(ax.X(N), ax.Y(data[N][pol]["mean"]["unique_experts"])) for N in NS]
            dash = "5,3" if pol.startswith("top-") else None
            svg.polyline(pts, COLORS[c], 2, dash)
            items.append((pol, COLORS[c], dash))
        ax.legend(items)
    svg.save("t_vs_n.svg")


FAMILIES = ["top-k", "union", "vote", "blockdist", "blockmax"]


def pareto_figure():
    svg = Svg(1100, 440)
    for p, (preset, (title, _)) in enumerate(PANELS.items()):
        rs = rows(preset, 32)
        M = load(f"sweep-{preset}-N32.json")["tables"][0]["experts"]
        van = next(r for r in rs if r["policy"] == "vanilla")
        xmax = van["mean"]["unique_experts"] * 1.05
        ax = Axes(svg, 70 + p * 540, 50, 440, 320, (0, xmax), (0, 1.0), title + ", N = 32",
                  "unique experts T per block", "top-K hit rate vs vanilla",
                  [t for t in range(0, int(xmax) + 1, 10 if xmax < 70 else 20)], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        items = []
        for c, fam in enumerate(FAMILIES):
            fr = sorted((r for r in rs if r["family"] == fam), key=lambda r: r["mean"]["unique_experts"])
            pts = [(ax.X(r["mean"]["unique_experts"]), ax.Y(r["mean"]["topk_hit_rate"])) for r in fr]
            svg.polyline(pts, COLORS[c], 2, "5,3" if fam == "top-k" else None)
            items.append(({"top-k": "top-k (vanilla, smaller K)", "union": "union k_local (DES-Seq)",
                           "vote": "vote beta (DES-Vote)", "blockdist": "blockdist top_p (dMoE)",
                           "blockmax": "blockmax beta (SGLang block top-K)"}[fam],
                          COLORS[c], "5,3" if fam == "top-k" else None))
        x, y = ax.X(van["mean"]["unique_experts"]), ax.Y(1.0)
        svg.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#000"/>')
        svg.text(x - 8, y + 16, "vanilla", 11, "end")
        ax.legend(items, x=ax.x0 + ax.w - 190, y=ax.y0 + ax.h - 84)
        del M
    svg.save("pareto.svg")


TABLE = [  # (preset, N, [groups of policies shown on one row])
    ("llada-moe", 8, [["vanilla", "top-4"], ["union k=2", "union k=3"], ["vote beta=0.4", "vote beta=0.6"],
                      ["blockdist p=0.2", "blockdist p=0.5", "blockdist p=0.6"],
                      ["blockmax beta=0.4", "blockmax beta=0.6"]]),
    ("llada-moe", 32, [["vanilla", "top-4"], ["union k=2", "union k=3"], ["vote beta=0.4", "vote beta=0.6"],
                       ["blockdist p=0.2", "blockdist p=0.5", "blockdist p=0.6", "blockdist p=0.9"],
                       ["blockmax beta=0.4", "blockmax beta=0.6"]]),
    ("llada2-mini", 32, [["vanilla", "top-4"], ["union k=2", "union k=3", "union k=8"],
                         ["vote beta=0.1", "vote beta=0.15"],
                         ["blockdist p=0.2", "blockdist p=0.6", "blockdist p=0.9"],
                         ["blockmax beta=0.1", "blockmax beta=0.15"]]),
]
NAMES = {"llada-moe": "LLaDA-MoE", "llada2-mini": "LLaDA2.0-mini"}


def sweep_table():
    """The "which policy when" table of docs/algorithms.md, as markdown."""
    out = ["| preset, N | policies | T | hit rate |", "|---|---|---|---|"]
    for preset, N, groups in TABLE:
        by = {r["policy"]: r for r in rows(preset, N)}
        for k, group in enumerate(groups):
            first = f"{NAMES[preset]}, N = {N}" if k == 0 else ""
            T = " / ".join(f"{by[p]['mean']['unique_experts']:.1f}" for p in group)
            hit = " / ".join(f"{by[p]['mean']['topk_hit_rate']:.3f}".replace("1.000", "1") for p in group)
            out.append(f"| {first} | {' / '.join(group)} | {T} | {hit} |")
    with open(os.path.join(OUT, "sweep_table.md"), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ex = load("worked_example.json")["ex1"]
    scores_figure(ex)
    cuts = []
    sizes = {k: len(v) for k, v in ex["coresets"].items()}
    cuts.append((f"Vote beta = 0.25: |C| = {sizes['Vote beta = 0.25']}", sizes["Vote beta = 0.25"]))
    cuts.append((f"BlockDist top_p = 0.6: |C| = {sizes['BlockDist top_p = 0.6']}", sizes["BlockDist top_p = 0.6"]))
    voted = sum(1 for v in ex["votes"] if v > 0)
    cuts.append((f"every voted expert (top_p = 1): {voted}", voted))
    votes_figure(ex, cuts)
    t_vs_n_figure()
    pareto_figure()
    sweep_table()


if __name__ == "__main__":
    main()
