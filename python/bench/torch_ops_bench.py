"""Benchmark of the coreroute Torch ops on a CUDA GPU, beside the raw kernel and PyTorch.

For each router of bench/torch_baseline.py (LLaDA-MoE, LLaDA2.0-mini), B in {1, 64, 1024}
blocks of N = 32 tokens, and every policy:
  op_eager_us      wall time per call of coreroute.route(..., checked=False), back to
                   back (Python + dispatcher + allocation + launch; the GPU time when
                   that is longer), median of 7 runs of `reps` calls;
  op_direct_us     the same through torch.ops.coreroute.route.default with positional
                   arguments (no Python wrapper: dispatcher + the op's C++ + launch);
  wrapper_us       op_eager_us - op_direct_us: what the Python wrapper adds;
  op_graph_us      median replay of a CUDA graph holding one op call (CUDA events);
  torch_eager_us / torch_graph_us: the same policy written in PyTorch
                   (bench/torch_baseline.py's route), eager wall time and graph replay;
  raw_launch_us / raw_graph_us: the raw launch and its graph from route_bench's JSON
                   (bench/route_bench.cu, same shapes, fp32), when given;
                   eager_overhead_us = op_eager_us - raw_launch_us (target: <= 10 us),
                   split into wrapper_us and dispatch_us = op_direct_us - raw_launch_us.
Ratios are against numbers measured in the same run. Writes OUT.json and OUT.md (the
table for docs/performance.md). Usage:
  python3 torch_ops_bench.py OUT.json [ROUTE_BENCH.json]
  python3 torch_ops_bench.py --cpu-overhead   (no GPU: the host cost per call of the
      wrapper, the direct call and the meta kernel on tiny CPU inputs, medians in us)
"""
import json
import os
import statistics
import sys
import time

import torch

import coreroute

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import torch_baseline  # noqa: E402

PARAMS = {"vanilla": {}, "union": dict(k_local=2), "blockdist": dict(top_p=0.6, min_experts=16)}


def op_args(cfg, policy):
    params = dict(PARAMS.get(policy, {}))
    if policy == "vote":
        params["beta"] = cfg["beta"]
    if policy == "blockdist":
        params["min_experts"] = min(16, cfg["M"])
    return dict(top_k=cfg["K"], policy=policy, score=cfg["score"], groups=cfg["groups"],
                normalize=cfg["normalize"], scaling=cfg["scaling"], checked=False, **params)


def direct_args(logits, bias, kw):
    """The positional arguments of torch.ops.coreroute.route for coreroute.route(logits, bias=bias, **kw)."""
    n_group, topk_group = kw["groups"] or (0, 0)
    beta, top_p = kw.get("beta"), kw.get("top_p")
    return (logits, kw["top_k"], kw["policy"], kw["score"], bias, n_group, topk_group, kw["normalize"],
            float(kw["scaling"]), None, None, kw.get("k_local"), kw.get("core"),
            None if beta is None else float(beta), None if top_p is None else float(top_p), kw.get("min_experts"),
            False, kw["checked"])


def wall_us(fn, reps):
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        runs.append((time.perf_counter() - t) / reps * 1e6)
    return statistics.median(runs)


def graph_us(fn, reps):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return torch_baseline.median_us(g.replay, reps)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "torch_ops_bench.json"
    raw = {}
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        for row in json.load(open(sys.argv[2]))["results"]:
            if row.get("dtype") == "fp32":
                raw[(row["model"], row["policy"], row["B"], row["N"])] = row
    torch.manual_seed(0)
    rows = []
    for name, cfg in torch_baseline.MODELS.items():
        bias = (torch.rand(cfg["M"], device="cuda") - 0.5) * 0.1 if cfg["bias"] else None
        for B in (1, 64, 1024):
            N = 32
            x = torch.randn(B, N, cfg["M"], device="cuda") * 2
            for policy in ("vanilla", "union", "vote", "blockdist"):
                kw = op_args(cfg, policy)
                op = lambda: coreroute.route(x, bias=bias, **kw)  # noqa: E731
                native = lambda: torch_baseline.route(x, cfg, policy, bias)  # noqa: E731
                reps = 200 if B >= 1024 else 1000
                row = dict(model=name, policy=policy, B=B, N=N, M=cfg["M"], K=cfg["K"], dtype="fp32",
                           op_eager_us=round(wall_us(op, reps), 3), op_graph_us=round(graph_us(op, reps), 3),
                           torch_eager_us=round(wall_us(native, reps // 2), 3),
                           torch_graph_us=round(graph_us(native, reps), 3))
                r = raw.get((name, policy, B, N))
                if r:
                    row.update(raw_launch_us=r["launch_median_us"], raw_graph_us=r["graph_median_us"],
                               eager_overhead_us=round(row["op_eager_us"] - r["launch_median_us"], 3),
                               graph_ratio=round(row["op_graph_us"] / r["graph_median_us"], 3))
                row["speedup_vs_torch_graph"] = round(row["torch_graph_us"] / row["op_graph_us"], 2)
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    with open(out, "w") as f:
        json.dump(dict(torch=torch.__version__, device=torch.cuda.get_device_name(), results=rows), f, indent=1)
    with open(os.path.splitext(out)[0] + ".md", "w") as f:
        f.write(markdown(rows))


def markdown(rows):
    """The table for docs/performance.md (medians in us; '-' where route_bench gave none)."""
    cols = ["model", "policy", "B", "op_eager_us", "raw_launch_us", "eager_overhead_us", "op_graph_us",
            "raw_graph_us", "graph_ratio", "torch_eager_us", "torch_graph_us", "speedup_vs_torch_graph"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
