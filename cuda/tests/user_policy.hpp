#pragma once
// User-written policies, to show that the CUDA kernel runs any policy of the concept
// unchanged. RankDecayPolicy: votes decay with the token's rank of the expert, and the
// coreset keeps a floor of experts plus every expert holding at least `share` of all votes.
// FirstExpertsPolicy: no votes (needs_votes = false), so the ranking is by id and the
// coreset is the first `count` experts.
#include <string>

#include <coreroute/policies.hpp>

namespace coreroute::cuda_test {

struct RankDecayPolicy {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "rankdecay";
  int k_local = 2;
  int floor = 2;
  float share = 0.05f;

  CR_HD int local_k(const RouterParams&) const { return k_local; }
  template <class T>
  CR_HD T vote(T r, int q) const {
    return r > T(0) ? r / T(q + 1) : T(0);
  }
  template <class T>
  CR_HD bool keep(int q, T v, T, T total, int) const {  // v falls with q: a prefix
    return q < floor || (v > T(0) && v >= T(share) * total);
  }
  void validate(const RouterConfig& c) const {
    detail::require(k_local >= 1 && k_local <= c.top_k, "RankDecayPolicy.k_local", k_local, "must be in [1, top_k]");
    detail::require(floor >= 0 && floor <= c.num_experts, "RankDecayPolicy.floor", floor, "must be in [0, M]");
  }
  std::string describe() const {
    return "rankdecay(k_local=" + std::to_string(k_local) + ",floor=" + std::to_string(floor) +
           ",share=" + std::to_string(share) + ")";
  }
};

static_assert(is_policy_v<RankDecayPolicy>);

struct FirstExpertsPolicy {
  static constexpr bool needs_votes = false;
  static constexpr const char* name = "firstexperts";
  int count = 8;

  CR_HD int local_k(const RouterParams&) const { return 0; }  // not read: no votes
  template <class T>
  CR_HD T vote(T, int) const {
    return T(0);
  }
  template <class T>
  CR_HD bool keep(int q, T, T, T, int) const {  // every vote is 0: rank q is expert q
    return q < count;
  }
  void validate(const RouterConfig& c) const {
    detail::require(count >= 1 && count <= c.num_experts, "FirstExpertsPolicy.count", count, "must be in [1, M]");
  }
  std::string describe() const { return "firstexperts(count=" + std::to_string(count) + ")"; }
};

static_assert(is_policy_v<FirstExpertsPolicy>);

}  // namespace coreroute::cuda_test
