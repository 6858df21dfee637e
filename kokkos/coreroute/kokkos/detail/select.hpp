#pragma once
// Per-thread selections run by the thread that owns one token: a top-k by the tie
// rule, and the Stage 2 group ranking. Both follow the reference's order exactly.
#include <Kokkos_Core.hpp>

#include <coreroute/detail/groups.hpp>
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

/// Stage 2 group limit for one token (docs/spec.md section 3, coreroute/detail/groups.hpp):
/// groups ranked by `rule` (top2: the sum of their two largest eligible r, groups with one
/// eligible expert below; max: their largest eligible r), empty groups last. Sets keep[g] = 1
/// for the `topk_group` best groups (ties: lower group id).
KOKKOS_INLINE_FUNCTION void best_groups(const double* r, const int* in_core, int G, int per, int topk_group,
                                        GroupScoreRule rule, double* score, int* keep) {
  using coreroute::detail::GroupRank;
  for (int g = 0; g < G; ++g) {
    const GroupRank<double> gr = coreroute::detail::group_rank(r, g, per, rule, [&](int i) { return in_core[i] != 0; });
    keep[g] = gr.tier;  // bits 0-1: the tier for now, bit 2: the decision below
    score[g] = gr.score;
  }
  // A group is kept when fewer than topk_group groups rank before it; the tier is
  // compared first, so read it before any keep[] is overwritten.
  for (int g = 0; g < G; ++g) {
    int before = 0;
    for (int h = 0; h < G; ++h) {
      const GroupRank<double> a{keep[h] & 3, score[h]}, c{keep[g] & 3, score[g]};
      before += coreroute::detail::group_ranks_before(a, h, c, g) ? 1 : 0;
    }
    keep[g] |= (before < topk_group ? 4 : 0);
  }
  for (int g = 0; g < G; ++g) keep[g] >>= 2;
}

}  // namespace coreroute::kokkos::detail
