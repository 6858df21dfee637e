// Properties of the built-in policies (docs/spec.md section 4) on the reference, and so on
// every backend that passes parity.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <type_traits>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;
using namespace coreroute;

namespace {

/// Ids and weights of two routings are identical.
std::string same_rows(const Routing& a, const Routing& b) {
  for (size_t t = 0; t < a.ids.size(); ++t)
    if (a.ids[t] != b.ids[t] || a.weights[t] != b.weights[t])
      return "row " + std::to_string(t / size_t(a.top_k)) + " (flattened [B*N]) differs";
  return "";
}

ct::gen::CaseOptions no_groups() {
  ct::gen::CaseOptions o;
  o.allow_groups = false;
  return o;
}

}  // namespace

int main() {
  ct::PropertySuite suite("policy properties");

  suite.check("vanilla: coreset of every expert, hit rate 1, losses 0", [] {
    const ct::Case k = *ct::gen::valid_case();
    const Routing R = reference::route(k.view(), k.config, VanillaPolicy{});
    const Routing R0 = reference::route(k.view(), k.config, VanillaPolicy{});
    std::vector<float> y(size_t(k.blocks * k.tokens * k.experts() * 2), 1.0f);
    for (size_t i = 0; i < y.size(); ++i) y[i] = float(int(i % 7) - 3);
    const ExpertOutputsView out{y.data(), k.tokens * k.experts() * 2, int64_t(k.experts()) * 2, 2, 2};
    for (int64_t b = 0; b < k.blocks; ++b) {
      RC_ASSERT(R.coreset_size[size_t(b)] == k.experts());
      const BlockMetrics m = reference::block_metrics(R, R0, b, 1.0, &out);
      RC_ASSERT(m.topk_hit_rate == 1.0);
      RC_ASSERT(m.gate_reconstruction_loss == 0.0);
      RC_ASSERT(m.output_reconstruction_loss == 0.0);
      RC_ASSERT(ct::close(m.hit_cosine, 1.0));
    }
  });

  suite.check("union: k_local = K equals vanilla without groups", [] {
    const ct::Case k = *ct::gen::valid_case(no_groups());
    UnionPolicy u;
    u.k_local = k.config.top_k;
    const std::string bad =
        same_rows(reference::route(k.view(), k.config, u), reference::route(k.view(), k.config, VanillaPolicy{}));
    if (!bad.empty()) RC_FAIL(bad);
  });

  suite.check("vote: |C| = core", [] {
    const ct::Case k = *ct::gen::valid_case();
    const SaliencyVotePolicy pol = *ct::gen::vote_policy(k.config);
    const Routing R = reference::route(k.view(), k.config, pol);
    for (int64_t b = 0; b < k.blocks; ++b) RC_ASSERT(R.coreset_size[size_t(b)] == pol.core_for(k.experts()));
  });

  suite.check("vote: equals vanilla once core covers every expert with a positive vote (no groups, r > 0)", [] {
    ct::gen::CaseOptions o = no_groups();
    o.allow_bias = false;  // sigmoid without bias: every r > 0 (logits kept moderate)
    o.styles = {ct::gen::Logits::correlated, ct::gen::Logits::bf16, ct::gen::Logits::grid};
    ct::Case k = *ct::gen::valid_case(o);
    k.config.score = ScoreFunction::sigmoid;
    const RouterParams p = params_of(k.config);
    reference::BlockScores sc;
    reference::Workspace ws;
    std::vector<double> votes(size_t(k.experts()));
    int positive = 1;
    for (int64_t b = 0; b < k.blocks; ++b) {
      reference::score_block(k.view(), b, p, sc);
      reference::block_votes(sc, p, SaliencyVotePolicy::with_core(1), ws, votes.data());
      positive =
          std::max<int>(positive, int(std::count_if(votes.begin(), votes.end(), [](double v) { return v > 0; })));
    }
    const int core = *rc::gen::inRange(positive, k.experts() + 1);
    const std::string bad = same_rows(reference::route(k.view(), k.config, SaliencyVotePolicy::with_core(core)),
                                      reference::route(k.view(), k.config, VanillaPolicy{}));
    if (!bad.empty()) RC_FAIL("core = " + std::to_string(core) + ": " + bad);
  });

  suite.check("blockdist: |C| >= min(min_experts, M)", [] {
    const ct::Case k = *ct::gen::valid_case();
    const BlockDistributionPolicy pol = *ct::gen::blockdist_policy(k.config);
    const Routing R = reference::route(k.view(), k.config, pol);
    for (int64_t b = 0; b < k.blocks; ++b)
      RC_ASSERT(R.coreset_size[size_t(b)] >= std::min(pol.min_experts, k.experts()));
  });

  suite.check("blockdist: monotone in top_p (C(p1) is inside C(p2) for p1 <= p2)", [] {
    const ct::Case k = *ct::gen::valid_case();
    BlockDistributionPolicy p1 = *ct::gen::blockdist_policy(k.config), p2 = p1;
    p2.top_p =
        *rc::gen::map(rc::gen::inRange(0, 1001), [&](int t) { return p1.top_p + (1.0 - p1.top_p) * t / 1000.0; });
    p2.top_p = std::min(1.0, std::max(p1.top_p, p2.top_p));
    const Routing a = reference::route(k.view(), k.config, p1), b = reference::route(k.view(), k.config, p2);
    for (size_t i = 0; i < a.coreset.size(); ++i)
      if (a.coreset[i] && !b.coreset[i])
        RC_FAIL("expert " + std::to_string(i % size_t(k.experts())) + " in C(" + std::to_string(p1.top_p) +
                ") but not in C(" + std::to_string(p2.top_p) + ")");
  });

  // The generic generator (new built-in policies use it until they get a tuned one):
  // on every registered policy, its draws route with the invariants, and every
  // registered parameter takes more than one value.
  for_each_builtin([&](const auto& entry) {
    using P = typename std::decay_t<decltype(entry)>::policy_type;
    auto seen = std::make_shared<std::map<std::string, std::set<double>>>();
    suite.check(std::string(P::name) + ": registered_policy draws route with the invariants", [=] {
      const ct::Case k = *ct::gen::valid_case();
      const P pol = *ct::gen::registered_policy<P>(k.config);
      const Routing R = reference::route(k.view(), k.config, pol);  // validates pol
      const std::string bad = ct::join(ct::check_invariants(k.view(), k.config, R));
      if (!bad.empty()) RC_FAIL(pol.describe() + ": " + bad);
      for_each_param(entry, [&](const auto& param) { (*seen)[param.field].insert(double(pol.*param.member)); });
    });
    std::string fixed;
    for_each_param(entry, [&](const auto& param) {
      if ((*seen)[param.field].size() < 2) fixed += std::string(fixed.empty() ? "" : ", ") + param.field;
    });
    suite.expect(fixed.empty(), std::string(P::name) + ": every registered parameter varies",
                 fixed.empty() ? "holds" : ("FALSIFIED: never varied: " + fixed).c_str());
  });

  return suite.finish();
}
