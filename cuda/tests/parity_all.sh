#!/usr/bin/env bash
# GPU parity for every policy x score at once: each group runs test_cuda_parity in
# chunks of CHUNK cases with fresh seeds until BUDGET seconds pass, then prints how
# many cases passed; any failure stops its group and is printed with its seed.
#   cuda/tests/parity_all.sh BUILD/cuda/tests/test_cuda_parity [BUDGET=280] [CHUNK=200] [LOGDIR=.]
T=$1 budget=${2:-280} chunk=${3:-200} logs=${4:-.}
for p in vanilla union vote blockdist user; do
  for s in softmax sigmoid; do
    (
      end=$((SECONDS + budget)) seed=1000 n=0 verdict=""
      while [ $SECONDS -lt $end ]; do
        timeout $((end - SECONDS)) "$T" $p $s $chunk $seed >> "$logs/parity_${p}_${s}.log" 2>&1
        rc=$?
        [ $rc -eq 124 ] && break
        [ $rc -ne 0 ] && { verdict=" FAILED at seed $seed (rc $rc, log parity_${p}_${s}.log)"; break; }
        n=$((n + chunk)) seed=$((seed + 1))
      done
      echo "$p/$s: $n cases passed$verdict"
    ) &
  done
done
wait
