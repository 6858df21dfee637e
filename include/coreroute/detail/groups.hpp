#pragma once
// The group limit of Stage 2 (docs/spec.md section 3), one copy for every backend:
// experts are split into n_group contiguous groups; a group's score is the sum of its
// two largest r among eligible experts, and a group with fewer than two eligible
// experts ranks below every group with two. Groups rank by score, ties to the lower
// group id (ranking.hpp's rule); a token keeps its topk_group best.
#include <cmath>
#include <cstdint>

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

/// A group's rank: `valid` when it has two eligible experts, then its score.
template <class T>
struct GroupRank {
  bool valid = false;
  T score = T(0);  ///< r[first] + r[second]; 0 when not valid (never compared then)
};

/// Group g's rank from the row r of selection scores: its experts [g * per, (g + 1) * per)
/// for which eligible(i) holds, scanned in id order.
template <class T, class Eligible>
CR_HD inline GroupRank<T> group_rank(const T* r, int g, int per, Eligible&& eligible) {
  TwoBest best;
  for (int i = g * per; i < (g + 1) * per; ++i)
    if (eligible(i)) best.offer(r, i);
  GroupRank<T> out;
  out.valid = best.second >= 0;
  out.score = out.valid ? r[best.first] + r[best.second] : T(0);
  return out;
}

/// True when group ga (rank a) ranks before group gb (rank b): valid groups first,
/// then the larger score, then the lower group id.
template <class T>
CR_HD inline bool group_ranks_before(const GroupRank<T>& a, int ga, const GroupRank<T>& b, int gb) {
  return a.valid != b.valid ? a.valid > b.valid : ranks_before(a.score, ga, b.score, gb);
}

/// group_ranks_before as one WideKey, for a max-reduction (the CUDA backend's double
/// path): a larger key ranks first. An invalid group's value bits are 1, below every
/// real score's (ordered bits of a double are > 1) and above "no key" (0).
CR_HD inline WideKey group_key(const GroupRank<double>& a, int g) {
  return a.valid ? wide_key(a.score, g) : WideKey{1, 0xFFFFFFFFu - static_cast<uint32_t>(g)};
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

/// A group's 32-bit key from its two largest eligible r (v2 = -Inf: fewer than two):
/// the ordered bits of their sum (> 1 for every float), or 1, which ranks below every
/// real score; a larger key ranks first, equal keys go to the lower group.
CR_HD inline uint32_t fast_group_key(float v1, float v2) {
  return v2 != -INFINITY ? ordered_bits(float(double(v1) + double(v2))) : 1u;
}

}  // namespace coreroute::detail
