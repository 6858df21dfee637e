#!/usr/bin/env bash
# The whole MoE-layer measurement on a GPU machine: build, correctness checks, timing,
# fit, targets, plots. Results go to $OUT (default bench/results): moe_layer-<tag>.json
# (raw data + analysis, with the run's metadata), moe_layer-<tag>.md (summary), two plots,
# the log. TAG defaults to the GPU's name; COREROUTE_COMMIT (default: git's HEAD, with
# "+uncommitted" when the tree has changes) is recorded in the JSON by the benchmark.
#   bench/moe_layer/run.sh            # every block size (8..128), both shapes
#   SIZES=32 bench/moe_layer/run.sh   # one block size (a quick run)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results}
BUILD=${BUILD:-build-moe-gpu}
mkdir -p "$OUT"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/.*\(H100\|H200\|B200\|A100\).*/\1/' | tr 'A-Z ' 'a-z_')
tag=${TAG:-$gpu}
log="$OUT/moe_layer-$tag.log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$log" 2>&1
if [ -z "${COREROUTE_COMMIT:-}" ]; then
  COREROUTE_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo "not recorded")
  [ -n "$(git status --porcelain 2>/dev/null)" ] && COREROUTE_COMMIT="$COREROUTE_COMMIT+uncommitted"
fi
export COREROUTE_COMMIT
echo "commit: $COREROUTE_COMMIT" >> "$log"
if cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_ENABLE_CUDA=ON -DCOREROUTE_BUILD_BENCH=ON \
     -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF \
     -DCOREROUTE_BUILD_TOOLS=OFF >> "$log" 2>&1 && cmake --build "$BUILD" --target moe_layer_bench >> "$log" 2>&1; then
  bin="$BUILD/bench/moe_layer/moe_layer_bench"
else
  echo "cmake build failed; building with nvcc directly" | tee -a "$log"
  bin=/tmp/moe_layer_bench
  nvcc -std=c++17 -O3 -arch=sm_90 --expt-relaxed-constexpr -Iinclude -Ireference -Icuda \
    bench/moe_layer/moe_layer_bench.cu -lcublas -o "$bin" >> "$log" 2>&1 ||
    { tail -30 "$log"; echo "BUILD FAILED"; exit 1; }
fi
status=0
"$bin" "$OUT/moe_layer-$tag-raw.json" ${SIZES:-} 2>&1 | tee -a "$log" || status=1
if [ -s "$OUT/moe_layer-$tag-raw.json" ]; then
  python3 bench/moe_layer/summarize.py "$OUT/moe_layer-$tag-raw.json" "$OUT/moe_layer-$tag.json" \
    "$OUT/moe_layer-$tag" > "$OUT/moe_layer-$tag.md" 2>> "$log" && rm -f "$OUT/moe_layer-$tag-raw.json" ||
    { tail -5 "$log"; status=1; }
  cat "$OUT/moe_layer-$tag.md"
fi
exit $status
