#!/usr/bin/env bash
# The Kokkos backend on a GPU (Kokkos::Cuda, sm_90) and on the host's cores
# (Kokkos::OpenMP), built against a Kokkos from source. See docs/kokkos-gpu.md.
#
#   scripts/kokkos-gpu.sh [--run OUT_DIR] KOKKOS_SRC [BUILD_DIR]
#
# 1. Kokkos: KOKKOS_SRC (a Kokkos 4.x source tree, never modified) is configured with
#    Cuda (Hopper, sm_90), OpenMP and Serial, C++17, and installed into
#    BUILD_DIR/kokkos-install. Kokkos before 4.7.01 does not build with CUDA 13: it is
#    copied into BUILD_DIR/kokkos-src and scripts/patches/kokkos-4.6-cuda13.patch is
#    applied to the copy (skipped if the source already has it). An install made from
#    the same source and options is reused.
# 2. coreroute: configured with CMAKE_CXX_COMPILER = Kokkos's nvcc_wrapper against that
#    install (BUILD_DIR/coreroute); builds the Kokkos tests and kokkos_bench. The CUDA
#    backend's route_bench builds meanwhile in BUILD_DIR/cuda-bench (no Kokkos needed).
# 3. With --run OUT_DIR (needs a GPU): the Kokkos tests on Kokkos::Cuda, the parity of
#    kokkos/tests/parity_all.sh per policy and score function, compute-sanitizer memcheck
#    on a short run, parity on Kokkos::OpenMP with several team sizes, kokkos_bench
#    beside route_bench; logs, summary.json and summary.md in OUT_DIR.
#
# Environment: JOBS (build jobs, default nproc), CUDA_HOME (default /usr/local/cuda),
#   CMAKE_PREFIX_PATH (Catch2; default: .deps/usr of the checkout if it exists),
#   PARITY_CASES (Cuda cases per policy x score, default 20000), PARITY_SECONDS (cap per
#   group, default 600), TIME_LIMIT (seconds for the whole script: parity, the last
#   step, gets what is left), PARITY_CHUNK (cases per process, default 1000),
#   PARITY_JOBS (groups run at once, default 1: processes sharing a GPU time-slice it),
#   SEED_START (first seed offset of the Cuda parity, default 0: give each of several
#   runs its own, e.g. 0 and 20000, for
#   disjoint cases; see kokkos/tests/parity_all.sh), OMP_CASES (OpenMP cases per policy and
#   team size, default 1000), OMP_TEAM_SIZES (default "1 4 16 0"; 0 = Kokkos::AUTO),
#   SAN_CASES (memcheck cases per policy, default 5), BENCH_REPS (default 31 at B = 1,
#   5 at B = 1024), STEPS (default "tests sanitize openmp bench parity"),
#   KOKKOS_VIEW_LEGACY (default ON: Kokkos's legacy View, see docs/kokkos-gpu.md).
set -euo pipefail

run_dir=""
if [ "${1:-}" = "--run" ]; then
  run_dir=${2:?"--run needs an output folder"}
  shift 2
