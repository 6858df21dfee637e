#!/usr/bin/env bash
# Re-runs everything on a GPU machine: build, GPU parity tests, compute-sanitizer
# (memcheck, racecheck, initcheck, synccheck on a few cases), the kernel benchmark,
# the PyTorch baselines and the summary. Logs and JSON go to $OUT_DIR (default
# bench/out). Needs nvcc, cmake, Catch2 (CMAKE_PREFIX_PATH), python3 with torch.
#   PARITY_SECONDS=120 SAN_CASES=40 STEPS="build parity sanitize bench" bench/run_all.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-bench/out}
SAN_CASES=${SAN_CASES:-40}
STEPS=${STEPS:-"build bench sanitize parity"}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT_DIR"
# The commit of the tree, "+uncommitted" when it has changes (COMMIT overrides, for copies without .git).
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ -z "${COMMIT:-}" ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit+uncommitted"; fi
echo "commit: $commit"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT_DIR/gpu.txt"
status=0
has() { [[ " $STEPS " == *" $1 "* ]]; }
if has build; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_ENABLE_CUDA=ON -DCOREROUTE_CUDA_TESTS=ON \
    -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF \
    -DCOREROUTE_BUILD_BENCH=ON ${CMAKE_ARGS:-} > "$OUT_DIR/build.log" 2>&1 &&
  cmake --build "$BUILD" --target test_cuda_parity route_bench -j"$(nproc)" >> "$OUT_DIR/build.log" 2>&1 ||
    { tail -40 "$OUT_DIR/build.log"; echo "BUILD FAILED"; exit 1; }
fi
T=$BUILD/cuda/tests/test_cuda_parity
if has bench; then
  "$BUILD/bench/route_bench" "$OUT_DIR/kernel.json" 2> "$OUT_DIR/bench.log" || { tail "$OUT_DIR/bench.log"; status=1; }
  PYTHONUNBUFFERED=1 python3 bench/torch_baseline.py "$OUT_DIR/torch.json" > "$OUT_DIR/torch.log" 2>&1 || { tail "$OUT_DIR/torch.log"; status=1; }
  python3 bench/summarize.py "$OUT_DIR/kernel.json" "$OUT_DIR/torch.json" "$OUT_DIR/results.json" "$commit" \
    "$OUT_DIR/performance.png" > "$OUT_DIR/summary.md" 2>&1
  cat "$OUT_DIR/summary.md"
fi
if has sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    for p in vote blockdist; do
      compute-sanitizer --tool $tool --error-exitcode 9 "$T" $p sigmoid "$SAN_CASES" 3 > "$OUT_DIR/san_${tool}_${p}.log" 2>&1
      rc=$?; echo "compute-sanitizer $tool $p: rc=$rc $(grep -E 'ERROR SUMMARY|cases passed' "$OUT_DIR/san_${tool}_${p}.log" | tr '\n' ' ')"
      [ $rc -eq 0 ] || status=1
    done
  done
fi
if has parity; then
  # Groups one after another (one GPU), PARITY_SECONDS each.
  cuda/tests/parity_all.sh "$T" "${PARITY_SECONDS:-60}" 1000 "$OUT_DIR" | tee "$OUT_DIR/parity_summary.txt" || status=1
  "$T" raw 2000 > "$OUT_DIR/parity_raw.log" 2>&1 || status=1
  for p in vanilla vote blockdist; do  # logits 1e-7 apart, where s + bias nearly cancels
    for s in softmax sigmoid; do "$T" $p $s-near-ties "${NEAR_CASES:-1000}" > "$OUT_DIR/near_${p}_${s}.log" 2>&1 || status=1; done
  done
  for f in "$OUT_DIR"/near_*.log "$OUT_DIR/parity_raw.log"; do echo "$(basename "$f"): $(tail -n 1 "$f" | head -c 400)"; done
fi
exit $status
