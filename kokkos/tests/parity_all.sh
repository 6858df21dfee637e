#!/usr/bin/env bash
# Kokkos parity (docs/spec.md section 7) for every policy x score function, the way
# cuda/tests/parity_all.sh runs the CUDA backend's: each group runs the parity test in
# processes of CHUNK cases with fresh seeds until CASES cases (or BUDGET seconds) are
# done; a failure stops its group and names the log (the failing seed is in it).
# JOBS groups run at once (default 1): each process is mostly host work (the reference,
# copies, launches), so a few share one GPU well. POLICIES and SCORES pick the groups;
# COREROUTE_KOKKOS_SPACE=host runs them on the host space instead (see the test).
#   kokkos/tests/parity_all.sh BUILD/kokkos/tests/coreroute_kokkos_test_parity [BUDGET=60] [CHUNK=1000] [LOGDIR=.]
set -u
T=$1 budget=${2:-60} chunk=${3:-1000} logs=${4:-.}
[ -x "$T" ] || { echo "parity_all.sh: $T is not an executable" >&2; exit 2; }
declare -A test_name=([vanilla]="vanilla policy vs reference" [union]="union policy vs reference"
                      [vote]="vote policy vs reference" [blockdist]="blockdist policy vs reference")
group() {  # policy score: prints one line, returns 1 on a failure
  local p=$1 s=$2 n=0 seed=0 end=$((SECONDS + budget)) log="$logs/parity_${p}_${s}.log"
  : > "$log"
  while [ $n -lt "${CASES:-2147483647}" ] && [ $SECONDS -lt $end ]; do
    local c=$chunk
    if [ -n "${CASES:-}" ] && [ $((CASES - n)) -lt $c ]; then c=$((CASES - n)); fi
    if ! COREROUTE_KOKKOS_SCORE=$s COREROUTE_KOKKOS_SEED=$seed COREROUTE_PROP_CASES=$c "$T" "${test_name[$p]}" >> "$log" 2>&1; then
      echo "$p/$s: $n cases passed, then FAILED in seeds from offset $seed (log $log)"
      return 1
    fi
    n=$((n + c)) seed=$((seed + c))
  done
  echo "$p/$s: $n cases passed$([ -n "${CASES:-}" ] && [ $n -lt "$CASES" ] && echo " (budget of ${budget} s ran out before $CASES)")"
}
status=0 running=0
for p in ${POLICIES:-vanilla union vote blockdist}; do
  [ -n "${test_name[$p]:-}" ] || { echo "parity_all.sh: unknown policy $p" >&2; exit 2; }
  for s in ${SCORES:-softmax sigmoid}; do
    group "$p" "$s" > "$logs/.group_${p}_${s}" &
    running=$((running + 1))
    if [ $running -ge "${JOBS:-1}" ]; then wait -n || status=1; running=$((running - 1)); fi
  done
done
while [ $running -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
for p in ${POLICIES:-vanilla union vote blockdist}; do
  for s in ${SCORES:-softmax sigmoid}; do cat "$logs/.group_${p}_${s}"; rm -f "$logs/.group_${p}_${s}"; done
done
exit $status
