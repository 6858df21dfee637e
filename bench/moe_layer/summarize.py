#!/usr/bin/env python3
"""Fit, targets and plots of the MoE-layer benchmark (moe_layer_bench's JSON).

usage: summarize.py RAW.json OUT.json [PLOT_PREFIX]
Writes OUT.json (the raw data plus an "analysis" section), prints a Markdown summary,
and with PLOT_PREFIX draws PLOT_PREFIX-latency_vs_T.png and PLOT_PREFIX-latency_vs_N.png.
Latencies are per block of N tokens and per layer; a run's figure is the mean over its
blocks (each block weighs the same). "With routing" adds each block's CUDA routing time
(dispatch layout included) to its layer time; the targets are checked on that figure.
The bandwidth model uses the roofline the file names (bench/measure.cuh).
"""
import json
import sys

import numpy as np

# docs/spec.md section 4: published T at block 32 (real models), beside ours.
PUBLISHED = {
    ("llada2-mini", "vanilla"): "84 (DES) / 70 (dMoE)",
    ("llada2-mini", "des-seq k=3"): "45",
    ("llada2-mini", "des-seq k=2"): "34",
    ("llada2-mini", "des-vote beta=0.15"): "38",
    ("llada2-mini", "des-vote beta=0.1"): "25",
    ("llada2-mini", "dmoe p=0.6"): "~14.5 (after fine-tuning)",
    ("llada-moe", "vanilla"): "59",
    ("llada-moe", "des-vote beta=0.6"): "38",
    ("llada-moe", "des-vote beta=0.4"): "25",
}
TARGET_N = 32


def fit(runs, key):
    """Least squares over every block: L = c + b*T + a*N*K, and L = b*T + a*N*K."""
    T = np.concatenate([r["T"] for r in runs])
    NK = np.concatenate([[r["N"] * r["K"]] * len(r["T"]) for r in runs])
    L = np.concatenate([r[key] for r in runs])
    out = {}
    for name, X in (("with_intercept", np.c_[np.ones_like(T), T, NK]), ("issue_form", np.c_[T, NK])):
        coef, *_ = np.linalg.lstsq(X, L, rcond=None)
        pred = X @ coef
        r2 = 1 - np.sum((L - pred) ** 2) / np.sum((L - L.mean()) ** 2)
        c = dict(zip(["c_us", "b_us", "a_us"] if X.shape[1] == 3 else ["b_us", "a_us"], map(float, coef)))
        c["r2"] = float(r2)
        c["points"] = int(len(L))
        out[name] = c
    return out


TARGETS = (  # (name, row field, bound, "<=" or ">="): LLaDA2.0-mini, N = 32, checked with routing in
    ("DES-Vote (beta 0.15) latency <= 0.65 x vanilla's, routing included", "ratio_with_routing", 0.65, "<="),
    ("measured reduction >= 0.85 x the bandwidth model's, routing included", "reduction_vs_model", 0.85, ">="),
    ("expert-weight bandwidth >= 0.70 x the roofline, routing included", "weight_bw_over_roofline", 0.70, ">="),
)


def targets(rows):
    """The targets of the layer, each on the with-routing figure (the layer-only value beside)."""
    out = []
    for name, field, bound, op in TARGETS:
        sel = [r for r in rows if r["policy"] == "des-vote beta=0.15"] if field == "ratio_with_routing" else rows
        for r in sel:
            v = r[field]
            if v is None:
                continue
            out.append({"target": name, "policy": r["policy"], "value": v, "layer_only": r[field + "_layer"],
                        "met": v <= bound if op == "<=" else v >= bound})
    return out


