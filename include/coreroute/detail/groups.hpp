#pragma once
// The group limit of Stage 2 (docs/spec.md section 3), one copy for every backend:
// experts are split into n_group contiguous groups and ranked in tiers. By the top2
// rule (the default): groups with two or more eligible experts by the sum of their two
// largest r, then groups with exactly one by that expert's r, then empty groups. By the
// max rule (DeepSeek-V2): groups with an eligible expert by their largest r, then empty
// groups. Ties to the lower group id (ranking.hpp's rule). A token keeps its topk_group
// best, so an empty group never displaces a group that holds an expert of the coreset.
#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "../macros.hpp"
#include "ranking.hpp"

namespace coreroute::detail {

/// The two best (ranks_before) of the experts offered to it, in the order offered.
struct TwoBest {
  int first = -1, second = -1;  ///< expert ids, -1 while absent

  template <class T>
  CR_HD void offer(const T* r, int i) {
    if (first < 0 || ranks_before(r[i], i, r[first], first)) {
      second = first;
      first = i;
    } else if (second < 0 || ranks_before(r[i], i, r[second], second))
      second = i;
  }
};

/// A group's rank: its tier (eligible experts, counted up to 2 by the top2 rule, up to
/// 1 by the max rule), then its score.
template <class T>
struct GroupRank {
  int tier = 0;    ///< 2: two or more eligible experts (top2 rule), 1: exactly one (max rule: one or more), 0: none
  T score = T(0);  ///< tier 2: r[first] + r[second]; tier 1: r[first]; tier 0: 0
};

/// Group g's rank from the row r of selection scores: its experts [g * per, (g + 1) * per)
/// for which eligible(i) holds, scanned in id order, scored by `rule`.
template <class T, class Eligible>
CR_HD inline GroupRank<T> group_rank(const T* r, int g, int per, GroupScoreRule rule, Eligible&& eligible) {
  TwoBest best;
  for (int i = g * per; i < (g + 1) * per; ++i)
    if (eligible(i)) best.offer(r, i);
  GroupRank<T> out;
  const bool two = rule == GroupScoreRule::top2 && best.second >= 0;
  out.tier = two ? 2 : best.first >= 0 ? 1 : 0;
  out.score = out.tier == 2 ? r[best.first] + r[best.second] : out.tier == 1 ? r[best.first] : T(0);
  return out;
}

/// True when group ga (rank a) ranks before group gb (rank b): the higher tier first,
/// then the larger score, then the lower group id.
template <class T>
CR_HD inline bool group_ranks_before(const GroupRank<T>& a, int ga, const GroupRank<T>& b, int gb) {
  return a.tier != b.tier ? a.tier > b.tier : ranks_before(a.score, ga, b.score, gb);
}

/// group_ranks_before as one key, for a max-reduction (the CUDA backend's double path):
/// the tier, then the score and group as a WideKey. A group's key is larger than
/// "no key" (all zero): a tier-0 group's score 0 has ordered bits > 0.
struct GroupKey {
  uint32_t tier = 0;
  WideKey key;
};

CR_HD inline GroupKey group_key(const GroupRank<double>& a, int g) {
  return {static_cast<uint32_t>(a.tier), wide_key(a.score, g)};
}

/// Key order = group_ranks_before.
CR_HD inline bool key_less(const GroupKey& a, const GroupKey& b) {
  return a.tier < b.tier || (a.tier == b.tier && key_less(a.key, b.key));
}

// The CUDA fast path's own form (float scores, values only), for speed: a lane keeps
// the two largest values of its share of a group and lanes merge theirs by shuffles,
// so no ids are carried (a group's score does not depend on which of two equal values
// is "first"). tests/test_rules.cpp pins it to group_rank / group_ranks_before.

CR_HD inline float max_of(float a, float b) {
#if defined(__CUDA_ARCH__)
  return fmaxf(a, b);
#else
  return std::fmax(a, b);
#endif
}
CR_HD inline float min_of(float a, float b) {
#if defined(__CUDA_ARCH__)
  return fminf(a, b);
#else
  return std::fmin(a, b);
#endif
}

/// Takes v into the two largest values seen (v1 >= v2; -Inf while absent).
CR_HD inline void keep_two_largest(float& v1, float& v2, float v) {
  v2 = max_of(v2, min_of(v1, v));
  v1 = max_of(v1, v);
}

/// Merges another share's two largest (w1 >= w2) into (v1, v2).
CR_HD inline void merge_two_largest(float& v1, float& v2, float w1, float w2) {
  v2 = max_of(max_of(v2, w2), min_of(v1, w1));
  v1 = max_of(v1, w1);
}

/// A group's 64-bit key from its two largest eligible r (-Inf: absent): the tier in the
/// high word (top2 rule: 2 for two or more, 1 for one; max rule: 1 for one or more; 0:
/// empty), then the ordered bits of the sum of the two, of the largest, or 1 for an empty
/// group; a larger key ranks first, equal keys go to the lower group, and every group's
/// key is larger than "no key" (0).
CR_HD inline uint64_t fast_group_key(float v1, float v2, GroupScoreRule rule) {
  if (rule == GroupScoreRule::top2 && v2 != -INFINITY)
    return (uint64_t(2) << 32) | ordered_bits(float(double(v1) + double(v2)));
  if (v1 != -INFINITY) return (uint64_t(1) << 32) | ordered_bits(v1);
  return 1u;
}

/// The tier of a fast_group_key (0 for an empty group and for "no key").
CR_HD inline int fast_group_tier(uint64_t key) { return static_cast<int>(key >> 32); }

}  // namespace coreroute::detail
