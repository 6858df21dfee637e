#!/usr/bin/env python3
"""Summary of a scripts/kokkos-gpu.sh --run folder: parity counts (Kokkos::Cuda per
policy x score, Kokkos::OpenMP per team size), the memcheck verdict, and Kokkos::Cuda
call time over the hand-written kernel's launch time per policy and shape: the headline
is the call into kept outputs (kokkos_bench's into_us: kernel + fence), the allocating
raw call beside it. A kokkos_bench CSV from before the into column reads "not measured"
there.
Writes OUT/summary.json and prints a Markdown table.  Usage: kokkos_gpu_summary.py OUT
(standard library only: runs with any python3)."""
import csv
import json
import os
import re
import sys


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main(out):
    results = read(os.path.join(out, "results.txt")).splitlines()
    env = dict(l.split("=", 1) for l in read(os.path.join(out, "env.txt")).splitlines() if "=" in l)
    summary = {"env": env, "cuda_tests": {}, "cuda_parity": {}, "openmp": {}, "memcheck": None, "bench": []}
    for line in results:
        m = re.match(r"cuda test (\w+): (\w+)", line)
        if m:
            summary["cuda_tests"][m.group(1)] = m.group(2)
        m = re.match(r"cuda parity (\w+/\w+): (\d+) cases passed(.*)", line)
        if m:
            summary["cuda_parity"][m.group(1)] = {"cases": int(m.group(2)), "failed": "FAILED" in m.group(3),
                                                  "note": m.group(3).strip(" ,")}
        m = re.match(r"cuda memcheck: (\w+)", line)
        if m:
            summary["memcheck"] = m.group(1)
        m = re.match(r"openmp team (\d+): kokkos parity, (\w+)/[^:]*: (\d+) cases passed.*concurrency (\d+), team size (\d+)",
                     line)
        if m:
            summary["openmp"].setdefault(m.group(1), {})[m.group(2)] = {
                "cases": int(m.group(3)), "concurrency": int(m.group(4)), "team_size": int(m.group(5))}
        m = re.match(r"openmp team (\d+): parity \+ dispatch (\w+)", line)
        if m:
            summary["openmp"].setdefault(m.group(1), {})["verdict"] = m.group(2)

    kernel = {}
    try:
        with open(os.path.join(out, "route_bench.json")) as f:
            for r in json.load(f)["results"]:
                if r["dtype"] == "fp32":
                    kernel[(r["model"], r["policy"], r["B"], r["N"])] = r
    except (OSError, ValueError, KeyError):
        pass
    rows = {}
    for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        if not (name.startswith("kokkos_bench_B") and name.endswith(".csv")):
            continue
        with open(os.path.join(out, name)) as f:
            for r in csv.DictReader(f):
                key = (r["preset"].split()[0], r["policy"].split("(")[0], int(r["B"]), int(r["N"]))
                into = r.get("into_us") or ""  # absent in old CSVs, empty for the reference
                rows.setdefault(key, {"policy": r["policy"]})[r["backend"]] = (
                    float(r["checked_us"]), float(r["raw_us"]), float(into) if into else None)
    for key in sorted(rows):
        r, k = rows[key], kernel.get(key)
        entry = {"model": key[0], "policy": key[1], "kokkos_policy": r["policy"], "B": key[2], "N": key[3]}
        for backend in ("reference", "serial", "openmp", "cuda"):
            if backend in r:
                entry[backend + "_checked_us"], entry[backend + "_raw_us"] = r[backend][:2]
                if r[backend][2] is not None:
                    entry[backend + "_into_us"] = r[backend][2]
        if k:
            entry["kernel_launch_us"] = k["launch_median_us"]
            entry["kernel_graph_us"] = k["graph_median_us"]
        if k and "cuda" in r:
            entry["cuda_over_kernel_launch"] = r["cuda"][1] / k["launch_median_us"]
            if r["cuda"][2] is not None:
                entry["cuda_into_over_kernel_launch"] = r["cuda"][2] / k["launch_median_us"]
        if "openmp" in r and "reference" in r:
            entry["reference_over_openmp"] = r["reference"][1] / r["openmp"][1]
        summary["bench"].append(entry)

    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    print(f"# Kokkos on {env.get('gpu', 'a GPU')}: Kokkos {env.get('kokkos_version', '?')} "
          f"(CUDA 13 patch: {env.get('patched', '?')}), {env.get('nvcc', '')}, commit {env.get('commit', '?')}\n")
    print("| check | result |\n|---|---|")
    for t, v in summary["cuda_tests"].items():
        print(f"| Kokkos::Cuda test {t} | {v} |")
    for g, v in summary["cuda_parity"].items():
        print(f"| Kokkos::Cuda parity {g} | {v['cases']} cases passed{', ' + v['note'] if v['note'] else ''} |")
    print(f"| compute-sanitizer memcheck | {summary['memcheck']} |")
    for ts, v in summary["openmp"].items():
        counts = ", ".join(f"{p} {c['cases']}" for p, c in v.items() if p != "verdict")
        size = next((c["team_size"] for p, c in v.items() if p != "verdict"), "?")
        conc = next((c["concurrency"] for p, c in v.items() if p != "verdict"), "?")
        print(f"| Kokkos::OpenMP parity, team size {ts or 'auto'} (got {size}, {conc} threads) | "
              f"{v.get('verdict', '?')}: {counts} |")
    print("\nKokkos::Cuda call over the hand-written kernel's plain launch (route_bench launch_median_us), fp32, "
          "same B, N, M, K: \"into\" routes into outputs kept between calls (kernel + fence), \"raw\" allocates its "
          "results per call (allocation + kernel + fence); OpenMP vs the serial reference.\n")
    print("| model | policy | B | kernel launch us | Kokkos::Cuda into us | ratio into | Kokkos::Cuda raw us | ratio raw "
          "| reference us | OpenMP us | ref/OpenMP |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda e, k, f="{:.1f}": f.format(e[k]) if k in e else "-"
    # "not measured": the run's kokkos_bench had no into column (or no Cuda row).
    into = lambda e, k, f="{:.1f}": fmt(e, k, f) if "cuda_into_us" in e else "not measured"
    for e in summary["bench"]:
        print(f"| {e['model']} | {e['kokkos_policy']} | {e['B']} | {fmt(e, 'kernel_launch_us')} | "
              f"{into(e, 'cuda_into_us')} | {into(e, 'cuda_into_over_kernel_launch', '{:.2f}')} | "
              f"{fmt(e, 'cuda_raw_us')} | {fmt(e, 'cuda_over_kernel_launch', '{:.2f}')} | {fmt(e, 'reference_raw_us')} | "
              f"{fmt(e, 'openmp_raw_us')} | {fmt(e, 'reference_over_openmp', '{:.2f}')} |")
    at_1024 = [e["cuda_into_over_kernel_launch"] for e in summary["bench"]
               if e["B"] == 1024 and "cuda_into_over_kernel_launch" in e]
    print("\nInto kept outputs at B = 1024: " +
          (f"worst ratio {max(at_1024):.2f} over the hand-written kernel (target <= 2)" if at_1024 else "not measured"))
    bad = [g for g, v in summary["cuda_parity"].items() if v["failed"]]
    return 1 if bad or summary["memcheck"] == "FAILED" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
