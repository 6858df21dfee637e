// The mutation check: deliberately broken variants must make the kit report
// failure. This test passes only when every mutant is caught.
//  - backend mutants (caught by the parity harness): the tie rule flipped (ties to
//    the higher id), the top-p prefix off by one, a coreset that misses one expert;
//  - policy mutants (caught by the kit's oracle property): a top-p keep rule off by
//    one, a vote coreset that misses one expert.
#include <algorithm>
#include <numeric>

#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;
using namespace coreroute;

namespace {

/// dMoE with the top-p prefix off by one: stops *before* the expert that crosses top_p.
struct OffByOneTopP : BlockDistributionPolicy {
  template <class T>
  CR_HD bool keep(int q, T v, T before, T total, int) const {
    return q < min_experts || (v > T(0) && (before + v) / total <= T(top_p));
  }
};

/// DES-Vote keeping one expert fewer than `core` (none when core = 1).
struct MissOneVote : SaliencyVotePolicy {
  template <class T>
  CR_HD bool keep(int q, T, T, T, int M) const {
    return q + 1 < core_for(M);
  }
};

/// The reference with the expert labels reversed, mapped back: ties go to the higher id.
struct FlippedTieBackend : ct::ReferenceBackend {
  static constexpr const char* name = "mutant: flipped tie rule";
  static ct::Case reversed(const LogitsView<float>& x, const RouterConfig& c) {
    ct::Case k = ct::make_case(c, x.blocks, x.tokens);
    if (x.tokens_per_block) k.tokens_per_block.assign(x.tokens_per_block, x.tokens_per_block + x.blocks);
    const int M = c.num_experts;
    for (int64_t b = 0; b < x.blocks; ++b)
      for (int64_t n = 0; n < x.valid_tokens(b); ++n)
        for (int i = 0; i < M; ++i) k.at(b, n, M - 1 - i) = x.at(b, n, i);
    std::reverse(k.config.expert_bias.begin(), k.config.expert_bias.end());
    return k;
  }
  static Routing back(Routing R) {
    for (int32_t& id : R.ids) id = id < 0 ? id : R.experts - 1 - id;
    for (int64_t b = 0; b < R.blocks; ++b)
      std::reverse(R.coreset.begin() + b * R.experts, R.coreset.begin() + (b + 1) * R.experts);
    return R;
  }
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* d) {
    reference::validate(x, c, p);
    const ct::Case k = reversed(x, c);
    Routing R = back(reference::route(k.view(), k.config, p));
    if (d) *d = reference::dispatch_of(R);
    return R;
  }
};

/// The reference running OffByOneTopP in place of BlockDistributionPolicy.
struct OffByOneTopPBackend : ct::ReferenceBackend {
  static constexpr const char* name = "mutant: top-p prefix off by one";
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* d) {
    if constexpr (std::is_same_v<Policy, BlockDistributionPolicy>)
      return ct::ReferenceBackend::route(x, c, OffByOneTopP{p}, d);
    else
      return ct::ReferenceBackend::route(x, c, p, d);
  }
};

/// The reference, then the last-ranked expert of each coreset dropped (Stage 2 rerun).
struct MissingExpertBackend : ct::ReferenceBackend {
  static constexpr const char* name = "mutant: coreset misses one expert";
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* d) {
    Routing R = reference::route(x, c, p);
    const RouterParams rp = params_of(c);
    reference::BlockScores sc;
    reference::Workspace ws;
    std::vector<double> votes(size_t(c.num_experts));
    for (int64_t b = 0; b < x.blocks; ++b) {
      reference::score_block(x, b, rp, sc);
      reference::block_votes(sc, rp, p, ws, votes.data());
      uint8_t* mask = &R.coreset[size_t(b * c.num_experts)];
      int last = -1;  // the kept expert that ranks last
      for (int i = 0; i < c.num_experts; ++i)
        if (mask[i] && (last < 0 || reference::ranks_before(votes[size_t(last)], last, votes[size_t(i)], i))) last = i;
      if (last >= 0 && R.coreset_size[size_t(b)] > 1) mask[last] = 0;
    }
    R = reference::route_in_coreset(x, c, R.coreset.data());
    if (d) *d = reference::dispatch_of(R);
    return R;
  }
};

template <class Backend, class Policy>
void backend_mutant(ct::PropertySuite& suite, const std::string& policy, ct::PolicyGen<Policy> policies,
                    const ct::gen::CaseOptions& o = {}) {
  suite.expect_falsified(std::string(Backend::name) + ", " + policy + ": parity with the reference", [=] {
    const ct::Case k = *ct::gen::valid_case(o);
    const Policy pol = *policies(k.config);
    const ct::ParityReport rep = ct::check_parity<Backend>(k.view(), k.config, pol);
    if (!rep.ok()) RC_FAIL(rep.summary());
  });
}

template <class Mutant>
void policy_mutant(ct::PropertySuite& suite, const std::string& name, ct::PolicyGen<Mutant> policies,
                   ct::CoresetOracle<Mutant> oracle) {
  std::cerr << "\n=== the kit on policy mutant '" << name << "' (its properties are expected to fail) ===\n";
  ct::PropertySuite kit("kit on mutant " + name);
  const bool held = ct::check_policy<Mutant>(kit, name, std::move(policies), std::move(oracle));
  kit.finish();
  suite.expect(!held, "policy mutant " + name + ": the kit reports failure", held ? "NOT CAUGHT" : "caught");
}

}  // namespace

int main() {
  ct::PropertySuite suite("mutation check");
  ct::gen::CaseOptions ties;  // exact input ties are where a flipped tie rule shows
  ties.styles = {ct::gen::Logits::grid, ct::gen::Logits::bf16, ct::gen::Logits::equal_rows};
  backend_mutant<FlippedTieBackend, VanillaPolicy>(suite, "vanilla", ct::gen::vanilla_policy, ties);
  backend_mutant<FlippedTieBackend, SaliencyVotePolicy>(suite, "vote", ct::gen::vote_policy, ties);
  backend_mutant<OffByOneTopPBackend, BlockDistributionPolicy>(suite, "blockdist", ct::gen::blockdist_policy);
  backend_mutant<MissingExpertBackend, SaliencyVotePolicy>(suite, "vote", ct::gen::vote_policy);
  backend_mutant<MissingExpertBackend, BlockDistributionPolicy>(suite, "blockdist", ct::gen::blockdist_policy);

  policy_mutant<OffByOneTopP>(
      suite, "off-by-one top-p",
      [](const RouterConfig& c) {
        return rc::gen::map(ct::gen::blockdist_policy(c), [](BlockDistributionPolicy p) { return OffByOneTopP{p}; });
      },
      [](const reference::BlockScores& sc, const RouterParams& p, const OffByOneTopP& m) {
        return ct::oracle::coreset(sc, p, static_cast<const BlockDistributionPolicy&>(m));
      });
  policy_mutant<MissOneVote>(
      suite, "vote missing one expert",
      [](const RouterConfig& c) {
        return rc::gen::map(ct::gen::vote_policy(c), [](SaliencyVotePolicy p) { return MissOneVote{p}; });
      },
      [](const reference::BlockScores& sc, const RouterParams& p, const MissOneVote& m) {
        return ct::oracle::coreset(sc, p, static_cast<const SaliencyVotePolicy&>(m));
      });
  return suite.finish();
}
