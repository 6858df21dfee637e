#pragma once
// An example of a user-written coreset policy: a saliency vote with an adaptive
// budget. docs/custom-policy.md shows the regions between the [markers] verbatim
// (a ctest test checks they agree).
#include <coreroute/coreroute.hpp>

namespace example {

// [policy]
/// DES-Vote with an adaptive budget: keep the experts whose vote is at least
/// `ratio` times the block's mean vote (a peaked block keeps few, a flat one many),
/// never fewer than `min_core` nor more than `max_core`.
struct AdaptiveVotePolicy : coreroute::SaliencyVotes {  // votes of docs/spec.md section 4
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "adaptive-vote";
  double ratio = 1.0;
  int min_core = 1;
  int max_core = 1 << 30;  // clamped to M

  // Rank q's expert has vote v; `total` is the sum of all votes. Monotone in q,
  // since votes decrease along the ranking.
  template <class T>
  CR_HD bool keep(int q, T v, T, T total, int M) const {
    if (q < min_core) return true;
    return q < max_core && v > T(0) && v * T(M) >= T(ratio) * total;
  }
  void validate(const coreroute::RouterConfig& c) const {
    using coreroute::detail::require;
    require(ratio > 0 && ratio < 1e9, "AdaptiveVotePolicy.ratio", ratio, "must be in (0, 1e9)");
    require(min_core >= 1 && min_core <= c.num_experts, "AdaptiveVotePolicy.min_core", min_core,
            "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
    require(max_core >= min_core, "AdaptiveVotePolicy.max_core", max_core, "must be >= min_core");
  }
  std::string describe() const {
    return "adaptive-vote(ratio=" + std::to_string(ratio) + ",min_core=" + std::to_string(min_core) +
           ",max_core=" + std::to_string(max_core) + ")";
  }
};
static_assert(coreroute::is_policy_v<AdaptiveVotePolicy>);
// [policy]

}  // namespace example
