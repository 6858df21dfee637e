#!/usr/bin/env bash
# GPU parity for every policy x score: each group in turn runs test_cuda_parity in
# chunks of CHUNK cases with fresh seeds for BUDGET seconds, then prints how many cases
# passed; a failure stops its group and names the seed and the log. Groups run one
# after another: processes sharing one GPU time-slice it and run slower in total.
# CASES=n runs n cases per group instead of BUDGET seconds; POLICIES picks the groups
# (default: every policy `test_cuda_parity --list` prints),
# SEED the first seed (groups continue the sequence, so no two chunks share a seed).
#   cuda/tests/parity_all.sh BUILD/cuda/tests/test_cuda_parity [BUDGET=60] [CHUNK=1000] [LOGDIR=.]
T=$1 budget=${2:-60} chunk=${3:-1000} logs=${4:-.}
seed=${SEED:-1000} status=0
policies=$("$T" --list | tr '\n' ' ')  # every registered built-in policy, and user
[ -n "$policies" ] || { echo "parity_all.sh: $T --list printed no policy" >&2; exit 2; }
for p in ${POLICIES:-$policies}; do
  for s in softmax sigmoid; do
    end=$((SECONDS + budget)) n=0 verdict=""
    while if [ -n "${CASES:-}" ]; then [ $n -lt "$CASES" ]; else [ $SECONDS -lt $end ]; fi; do
      if ! "$T" $p $s $chunk $seed >> "$logs/parity_${p}_${s}.log" 2>&1; then
        verdict=" FAILED at seed $seed (log parity_${p}_${s}.log)" status=1
        break
      fi
      n=$((n + chunk)) seed=$((seed + 1))
    done
    echo "$p/$s: $n cases passed (seeds up to $((seed - 1)))$verdict"
  done
done
exit $status
