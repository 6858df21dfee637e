#!/usr/bin/env python3
"""One table of routing times: coreroute's policies (route_bench) beside the engines'
token-level routing kernels (the peers harness), measured in the same run.

usage: python3 bench/routing_table.py ROUTE_BENCH.json PEERS.json OUT.json

OUT.json: {"meta": {...of both runs}, "rows": [...]}, one row per (model, dtype, B, N,
implementation = a coreroute policy or a peer) at the shapes both ran (N = 32; B = 1, 64,
1024, that is 32, 2,048 and 32,768 tokens), with graph_us (one call in a graph, each replay
timed alone) and back_to_back_us (replays issued back to back), and the commit of the run.
Peers compute vanilla routing only; `same_routing` says whether a peer computes the model's
routing (LLaDA-MoE: softmax top-8 of 64; LLaDA2.0-mini: sigmoid + bias, 8 groups, top-4
groups, top-8 of 256), so that only those are compared with our vanilla. Standard library only.
"""
import json
import sys

# The peers' shape names (peers/README.md): L64 = M 64 softmax, L256 = M 256 grouped sigmoid,
# L256s = softmax over M 256 (no model of ours routes so: reported, never compared).
PEER_SHAPES = {"L64": ("llada-moe", True), "L256": ("llada2-mini", True), "L256s": ("llada2-mini", False)}


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    ours, peers = (json.load(open(p)) for p in sys.argv[1:3])
    # The commit: route_bench's meta, or (older files) the one bench/summarize.py recorded.
    commit = ours["meta"]["commit"] if "meta" in ours else ours.get("commit")
    if not commit:
        raise SystemExit(f"routing_table.py: {sys.argv[1]} records no commit")
    rows = []
    shapes = set()
    for name, peer in peers["peers"].items():
        for key, s in peer["shapes"].items():
            tag = key.split("/")[0]
            model, same = PEER_SHAPES[tag]
            shapes.add((model, s["dtype"], s["B"], s["N"]))
            rows.append({"model": model, "M": s["M"], "dtype": s["dtype"], "B": s["B"], "N": s["N"],
                         "tokens": s["tokens"], "implementation": name, "peer_shape": tag, "same_routing": same,
                         "graph_us": s["median_us"], "back_to_back_us": s["back_to_back_us"], "commit": commit,
                         "agree_pct": s["agree_pct"], "exact_token_pct": s["exact_token_pct"]})
    for r in ours["results"]:
        if (r["model"], r["dtype"], r["B"], r["N"]) in shapes:
            rows.append({"model": r["model"], "M": r["M"], "dtype": r["dtype"], "B": r["B"], "N": r["N"],
                         "tokens": r["B"] * r["N"], "implementation": "coreroute:" + r["policy"],
                         "same_routing": True, "graph_us": r["graph_median_us"],
                         "back_to_back_us": r["graph_back_to_back_us"], "commit": commit})
    rows.sort(key=lambda r: (r["model"], r["dtype"], r["B"], r["implementation"]))
    meta = {"route_bench": ours.get("meta", {k: ours[k] for k in ("device", "cuda_driver", "date") if k in ours}), "peers": {k: peers[k] for k in peers if k != "peers"},
            "empty_graph_us": {"route_bench": ours.get("empty_graph_us"),
                               "peers": peers["launch_floor"]["median_us"]}}
    with open(sys.argv[3], "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"routing_table.py: {len(rows)} rows -> {sys.argv[3]}")


if __name__ == "__main__":
    main()
