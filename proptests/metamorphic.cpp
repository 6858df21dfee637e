// Metamorphic properties (issue: permuting tokens, relabelling experts, shifting a
// softmax row), each run through the parity harness so that a difference is either
// a verified near-tie or a failure.
#include <algorithm>
#include <numeric>

#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;
using namespace coreroute;

namespace {

/// The reference on relabelled experts: expert i is routed as label[i] (bias moved
/// along, groups preserved), then the output is mapped back to the original ids.
struct RelabelledBackend {
  static constexpr const char* name = "relabelled-reference";
  static inline std::vector<int> label;  ///< original id -> routed id

  static ct::Case relabel(const LogitsView<float>& x, const RouterConfig& c) {
    ct::Case k = ct::make_case(c, x.blocks, x.tokens);
    k.tokens_per_block.assign(x.tokens_per_block ? x.tokens_per_block : nullptr,
                              x.tokens_per_block ? x.tokens_per_block + x.blocks : nullptr);
    for (int64_t b = 0; b < x.blocks; ++b)
      for (int64_t n = 0; n < x.tokens; ++n)
        for (int i = 0; i < c.num_experts; ++i)
          k.at(b, n, label[size_t(i)]) = n < x.valid_tokens(b) ? x.at(b, n, i) : 0.0f;
    for (size_t i = 0; i < c.expert_bias.size(); ++i) k.config.expert_bias[size_t(label[i])] = c.expert_bias[i];
    return k;
  }
  static Routing back(Routing R) {
    const Routing routed = R;
    const int M = R.experts;
    std::vector<int> original(label.size());
    for (size_t i = 0; i < label.size(); ++i) original[size_t(label[i])] = int(i);
    for (int32_t& id : R.ids) id = id < 0 ? id : original[size_t(id)];
    for (int64_t b = 0; b < R.blocks; ++b)
      for (int i = 0; i < M; ++i) R.coreset[size_t(b * M + i)] = routed.coreset[size_t(b * M + label[size_t(i)])];
    return R;
  }
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* d) {
    reference::validate(x, c, p);
    const ct::Case k = relabel(x, c);
    Routing R = back(reference::route(k.view(), k.config, p));
    if (d) *d = reference::dispatch_of(R);
    return R;
  }
  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    const ct::Case k = relabel(x, c);
    std::vector<uint8_t> mask(size_t(x.blocks * c.num_experts));
    for (int64_t b = 0; b < x.blocks; ++b)
      for (int i = 0; i < c.num_experts; ++i)
        mask[size_t(b * c.num_experts + label[size_t(i)])] = coreset[b * c.num_experts + i];
    return back(reference::route_in_coreset(k.view(), k.config, mask.data()));
  }
  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double bytes,
                                           const ExpertOutputsView* o) {
    return reference::metrics(R, R0, bytes, o);
  }
};

/// A random relabelling; with groups, it permutes whole groups and experts within them.
rc::Gen<std::vector<int>> relabelling(const RouterConfig& c) {
  return rc::gen::exec([c] {
    const int M = c.num_experts, G = c.groups.enabled() ? c.groups.n_group : 1, per = M / G;
    auto shuffled = [](int n) {  // Fisher-Yates from drawn indices: shrinks to the identity
      std::vector<int> v(static_cast<size_t>(n));
      std::iota(v.begin(), v.end(), 0);
      for (int t = n - 1; t > 0; --t) std::swap(v[size_t(t)], v[size_t(*rc::gen::inRange(0, t + 1))]);
      return v;
    };
    const std::vector<int> group_order = shuffled(G);
    std::vector<int> label(static_cast<size_t>(M));
    for (int g = 0; g < G; ++g) {
      const std::vector<int> within = shuffled(per);
      for (int t = 0; t < per; ++t) label[size_t(g * per + t)] = group_order[size_t(g)] * per + within[size_t(t)];
    }
    return label;
  });
}

