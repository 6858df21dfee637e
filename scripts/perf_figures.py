#!/usr/bin/python3
"""The measured figures of the docs, made from the result files in bench/results/.

usage: /usr/bin/python3 scripts/perf_figures.py [--check] [DOC ...]
       (default DOCs: every docs/*.md and README.md)

A doc holds blocks
    <!-- measured: KIND FILE [FILE ...] -->
    ...
    <!-- end measured -->
whose text is what KIND makes from the named files (paths relative to the repository).
Without --check the blocks are rewritten; with --check nothing is written and the script
fails (exit 1) naming each block that differs from its files, and each line outside the
blocks that states a measured figure (a decimal number followed by us, GB/s, TB/s or x):
a speed claim without a file cannot stand (a line saying "peak" quotes a datasheet and
is let through). CI runs the check (ctest perf_figures).

Metadata comes only from what the tools wrote: the "meta" object of current files
(bench/measure.cuh, bench/torch_baseline.py); for older files, the fields their tools
wrote then. Fields that no tool writes (added by hand) are ignored and named, and what
a file does not record is shown as "not recorded". Standard library only.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every doc, so that no page can quote a speed without a file.
DOCS = sorted("docs/" + f for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")) + ["README.md"]
BLOCK = re.compile(r"<!-- measured: ([^>]*?) -->\n(.*?)<!-- end measured -->", re.S)
FIGURE = re.compile(r"\b\d+\.\d+ ?(us|µs|GB/s|TB/s|x)(?![\w/])")
NR = "not recorded"

# The top-level fields each older tool wrote (files without "meta"); anything else there was added by hand.
LEGACY_FIELDS = {
    "route_bench": {"device", "sms", "l2_bytes", "cuda_driver", "cuda_runtime", "date", "copy_bandwidth_bytes_per_s",
                    "empty_graph_us", "empty_graph_back_to_back_us", "results"},
    "summarize": {"commit", "torch", "targets"},  # bench/summarize.py, over route_bench's file
    "moe_layer_bench": {"device", "sms", "l2_bytes", "copy_bw_bytes_per_s", "counts_sync_us", "blocks_per_run",
                        "max_rel_err", "shapes", "runs", "cublas_timed_in_graph", "cublas_timed_plain",
                        "all_checks_pass"},
    "moe_summarize": {"analysis"},
}


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return json.load(f)


def num(v, digits=2):
    return "-" if v is None or (isinstance(v, (int, float)) and v < 0) else f"{v:.{digits}f}"


def cuda_version(v):
    return f"{v // 1000}.{v % 1000 // 10}" if isinstance(v, int) else NR


def metadata(d):
    """(device, driver, CUDA driver API, commit, date, bandwidth text, ignored fields) of a result file."""
    if "meta" in d:
        m, bw = d["meta"], d["bandwidth"]
        roof = bw["roofline"]
        band = (f"read stream {bw['stream_read_bytes_per_s'] / 1e12:.2f} TB/s (bytes read), memcpy "
                f"{bw['memcpy_bytes_per_s'] / 1e12:.2f} TB/s (bytes read + written); roofline: {roof}; "
                f"method: {bw['method']}")
        return m["device"], m["driver"], cuda_version(m["cuda_driver"]), m["commit"], m["date"], band, []
    moe = "runs" in d
    known = set(LEGACY_FIELDS["moe_layer_bench" if moe else "route_bench"])
    if "analysis" in d or "targets" in d:  # the summary's tool wrote the file
        known |= LEGACY_FIELDS["moe_summarize" if moe else "summarize"]
    recorded = lambda k: d[k] if k in known and k in d else NR  # noqa: E731
    bw = d.get("copy_bw_bytes_per_s" if moe else "copy_bandwidth_bytes_per_s")
    band = f"device-to-device copy {bw / 1e12:.2f} TB/s (bytes read + written; method {NR})"
    ignored = sorted(k for k in d if k not in known)
    return d["device"], NR, cuda_version(d.get("cuda_driver")), recorded("commit"), recorded("date"), band, ignored


def kind_meta(files):
    """One line per file: machine, driver, commit, date, bandwidth, and the PyTorch run's metadata."""
    out = []
    for path in files:
        d = load(path)
        device, driver, cuda, commit, date, band, ignored = metadata(d)
        line = (f"- `{path}`: {device}, driver {driver}, CUDA driver API {cuda}, commit {commit}, date {date}. "
                f"Bandwidth: {band}.")
        t = d.get("torch")
        if isinstance(t, dict) and "meta" in t:
            tm = t["meta"]
            line += f" PyTorch baseline: {tm['torch']} (CUDA {tm['torch_cuda']}), commit {tm['commit']}, {tm['date']}."
        elif isinstance(t, dict) and "torch" in t:
            line += f" PyTorch baseline: {t['torch']} (its commit and date {NR})."
        if "empty_graph_us" in d:
            b2b = d.get("empty_graph_back_to_back_us")
            line += (f" Graph of one empty kernel: {num(d['empty_graph_us'])} us alone, "
                     f"{num(b2b) + ' us' if b2b else NR} back to back.")
        if ignored:
            line += f" Fields no tool writes, ignored: {', '.join(ignored)}."
        out.append(line)
    return out


