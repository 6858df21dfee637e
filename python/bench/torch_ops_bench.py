"""Benchmark of the coreroute Torch ops on a CUDA GPU, beside the raw kernel and PyTorch.

For each router of bench/torch_baseline.py (LLaDA-MoE, LLaDA2.0-mini), B in {1, 64, 1024}
blocks of N = 32 tokens, and every policy:
  op_eager_us      wall time per call of coreroute.route(..., checked=False), back to
                   back (Python + dispatcher + allocation + launch; the GPU time when
                   that is longer), median of 7 runs of `reps` calls;
  op_direct_us     the same through torch.ops.coreroute.route.default with positional
                   arguments (no Python wrapper: dispatcher + the op's C++ + launch);
  wrapper_us       op_eager_us - op_direct_us: what the Python wrapper adds;
  host_us / host_direct_us: host time per call of the two, the GPU held busy meanwhile
                   (torch.cuda._sleep before the timed calls), so never waited for:
                   the host cost alone, at every B, whatever the kernel's time;
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

route_op = torch.ops.coreroute.route.default

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


def host_us(fn, reps=200):
    """Median over 7 runs of the host time per call of `reps` calls queued behind a GPU sleep
    (long enough that the host never waits for the GPU during the timed calls)."""
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(7):
        torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU clock cycles
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        runs.append((time.perf_counter() - t) / reps * 1e6)
        torch.cuda.synchronize()
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


def cpu_overhead():
    """Host cost per call on the CPU op (no GPU needed): tiny inputs, so that the routing
    itself is a small part; the wrapper, the direct call, the meta kernel (the op's C++
    checks and shapes without a kernel) and torch.empty(0) as a yardstick. Medians in us."""
    torch.set_num_threads(1)
    x, xm = torch.randn(1, 1, 8), torch.empty(1, 32, 64, device="meta")
    kw = dict(top_k=2, policy="vanilla", score="softmax", groups=None, normalize=False, scaling=1.0, checked=False)
    args, margs = direct_args(x, None, kw), direct_args(xm, None, dict(kw, top_k=8))
    cases = {"coreroute.route [1,1,8]": lambda: coreroute.route(x, top_k=2, checked=False),
             "torch.ops.coreroute.route.default [1,1,8]": lambda: route_op(*args),
             "coreroute.route meta [1,32,64]": lambda: coreroute.route(xm, top_k=8, checked=False),
             "torch.ops.coreroute.route.default meta [1,32,64]": lambda: route_op(*margs),
             "torch.empty(0)": lambda: torch.empty(0)}
    for name, fn in cases.items():
        for _ in range(500):
            fn()
        runs = []
        for _ in range(15):
            t = time.perf_counter()
            for _ in range(2000):
                fn()
            runs.append((time.perf_counter() - t) / 2000 * 1e6)
        print(f"{name:50s} {statistics.median(runs):8.2f} us")


def main():
    if sys.argv[1:2] == ["--cpu-overhead"]:
        return cpu_overhead()
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
                args = direct_args(x, bias, kw)
                direct = lambda: route_op(*args)  # noqa: E731
                native = lambda: torch_baseline.route(x, cfg, policy, bias)  # noqa: E731
                reps = 200 if B >= 1024 else 1000
                row = dict(model=name, policy=policy, B=B, N=N, M=cfg["M"], K=cfg["K"], dtype="fp32",
                           op_eager_us=round(wall_us(op, reps), 3), op_direct_us=round(wall_us(direct, reps), 3),
                           host_us=round(host_us(op), 3), host_direct_us=round(host_us(direct), 3),
                           op_graph_us=round(graph_us(op, reps), 3),
                           torch_eager_us=round(wall_us(native, reps // 2), 3),
                           torch_graph_us=round(graph_us(native, reps), 3))
                row["wrapper_us"] = round(row["op_eager_us"] - row["op_direct_us"], 3)
                r = raw.get((name, policy, B, N))
                if r:
                    row.update(raw_launch_us=r["launch_median_us"], raw_graph_us=r["graph_median_us"],
                               eager_overhead_us=round(row["op_eager_us"] - r["launch_median_us"], 3),
                               dispatch_us=round(row["op_direct_us"] - r["launch_median_us"], 3),
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
    cols = ["model", "policy", "B", "op_eager_us", "raw_launch_us", "eager_overhead_us", "wrapper_us", "dispatch_us",
            "host_us", "host_direct_us", "op_graph_us", "raw_graph_us", "graph_ratio", "torch_eager_us", "torch_graph_us", "speedup_vs_torch_graph"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
