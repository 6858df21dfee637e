#!/bin/sh
# cli.cuda_parity: `route --backend cuda` against the reference on random traces.
# Exits 77 (ctest: skipped) when this machine has no CUDA device.
exe="$1"; tests="$2"; trace="$3"
if "$exe" route --trace "$trace" --top-k 2 --backend cuda --no-metrics --out cuda_probe 2>&1 >/dev/null |
   grep -q "no CUDA device"; then
  echo "no CUDA device: skipped"
  exit 77
fi
exec "$tests" "[cuda]"
