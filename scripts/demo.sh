#!/usr/bin/env bash
# The main job: install what is missing, build the CLI, run its demo on the built-in presets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
mkdir -p build
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF \
      -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=ON > build/demo.log
cmake --build build/demo -j"$(nproc)" >> build/demo.log
echo "coreroute: built (log: build/demo.log)"
# The default ./coreroute-demo is the demo's own folder: replaced on each run. A
# folder given with --out is refused when non-empty, unless --force is given too.
force=(--force)
for arg in "$@"; do [[ "$arg" == --out || "$arg" == --out=* ]] && force=(); done
./build/demo/tools/coreroute demo "${force[@]}" "$@"
