#!/usr/bin/env bash
# The PyTorch ops on a CUDA GPU (an H200), one command, about 9 minutes:
#   bash python/run_gpu.sh OUT_DIR
# Uses the `python3` on PATH and its pip torch (with CUDA); builds only the Python part
# (no Catch2 etc. needed), then writes into OUT_DIR:
#   build.log            configure + build
#   ctest.log            python_cpu and python_gpu through ctest (must say passed, not skipped)
#   gpu_pytest.log/.xml  the GPU selection at full count (near-tie counts printed per policy)
#   sanitizer.log        compute-sanitizer memcheck on a short GPU run
#   route_bench.json     the raw kernel (bench/route_bench.cu), quick shapes
#   torch_ops_bench.json the ops: eager, graph, vs raw launch, vs PyTorch-native routing
#   summary.txt          one line per step: ok / FAILED
# COREROUTE_TORCH_CASES (default 20000) sets the parity cases per policy; BUILD_ONLY=1 builds only.
set -uo pipefail
out=$(realpath -m "${1:?usage: run_gpu.sh OUT_DIR}")
mkdir -p "$out"
cd "$(dirname "$0")/.."
py=${PYTHON:-$(command -v python3)}  # PYTHON=... picks another interpreter
jobs=$(nproc)
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
dir=build/gpu-python
# Torch's CMake adds -gencode flags of TORCH_CUDA_ARCH_LIST (else of a detected or a long
# default list); sm_90 only keeps the build short.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
# The system g++ (CXX overrides): a compiler that links libstdc++ statically into the ops'
# library gives it its own iostream locale ids, and the first error message it formats
# (an std::ostringstream) crashes the process inside the library (seen on an H200
# machine whose default g++ is such a wrapper). The ops need the libstdc++ Torch loads.
cxx=${CXX:-$(command -v /usr/bin/g++ || command -v g++)}
: > "$out/summary.txt"
step() {  # name, timeout_s, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  if timeout "$limit" "$@"; then r=ok; else r="FAILED (exit $?)"; fi
  echo "$name: $r ($((SECONDS - t0)) s)" | tee -a "$out/summary.txt"
}
"$py" -c 'import torch, numpy, pytest' || { echo "run_gpu.sh: $py needs torch, numpy and pytest"; exit 1; }
sanitizer=$(command -v compute-sanitizer || ls "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")"/compute-sanitizer \
  /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
torch_dir=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')/Torch
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())' \
  | tee "$out/env.txt"
nvidia-smi --query-gpu=name,driver_version --format=csv >> "$out/env.txt" 2>&1
build() {
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCOREROUTE_BUILD_PYTHON=ON -DCOREROUTE_BUILD_TESTS=OFF \
    -DCOREROUTE_BUILD_PROPTESTS=OFF -DCOREROUTE_BUILD_EXAMPLES=OFF -DCOREROUTE_BUILD_TOOLS=OFF \
    -DTorch_DIR="$torch_dir" -DPython3_EXECUTABLE="$py" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCOREROUTE_PYTHON_CUDA=${COREROUTE_PYTHON_CUDA:-ON} &&
  cmake --build "$dir" -j"$jobs"
}
# The raw kernel's benchmark compiles beside the ops (independent of Torch).
raw_bench() {
  "$nvcc" -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -Iinclude -Ireference -Icuda \
    bench/route_bench.cu -o "$dir/route_bench"
}
mkdir -p "$dir"
t0=$SECONDS
raw_bench > "$out/route_bench_build.log" 2>&1 &  # beside the ops' build
raw_pid=$!
if build > "$out/build.log" 2>&1 && wait $raw_pid; then r=ok; else r=FAILED; wait $raw_pid; fi
echo "build: $r ($((SECONDS - t0)) s)" | tee -a "$out/summary.txt"
tail -n 20 "$out/build.log"
# BUILD_ONLY=1: stop here (a later call of this script finds the build done and goes on).
[ -z "${BUILD_ONLY:-}" ] || exit 0
export PYTHONPATH=$PWD/$dir/python
step ctest_cpu 60 bash -c "cd $dir && ctest --output-on-failure -R python_cpu" > "$out/ctest.log" 2>&1
step gpu_pytest 240 "$py" python/tests/run_pytest.py --skip-code 77 -m gpu -s -v \
  --junitxml="$out/gpu_pytest.xml" python/tests > "$out/gpu_pytest.log" 2>&1
grep -E "near-ties accepted|passed|failed|skipped|SKIP" "$out/gpu_pytest.log" | tail -n 12
# memcheck: no caching allocator, so an access past a tensor is past an allocation.
if [ -z "$sanitizer" ]; then echo "memcheck: NOT RUN (no compute-sanitizer found)" | tee -a "$out/summary.txt"; else
step memcheck 100 env PYTORCH_NO_CUDA_MEMORY_CACHING=1 COREROUTE_TORCH_CASES=100 \
  "$sanitizer" --tool memcheck --error-exitcode 9 "$py" python/tests/run_pytest.py -m gpu \
  -k "equals_cpu_op or strided or dispatch or metrics" python/tests > "$out/sanitizer.log" 2>&1
grep -E "ERROR SUMMARY|passed|failed" "$out/sanitizer.log" | tail -n 3; fi
step route_bench 90 env COREROUTE_BENCH_QUICK=1 "$dir/route_bench" "$out/route_bench.json" > "$out/route_bench.log" 2>&1
step torch_ops_bench 120 "$py" python/bench/torch_ops_bench.py "$out/torch_ops_bench.json" "$out/route_bench.json" \
  > "$out/torch_ops_bench.log" 2>&1
cat "$out/summary.txt"
! grep -qE "FAILED|NOT RUN" "$out/summary.txt"
