#pragma once
// The two tolerances of docs/spec.md section 7, and the ranking relations they induce.
#include <algorithm>
#include <cmath>

#include <coreroute/detail/ranking.hpp>

namespace coreroute::testing {

/// Weights and metrics: |a - b| <= 1e-5 * max(|a|, |b|) + 1e-6. NaN equals NaN and
/// an infinity equals itself (a metric that is "not computed" or unbounded on both sides).
inline bool close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= 1e-5 * std::max(std::fabs(a), std::fabs(b)) + 1e-6;
}

/// A near-tie in the reference's double values: |a - b| <= 1e-6 * max(|a|, |b|) + 1e-9.
/// Two -Inf (or two +Inf) values are an exact tie, not a near-tie.
inline bool near_tie(double a, double b) {
  if (a == b) return true;
  if (std::isinf(a) || std::isinf(b)) return false;
  return std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b)) + 1e-9;
}

/// True when (va, a) must rank before (vb, b) on every conforming backend: va is
/// larger beyond a near-tie, or the values are exactly equal and a is the lower index
/// (exact input ties follow the tie rule everywhere; `strict_ties` = false treats
/// them as ambiguous, for metamorphic checks that relabel indices).
inline bool must_precede(double va, int a, double vb, int b, bool strict_ties) {
  if (va == vb) return strict_ties && a < b;
  return va > vb && !near_tie(va, vb);
}

/// True when a conforming backend may rank (va, a) before (vb, b).
inline bool may_precede(double va, int a, double vb, int b, bool strict_ties) {
  return !must_precede(vb, b, va, a, strict_ties);
}

}  // namespace coreroute::testing
