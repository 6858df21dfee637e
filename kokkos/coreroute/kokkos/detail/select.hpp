#pragma once
// Per-thread selections run by the thread that owns one token: a top-k by the tie
// rule, and the Stage 2 group ranking. Both follow the reference's order exactly.
#include <Kokkos_Core.hpp>

#include <coreroute/detail/ranking.hpp>

namespace coreroute::kokkos::detail {

using coreroute::detail::ranks_before;

/// The best `k` of r[0..M) among `eligible(i)`, by (r desc, index asc), into out[0..k)
/// in rank order; returns how many (min(k, #eligible)). One pass, insertion into out:
/// indices arrive in increasing order, so an equal value never moves ahead.
template <class Eligible>
KOKKOS_INLINE_FUNCTION int top_k(const double* r, int M, int k, const Eligible& eligible, int* out) {
  int got = 0;
  for (int i = 0; i < M; ++i) {
    if (!eligible(i)) continue;
    if (got == k && !ranks_before(r[i], i, r[out[k - 1]], out[k - 1])) continue;
    int pos = got < k ? got++ : k - 1;
    for (; pos > 0 && ranks_before(r[i], i, r[out[pos - 1]], out[pos - 1]); --pos) out[pos] = out[pos - 1];
    out[pos] = i;
  }
  return got;
}

/// Stage 2 group limit for one token (docs/spec.md section 3): a group's score is the sum of
/// its two largest eligible r; a group with fewer than two ranks below every group with
/// two. Sets keep[g] = 1 for the `topk_group` best groups (ties: lower group id).
KOKKOS_INLINE_FUNCTION void best_groups(const double* r, const int* in_core, int G, int per, int topk_group,
                                        double* score, int* keep) {
  for (int g = 0; g < G; ++g) {
    int first = -1, second = -1;
    for (int i = g * per; i < (g + 1) * per; ++i) {
      if (!in_core[i]) continue;
      if (first < 0 || ranks_before(r[i], i, r[first], first)) { second = first; first = i; }
      else if (second < 0 || ranks_before(r[i], i, r[second], second)) second = i;
    }
    keep[g] = second >= 0 ? 1 : 0;  // validity for now, the decision below
    score[g] = second >= 0 ? r[first] + r[second] : 0.0;
  }
  // A group is kept when fewer than topk_group groups rank before it; validity is
  // compared first, so read it before any keep[] is overwritten.
  for (int g = 0; g < G; ++g) {
    int before = 0;
    for (int h = 0; h < G; ++h) {
      const int vh = keep[h] & 1, vg = keep[g] & 1;
      before += (vh != vg) ? (vh > vg) : ranks_before(score[h], h, score[g], g);
    }
    keep[g] |= (before < topk_group ? 2 : 0);
  }
  for (int g = 0; g < G; ++g) keep[g] >>= 1;
}

}  // namespace coreroute::kokkos::detail