fi
if [ $# -lt 1 ] || [ ! -f "$1/CMakeLists.txt" ]; then
  echo "usage: scripts/kokkos-gpu.sh [--run OUT_DIR] KOKKOS_SRC [BUILD_DIR]" >&2
  echo "  KOKKOS_SRC: a Kokkos source tree (its CMakeLists.txt), e.g. a checkout of kokkos/kokkos 4.6 or 4.7" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
src=$(cd "$1" && pwd)
build=$(mkdir -p "${2:-$repo/build/kokkos-gpu}" && cd "${2:-$repo/build/kokkos-gpu}" && pwd)
jobs=${JOBS:-$(nproc)}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA_HOME/bin:$PATH"
prefix=${CMAKE_PREFIX_PATH:-}
if [ -z "$prefix" ] && [ -d "$repo/.deps/usr" ]; then prefix="$repo/.deps/usr"; fi
command -v nvcc > /dev/null || { echo "nvcc not found (CUDA_HOME=$CUDA_HOME)" >&2; exit 1; }
t_start=$SECONDS
logs=$build  # build logs; with --run, in OUT_DIR beside the rest
if [ -n "$run_dir" ]; then mkdir -p "$run_dir" && logs=$(cd "$run_dir" && pwd); fi
log() { echo "[kokkos-gpu $(date -u +%H:%M:%S), +$((SECONDS - t_start)) s] $*"; }

# --- 1. Kokkos ------------------------------------------------------------------------
version_part() { sed -n "s/^ *set(Kokkos_VERSION_$1 \([0-9]*\))/\1/p" "$src/CMakeLists.txt" | head -n 1; }
kv_major=$(version_part MAJOR) kv_minor=$(version_part MINOR) kv_patch=$(version_part PATCH)
[ -n "$kv_major" ] && [ -n "$kv_minor" ] && [ -n "$kv_patch" ] ||
  { echo "$src/CMakeLists.txt names no Kokkos_VERSION_MAJOR/MINOR/PATCH: not a Kokkos source tree" >&2; exit 1; }
kv=$((kv_major * 10000 + kv_minor * 100 + kv_patch))
[ "$kv" -ge 40000 ] || { echo "Kokkos $kv_major.$kv_minor.$kv_patch: this script needs Kokkos 4" >&2; exit 1; }
[ "$kv" -lt 50000 ] || echo "warning: Kokkos 5 needs C++20; coreroute builds its Kokkos backend as C++17" >&2
patch_file="$repo/scripts/patches/kokkos-4.6-cuda13.patch"
kokkos_src=$src
if [ "$kv" -lt 40701 ]; then
  # Before 4.7.01: patch a copy, never the given tree.
  kokkos_src="$build/kokkos-src"
  if [ ! -f "$kokkos_src/.coreroute-copied-from" ] || [ "$(cat "$kokkos_src/.coreroute-copied-from")" != "$src" ]; then
    log "copying Kokkos $kv_major.$kv_minor.$kv_patch into $kokkos_src"
    rm -rf "$kokkos_src"
    mkdir -p "$kokkos_src"
    (cd "$src" && tar --exclude=.git -cf - .) | (cd "$kokkos_src" && tar -xf -)
    echo "$src" > "$kokkos_src/.coreroute-copied-from"
  fi
  if patch -p1 -R --dry-run -s -f -d "$kokkos_src" < "$patch_file" > /dev/null 2>&1; then
    log "CUDA 13 patch already applied"
  elif patch -p1 --dry-run -s -f -d "$kokkos_src" < "$patch_file" > /dev/null 2>&1; then
    patch -p1 -s -f -d "$kokkos_src" < "$patch_file"
    log "applied $(basename "$patch_file")"
  else
    echo "scripts/patches/kokkos-4.6-cuda13.patch neither applies to nor is applied in Kokkos $kv_major.$kv_minor.$kv_patch" \
         "($kokkos_src); for CUDA 13 use Kokkos >= 4.7.01 or fix the patch" >&2
    exit 1
  fi
else
  log "Kokkos $kv_major.$kv_minor.$kv_patch supports CUDA 13: building it unpatched"
fi

# nvcc 13 has no sm_70, the default architecture of older nvcc_wrappers: CMake's
# compiler check (which passes no -arch) needs one it knows.
arch_flags() {
  if grep -q '^default_arch="sm_70"' "$1" && nvcc --version | grep -q "release 1[3-9]\."; then echo "-arch=sm_90"; fi
}
# The CUDA backend's route_bench needs no Kokkos: it builds beside Kokkos (one job).
cu_build="$build/cuda-bench"
log "building route_bench (CUDA backend) in the background; log $logs/route_bench-build.log"
{ cmake -S "$repo" -B "$cu_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_ENABLE_CUDA=ON -DCOREROUTE_BUILD_BENCH=ON \
    -DCOREROUTE_BUILD_TESTS=OFF -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF &&
  cmake --build "$cu_build" --target route_bench -j 1; } > "$logs/route_bench-build.log" 2>&1 &
route_bench_pid=$!

kinst="$build/kokkos-install"
kflags=$(arch_flags "$kokkos_src/bin/nvcc_wrapper")
kopts=(-DCMAKE_BUILD_TYPE=Release ${kflags:+"-DCMAKE_CXX_FLAGS=$kflags"} -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF
       "-DCMAKE_CXX_COMPILER=$kokkos_src/bin/nvcc_wrapper" "-DCMAKE_INSTALL_PREFIX=$kinst"
       -DKokkos_ENABLE_CUDA=ON -DKokkos_ARCH_HOPPER90=ON -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON
       -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF -DKokkos_ENABLE_BENCHMARKS=OFF
       "-DKokkos_ENABLE_IMPL_VIEW_LEGACY=${KOKKOS_VIEW_LEGACY:-ON}")
stamp="$kokkos_src ${kopts[*]} $(nvcc --version | tail -n 1)"
if [ -f "$kinst/.coreroute-stamp" ] && [ "$(cat "$kinst/.coreroute-stamp")" = "$stamp" ]; then
  log "reusing the Kokkos install in $kinst"
else
  log "building Kokkos (Cuda sm_90 + OpenMP + Serial) with $jobs jobs; log $logs/kokkos-build.log"
  rm -rf "$build/kokkos-build" "$kinst"
  { cmake -S "$kokkos_src" -B "$build/kokkos-build" -G Ninja "${kopts[@]}" &&
    cmake --build "$build/kokkos-build" -j "$jobs" && cmake --install "$build/kokkos-build"; } > "$logs/kokkos-build.log" 2>&1 ||
    { tail -n 40 "$logs/kokkos-build.log"; echo "Kokkos build FAILED (log $logs/kokkos-build.log)" >&2; exit 1; }
  echo "$stamp" > "$kinst/.coreroute-stamp"
  log "Kokkos installed in $kinst"
fi

# --- 2. coreroute ---------------------------------------------------------------------
cr_build="$build/coreroute"
targets=(coreroute_kokkos_test_parity coreroute_kokkos_test_api coreroute_kokkos_test_dispatch coreroute_kokkos_test_into
         kokkos_bench)
log "building coreroute (${targets[*]}); log $logs/coreroute-build.log"
crflags=$(arch_flags "$kinst/bin/nvcc_wrapper")
{ cmake -S "$repo" -B "$cr_build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${crflags:+"-DCMAKE_CXX_FLAGS=$crflags"} \
    "-DCMAKE_CXX_COMPILER=$kinst/bin/nvcc_wrapper" "-DKokkos_ROOT=$kinst" ${prefix:+"-DCMAKE_PREFIX_PATH=$prefix"} \
    -DCOREROUTE_ENABLE_KOKKOS=ON -DCOREROUTE_BUILD_BENCH=ON -DCOREROUTE_BUILD_TESTS=ON \
    -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF &&
  cmake --build "$cr_build" --target "${targets[@]}" -j "$jobs"; } > "$logs/coreroute-build.log" 2>&1 ||
  { tail -n 40 "$logs/coreroute-build.log"; echo "coreroute build FAILED (log $logs/coreroute-build.log)" >&2; exit 1; }
log "built in $cr_build"
wait "$route_bench_pid" ||
  { tail -n 40 "$logs/route_bench-build.log"; echo "route_bench build FAILED (log $logs/route_bench-build.log)" >&2; exit 1; }
log "route_bench built in $cu_build"
[ -n "$run_dir" ] || exit 0

# --- 3. runs --------------------------------------------------------------------------
mkdir -p "$run_dir"
out=$(cd "$run_dir" && pwd)
steps=" ${STEPS:-tests sanitize openmp bench parity} "  # parity last: it takes the time left
has() { [[ "$steps" == *" $1 "* ]]; }
kt="$cr_build/kokkos/tests"
status=0
: > "$out/results.txt"
{ echo "kokkos_version=$kv_major.$kv_minor.$kv_patch"; echo "patched=$([ "$kokkos_src" != "$src" ] && echo yes || echo no)";
  echo "nvcc=$(nvcc --version | tail -n 1)"; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -n 1 | sed 's/^/gpu=/';
  echo "host_cores=$(nproc)"; echo "commit=${COMMIT:-$(git -C "$repo" rev-parse HEAD 2> /dev/null || echo unknown)}"; } > "$out/env.txt"
cat "$out/env.txt"
export OMP_PROC_BIND=false
if has tests; then  # the API, dispatch-layout and into-outputs tests as they are, on Kokkos::Cuda
  for t in api dispatch into; do
    if "$kt/coreroute_kokkos_test_$t" > "$out/cuda_test_$t.log" 2>&1; then r=passed; else r=FAILED status=1; fi
    echo "cuda test $t: $r ($(grep -E 'All tests passed|test cases' "$out/cuda_test_$t.log" | tail -n 1))" | tee -a "$out/results.txt"
  done
  log "tests done"
fi
if has sanitize; then  # memcheck: every Kokkos kernel (route, dispatch, metrics, checks) on a few cases
  san="$CUDA_HOME/bin/compute-sanitizer"
  if COREROUTE_PROP_CASES=${SAN_CASES:-5} "$san" --tool memcheck --error-exitcode 9 --print-limit 20 \
       "$kt/coreroute_kokkos_test_parity" > "$out/memcheck_parity.log" 2>&1 &&
     "$san" --tool memcheck --error-exitcode 9 --print-limit 20 "$kt/coreroute_kokkos_test_dispatch" \
       "dispatch layout: a worked block,dispatch layout: empty batches and blocks" > "$out/memcheck_dispatch.log" 2>&1; then
    r="clean"
  else
    r="FAILED" status=1
  fi
  echo "cuda memcheck: $r ($(grep -h 'ERROR SUMMARY' "$out"/memcheck_*.log | tr '\n' ' '))" | tee -a "$out/results.txt"
  log "sanitizer done"
fi
if has openmp; then  # Kokkos::OpenMP on every core, several team sizes (0: Kokkos::AUTO)
  for ts in ${OMP_TEAM_SIZES:-1 4 16 0}; do
    if COREROUTE_KOKKOS_SPACE=host COREROUTE_KOKKOS_TEAM_SIZE=$ts COREROUTE_PROP_CASES=${OMP_CASES:-1000} \
       OMP_NUM_THREADS=$(nproc) "$kt/coreroute_kokkos_test_parity" > "$out/openmp_parity_team$ts.log" 2>&1 &&
       COREROUTE_KOKKOS_SPACE=host COREROUTE_KOKKOS_TEAM_SIZE=$ts OMP_NUM_THREADS=$(nproc) \
       "$kt/coreroute_kokkos_test_dispatch" > "$out/openmp_dispatch_team$ts.log" 2>&1; then r=passed; else r=FAILED status=1; fi
    { grep -h "^kokkos parity" "$out/openmp_parity_team$ts.log" || true; } | sed "s/^/openmp team $ts: /" | tee -a "$out/results.txt"
    echo "openmp team $ts: parity + dispatch $r" | tee -a "$out/results.txt"
  done
  log "OpenMP parity done"
fi
if has bench; then  # the same shapes through Kokkos::Cuda and the hand-written kernel
  COREROUTE_BENCH_QUICK=1 "$cu_build/bench/route_bench" "$out/route_bench.json" 2> "$out/route_bench.log" || status=1
  for B in 1 1024; do
    reps=${BENCH_REPS:-$([ $B = 1 ] && echo 31 || echo 5)}  # the serial reference takes ~0.25 s per call at B = 1024
    OMP_NUM_THREADS=$(nproc) "$cr_build/bench/kokkos_bench" --blocks $B --reps "$reps" --csv "$out/kokkos_bench_B$B.csv" \
      > "$out/kokkos_bench_B$B.txt" 2>&1 || { tail "$out/kokkos_bench_B$B.txt"; status=1; }
  done
  log "benchmarks done"
fi
if has parity; then  # docs/spec.md section 7 on Kokkos::Cuda, per policy x score function, in the time left
  budget=${PARITY_SECONDS:-600} jobs=${PARITY_JOBS:-1}
  if [ "${TIME_LIMIT:-0}" -gt 0 ]; then
    # One group per policy x score function (parity_all.sh's), $jobs at a time.
    # (Catch2 v2 exits with the number of tests it lists: not a failure.)
    policies=${POLICIES:-$({ "$kt/coreroute_kokkos_test_parity" --list-test-names-only || true; } | sed -n 's/ policy vs reference$//p')}
    groups=$(( $(wc -w <<< "$policies") * $(wc -w <<< "${SCORES:-softmax sigmoid}") ))
    rounds=$(( (groups + jobs - 1) / jobs ))
    left=$(( TIME_LIMIT - (SECONDS - t_start) - 20 ))
    [ $((left / rounds)) -lt "$budget" ] && budget=$((left / rounds))
    [ "$budget" -ge 5 ] || budget=5
    log "TIME_LIMIT=$TIME_LIMIT s: at most $budget s per parity group"
  fi
  CASES=${PARITY_CASES:-20000} JOBS=$jobs SEED_START=${SEED_START:-0} "$repo/kokkos/tests/parity_all.sh" "$kt/coreroute_kokkos_test_parity" \
    "$budget" "${PARITY_CHUNK:-1000}" "$out" | sed 's/^/cuda parity /' | tee -a "$out/results.txt" || status=1
  log "Cuda parity done"
fi
# Standard library only; /usr/bin/python3 first (the system one), any python3 else.
py=$(command -v /usr/bin/python3 || command -v python3 || true)
if [ -n "$py" ]; then
  "$py" "$repo/scripts/kokkos_gpu_summary.py" "$out" | tee "$out/summary.md" || status=1
else
  echo "no python3: summary table skipped; results:"; cat "$out/results.txt"
fi
log "done: $out (status $status)"
exit $status
