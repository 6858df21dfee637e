// RouterConfig and policy parameter validation (docs/spec.md sections 2, 4 and 6): every
// rule rejects with coreroute::invalid_argument naming the parameter and its value.
#include "test_common.hpp"

using namespace crtest;

namespace {
RouterConfig dmoe_config() {  // LLaDA2.0-mini style router on 64 experts
  RouterConfig c = config(64, 8, ScoreFunction::sigmoid);
  c.expert_bias.assign(64, 0.125f);
  c.groups = {8, 4};
  c.normalize_weights = true;
  c.scaling = 2.5f;
  return c;
}
}  // namespace

TEST_CASE("valid configs pass validation", "[config]") {
  CHECK_NOTHROW(validate(config(8, 2)));
  CHECK_NOTHROW(validate(config(1, 1)));
  CHECK_NOTHROW(validate(dmoe_config()));
  RouterConfig c = config(8, 8);
  c.groups = {4, 4};  // K = topk_group * M / n_group exactly
  CHECK_NOTHROW(validate(c));
}

TEST_CASE("num_experts must be >= 1", "[config]") {
  CHECK_THAT(error_of([] { validate(config(0, 1)); }), Contains("num_experts = 0"));
  CHECK_THAT(error_of([] { validate(config(-3, 1)); }), Contains("num_experts = -3"));
}

TEST_CASE("top_k must be in [1, num_experts]", "[config]") {
  CHECK_THAT(error_of([] { validate(config(8, 0)); }), Contains("top_k = 0"));
  CHECK_THAT(error_of([] { validate(config(8, 9)); }), Contains("top_k = 9") && Contains("num_experts = 8"));
  CHECK_THAT(error_of([] { validate(config(8, -1)); }), Contains("top_k = -1"));
}

TEST_CASE("score must be softmax or sigmoid", "[config]") {
  RouterConfig c = config(8, 2);
  c.score = static_cast<ScoreFunction>(2);
  CHECK_THAT(error_of([&] { validate(c); }), Contains("score = 2"));
}

TEST_CASE("expert_bias must be empty or of length M, and finite", "[config]") {
  RouterConfig c = config(8, 2);
  c.expert_bias.assign(3, 0.0f);
  CHECK_THAT(error_of([&] { validate(c); }), Contains("expert_bias.size() = 3"));
  c.expert_bias.assign(8, 0.0f);
  CHECK_NOTHROW(validate(c));
  c.expert_bias[2] = kNaN;
  CHECK_THAT(error_of([&] { validate(c); }), Contains("expert_bias[2] = nan"));
  c.expert_bias[2] = 0.0f;
  c.expert_bias[7] = -kInf;
  CHECK_THAT(error_of([&] { validate(c); }), Contains("expert_bias[7] = -inf"));
}

TEST_CASE("scaling must be finite and > 0", "[config]") {
  for (float s : {0.0f, -1.0f, kNaN, kInf}) {
    CAPTURE(s);
    RouterConfig c = config(8, 2);
    c.scaling = s;
    CHECK_THAT(error_of([&] { validate(c); }), Contains("scaling = "));
  }
  RouterConfig c = config(8, 2);
  c.scaling = 1e-3f;
  CHECK_NOTHROW(validate(c));
}

TEST_CASE("group limits follow docs/spec.md section 2", "[config][groups]") {
  auto with_groups = [](int M, int K, int n_group, int topk_group) {
    RouterConfig c = config(M, K);
    c.groups = {n_group, topk_group};
    return error_of([&] { validate(c); });
  };
  CHECK_THAT(with_groups(8, 2, 3, 1), Contains("groups.n_group = 3") && Contains("divide"));
  CHECK_THAT(with_groups(8, 1, 8, 1), Contains("groups.n_group = 8") && Contains(">= 2 experts per group"));
  CHECK_THAT(with_groups(8, 2, -2, 1), Contains("groups.n_group = -2"));
  CHECK_THAT(with_groups(8, 2, 0, 2), Contains("groups.n_group = 0"));
  CHECK_THAT(with_groups(8, 2, 4, 0), Contains("groups.topk_group = 0"));
  CHECK_THAT(with_groups(8, 2, 4, 5), Contains("groups.topk_group = 5"));
  // 4 groups of 2, keep 1 group: a token can reach at most 2 experts.
  CHECK_THAT(with_groups(8, 3, 4, 1), Contains("top_k = 3"));
  CHECK_THAT(with_groups(8, 2, 4, 1), Contains("no coreroute::invalid_argument"));
}

