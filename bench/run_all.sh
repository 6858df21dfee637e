#!/usr/bin/env bash
# Re-runs everything on a GPU machine: build, the checked API's tests, GPU parity tests,
# compute-sanitizer (memcheck, racecheck, initcheck, synccheck on a few cases), the kernel
# benchmark, the PyTorch baselines and the summary. Logs and JSON go to $OUT_DIR (default
# bench/out). Needs nvcc, cmake, Catch2 (CMAKE_PREFIX_PATH), python3 with torch.
#   PARITY_SECONDS=120 SAN_CASES=40 STEPS="build api parity sanitize bench" bench/run_all.sh
# SAN_POLICIES and SAN_SCORES pick the sanitized groups (default: vote and blockdist, sigmoid).
# PARITY_CASES=n runs n cases per policy x score group instead of PARITY_SECONDS each, in
# processes of PARITY_CHUNK cases (default 1000); POLICIES picks the groups. BUILD names a build folder made elsewhere (skip "build").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-bench/out}
SAN_CASES=${SAN_CASES:-40}
STEPS=${STEPS:-"build api bench sanitize parity"}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT_DIR"
# The commit of the tree, "+uncommitted" when it has changes (COMMIT overrides, for copies without .git).
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ -z "${COMMIT:-}" ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit+uncommitted"; fi
echo "commit: $commit"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT_DIR/gpu.txt"
status=0
has() { [[ " $STEPS " == *" $1 "* ]]; }  # steps: build api bench sanitize parity parity_groups parity_extra
if has build; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_ENABLE_CUDA=ON -DCOREROUTE_CUDA_TESTS=ON \
    -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF \
    -DCOREROUTE_BUILD_BENCH=ON ${CMAKE_ARGS:-} > "$OUT_DIR/build.log" 2>&1 &&
  cmake --build "$BUILD" --target test_cuda_parity test_cuda_api route_bench -j"$(nproc)" >> "$OUT_DIR/build.log" 2>&1 ||
    { tail -40 "$OUT_DIR/build.log"; echo "BUILD FAILED"; exit 1; }
fi
T=$BUILD/cuda/tests/test_cuda_parity
if has api; then  # every case of the checked API's tests, the GPU ones included
  "$BUILD/cuda/tests/test_cuda_api" > "$OUT_DIR/api.log" 2>&1 || status=1
  echo "test_cuda_api: $(grep -E 'test cases|All tests passed' "$OUT_DIR/api.log" | tail -n 1)"
fi
if has bench; then
  "$BUILD/bench/route_bench" "$OUT_DIR/kernel.json" 2> "$OUT_DIR/bench.log" || { tail "$OUT_DIR/bench.log"; status=1; }
  PYTHONUNBUFFERED=1 python3 bench/torch_baseline.py "$OUT_DIR/torch.json" > "$OUT_DIR/torch.log" 2>&1 || { tail "$OUT_DIR/torch.log"; status=1; }
  python3 bench/summarize.py "$OUT_DIR/kernel.json" "$OUT_DIR/torch.json" "$OUT_DIR/results.json" "$commit" \
    "$OUT_DIR/performance.png" > "$OUT_DIR/summary.md" 2>&1
  cat "$OUT_DIR/summary.md"
fi
if has sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    for p in ${SAN_POLICIES:-vote blockdist}; do for sc in ${SAN_SCORES:-sigmoid}; do
      log="$OUT_DIR/san_${tool}_${p}_${sc}.log"
      compute-sanitizer --tool $tool --error-exitcode 9 "$T" $p $sc "$SAN_CASES" 3 > "$log" 2>&1
      rc=$?; echo "compute-sanitizer $tool $p/$sc: rc=$rc $(grep -E 'ERROR SUMMARY|cases passed' "$log" | tr '\n' ' ')"
      [ $rc -eq 0 ] || status=1
    done; done
  done
fi
if has parity || has parity_groups; then
  # Groups one after another (one GPU), PARITY_SECONDS or PARITY_CASES each.
  CASES=${PARITY_CASES:-} cuda/tests/parity_all.sh "$T" "${PARITY_SECONDS:-60}" "${PARITY_CHUNK:-1000}" "$OUT_DIR" |
    tee -a "$OUT_DIR/parity_summary.txt" || status=1
fi
if has parity_extra || has parity; then  # the raw path's invalid tokens; near-tie inputs
  "$T" raw 2000 > "$OUT_DIR/parity_raw.log" 2>&1 || status=1
  for p in vanilla vote blockdist; do  # logits 1e-7 apart, where s + bias nearly cancels
    for s in softmax sigmoid; do "$T" $p $s-near-ties "${NEAR_CASES:-1000}" > "$OUT_DIR/near_${p}_${s}.log" 2>&1 || status=1; done
  done
  for f in "$OUT_DIR"/near_*.log "$OUT_DIR/parity_raw.log"; do echo "$(basename "$f"): $(tail -n 1 "$f" | head -c 400)"; done
fi
exit $status
