#pragma once
// Router score functions, shared by every backend (T = double in the reference,
// float on the GPU). Softmax needs the row's max and sum, so it is split in two.
#include <cmath>

#include "../config.hpp"
#include "../macros.hpp"

namespace coreroute::detail {

/// NaN and +Inf are invalid logits (docs/spec.md section 6); -Inf is legal (score 0).
template <class T>
CR_HD inline bool invalid_logit(T x) {
  return !(x < T(INFINITY));  // true for NaN and +Inf
}

template <class T>
CR_HD inline T sigmoid(T x) {
  using std::exp;
  return T(1) / (T(1) + exp(-x));
}

/// Score of one logit given the row's max and sum of exp(x - max) (softmax only).
template <class T>
CR_HD inline T score_of(ScoreFunction f, T x, T row_max, T row_sum) {
  using std::exp;
  return f == ScoreFunction::sigmoid ? sigmoid(x) : exp(x - row_max) / row_sum;
}

}  // namespace coreroute::detail