TEST_CASE("UnionPolicy.k_local must be in [1, top_k]", "[config][union]") {
  const RouterConfig c = config(8, 3);
  CHECK_THAT(error_of([&] { UnionPolicy{0}.validate(c); }), Contains("UnionPolicy.k_local = 0"));
  CHECK_THAT(error_of([&] { UnionPolicy{4}.validate(c); }), Contains("UnionPolicy.k_local = 4"));
  CHECK_NOTHROW(UnionPolicy{1}.validate(c));
  CHECK_NOTHROW(UnionPolicy{3}.validate(c));
}

TEST_CASE("SaliencyVotePolicy needs core in [1, M] or beta in (0, 1]", "[config][vote]") {
  const RouterConfig c = config(8, 2);
  CHECK_THAT(error_of([&] { SaliencyVotePolicy{}.validate(c); }), Contains("SaliencyVotePolicy.beta = 0"));
  CHECK_THAT(error_of([&] { SaliencyVotePolicy::with_core(9).validate(c); }), Contains("SaliencyVotePolicy.core = 9"));
  CHECK_THAT(error_of([&] { SaliencyVotePolicy::with_core(-1).validate(c); }),
             Contains("SaliencyVotePolicy.core = -1"));
  CHECK_THAT(error_of([&] { SaliencyVotePolicy::with_beta(1.5).validate(c); }),
             Contains("SaliencyVotePolicy.beta = 1.5"));
  CHECK_THAT(error_of([&] { SaliencyVotePolicy::with_beta(-0.25).validate(c); }),
             Contains("SaliencyVotePolicy.beta = -0.25"));
  CHECK_THAT(error_of([&] { SaliencyVotePolicy::with_beta(double(kNaN)).validate(c); }),
             Contains("SaliencyVotePolicy.beta = nan"));
  SaliencyVotePolicy both = SaliencyVotePolicy::with_core(2);
  both.beta = 0.5;
  CHECK_THAT(error_of([&] { both.validate(c); }), Contains("SaliencyVotePolicy.beta = 0.5"));
  CHECK_NOTHROW(SaliencyVotePolicy::with_core(8).validate(c));
  CHECK_NOTHROW(SaliencyVotePolicy::with_beta(1.0).validate(c));
}

TEST_CASE("BlockDistributionPolicy needs top_p in (0, 1] and min_experts in [0, M]", "[config][blockdist]") {
  const RouterConfig c = config(8, 2);
  auto policy = [](double top_p, int min_experts) {
    BlockDistributionPolicy p;
    p.top_p = top_p;
    p.min_experts = min_experts;
    return p;
  };
  CHECK_THAT(error_of([&] { policy(0.0, 0).validate(c); }), Contains("BlockDistributionPolicy.top_p = 0"));
  CHECK_THAT(error_of([&] { policy(1.25, 0).validate(c); }), Contains("BlockDistributionPolicy.top_p = 1.25"));
  CHECK_THAT(error_of([&] { policy(double(kNaN), 0).validate(c); }), Contains("BlockDistributionPolicy.top_p = nan"));
  CHECK_THAT(error_of([&] { policy(0.5, -1).validate(c); }), Contains("BlockDistributionPolicy.min_experts = -1"));
  CHECK_THAT(error_of([&] { policy(0.5, 9).validate(c); }), Contains("BlockDistributionPolicy.min_experts = 9"));
  // The dMoE default floor of 16 does not fit 8 experts: rejected, not capped.
  CHECK_THAT(error_of([&] { BlockDistributionPolicy{}.validate(c); }),
             Contains("BlockDistributionPolicy.min_experts = 16"));
  CHECK_NOTHROW(policy(1.0, 8).validate(c));
}

TEST_CASE("the checked route validates config and policy even for an empty batch", "[config]") {
  const Batch empty(0, 0, 8);
  CHECK_THAT(error_of([&] { reference::route(empty.view(), config(8, 9), VanillaPolicy{}); }), Contains("top_k = 9"));
  CHECK_THAT(error_of([&] { reference::route(empty.view(), config(8, 2), UnionPolicy{3}); }),
             Contains("UnionPolicy.k_local = 3"));
  CHECK_NOTHROW(reference::route(empty.view(), config(8, 2), UnionPolicy{2}));
}

TEST_CASE("coreroute::invalid_argument is a std::invalid_argument", "[config]") {
  CHECK_THROWS_AS(validate(config(8, 0)), std::invalid_argument);
  try {
    validate(config(8, 0));
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Contains("top_k = 0"));
  }
}