def kind_route_table(files):
    d = load(files[0])
    lines = ["| model | policy | dtype | B | N | graph us | back-to-back us | double-only us | launch us | vs vanilla "
             "| torch graph us | torch eager us | graph ratio | eager ratio (Python dispatch) | floor us | % of floor "
             "| metrics us |", "|---" * 17 + "|"]
    for r in d["results"]:
        fl = r.get("fraction_of_floor")
        lines.append(
            f"| {r['model']} | {r['policy']} | {r['dtype']} | {r['B']} | {r['N']} | {num(r['graph_median_us'])} | "
            f"{num(r.get('graph_back_to_back_us'))} | {num(r.get('exact_graph_median_us'))} | "
            f"{num(r['launch_median_us'])} | {num(r.get('vs_vanilla'))} | {num(r.get('torch_graph_median_us'), 1)} | "
            f"{num(r.get('torch_eager_median_us'), 1)} | {num(r.get('speedup_graph'), 1)} | "
            f"{num(r.get('speedup_eager'), 1)} | {num(r['floor_us'])} | {num(None if fl is None else 100 * fl, 1)} | "
            f"{num(r.get('metrics_median_us'))} |")
    return lines


def kind_route_targets(files):
    """The file's targets, those of one rule over many shapes in one row (range, count met)."""
    d = load(files[0])
    groups, eager = {}, 0
    for t in d["targets"]:
        if "eager" in t["target"]:
            eager += 1
            continue
        per_shape = re.match(r"(.*): \S+ \S+ N=\d+$", t["target"])  # one rule checked on every shape
        groups.setdefault(per_shape.group(1) if per_shape else t["target"], []).append(t)
    lines = ["| target | value (range over the shapes) | met |", "|---|---|---|"]
    for name, ts in groups.items():
        lo, hi = min(t["value"] for t in ts), max(t["value"] for t in ts)
        met = sum(t["met"] for t in ts)
        value = f"{lo:.3f}" if lo == hi else f"{lo:.3f} - {hi:.3f}"
        lines.append(f"| {name}{f' ({len(ts)} shapes)' if len(ts) > 1 else ''} | {value} | "
                     f"{'yes' if met == len(ts) else 'no' if met == 0 else f'{met} of {len(ts)}'} |")
    if eager:
        lines += ["", f"Not shown: the file's {eager} eager-vs-eager targets (PyTorch eager over our plain launch), "
                      "which mostly measure PyTorch's Python dispatch."]
    return lines


