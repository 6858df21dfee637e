"""Merges route_bench's JSON and torch_baseline's JSON into one results file, prints
the table and the targets of the benchmark plan, and draws a plot (if matplotlib).
Usage: python3 summarize.py KERNEL.json TORCH.json OUT.json [PLOT.png]
The run's metadata (device, driver, commit, date, method, settings) is route_bench's
"meta" and torch_baseline's, kept as they wrote them. "speedup_eager" (PyTorch eager over
our plain launch) mostly measures the Python dispatch of PyTorch's 20-30 small kernels,
so no target is checked on it; graph against graph is the meaningful ratio.
"""
import json
import sys


def main():
    kern = json.load(open(sys.argv[1]))
    torch_rows = json.load(open(sys.argv[2])) if sys.argv[2] != "-" else {"results": []}
    out = sys.argv[3]
    plot = sys.argv[4] if len(sys.argv) > 4 else None
    tq = {(r["model"], r["policy"], r["B"], r["N"]): r for r in torch_rows["results"]}
    ours = {(r["model"], r["policy"], r["dtype"], r["B"], r["N"]): r for r in kern["results"]}
    lines = ["| model | policy | dtype | B | N | graph us | back-to-back us | double-only us | launch us | vs vanilla | torch graph us | torch eager us | speed-up graph | speed-up eager | floor us | % of floor | metrics us |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in kern["results"]:
        key = (r["model"], r["policy"], r["B"], r["N"])
        van = ours.get((r["model"], "vanilla", r["dtype"], r["B"], r["N"]))
        t = tq.get(key) if r["dtype"] == "fp32" else None
        r["vs_vanilla"] = r["graph_median_us"] / van["graph_median_us"] if van else None
        r["torch_graph_median_us"] = t["graph_median_us"] if t else None
        r["torch_eager_median_us"] = t["eager_median_us"] if t else None
        r["speedup_graph"] = t["graph_median_us"] / r["graph_median_us"] if t else None
        r["speedup_eager"] = t["eager_median_us"] / r["launch_median_us"] if t else None
        r["fraction_of_floor"] = r["floor_us"] / r["graph_median_us"]
        f = lambda v, d=2: "-" if v is None or v < 0 else f"{v:.{d}f}"
        lines.append(f"| {r['model']} | {r['policy']} | {r['dtype']} | {r['B']} | {r['N']} | {f(r['graph_median_us'])} | "
                     f"{f(r.get('graph_back_to_back_us'))} | {f(r.get('exact_graph_median_us'))} | {f(r['launch_median_us'])} | {f(r['vs_vanilla'])} | {f(r['torch_graph_median_us'], 1)} | "
                     f"{f(r['torch_eager_median_us'], 1)} | {f(r['speedup_graph'], 1)} | {f(r['speedup_eager'], 1)} | "
                     f"{f(r['floor_us'])} | {f(100 * r['fraction_of_floor'], 0)} | {f(r['metrics_median_us'])} |")
    # Targets of the plan (routing only, fp32, LLaDA2.0-mini shape for the latency target).
    checks = []
    def row(model, policy, B, N):
        return ours.get((model, policy, "fp32", B, N))
    r = row("llada2-mini", "vote", 1, 32)
    if r:
        checks.append(("B=1 N=32 M=256 DES-Vote <= 4 us (graph replay)", r["graph_median_us"], r["graph_median_us"] <= 4))
        if r.get("graph_back_to_back_us"):
            checks.append(("B=1 N=32 M=256 DES-Vote <= 4 us (graph replays back to back)", r["graph_back_to_back_us"],
                           r["graph_back_to_back_us"] <= 4))
    for policy in ("vanilla", "union", "vote", "blockdist"):
        for B, need in ((1, 20), (1024, 50)):
            x = row("llada2-mini", policy, B, 32)
            if x and x["speedup_graph"]:
                checks.append((f"{policy} B={B} N=32 M=256 >= {need}x PyTorch (graph vs graph)", x["speedup_graph"],
                               x["speedup_graph"] >= need))
    worst = max((x["vs_vanilla"], x) for x in kern["results"] if x["policy"] != "vanilla" and x["vs_vanilla"])
    checks.append((f"coreset policies <= 1.3x vanilla (worst: {worst[1]['model']} {worst[1]['policy']} "
                   f"{worst[1]['dtype']} B={worst[1]['B']} N={worst[1]['N']})", worst[0], worst[0] <= 1.3))
    for x in kern["results"]:
        if x["B"] == 1024 and x["dtype"] == "fp32":
            checks.append((f"B=1024 >= 60% of floor: {x['model']} {x['policy']} N={x['N']}", x["fraction_of_floor"],
                           x["fraction_of_floor"] >= 0.6))
    kern["torch"] = {k: v for k, v in torch_rows.items() if k != "results"}
    kern["targets"] = [dict(target=c[0], value=round(c[1], 4), met=bool(c[2])) for c in checks]
    json.dump(kern, open(out, "w"), indent=1)
    print("\n".join(lines))
    print()
    for c in checks:
        print(f"{'MET   ' if c[2] else 'MISSED'} {c[0]}: {c[1]:.3f}")
    if plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
            for ax, model in zip(axes, ("llada-moe", "llada2-mini")):
                for policy, style in (("vanilla", "o-"), ("vote", "s-"), ("blockdist", "^-")):
                    for B, color in ((1, "C0"), (64, "C1"), (1024, "C2")):
                        xs = [x for x in kern["results"] if x["model"] == model and x["policy"] == policy
                              and x["B"] == B and x["dtype"] == "fp32"]
                        ax.plot([x["N"] for x in xs], [x["graph_median_us"] for x in xs], style, color=color,
                                label=f"{policy} B={B}")
                        ts = [x for x in xs if x["torch_graph_median_us"]]
                        if policy == "vote":
                            ax.plot([x["N"] for x in ts], [x["torch_graph_median_us"] for x in ts], style, color=color,
                                    alpha=0.35, label=f"PyTorch vote B={B}")
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xlabel("tokens per block N")
                ax.set_ylabel("median us per call (CUDA graph replay)")
                ax.set_title(model)
                ax.grid(True, which="both", alpha=0.3)
            axes[1].legend(fontsize=6, ncol=2)
            fig.suptitle(f"coreroute CUDA routing vs PyTorch, {kern['meta']['device']}, {kern['meta']['date']}")
            fig.tight_layout()
            fig.savefig(plot, dpi=110)
        except ImportError:  # no matplotlib: a plain SVG of the same curves
            svg_plot(kern, plot.rsplit(".", 1)[0] + ".svg")


def svg_plot(kern, path):
    """Latency vs N (log-log), one panel per model: ours (solid) and PyTorch vote (dashed)."""
    import math
    W, H, L, T = 460, 320, 60, 30
    colors = {1: "#1f77b4", 64: "#ff7f0e", 1024: "#2ca02c"}
    dash = {"vanilla": "", "vote": "6,3", "blockdist": "2,2"}
    ys = [x["graph_median_us"] for x in kern["results"]] + [x["torch_graph_median_us"] for x in kern["results"]
                                                             if x.get("torch_graph_median_us")]
    y0, y1 = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1
    X = lambda n, panel: panel * W + L + (math.log2(n) - 4) / 3 * (W - L - 20)
    Y = lambda v: T + (y1 - math.log10(v)) / (y1 - y0) * (H - T - 50)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 40}" font-family="sans-serif" '
           f'font-size="11"><rect width="100%" height="100%" fill="white"/>']
    for panel, model in enumerate(("llada-moe", "llada2-mini")):
        out.append(f'<text x="{panel * W + W / 2}" y="18" text-anchor="middle">{model}: median us per call '
                   f'(graph replay) vs N</text>')
        for e in range(math.ceil(y0), math.floor(y1) + 1):
            out.append(f'<line x1="{panel * W + L}" x2="{panel * W + W - 20}" y1="{Y(10 ** e)}" y2="{Y(10 ** e)}" '
                       f'stroke="#ddd"/><text x="{panel * W + L - 5}" y="{Y(10 ** e) + 4}" text-anchor="end">'
                       f'{10 ** e:g}</text>')
        for n in (16, 32, 64, 128):
            out.append(f'<text x="{X(n, panel)}" y="{H - 30}" text-anchor="middle">{n}</text>')
        for B, color in colors.items():
            for policy, d in dash.items():
                xs = [x for x in kern["results"] if x["model"] == model and x["policy"] == policy and x["B"] == B
                      and x["dtype"] == "fp32"]
                pts = " ".join(f"{X(x['N'], panel):.1f},{Y(x['graph_median_us']):.1f}" for x in xs)
                out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-dasharray="{d}"/>')
                ts = [x for x in xs if policy == "vote" and x.get("torch_graph_median_us")]
                if ts:
                    pts = " ".join(f"{X(x['N'], panel):.1f},{Y(x['torch_graph_median_us']):.1f}" for x in ts)
                    out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-opacity="0.35" '
                               f'stroke-width="4"/>')
    legend = ("colour: B = 1 blue, 64 orange, 1024 green; line: vanilla solid, vote dashed, blockdist dotted; "
              "wide pale: PyTorch vote (graph)")
    out.append(f'<text x="{W}" y="{H + 25}" text-anchor="middle">{legend}; {kern["meta"]["device"]}, {kern["meta"]["date"]}</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
