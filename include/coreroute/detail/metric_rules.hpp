#pragma once
// The metric formulas of docs/spec.md section 5 and their edge cases, one copy for
// every backend. Each backend accumulates the sums its own way (in double); these
// functions turn a block's sums into its metrics.
#include <cmath>

#include "../macros.hpp"

namespace coreroute::detail {

/// sum_n |S_n & S0_n| / sum_n |S0_n|; 1 when R0 selected nothing (a block with no tokens).
CR_HD inline double topk_hit_rate(double hits, double expected) { return expected > 0 ? hits / expected : 1.0; }

/// (1/N) sum_n ||g_n - g0_n||^2 over the block's N valid tokens; 0 when N = 0.
CR_HD inline double gate_reconstruction_loss(double sum, double valid_tokens) {
  return valid_tokens > 0 ? sum / valid_tokens : 0.0;
}

/// Relative output loss num / den; a zero reference output (den = 0) gives 0 when R's
/// matches it (num = 0), else +Inf; NaN when no expert outputs were given.
CR_HD inline double output_reconstruction_loss(bool have_outputs, double num, double den) {
  return !have_outputs ? double(NAN) : den > 0 ? num / den : num == 0 ? 0.0 : double(INFINITY);
}

/// Cosine of the selection-count vectors from their dot product and squared norms:
/// 1 for two zero vectors (nothing selected by either), 0 when only one is zero.
CR_HD inline double hit_cosine(double dot, double norm, double norm0) {
  using std::sqrt;
  return (norm == 0 && norm0 == 0) ? 1.0 : (norm == 0 || norm0 == 0) ? 0.0 : dot / sqrt(norm * norm0);
}

}  // namespace coreroute::detail