def kind_route_compare(files):
    """Graph us of the N = 32 fp32 shapes in two files of one machine, with the empty-graph floor drift."""
    a, b = load(files[0]), load(files[1])
    key = lambda r: (r["model"], r["policy"], r["dtype"], r["B"], r["N"])  # noqa: E731
    rb = {key(r): r for r in b["results"]}
    drift = abs(a["empty_graph_us"] - b["empty_graph_us"])
    lines = [f"| model | policy | B | graph us, {files[0]} | graph us, {files[1]} | second / first | "
             "difference within the floor drift |", "|---|---|---|---|---|---|---|"]
    for r in a["results"]:
        s = rb.get(key(r))
        if s is None or r["N"] != 32 or r["dtype"] != "fp32":
            continue
        x, y = r["graph_median_us"], s["graph_median_us"]
        lines.append(f"| {r['model']} | {r['policy']} | {r['B']} | {x:.2f} | {y:.2f} | {y / x:.3f} | "
                     f"{'yes' if abs(y - x) <= drift else 'no'} |")
    lines += ["", f"The graph of one empty kernel took {a['empty_graph_us']:.2f} us in the first run and "
                  f"{b['empty_graph_us']:.2f} us in the second: differences of up to {drift:.2f} us are within the "
                  "drift of that floor between runs, noise rather than a change of the kernel."]
    return lines


def kind_route_machine(files):
    """Per file: LLaDA2.0-mini N = 32 ratios against PyTorch, graph against graph and eager against plain launch."""
    lines = ["| file | commit | B | graph ratio (range over the 4 policies) | eager ratio, Python dispatch (range) "
             "| PyTorch eager vanilla us | our launch vanilla us |", "|---|---|---|---|---|---|---|"]
    for path in files:
        d = load(path)
        commit = metadata(d)[3]
        for B in (1, 1024):
            rows = [r for r in d["results"] if r["model"] == "llada2-mini" and r["N"] == 32 and r["B"] == B
                    and r["dtype"] == "fp32" and r.get("speedup_graph")]
            if not rows:
                continue
            g = [r["speedup_graph"] for r in rows]
            e = [r["speedup_eager"] for r in rows]
            v = next(r for r in rows if r["policy"] == "vanilla")
            lines.append(f"| `{path}` | {commit} | {B} | {min(g):.1f} - {max(g):.1f} | {min(e):.1f} - {max(e):.1f} | "
                         f"{v['torch_eager_median_us']:.1f} | {v['launch_median_us']:.2f} |")
    return lines


def kind_moe_table(files, shape):
    d = load(files[0])
    a = d["analysis"][shape]
    rows = a["at_N32"]
    if "latency_with_routing_us" in rows[0]:
        lines = [f"| policy | T (ours) | T published | layer us ({a['faster_path']}) | routing us | with routing us | "
                 "vs vanilla, with routing | vs vanilla, layer alone | measured / model reduction, with routing | "
                 f"weight BW / {a['roofline']}, with routing |", "|---" * 10 + "|"]
        for r in rows:
            lines.append(f"| {r['policy']} | {r['T']:.1f} | {r['published_T']} | {num(r['latency_us_layer'], 1)} | "
                         f"{num(r['route_us'], 1)} | {num(r['latency_with_routing_us'], 1)} | "
                         f"{num(r['ratio_with_routing'], 3)} | {num(r['ratio_vs_vanilla_layer'], 3)} | "
                         f"{num(r['reduction_vs_model'])} | {num(r['weight_bw_over_roofline'])} |")
        return lines
    lines = [f"| policy | T (ours) | T published | layer us ({a['faster_path']}) | vs vanilla, layer alone | "
             "measured / model reduction, layer alone | weight BW / copy BW, layer alone | with routing |",
             "|---" * 8 + "|"]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['T']:.1f} | {r['published_T']} | {r['latency_us']:.1f} | "
                     f"{r['ratio_vs_vanilla']:.3f} | {num(r['reduction_vs_model'])} | "
                     f"{r['weight_bw_over_copy_bw']:.2f} | {NR} |")
    return lines


