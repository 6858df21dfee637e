#pragma once
// The memory bound of a command (docs/cli.md, "Memory"): the bytes of every input,
// output and working array, computed from the shapes alone, before any allocation.
#include <algorithm>

#include "arrays.hpp"

namespace coreroute::cli {

/// What a command holds at once.
struct MemoryPlan {
  int runs = 1;         ///< routings evaluated (their per-block metrics are kept)
  int max_top_k = 0;    ///< the largest K a run routes with (0: --top-k)
  bool vanilla = true;  ///< the vanilla routing metrics compare against
  bool per_block_json = false;
};

/// The bytes of a command on a trace of shape `t` (file elements of `t.itemsize`
/// bytes) with expert outputs of dimension `dim` (0: none; `dim_itemsize` bytes
/// each in the file). An upper bound, not a measurement.
inline double planned_bytes(const TraceShape& t, int dim, int dim_itemsize, int top_k, int model_top_k,
                            const MemoryPlan& plan) {
  // In double: a hostile shape overflows no integer here.
  const double B = double(t.blocks), N = double(t.tokens), M = double(t.experts), T = B * N * M;
  const double K = double(std::max({top_k, model_top_k, plan.max_top_k}));
  const double inputs = T * (t.itemsize + 4) + T * dim * (dim_itemsize + 4) + B * 16;  // file bytes + float copy
  // A routing: ids + weights [B, N, K], coreset [B, M], four ints per block; held
  // twice while a backend's result is copied into it.
  const auto routing = [&](double k) { return B * N * k * 8 + B * M + B * 16; };
  const double routings = 2 * routing(K) + (plan.vanilla ? 2 * routing(double(model_top_k)) : 0);
  const double working = N * M * 24 + M * 64 + double(dim) * 16;       // one block's scores and metric sums
  const double metrics = B * (64 * plan.runs + 8);                     // per-block metrics of every run
  const double json = plan.per_block_json ? B * 1536 * plan.runs : 0;  // a JSON object per block and row
  return inputs + routings + working + metrics + json;
}

}  // namespace coreroute::cli