def main():
    raw_path, out_path = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else None
    d = json.load(open(raw_path))
    roof = d["bandwidth"]["roofline"]
    bw = d["bandwidth"][roof + "_bytes_per_s"]
    lines = [f"Device: {d['meta']['device']} ({d['sms']} SMs, L2 {d['l2_bytes'] / 1e6:.0f} MB), driver "
             f"{d['meta']['driver']}, commit {d['meta']['commit']}, {d['meta']['date']}; roofline {roof} "
             f"{bw / 1e9:.0f} GB/s (read stream {d['bandwidth']['stream_read_bytes_per_s'] / 1e9:.0f}, memcpy "
             f"{d['bandwidth']['memcpy_bytes_per_s'] / 1e9:.0f} GB/s read + written); {d['blocks_per_run']} blocks "
             f"per run; all correctness checks {'passed' if d['all_checks_pass'] else 'FAILED'}.", ""]
    analysis = {}
    for shape, info in d["shapes"].items():
        runs = [r for r in d["runs"] if r["shape"] == shape]
        if not runs:
            continue
        eb = info["expert_bytes"]
        shared_bytes = eb if info["shared_expert"] else 0.0
        hand = np.mean([r["hand_us_mean"] for r in runs])
        blas = np.mean([r["cublas_us_mean"] for r in runs])
        key = "hand_us" if hand <= blas else "cublas_us"
        b_model_us = eb / bw * 1e6
        a = {"faster_path": key.replace("_us", ""), "roofline": roof, "b_model_us": b_model_us,
             "fit_hand": fit(runs, "hand_us"), "fit_cublas": fit(runs, "cublas_us")}
        lines += [f"### {shape} (M={info['M']}, H={info['H']}, I={info['I']}, K={info['K']}"
                  f"{', one shared expert' if info['shared_expert'] else ''}; expert {eb / 1e6:.1f} MB; "
                  f"{info['layers']} layers cycled)", ""]
        lines += [f"Faster implementation over all runs: **{a['faster_path']}** (mean of run means: hand-written "
                  f"{hand:.1f} us, cuBLAS {blas:.1f} us).", ""]
        for path in ("hand", "cublas"):
            f = a[f"fit_{path}"]
            w, i = f["with_intercept"], f["issue_form"]
            lines.append(f"- fit ({path}, {w['points']} blocks, layer alone): L = {w['c_us']:.2f} + {w['b_us']:.3f}*T + "
                         f"{w['a_us']:.4f}*N*K us (R^2 {w['r2']:.3f}); without intercept L = {i['b_us']:.3f}*T + "
                         f"{i['a_us']:.4f}*N*K (R^2 {i['r2']:.3f}). Bandwidth model b = expert_bytes / {roof} "
                         f"= {b_model_us:.3f} us: measured b / model b = {w['b_us'] / b_model_us:.2f}.")
        lines.append("")

        at = {r["policy"]: r for r in runs if r["N"] == TARGET_N}
        van = at.get("vanilla")
        rows = []
        if van:
            lines += [f"N = {TARGET_N} ({a['faster_path']}; with routing = layer + the CUDA routing kernel, per block):",
                      "", "| policy | T (ours) | T published | layer us | routing us | with routing us | vs vanilla "
                      "(with routing) | vs vanilla (layer) | measured / model reduction | weight BW / roofline |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for pol, r in at.items():
                row = {"policy": pol, "T": r["T_mean"], "published_T": PUBLISHED.get((shape, pol), "-"),
                       "hand_us": r["hand_us_mean"], "cublas_us": r["cublas_us_mean"], "route_us": r["route_us_mean"]}
                for suffix, route, route_v in (("", r["route_us_mean"], van["route_us_mean"]), ("_layer", 0.0, 0.0)):
                    if route is None or route_v is None:  # the CUDA routing failed: no with-routing figure
                        row.update({f + suffix: None for f in ("latency_us", "ratio_with_routing",
                                                               "reduction_vs_model", "weight_bw_over_roofline")})
                        continue
                    L, Lv = r[f"{key}_mean"] + route, van[f"{key}_mean"] + route_v
                    pred = b_model_us * (van["T_mean"] - r["T_mean"])
                    row["latency_us" + suffix] = L
                    row["ratio_with_routing" + suffix] = L / Lv
                    row["reduction_vs_model" + suffix] = (Lv - L) / pred if pred > 0 else None
                    row["weight_bw_over_roofline" + suffix] = (r["T_mean"] * eb + shared_bytes) / (L * 1e-6) / bw
                row["latency_with_routing_us"] = row.pop("latency_us")
                row["ratio_vs_vanilla_layer"] = row["ratio_with_routing_layer"]
                rows.append(row)
                f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
                lines.append(f"| {pol} | {r['T_mean']:.1f} | {row['published_T']} | {row['latency_us_layer']:.1f} | "
                             f"{f(row['route_us'], 1)} | {f(row['latency_with_routing_us'], 1)} | "
                             f"{f(row['ratio_with_routing'], 3)} | {row['ratio_vs_vanilla_layer']:.3f} | "
                             f"{f(row['reduction_vs_model'])} | {f(row['weight_bw_over_roofline'])} |")
            lines.append("")
        a["at_N32"] = rows
        eq = sum(max(r["cuda_layout_equal_blocks"], 0) for r in runs)
        a["cuda_layout_equal_blocks"] = eq
        lines += [f"CUDA backend's dispatch layout identical to the reference's on {eq} of "
                  f"{len(runs) * d['blocks_per_run']} blocks; worst per-token relative error over every block: "
                  f"hand-written {max((r['err_hand'] or float('nan')) for r in runs):.2e}, cuBLAS "
                  f"{max((r['err_cublas'] or float('nan')) for r in runs):.2e} (limit {d['max_rel_err']}).", ""]

        # Latency against N (faster path), and T against N.
        pols = list(dict.fromkeys(r["policy"] for r in runs))
        Ns = sorted({r["N"] for r in runs})
        by = {(r["policy"], r["N"]): r for r in runs}
        lines += ["Layer latency (us, " + a["faster_path"] + ", routing not included) / T against N:", "",
                  "| policy | " + " | ".join(f"N={n}" for n in Ns) + " |", "|---|" + "---|" * len(Ns)]
        for p in pols:
            lines.append(f"| {p} | " + " | ".join(
                f"{by[(p, n)][key + '_mean']:.1f} / {by[(p, n)]['T_mean']:.0f}" if (p, n) in by else "-"
                for n in Ns) + " |")
        lines.append("")
        a["vs_N"] = {p: {str(n): {"latency_us": by[(p, n)][key + "_mean"], "T": by[(p, n)]["T_mean"],
                                  "route_us": by[(p, n)]["route_us_mean"]}
                         for n in Ns if (p, n) in by} for p in pols}

        if shape == "llada2-mini" and rows:
            a["targets"] = targets(rows)
            lines += ["Targets (LLaDA2.0-mini, N = 32, " + a["faster_path"] + ", routing included; layer alone "
                      "in brackets):", ""]
            for t in a["targets"]:
                lines.append(f"- {t['target']}: {t['policy']} {t['value']:.3f} ({t['layer_only']:.3f}): "
                             f"{'met' if t['met'] else 'MISSED'}")
            lines.append("")
        analysis[shape] = a

    d["analysis"] = analysis
    json.dump(d, open(out_path, "w"), indent=1)
    print("\n".join(lines))

    if prefix:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        shapes = [s for s in d["shapes"] if s in analysis]
        fig, axes = plt.subplots(1, len(shapes), figsize=(6 * len(shapes), 4.5))
        for ax, shape in zip(np.atleast_1d(axes), shapes):
            key = analysis[shape]["faster_path"] + "_us"
            for r in (r for r in d["runs"] if r["shape"] == shape and r["N"] == TARGET_N):
                ax.scatter(r["T"], r[key], s=12, label=r["policy"])
            f = analysis[shape]["fit_" + analysis[shape]["faster_path"]]["with_intercept"]
            xs = np.linspace(0, d["shapes"][shape]["M"], 50)
            K = d["shapes"][shape]["K"]
            ax.plot(xs, f["c_us"] + f["b_us"] * xs + f["a_us"] * TARGET_N * K, "k--", lw=1, label="fit (N*K = 256)")
            ax.set(title=f"{shape}, N = {TARGET_N} ({analysis[shape]['faster_path']})", xlabel="unique experts T",
                   ylabel="MoE layer latency (us)")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(prefix + "-latency_vs_T.png", dpi=110)
        fig, axes = plt.subplots(1, len(shapes), figsize=(6 * len(shapes), 4.5))
        for ax, shape in zip(np.atleast_1d(axes), shapes):
            for p, v in analysis[shape]["vs_N"].items():
                Ns = sorted(int(n) for n in v)
                ax.plot(Ns, [v[str(n)]["latency_us"] for n in Ns], marker="o", label=p)
            ax.set(title=f"{shape} ({analysis[shape]['faster_path']})", xlabel="block size N", xscale="log",
                   ylabel="MoE layer latency (us)")
            ax.set_xticks([8, 16, 32, 64, 128], ["8", "16", "32", "64", "128"])
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(prefix + "-latency_vs_N.png", dpi=110)


if __name__ == "__main__":
    main()