template <class Policy>
void relabel_property(ct::PropertySuite& suite, const std::string& name, ct::PolicyGen<Policy> policies) {
  suite.check("relabelling experts relabels the output, away from ties: " + name, [=] {
    const ct::Case k = *ct::gen::valid_case();
    const Policy pol = *policies(k.config);
    RelabelledBackend::label = *relabelling(k.config);
    ct::ParityOptions opt;
    opt.strict_exact_ties = false;  // the tie rule follows the labels, by design
    const ct::ParityReport rep = ct::check_parity<RelabelledBackend>(k.view(), k.config, pol, opt);
    if (!rep.ok()) RC_FAIL(rep.summary());
  });
}

template <class Policy>
void permute_property(ct::PropertySuite& suite, const std::string& name, ct::PolicyGen<Policy> policies) {
  suite.check("permuting a block's tokens permutes the rows, keeps C and the metrics: " + name, [=] {
    const ct::Case k = *ct::gen::valid_case();
    const Policy pol = *policies(k.config);
    ct::ShuffledReferenceBackend::salt = *rc::gen::arbitrary<uint64_t>();
    const ct::ParityReport rep = ct::check_parity<ct::ShuffledReferenceBackend>(k.view(), k.config, pol);
    if (!rep.ok()) RC_FAIL(rep.summary());
    if (rep.coreset_near_ties + rep.id_near_ties > 0) return;  // C legitimately moved at a near-tie
    const Routing a = reference::route(k.view(), k.config, pol);
    const Routing b = ct::ShuffledReferenceBackend::route(k.view(), k.config, pol, nullptr);
    RC_ASSERT(a.coreset == b.coreset);
    RC_ASSERT(a.ids == b.ids);
    RC_ASSERT(a.weights == b.weights);
  });
}

}  // namespace

int main() {
  ct::PropertySuite suite("metamorphic properties");
  permute_property<UnionPolicy>(suite, "union", ct::gen::union_policy);
  permute_property<SaliencyVotePolicy>(suite, "vote", ct::gen::vote_policy);
  permute_property<BlockDistributionPolicy>(suite, "blockdist", ct::gen::blockdist_policy);
  permute_property<BlockMaxPolicy>(suite, "blockmax", ct::gen::registered_policy<BlockMaxPolicy>);
  relabel_property<VanillaPolicy>(suite, "vanilla", ct::gen::vanilla_policy);
  relabel_property<SaliencyVotePolicy>(suite, "vote", ct::gen::vote_policy);
  relabel_property<BlockDistributionPolicy>(suite, "blockdist", ct::gen::blockdist_policy);
  relabel_property<BlockMaxPolicy>(suite, "blockmax", ct::gen::registered_policy<BlockMaxPolicy>);

  suite.check("softmax: adding a constant to a token's logits changes nothing", [] {
    ct::gen::CaseOptions o;
    o.styles = {ct::gen::Logits::correlated, ct::gen::Logits::grid, ct::gen::Logits::equal_rows};
    ct::Case k = *ct::gen::valid_case(o);
    k.config.score = ScoreFunction::softmax;
    // Logits on a 2^-10 grid: adding an integer is exact in float, so x - max is too.
    for (float& v : k.logits) v = std::isfinite(v) ? std::round(v * 1024.0f) / 1024.0f : v;
    ct::Case shifted = k;
    for (int64_t b = 0; b < k.blocks; ++b)
      for (int64_t n = 0; n < k.tokens; ++n) {
        const float c = float(*rc::gen::inRange(-16, 17));
        for (int i = 0; i < k.experts(); ++i) shifted.at(b, n, i) += c;
      }
    const BlockDistributionPolicy pol = *ct::gen::blockdist_policy(k.config);
    const Routing a = reference::route(k.view(), k.config, pol);
    const Routing b = reference::route(shifted.view(), shifted.config, pol);
    RC_ASSERT(a.coreset == b.coreset);
    RC_ASSERT(a.ids == b.ids);
    RC_ASSERT(a.weights == b.weights);
  });
  return suite.finish();
}
