#!/usr/bin/env bash
# Re-runs everything on a GPU machine: build, the checked API's tests, GPU parity tests,
# compute-sanitizer (memcheck, racecheck, initcheck, synccheck on a few cases), the kernel
# benchmark, the PyTorch baselines and the summary, the MoE-layer benchmark. Logs and JSON
# go to $OUT_DIR (default bench/out); the result files, named to be copied as they are into
# bench/results/, go to $OUT_DIR/results: <date>-<gpu>.json (route_bench + PyTorch,
# summarized) and moe_layer-<date>-<gpu>.json (+ .md and plots). Every result file carries
# its metadata (device, driver, commit, date, method, settings), written by the tools.
# Needs nvcc, cmake, python3 with torch; Catch2 and rapidcheck (CMAKE_PREFIX_PATH) only for
# the api, parity and sanitize steps.
#   PARITY_SECONDS=120 SAN_CASES=40 STEPS="build api parity sanitize bench moe" bench/run_all.sh
#   STEPS="build bench peers moe" bench/run_all.sh   # the benchmarks alone (about 8 minutes on an H200)
# The peers step times the engines' token-level routing kernels right after route_bench, with a
# harness that is not part of the project (their code is theirs): PEERS_DIR names its folder
# (default .peers), whose run.sh OUT writes OUT/peers_bench.json. Both are joined into
# results/<date>-<gpu>-routing.json (bench/routing_table.py).
# SAN_POLICIES and SAN_SCORES pick the sanitized groups (default: vote and blockdist, sigmoid).
# PARITY_CASES=n runs n cases per policy x score group instead of PARITY_SECONDS each, in
# processes of PARITY_CHUNK cases (default 1000); POLICIES and SCORES pick the groups,
# PARITY_SEED the first seed, PARITY_DEADLINE the seconds the parity groups may take in all
# (cuda/tests/parity_all.sh's SEED and DEADLINE: a run cut short says so and fails).
# BUILD names a build folder made elsewhere (skip "build").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-bench/out}
SAN_CASES=${SAN_CASES:-40}
STEPS=${STEPS:-"build api bench peers moe sanitize parity"}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT_DIR"
# The commit of the tree, "+uncommitted" when it has changes; the tools record it from
# COREROUTE_COMMIT (set it for copies without .git).
if [ -z "${COREROUTE_COMMIT:-}" ]; then
  COREROUTE_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo "not recorded")
  [ -n "$(git status --porcelain 2>/dev/null)" ] && COREROUTE_COMMIT="$COREROUTE_COMMIT+uncommitted"
fi
export COREROUTE_COMMIT
echo "commit: $COREROUTE_COMMIT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT_DIR/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/.*\(H100\|H200\|B200\|A100\).*/\1/' | tr 'A-Z ' 'a-z_')
tag="$(date -u +%Y-%m-%d)-$gpu"
mkdir -p "$OUT_DIR/results"
status=0
has() { [[ " $STEPS " == *" $1 "* ]]; }  # steps: build api bench peers moe sanitize parity parity_groups parity_extra
if has build; then
  targets="route_bench moe_layer_bench" tests=OFF
  if has api || has sanitize || has parity || has parity_groups || has parity_extra; then
    targets="$targets test_cuda_parity test_cuda_api" tests=ON
  fi
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_ENABLE_CUDA=ON -DCOREROUTE_CUDA_TESTS=$tests \
    -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF \
    -DCOREROUTE_BUILD_BENCH=ON ${CMAKE_ARGS:-} > "$OUT_DIR/build.log" 2>&1 &&
  cmake --build "$BUILD" --target $targets -j"$(nproc)" >> "$OUT_DIR/build.log" 2>&1 ||
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
  python3 bench/summarize.py "$OUT_DIR/kernel.json" "$OUT_DIR/torch.json" "$OUT_DIR/results/$tag.json" \
    "$OUT_DIR/results/$tag.png" > "$OUT_DIR/summary.md" 2>&1 || status=1
  cat "$OUT_DIR/summary.md"
fi
if has peers; then  # the engines' routing kernels on the same shapes, right after route_bench
  peers=${PEERS_DIR:-.peers}
  if [ ! -f "$peers/run.sh" ]; then
    echo "peers: NOT RUN (no peers harness at $peers; PEERS_DIR names one)"; status=1
  elif [ ! -f "$OUT_DIR/kernel.json" ]; then
    echo "peers: NOT RUN (needs the bench step's kernel.json in the same run)"; status=1
  else
    bash "$peers/run.sh" "$OUT_DIR/peers" > "$OUT_DIR/peers.log" 2>&1 &&
      python3 bench/routing_table.py "$OUT_DIR/kernel.json" "$OUT_DIR/peers/peers_bench.json" \
        "$OUT_DIR/results/$tag-routing.json" || { tail "$OUT_DIR/peers.log"; status=1; }
  fi
fi
if has moe; then  # both shapes, N in {8, ..., 128}; the build above made the binary
  OUT="$OUT_DIR/results" TAG="$tag" BUILD="$BUILD" bench/moe_layer/run.sh > "$OUT_DIR/moe_layer.log" 2>&1 || status=1
  tail -n 60 "$OUT_DIR/moe_layer.log"
fi
if has sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    for p in ${SAN_POLICIES:-vote blockdist}; do for sc in ${SAN_SCORES:-sigmoid}; do
      log="$OUT_DIR/san_${tool}_${p}_${sc}.log"
      compute-sanitizer --tool $tool --error-exitcode 9 "$T" $p $sc "$SAN_CASES" 3 > "$log" 2>&1
      rc=$?; echo "compute-sanitizer $tool $p/$sc: rc=$rc $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|cases passed' "$log" | tr '\n' ' ')"
      [ $rc -eq 0 ] || status=1
    done; done
  done
fi
if has parity || has parity_groups; then
  # Groups one after another (one GPU), PARITY_SECONDS or PARITY_CASES each.
  CASES=${PARITY_CASES:-} SEED=${PARITY_SEED:-1000} DEADLINE=${PARITY_DEADLINE:-} cuda/tests/parity_all.sh "$T" "${PARITY_SECONDS:-60}" "${PARITY_CHUNK:-1000}" "$OUT_DIR" |
    tee -a "$OUT_DIR/parity_summary.txt" || status=1
fi
if has parity_extra || has parity; then  # the raw path's invalid tokens; near-tie inputs
  "$T" raw 2000 > "$OUT_DIR/parity_raw.log" 2>&1 || status=1
  for p in vanilla vote blockdist blockmax; do  # logits 1e-7 apart, where s + bias nearly cancels
    for s in softmax sigmoid; do "$T" $p $s-near-ties "${NEAR_CASES:-1000}" > "$OUT_DIR/near_${p}_${s}.log" 2>&1 || status=1; done
  done
  for f in "$OUT_DIR"/near_*.log "$OUT_DIR/parity_raw.log"; do echo "$(basename "$f"): $(tail -n 1 "$f" | head -c 400)"; done
fi
exit $status
