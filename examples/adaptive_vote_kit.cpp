// The conformance kit on the example policy: invariants, its definition (an
// oracle written from the policy's description) and parity on the host backends.
#include "adaptive_vote_policy.hpp"

// [kit]
#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;
using example::AdaptiveVotePolicy;

// Policies valid for a config: the kit draws one per generated case.
rc::Gen<AdaptiveVotePolicy> adaptive_votes(const coreroute::RouterConfig& c) {
  const int M = c.num_experts;
  return rc::gen::exec([M] {
    AdaptiveVotePolicy p;
    p.ratio = *rc::gen::element(0.25, 0.5, 1.0, 2.0, 4.0);
    p.min_core = *rc::gen::inRange(1, M + 1);
    p.max_core = *rc::gen::inRange(p.min_core, M + 1);
    return p;
  });
}

// The coreset from the policy's description, written plainly (not through keep):
// rank by vote, take min_core, then every expert with a vote >= ratio * mean.
ct::oracle::Mask adaptive_vote_oracle(const coreroute::reference::BlockScores& sc, const coreroute::RouterParams& p,
                                      const AdaptiveVotePolicy& pol) {
  const std::vector<double> V = ct::oracle::saliency_votes(sc, p);
  double mean = 0;
  for (double v : V) mean += v / p.num_experts;
  ct::oracle::Mask C(V.size(), 0);
  int kept = 0;
  for (int e : ct::oracle::ranked(V)) {
    const bool heavy = V[size_t(e)] > 0 && V[size_t(e)] >= pol.ratio * mean;
    if (kept >= pol.min_core && (kept >= pol.max_core || !heavy)) break;
    C[size_t(e)] = 1;
    ++kept;
  }
  return C;
}

int main() {
  ct::PropertySuite suite("adaptive-vote policy");
  ct::check_policy<AdaptiveVotePolicy>(suite, "adaptive-vote", adaptive_votes, adaptive_vote_oracle);
  return suite.finish();
}
// [kit]
