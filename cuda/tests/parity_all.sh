#!/usr/bin/env bash
# GPU parity for every policy x score function: each group in turn runs test_cuda_parity in
# processes of CHUNK cases, chunk c with seed SEED + c, until CASES cases (or BUDGET seconds)
# are done, then prints how many passed; a failure stops its group and names the seed and the
# log. Groups run one after another: processes sharing one GPU time-slice it and check fewer
# cases in total (on an H200 one process checks about 330 cases/s, four together 160).
# POLICIES and SCORES pick the groups (default: every policy `test_cuda_parity --list` prints,
# both score functions). SEED (default 1000) is every group's first seed, so a run split over
# several calls, each given its own SEED (e.g. 1000, then 1010 after ten chunks), checks
# disjoint cases. DEADLINE (seconds from the start) ends the run early where a time limit
# would cut it: a group stops before a chunk that would end past it (its average chunk time
# says when), is reported as stopped, and the run exits 3: cases not run are never a pass.
# Exit status: 0 all passed, 1 a failure, 2 bad arguments, 3 stopped by DEADLINE.
#   cuda/tests/parity_all.sh BUILD/cuda/tests/test_cuda_parity [BUDGET=60] [CHUNK=1000] [LOGDIR=.]
set -u
T=$1 budget=${2:-60} chunk=${3:-1000} logs=${4:-.}
[ -x "$T" ] || { echo "parity_all.sh: $T is not an executable" >&2; exit 2; }
for v in budget chunk; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "parity_all.sh: ${v^^} must be an integer >= 1, got '${!v}'" >&2; exit 2; }
done
for v in CASES SEED DEADLINE; do
  [[ "${!v:-0}" =~ ^[0-9]+$ ]] || { echo "parity_all.sh: $v must be an integer >= 0, got '${!v}'" >&2; exit 2; }
done
seed0=${SEED:-1000}
registered=$("$T" --list | tr '\n' ' ')  # every registered built-in policy, and user
[ -n "$registered" ] || { echo "parity_all.sh: $T --list printed no policy" >&2; exit 2; }
status=0 per=1  # seconds a chunk takes, as measured so far
for p in ${POLICIES:-$registered}; do
  case " $registered " in *" $p "*) ;; *) echo "parity_all.sh: unknown policy $p (known: $registered)" >&2; exit 2 ;; esac
  for s in ${SCORES:-softmax sigmoid}; do
    end=$((SECONDS + budget)) n=0 c=0 t0=$SECONDS verdict="" log="$logs/parity_${p}_${s}.log"
    while if [ -n "${CASES:-}" ]; then [ $n -lt "$CASES" ]; else [ $SECONDS -lt $end ]; fi; do
      if [ -n "${DEADLINE:-}" ]; then
        [ $c -gt 0 ] && per=$(((SECONDS - t0) / c + 1))  # else the last group's
        if [ $((SECONDS + per)) -gt "$DEADLINE" ]; then
          verdict=", then stopped by DEADLINE=$DEADLINE s (the rest not run)" status=$([ $status -eq 1 ] && echo 1 || echo 3)
          break
        fi
      fi
      size=$chunk
      if [ -n "${CASES:-}" ] && [ $((CASES - n)) -lt $size ]; then size=$((CASES - n)); fi
      if ! "$T" $p $s $size $((seed0 + c)) >> "$log" 2>&1; then
        verdict=", then FAILED at seed $((seed0 + c)) (log $log)" status=1
        break
      fi
      n=$((n + size)) c=$((c + 1))
    done
    echo "$p/$s: $n cases passed ($([ $c -gt 0 ] && echo "seeds $seed0..$((seed0 + c - 1))" || echo "no chunk run"))$verdict"
  done
done
exit $status
