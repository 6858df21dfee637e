#pragma once
// The weight rule of Stage 2 (docs/spec.md §3.4), one copy for every backend: a
// selected expert's weight is its unbiased score s; with normalize_weights it is
// divided by the sum of the token's selected s (0 when that sum is 0), then scaled.
#include "../config.hpp"
#include "../macros.hpp"

namespace coreroute::detail {

/// Weight of one real slot from its score `s` and `selected_sum`, the sum of the
/// token's selected s in slot order. T = double (reference, Kokkos, CUDA: the result
/// is rounded to float once, by the caller) or float (the kit's GPU-style host backend).
/// The operation order is part of the contract: backends are compared bit for bit.
template <class T>
CR_HD inline T token_weight(T s, T selected_sum, const RouterParams& p) {
  T w = s;
  if (p.normalize_weights) w = selected_sum > T(0) ? w / selected_sum : T(0);
  return w * T(p.scaling);
}

}  // namespace coreroute::detail