def kind_moe_targets(files):
    d = load(files[0])
    t = d["analysis"]["llada2-mini"]["targets"]
    if isinstance(t, list):  # current files: each target on the with-routing figure
        return ["| target | policy | with routing | layer alone | met |", "|---|---|---|---|---|"] + [
            f"| {x['target']} | {x['policy']} | {x['value']:.3f} | {x['layer_only']:.3f} | "
            f"{'yes' if x['met'] else 'no'} |" for x in t]
    lines = ["| target (as the file states it) | layer alone | with routing | met, layer alone |", "|---|---|---|---|"]
    for name, x in t.items():
        vals = f"{x['value']:.3f}" if "value" in x else ", ".join(f"{k} {v:.2f}" for k, v in x["values"].items())
        lines.append(f"| {name} {x['target']} | {vals} | {NR} | {'yes' if x['met'] else 'no'} |")
    return lines


def kind_moe_fit(files):
    d = load(files[0])
    lines = ["| shape | c us | b us | a us | R^2 | blocks | a / b | model b us (expert bytes / bandwidth) |",
             "|---|---|---|---|---|---|---|---|"]
    for shape, a in d["analysis"].items():
        f = a["fit_hand"]["with_intercept"]
        lines.append(f"| {shape} | {f['c_us']:.2f} | {f['b_us']:.3f} | {f['a_us']:.4f} | {f['r2']:.3f} | "
                     f"{f['points']} | {f['a_us'] / f['b_us']:.3f} | {a['b_model_us']:.2f} |")
    return lines


def kind_moe_t(files):
    """T per policy against N (the CPU routing of the synthetic traces), and the weight-read ratio at N = 32."""
    d = load(files[0])
    shared = {"llada2-mini": 1, "llada-moe": 0}
    lines = []
    for shape in ("llada2-mini", "llada-moe"):
        runs = [r for r in d["runs"] if r["shape"] == shape]
        Ns = sorted({r["N"] for r in runs})
        by = {(r["policy"], r["N"]): r["T_mean"] for r in runs}
        pols = list(dict.fromkeys(r["policy"] for r in runs))
        v = by[("vanilla", 32)] + shared[shape]
        lines += [f"| {shape} | " + " | ".join(f"T, N={n}" for n in Ns) + " | weights read vs vanilla, N=32 |",
                  "|---|" + "---|" * (len(Ns) + 1)]
        for p in pols:
            lines.append(f"| {p} | " + " | ".join(num(by.get((p, n)), 1) for n in Ns) +
                         f" | {(by[(p, 32)] + shared[shape]) / v:.2f} |")
        lines.append("")
    return lines[:-1]


OPS_TABLE = ["model", "policy", "B", "op_eager_us", "raw_launch_us", "eager_overhead_us", "op_graph_us",
             "raw_graph_us", "graph_ratio", "torch_graph_us", "speedup_vs_torch_graph"]
# The ops' host cost per call (torch_ops_bench.py's split): eager, wrapper, host time with the GPU busy.
OPS_HOST = ["model", "policy", "B", "op_eager_us", "op_direct_us", "wrapper_us", "host_us", "host_direct_us",
            "op_graph_us", "torch_graph_us", "speedup_vs_torch_graph"]


