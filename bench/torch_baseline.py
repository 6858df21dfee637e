"""PyTorch baselines for the routing benchmark, on the same shapes as route_bench.

(a) each policy written in PyTorch the way the dMoE reference code does it (topk,
    scatter, sum over tokens, sort, cumsum, masked group-limited topk, gather), kept
    capture-safe (masks instead of data-dependent shapes) so it can be timed both
    eagerly and as a CUDA graph;
(b) plain token-level routing with torch.topk (the "vanilla" rows).
Timing: CUDA events around each call (eager) or each graph replay; medians. The eager
time mostly measures the Python dispatch of PyTorch's 20-30 small kernels (it moves by
tens of percent between runs); graph replay against graph replay is the meaningful ratio.
The file records device, driver, commit (env COREROUTE_COMMIT), date, method and settings.
Usage: python3 torch_baseline.py OUT.json
"""
import datetime
import json
import os
import re
import sys

import torch

MODELS = {
    "llada-moe": dict(M=64, K=8, score="softmax", groups=None, normalize=False, scaling=1.0, bias=False, beta=0.4),
    "llada2-mini": dict(M=256, K=8, score="sigmoid", groups=(8, 4), normalize=True, scaling=2.5, bias=True, beta=0.15),
}


def route(x, cfg, policy, bias):
    B, N, M = x.shape
    K = cfg["K"]
    s = torch.softmax(x, dim=-1) if cfg["score"] == "softmax" else torch.sigmoid(x)
    r = s + bias if bias is not None else s
    if policy == "vanilla":
        mask = None
    else:
        k_local = 2 if policy == "union" else K
        top_v, top_i = r.topk(k_local, dim=-1)
        vote = torch.ones_like(top_v) if policy == "union" else top_v.clamp_min(0)
        votes = torch.zeros(B, M, device=x.device).scatter_add_(1, top_i.reshape(B, -1), vote.reshape(B, -1))
        sv, si = votes.sort(dim=-1, descending=True, stable=True)
        rank = torch.arange(M, device=x.device).expand(B, M)
        if policy == "union":
            keep = sv > 0
        elif policy == "vote":
            keep = rank < max(1, int(cfg["beta"] * M))
        else:  # dMoE top-p with a floor of 16
            p = sv / sv.sum(-1, keepdim=True).clamp_min(1e-30)
            before = p.cumsum(-1) - p
            keep = (rank < min(16, M)) | ((sv > 0) & (before <= 0.6))
        mask = torch.zeros(B, M, dtype=torch.bool, device=x.device).scatter(1, si, keep)
    rm = r if mask is None else r.masked_fill(~mask[:, None, :], float("-inf"))
    if cfg["groups"]:
        G, tg = cfg["groups"]
        gs = rm.view(B, N, G, M // G).topk(2, dim=-1).values.sum(-1)
        gi = gs.topk(tg, dim=-1).indices
        gmask = torch.zeros(B, N, G, dtype=torch.bool, device=x.device).scatter(2, gi, True)
        rm = rm.masked_fill(~gmask.repeat_interleave(M // G, dim=-1), float("-inf"))
    ids = rm.topk(K, dim=-1).indices
    w = s.gather(-1, ids)
    if cfg["normalize"]:
        w = w / w.sum(-1, keepdim=True)
    return ids.int(), w * cfg["scaling"]


EAGER_REPS, GRAPH_REPS = (200, 100), (1000, 300)  # (B < 1024, B >= 1024)


def driver_release():
    """The kernel driver's release (e.g. 580.159.04), as bench/measure.cuh reads it."""
    try:
        m = re.search(r" (\d+\.\d+(?:\.\d+)?) ", open("/proc/driver/nvidia/version").readline())
        return m.group(1) if m else "not recorded"
    except OSError:
        return "not recorded"


def median_us(fn, reps):
    start = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    end = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    for i in range(reps):
        start[i].record()
        fn()
        end[i].record()
    torch.cuda.synchronize()
    t = sorted(a.elapsed_time(b) for a, b in zip(start, end))
    return t[len(t) // 2] * 1000.0


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "torch_baseline.json"
    torch.manual_seed(0)
    rows = []
    for name, cfg in MODELS.items():
        bias = (torch.rand(cfg["M"], device="cuda") - 0.5) * 0.1 if cfg["bias"] else None
        for B in (1, 64, 1024):
            for N in (16, 32, 64, 128):
                x = torch.randn(B, N, cfg["M"], device="cuda") * 2
                for policy in ("vanilla", "union", "vote", "blockdist"):
                    eager = median_us(lambda: route(x, cfg, policy, bias), EAGER_REPS[B >= 1024])
                    g = torch.cuda.CUDAGraph()
                    s = torch.cuda.Stream()
                    s.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(s):
                        for _ in range(3):
                            route(x, cfg, policy, bias)
                    torch.cuda.current_stream().wait_stream(s)
                    with torch.cuda.graph(g):
                        route(x, cfg, policy, bias)
                    graph = median_us(g.replay, GRAPH_REPS[B >= 1024])
                    rows.append(dict(model=name, policy=policy, B=B, N=N, M=cfg["M"], K=cfg["K"],
                                     eager_median_us=round(eager, 3), graph_median_us=round(graph, 3)))
                    print(f"torch {name:11s} {policy:9s} B={B:<4d} N={N:<3d} eager {eager:9.2f} us  graph {graph:9.2f} us",
                          flush=True)
                    del g
    with open(out, "w") as f:
        meta = dict(tool="bench/torch_baseline.py", device=torch.cuda.get_device_name(), driver=driver_release(),
                    torch=torch.__version__, torch_cuda=torch.version.cuda,
                    commit=os.environ.get("COREROUTE_COMMIT") or "not recorded",
                    date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    method="median of calls (eager) or of CUDA graph replays, each timed alone with CUDA events "
                           "after 10 warm-up calls",
                    settings=dict(eager_reps=f"{EAGER_REPS[0]} ({EAGER_REPS[1]} at B >= 1024)",
                                  graph_reps=f"{GRAPH_REPS[0]} ({GRAPH_REPS[1]} at B >= 1024)", seed=0,
                                  logits="N(0, 2)"))
        json.dump(dict(meta=meta, torch=torch.__version__, device=meta["device"], results=rows), f, indent=1)


if __name__ == "__main__":
    main()
