#pragma once
// docs/spec.md section 4 written out plainly: each built-in policy's coreset computed from
// its definition (full sorts, explicit P = V / sum V, an explicit walk), not from
// the policy's vote/keep formulation that every backend runs. A policy's property
// "the reference's coreset equals the oracle's" therefore checks the formulation
// against the definition. A user's policy can come with its own oracle, built from
// the helpers below.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <coreroute/policies.hpp>
#include <coreroute/reference/route.hpp>

namespace coreroute::testing::oracle {

/// A token's plain top-k of r over all M experts (no groups), larger r first, ties to the lower id.
inline std::vector<int> token_top_k(const double* r, int M, int k) {
  std::vector<int> o(static_cast<size_t>(M));
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [r](int a, int b) { return r[a] > r[b]; });  // stable: lower id first on ties
  o.resize(size_t(std::min(k, M)));
  return o;
}

/// Experts ordered by value, larger first, ties to the lower id.
inline std::vector<int> ranked(const std::vector<double>& v) {
  std::vector<int> o(v.size());
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [&v](int a, int b) { return v[size_t(a)] > v[size_t(b)]; });
  return o;
}

/// V_i = sum over valid tokens of max(r[n,i], 0) for i in the token's top-K.
inline std::vector<double> saliency_votes(const reference::BlockScores& sc, const RouterParams& p) {
  std::vector<double> V(static_cast<size_t>(p.num_experts), 0.0);
  for (size_t n = 0; n < sc.valid.size(); ++n) {
    if (!sc.valid[n]) continue;
    const double* r = sc.r_row(int64_t(n));
    for (int i : token_top_k(r, p.num_experts, p.top_k)) V[size_t(i)] += std::max(r[i], 0.0);
  }
  return V;
}

using Mask = std::vector<uint8_t>;

inline Mask coreset(const reference::BlockScores&, const RouterParams& p, const VanillaPolicy&) {
  return Mask(static_cast<size_t>(p.num_experts), 1);
}

inline Mask coreset(const reference::BlockScores& sc, const RouterParams& p, const UnionPolicy& pol) {
  Mask C(static_cast<size_t>(p.num_experts), 0);
  for (size_t n = 0; n < sc.valid.size(); ++n)
    if (sc.valid[n])
      for (int i : token_top_k(sc.r_row(int64_t(n)), p.num_experts, pol.k_local)) C[size_t(i)] = 1;
  return C;
}

inline Mask coreset(const reference::BlockScores& sc, const RouterParams& p, const SaliencyVotePolicy& pol) {
  const int M = p.num_experts;
  const int core = pol.core > 0 ? pol.core : std::max(1, int(std::floor(pol.beta * M)));
  const std::vector<int> order = ranked(saliency_votes(sc, p));
  Mask C(static_cast<size_t>(M), 0);
  for (int q = 0; q < core; ++q) C[size_t(order[size_t(q)])] = 1;
  return C;
}

inline Mask coreset(const reference::BlockScores& sc, const RouterParams& p, const BlockDistributionPolicy& pol) {
  const int M = p.num_experts;
  std::vector<double> P = saliency_votes(sc, p);
  const double sum = std::accumulate(P.begin(), P.end(), 0.0);
  for (double& v : P) v = sum > 0 ? v / sum : 0.0;
  const std::vector<int> order = ranked(P);
  Mask C(static_cast<size_t>(M), 0);
  int kept = 0;
  double cumulative = 0;
  for (int e : order) {
    if (P[size_t(e)] <= 0 || (kept > 0 && cumulative > pol.top_p)) break;
    C[size_t(e)] = 1;
    cumulative += P[size_t(e)];
    ++kept;
  }
  if (kept < pol.min_experts) {
    std::fill(C.begin(), C.end(), uint8_t(0));
    for (int q = 0; q < pol.min_experts; ++q) C[size_t(order[size_t(q)])] = 1;
  }
  return C;
}

/// Block maximum (SGLang's block top-K): an expert's score is the largest r[n,i] over the
/// block's valid tokens (every expert, no top-K first); C = the `capacity` best, ties to
/// the lower id. A block without valid tokens: every score is -Inf, C = the lowest ids.
inline Mask coreset(const reference::BlockScores& sc, const RouterParams& p, const BlockMaxPolicy& pol) {
  const int M = p.num_experts;
  const int capacity = pol.capacity > 0 ? pol.capacity : std::max(1, int(std::floor(pol.beta * M + 1e-9)));
  std::vector<double> best(static_cast<size_t>(M), -INFINITY);
  for (size_t n = 0; n < sc.valid.size(); ++n)
    if (sc.valid[n])
      for (int i = 0; i < M; ++i) best[size_t(i)] = std::max(best[size_t(i)], sc.r_row(int64_t(n))[i]);
  const std::vector<int> order = ranked(best);
  Mask C(static_cast<size_t>(M), 0);
  for (int q = 0; q < capacity; ++q) C[size_t(order[size_t(q)])] = 1;
  return C;
}

}  // namespace coreroute::testing::oracle
