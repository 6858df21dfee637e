#!/usr/bin/env bash
# The measured data behind docs/algorithms.md's figures, from the coreroute CLI on its
# synthetic presets (64 blocks, seed 1): one `coreroute sweep` per preset and per
# number of valid tokens N (the trace's blocks hold 32 tokens; --tokens routes the
# first N of each). Writes docs/figures/data/sweep-<preset>-N<N>.json, then the
# figures (make_figures.py). Usage: docs/figures/run_sweeps.sh [path/to/coreroute]
# (default build/tools/coreroute). Needs Debian's /usr/bin/python3 with numpy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$(realpath "${1:-build/tools/coreroute}")
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/data"
cd "$work"
"$cli" gen --preset llada-moe --blocks 64 --seed 1 --out llada-moe.npy >/dev/null
"$cli" gen --preset llada2-mini --blocks 64 --seed 1 --out llada2-mini.npy >/dev/null
for preset in llada-moe llada2-mini; do
  bias=()
  [[ -f $preset.bias.npy ]] && bias=(--bias "$preset.bias.npy")
  for N in 1 2 4 8 16 24 32; do
    "$py" -c "import numpy as np; np.save('tokens.npy', np.full(64, $N, dtype=np.int32))"
    "$cli" sweep --trace "$preset.npy" --preset "$preset" "${bias[@]}" --tokens tokens.npy --out "sw-$preset-$N" >/dev/null
    cp "sw-$preset-$N/sweep.json" "$here/data/sweep-$preset-N$N.json"
  done
done
"$py" "$here/make_figures.py"
