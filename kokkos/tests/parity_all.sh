#!/usr/bin/env bash
# Kokkos parity (docs/spec.md section 7) for every policy x score function, the way
# cuda/tests/parity_all.sh runs the CUDA backend's: each group runs the parity test in
# processes of CHUNK cases with fresh seeds until CASES cases (or BUDGET seconds) are
# done; a failure stops its group and names the log (the failing seed is in it).
# JOBS groups run at once (default 1). On a GPU keep 1: processes sharing one GPU
# time-slice it, and a case makes many small synchronising copies (on an H200 one
# process checks about 400 cases/s, ten together about 80). POLICIES and SCORES pick the groups;
# COREROUTE_KOKKOS_SPACE=host runs them on the host space instead (see the test).
# SEED_START (default 0) is the first seed offset of every group: a run of CASES cases
# covers offsets SEED_START .. SEED_START + CASES - 1 (COREROUTE_KOKKOS_SEED of the test),
# so a long run split over several processes or calls, each given its own SEED_START
# (e.g. 0, 20000, 40000 with CASES=20000), checks disjoint cases.
#   kokkos/tests/parity_all.sh BUILD/kokkos/tests/coreroute_kokkos_test_parity [BUDGET=60] [CHUNK=1000] [LOGDIR=.]
set -u
T=$1 budget=${2:-60} chunk=${3:-1000} logs=${4:-.}
[ -x "$T" ] || { echo "parity_all.sh: $T is not an executable" >&2; exit 2; }
seed_start=${SEED_START:-0}
[[ "$seed_start" =~ ^[0-9]+$ ]] || { echo "parity_all.sh: SEED_START must be an integer >= 0, got '$seed_start'" >&2; exit 2; }
# The policies: those the test has a "<name> policy vs reference" case for, i.e. every
# registered built-in policy (include/coreroute/builtin_policies.hpp).
registered=$("$T" --list-test-names-only | sed -n 's/ policy vs reference$//p' | tr '\n' ' ')
[ -n "$registered" ] || { echo "parity_all.sh: $T lists no policy test" >&2; exit 2; }
group() {  # policy score: prints one line, returns 1 on a failure
  local p=$1 s=$2 n=0 seed=$seed_start end=$((SECONDS + budget)) log="$logs/parity_${p}_${s}.log"
  : > "$log"
  while [ $n -lt "${CASES:-2147483647}" ] && [ $SECONDS -lt $end ]; do
    local c=$chunk
    if [ -n "${CASES:-}" ] && [ $((CASES - n)) -lt $c ]; then c=$((CASES - n)); fi
    if ! COREROUTE_KOKKOS_SCORE=$s COREROUTE_KOKKOS_SEED=$seed COREROUTE_PROP_CASES=$c "$T" "$p policy vs reference" >> "$log" 2>&1; then
      echo "$p/$s: $n cases passed, then FAILED in seeds from offset $seed (log $log)"
      return 1
    fi
    n=$((n + c)) seed=$((seed + c))
  done
  echo "$p/$s: $n cases passed (seed offsets $seed_start..$((seed - 1)))$([ -n "${CASES:-}" ] && [ $n -lt "$CASES" ] && echo ", budget of ${budget} s ran out before $CASES")"
}
status=0 running=0
for p in ${POLICIES:-$registered}; do
  case " $registered " in *" $p "*) ;; *) echo "parity_all.sh: unknown policy $p (known: $registered)" >&2; exit 2 ;; esac
  for s in ${SCORES:-softmax sigmoid}; do
    group "$p" "$s" > "$logs/.group_${p}_${s}" &
    running=$((running + 1))
    if [ $running -ge "${JOBS:-1}" ]; then wait -n || status=1; running=$((running - 1)); fi
  done
done
while [ $running -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
for p in ${POLICIES:-$registered}; do
  for s in ${SCORES:-softmax sigmoid}; do cat "$logs/.group_${p}_${s}"; rm -f "$logs/.group_${p}_${s}"; done
done
exit $status