def kind_ops(files, cols):
    d = load(files[0])
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    for r in d["results"]:
        lines.append("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    return lines


def kind_routing_peers(files):
    """bench/routing_table.py's file: our policies beside the engines' kernels of the same run, per shape."""
    d = load(files[0])
    shapes = {}
    for r in d["rows"]:
        shapes.setdefault((r["model"], r["dtype"], r["B"], r["N"]), []).append(r)
    lines = ["| model | dtype | tokens | our vanilla us | fastest peer (same routing) us | vanilla / peer | "
             "DES-Seq / vanilla | DES-Vote / vanilla | dMoE / vanilla | BlockMax / vanilla |", "|---" * 10 + "|"]
    for (model, dtype, B, N), rows in sorted(shapes.items()):
        ours = {r["implementation"].split(":", 1)[1]: r["graph_us"] for r in rows
                if r["implementation"].startswith("coreroute:")}
        peers = [r for r in rows if not r["implementation"].startswith("coreroute:") and r["same_routing"]]
        if "vanilla" not in ours or not peers:
            continue
        best = min(peers, key=lambda r: r["graph_us"])
        v = ours["vanilla"]
        ratio = lambda p: f"{ours[p] / v:.2f}" if p in ours else "-"  # noqa: E731
        lines.append(f"| {model} | {dtype} | {B * N} | {v:.2f} | {best['implementation']} {best['graph_us']:.2f} | "
                     f"{v / best['graph_us']:.2f} | {ratio('union')} | {ratio('vote')} | {ratio('blockdist')} | "
                     f"{ratio('blockmax')} |")
    lines += ["", f"Graph us: one call in a CUDA graph, each replay timed alone; commit {d['rows'][0]['commit']}. "
                  "Peers compute vanilla routing; only those computing the model's routing are compared."]
    return lines


def kind_routing_targets(files):
    """The CUDA kernel's targets (issue: routing kernel v2) from bench/routing_table.py's file and the
    route_bench file of the same run (floor and empty-graph times): each target, the measured value, met."""
    d, bench = load(files[0]), load(files[1])
    shapes = {}
    for r in d["rows"]:
        shapes.setdefault((r["model"], r["dtype"], r["B"], r["N"]), {})[r["implementation"]] = r
    ours = {(r["model"], r["policy"], r["dtype"], r["B"], r["N"]): r for r in bench["results"]}
    lines = ["| target | shape | measured | met |", "|---|---|---|---|"]
    yes = lambda ok: "yes" if ok else "no"  # noqa: E731
    for (model, dtype, B, N), rows in sorted(shapes.items()):
        shape = f"{model} {dtype} {B * N} tokens"
        v = rows.get("coreroute:vanilla")
        peers = [r for k, r in rows.items() if not k.startswith("coreroute:") and r["same_routing"]]
        if v and peers:
            best = min(peers, key=lambda r: r["graph_us"])
            ratio = v["graph_us"] / best["graph_us"]
            lines.append(f"| vanilla <= fastest peer ({best['implementation']}) | {shape} | {ratio:.2f} of it | "
                         f"{yes(ratio <= 1)} |")
        for pol, name in (("union", "DES-Seq"), ("vote", "DES-Vote"), ("blockdist", "dMoE")):
            r = rows.get(f"coreroute:{pol}")
            if v and r:
                ratio = r["graph_us"] / v["graph_us"]
                lines.append(f"| {name} <= 1.3 of our vanilla | {shape} | {ratio:.2f} | {yes(ratio <= 1.3)} |")
    vote = ours.get(("llada2-mini", "vote", "fp32", 1, 32))
    if vote:
        floor = bench["empty_graph_us"]
        b2b, alone = vote["graph_back_to_back_us"], vote["graph_median_us"]
        lines.append(f"| DES-Vote <= 5 us back to back | llada2-mini fp32 32 tokens | {b2b:.2f} us | {yes(b2b <= 5)} |")
        lines.append(f"| DES-Vote <= empty graph + 3 us, alone | llada2-mini fp32 32 tokens | {alone:.2f} us "
                     f"(empty graph {floor:.2f} us) | {yes(alone <= floor + 3)} |")
    for (model, pol, dtype, B, N), r in sorted(ours.items()):
        if B != 1024 or N != 32 or pol == "blockmax":
            continue
        frac, need = r["floor_us"] / r["graph_median_us"], 0.5 if pol == "vanilla" else 0.4
        lines.append(f"| {pol} >= {need:.0%} of the copy floor | {model} {dtype} 32768 tokens | {frac:.1%} | "
                     f"{yes(frac >= need)} |")
    lines += ["", f"Graph replays timed alone unless marked; commit {d['rows'][0]['commit']}; the copy floor: bytes "
                  "read and written over the run's memcpy bandwidth."]
    return lines


def kind_kokkos_bench(files):
    """scripts/kokkos_gpu_summary.py's summary.json: Kokkos::Cuda and OpenMP beside the hand-written kernel.
    "into": the call into kept outputs (a file from before that column reads "not measured")."""
    d = load(files[0])
    lines = ["| model | policy | B | hand-written launch us | Kokkos::Cuda into us | into / hand-written | "
             "Kokkos::Cuda raw us | raw / hand-written | reference us | Kokkos::OpenMP us | reference / OpenMP |",
             "|---" * 11 + "|"]
    for r in d["bench"]:
        into = r.get("cuda_into_us")
        into_cols = (f"{num(into, 1)} | {num(r['cuda_into_over_kernel_launch'])}" if into is not None
                     else "not measured | -")
        lines.append(f"| {r['model']} | {r['policy']} | {r['B']} | {num(r['kernel_launch_us'], 1)} | {into_cols} | "
                     f"{num(r['cuda_raw_us'], 1)} | {num(r['cuda_over_kernel_launch'])} | {num(r['reference_raw_us'], 1)} | "
                     f"{num(r['openmp_raw_us'], 1)} | {num(r['reference_over_openmp'])} |")
    e = d["env"]
    lines += ["", f"Kokkos {e['kokkos_version']} (CUDA 13 patch: {e['patched']}), {e['gpu']}, {e['host_cores']} host cores, "
                  f"commit {e['commit'][:7]}; fp32, N = 32, medians; into: the unchecked call into kept outputs "
                  "(kernel + fence), raw: the allocating unchecked call."]
    return lines


KINDS = {"meta": kind_meta, "route-table": kind_route_table, "route-targets": kind_route_targets,
         "route-compare": kind_route_compare, "route-machine": kind_route_machine, "moe-targets": kind_moe_targets,
         "moe-fit": kind_moe_fit, "moe-T": kind_moe_t, "ops-table": lambda f: kind_ops(f, OPS_TABLE),
         "routing-peers": kind_routing_peers, "routing-targets": kind_routing_targets, "kokkos-bench": kind_kokkos_bench, "ops-host": lambda f: kind_ops(f, OPS_HOST),
         "moe-table-llada2-mini": lambda f: kind_moe_table(f, "llada2-mini"),
         "moe-table-llada-moe": lambda f: kind_moe_table(f, "llada-moe")}


def render(spec):
    kind, *files = spec.split()
    if kind not in KINDS:
        raise SystemExit(f"perf_figures.py: unknown block kind '{kind}' (known: {', '.join(sorted(KINDS))})")
    return "\n".join(KINDS[kind](files)) + "\n"


def main():
    args = sys.argv[1:]
    check = "--check" in args
    docs = [a for a in args if a != "--check"] or DOCS
    problems = []
    for doc in docs:
        path = os.path.join(ROOT, doc)
        text = open(path).read()
        made = BLOCK.sub(lambda m: f"<!-- measured: {m.group(1)} -->\n{render(m.group(1))}<!-- end measured -->",
                         text)
        if check:
            for old, new in zip(BLOCK.finditer(text), BLOCK.finditer(made)):
                if old.group(2) != new.group(2):
                    problems.append(f"{doc}: block '{old.group(1)}' differs from its files")
            outside = BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), text)
            for n, line in enumerate(outside.split("\n"), 1):
                if FIGURE.search(line) and "peak" not in line:  # a "peak" quotes a datasheet, not a run
                    problems.append(f"{doc}:{n}: a measured figure outside a generated block: {line.strip()[:100]}")
        elif made != text:
            open(path, "w").write(made)
            print(f"perf_figures.py: rewrote the generated blocks of {doc}")
    if problems:
        print("\n".join(problems))
        print("perf_figures.py: rerun /usr/bin/python3 scripts/perf_figures.py (and move measured figures into "
              "generated blocks)")
        return 1
    if check:
        print(f"perf_figures.py: every generated block of {len(docs)} docs matches its files; no figure outside them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
