// BlockMaxPolicy (docs/spec.md section 4) and the vote aggregation by maximum it uses:
// identities with other policies, hand-computed blocks, exact and near ties at the
// capacity boundary, underflowing sigmoid scores, and the aggregation rule itself.
#include "test_common.hpp"

#include <cmath>
#include <vector>

using namespace crtest;

namespace {

RouterConfig sigmoid_biased(int M, int K, uint64_t seed) { return crtest::sigmoid_biased(M, K, seed + 77, 0.25); }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// A policy of a user's, aggregated by maximum over a top-1 vote that is always
/// negative: experts no token voted for must rank after every voted one, and count 0
/// in `total` (so total stays finite).
struct NegativeMaxPolicy {
  static constexpr bool needs_votes = true;
  static constexpr VoteAggregation aggregation = VoteAggregation::max;
  static constexpr const char* name = "negmax";
  CR_HD int local_k(const RouterParams&) const { return 1; }
  template <class T>
  CR_HD T vote(T r, int) const {
    return r - T(10);
  }
  template <class T>
  CR_HD bool keep(int q, T, T, T total, int) const {
    return q < 3 && total > T(-1e300);
  }
  void validate(const RouterConfig&) const {}
  std::string describe() const { return "negmax"; }
};
static_assert(is_policy_v<NegativeMaxPolicy>);

/// A policy that says its vote ignores the position, but whose vote does depend on it:
/// the reference's checked path must refuse it (backends skip the ranking on the promise).
struct BrokenPromisePolicy : BlockMaxPolicy {
  static constexpr const char* name = "brokenpromise";
  template <class T>
  CR_HD T vote(T r, int q) const {
    return r - T(q);
  }
};
static_assert(is_policy_v<BrokenPromisePolicy> && !vote_uses_position_v<BrokenPromisePolicy>);

}  // namespace

TEST_CASE("the aggregation: sum by default, maximum by choice; NaN never decides a maximum",
          "[blockmax][aggregation]") {
  static_assert(vote_aggregation_v<UnionPolicy> == VoteAggregation::sum);
  static_assert(vote_aggregation_v<BlockDistributionPolicy> == VoteAggregation::sum);
  static_assert(vote_aggregation_v<BlockMaxPolicy> == VoteAggregation::max);
  using coreroute::detail::add_vote;
  using coreroute::detail::no_vote;
  const double none = no_vote<double>(VoteAggregation::max);
  CHECK(std::isinf(none));
  CHECK(none < 0);
  CHECK(no_vote<double>(VoteAggregation::sum) == 0.0);
  CHECK(add_vote(VoteAggregation::sum, 1.5, 2.0) == 3.5);
  CHECK(add_vote(VoteAggregation::max, 1.5, 2.0) == 2.0);
  CHECK(add_vote(VoteAggregation::max, 2.0, 1.5) == 2.0);
  CHECK(add_vote(VoteAggregation::max, none, -3.0) == -3.0);
  CHECK(add_vote(VoteAggregation::max, 0.5, double(kNaN)) == 0.5);
  CHECK(add_vote(VoteAggregation::max, none, double(kNaN)) == none);
  CHECK(add_vote(VoteAggregation::max, add_vote(VoteAggregation::max, none, double(kNaN)), 0.25) == 0.25);
}

TEST_CASE("BlockMaxPolicy: a hand-computed block (sigmoid, bias, normalised weights)", "[blockmax]") {
  // r = sigmoid(x) + bias. Block scores (max over tokens): expert 0: 0.65 (token 1),
  // 1: 0.9 + 0.05 (token 0), 2: 0.2 + 0.5 = 0.7 (token 0), 3: 0.8 (token 2), 4: 0.1, 5: 0.3.
  // capacity 3: C = {1, 3, 2} ranked 0.95, 0.8, 0.7.
  Batch x = block_of({{sigmoid_logit(0.1), sigmoid_logit(0.9), sigmoid_logit(0.2), sigmoid_logit(0.1),
                       sigmoid_logit(0.1), sigmoid_logit(0.3)},
                      {sigmoid_logit(0.65), sigmoid_logit(0.1), sigmoid_logit(0.1), sigmoid_logit(0.5),
                       sigmoid_logit(0.05), sigmoid_logit(0.1)},
                      {sigmoid_logit(0.3), sigmoid_logit(0.2), sigmoid_logit(0.1), sigmoid_logit(0.8),
                       sigmoid_logit(0.1), sigmoid_logit(0.2)}});
  RouterConfig c = config(6, 2, ScoreFunction::sigmoid);
  c.expert_bias = {0.0f, 0.05f, 0.5f, 0.0f, 0.0f, 0.0f};
  c.normalize_weights = true;
  const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(3));
  CHECK(coreset_of(R, 0) == std::vector<int>{1, 2, 3});
  CHECK(R.coreset_size[0] == 3);
  // Token 0: r in C = {0.95, 0.7, 0.1}: picks 1, 2; weights from the unbiased 0.9, 0.2.
  CHECK(ids_of(R, 0, 0) == std::vector<int>{1, 2});
  CHECK_THAT(weights_of(R, 0, 0), approx({float(0.9 / 1.1), float(0.2 / 1.1)}));
  // Token 1: r in C = {0.15, 0.6, 0.5}: picks 2, 3 (unbiased 0.1, 0.5).
  CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 3});
  CHECK_THAT(weights_of(R, 0, 1), approx({float(0.1 / 0.6), float(0.5 / 0.6)}));
  // Token 2: r in C = {0.25, 0.6, 0.8}: picks 3, 2 (unbiased 0.8, 0.1).
  CHECK(ids_of(R, 0, 2) == std::vector<int>{3, 2});
  CHECK_THAT(weights_of(R, 0, 2), approx({float(0.8 / 0.9), float(0.1 / 0.9)}));
  // Summed saliency votes (DES-Vote, each token's top-2) choose differently: expert 2 is
  // in every token's top 2 (0.7 + 0.6 + 0.6 = 1.9), expert 1 in token 0's only (0.95).
  const Routing V = reference::route(x.view(), c, SaliencyVotePolicy::with_core(1));
  const Routing B1 = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1));
  CHECK(coreset_of(V, 0) == std::vector<int>{2});
  CHECK(coreset_of(B1, 0) == std::vector<int>{1});
}

TEST_CASE("BlockMaxPolicy with capacity = M routes like vanilla, with and without groups", "[blockmax][identities]") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    const Batch x = random_batch(seed, 3, 13, 16);
    RouterConfig grouped = sigmoid_biased(16, 4, seed);
    grouped.groups = {4, 2};
    RouterConfig grouped_max = grouped;
    grouped_max.groups.group_score = GroupScoreRule::max;
    for (const RouterConfig& c : {config(16, 4), sigmoid_biased(16, 4, seed), grouped, grouped_max}) {
      CAPTURE(seed, to_string(c.score), c.groups.n_group, to_string(c.groups.group_score));
      const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(16));
      check_same(R, reference::route(x.view(), c, VanillaPolicy{}));
      CHECK(R.coreset == std::vector<uint8_t>(size_t(3 * 16), 1));
      check_same(reference::route(x.view(), c, BlockMaxPolicy::with_beta(1.0)), R);
    }
  }
}

TEST_CASE("BlockMaxPolicy with one token per block routes every token as vanilla does", "[blockmax][identities]") {
  for (uint64_t seed : {4u, 5u}) {
    Batch one = random_batch(seed, 24, 1, 32);  // 24 blocks of one token
    Batch partial(24, 4, 32, 7.0f);             // the same rows as blocks of 4 with 1 valid token
    partial.tokens.assign(24, 1);
    for (int64_t b = 0; b < 24; ++b)
      for (int i = 0; i < 32; ++i) partial.at(b, 0, i) = one.at(b, 0, i);
    for (const RouterConfig& c : {config(32, 4), sigmoid_biased(32, 4, seed)})
      for (int capacity : {4, 5, 17}) {
        CAPTURE(seed, to_string(c.score), capacity);
        const Routing want = reference::route(one.view(), c, VanillaPolicy{});
        check_same(reference::route(one.view(), c, BlockMaxPolicy::with_capacity(capacity)), want);
        const Routing p = reference::route(partial.view(), c, BlockMaxPolicy::with_capacity(capacity));
        for (int64_t b = 0; b < 24; ++b) {
          CHECK(ids_of(p, b, 0) == ids_of(want, b, 0));
          CHECK(weights_of(p, b, 0) == weights_of(want, b, 0));
          CHECK(ids_of(p, b, 1) == std::vector<int>{-1, -1, -1, -1});  // padding rows cast no vote
        }
        CHECK(p.coreset == reference::route(one.view(), c, BlockMaxPolicy::with_capacity(capacity)).coreset);
      }
  }
}

TEST_CASE("BlockMaxPolicy: exact ties go to the lower id; an empty block keeps the lowest ids", "[blockmax][ties]") {
  Batch x(2, 3, 8, 0.5f);  // every logit equal: every block score ties
  x.tokens = {3, 0};
  for (ScoreFunction f : {ScoreFunction::softmax, ScoreFunction::sigmoid}) {
    const Routing R = reference::route(x.view(), config(8, 2, f), BlockMaxPolicy::with_capacity(3));
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 1, 2});
    CHECK(coreset_of(R, 1) == std::vector<int>{0, 1, 2});
    for (int n = 0; n < 3; ++n) CHECK(ids_of(R, 0, n) == std::vector<int>{0, 1});
  }
  // Ties between experts' maxima reached on different tokens: experts 5 and 2 both
  // peak at 1.0 (tokens 0 and 1); capacity 1 keeps 2.
  Batch y = block_of({{0, 0, 0.2f, 0, 0, 1.0f}, {0, 0, 1.0f, 0, 0, 0.3f}});
  const Routing R = reference::route(y.view(), config(6, 1, ScoreFunction::sigmoid), BlockMaxPolicy::with_capacity(1));
  CHECK(coreset_of(R, 0) == std::vector<int>{2});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2});
}

TEST_CASE("BlockMaxPolicy: a bias of 2e-7 that separates two equal logits decides", "[blockmax][ties]") {
  Batch x = block_of({{0.4f, 1.25f, 0.1f, 1.25f}, {0.4f, 0.2f, 0.1f, 0.3f}});
  RouterConfig c = config(4, 1, ScoreFunction::sigmoid);
  c.expert_bias = {0.0f, 0.0f, 0.0f, 2e-7f};
  const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1));
  CHECK(coreset_of(R, 0) == std::vector<int>{3});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{3});
  CHECK(ids_of(R, 0, 1) == std::vector<int>{3});
  c.expert_bias = {0.0f, 2e-7f, 0.0f, 0.0f};
  CHECK(coreset_of(reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1)), 0) == std::vector<int>{1});
  c.expert_bias.clear();  // without it, the tie goes to the lower id
  CHECK(coreset_of(reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1)), 0) == std::vector<int>{1});
}

TEST_CASE("BlockMaxPolicy: adjacent fp32 logits at a capacity-1 cutoff rank as in double", "[blockmax][ties]") {
  for (float base : {0.3f, -2.0f, 5.5f}) {
    const float up = std::nextafter(base, 10.0f);
    CAPTURE(base);
    for (ScoreFunction f : {ScoreFunction::softmax, ScoreFunction::sigmoid}) {
      // Expert 1 holds the smaller logit on token 0, expert 4 the adjacent larger one on token 1.
      Batch x(1, 2, 6, -3.0f);
      x.at(0, 0, 1) = base;
      x.at(0, 1, 4) = up;
      const RouterConfig c = config(6, 1, f);
      const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1));
      // In double, s(up) > s(base) for sigmoid; for softmax both rows have the same
      // other logits, so the larger logit has the larger score as well.
      std::vector<double> s(6), r(6), s2(6), r2(6);
      REQUIRE(reference::score_token(x.view(), 0, 0, params_of(c), s.data(), r.data()));
      REQUIRE(reference::score_token(x.view(), 0, 1, params_of(c), s2.data(), r2.data()));
      REQUIRE(r2[4] > r[1]);
      CHECK(coreset_of(R, 0) == std::vector<int>{4});
      x.at(0, 1, 4) = std::nextafter(base, -10.0f);  // now the other way round
      CHECK(coreset_of(reference::route(x.view(), c, BlockMaxPolicy::with_capacity(1)), 0) == std::vector<int>{1});
    }
  }
}

TEST_CASE("BlockMaxPolicy: logits near -90, where a float sigmoid underflows, get the reference's weights",
          "[blockmax][weights]") {
  // 1 / (1 + exp(90)) is 8.2e-40 in double; in float exp(90) overflows and s is 0. The
  // weights are docs/spec.md section 3's normalisation in double: s_j / sum s, no epsilon.
  Batch x = block_of({{-90.0f, -91.0f, -92.5f, -95.0f}, {-93.0f, -90.5f, -91.0f, -96.0f}});
  RouterConfig c = config(4, 3, ScoreFunction::sigmoid);
  c.normalize_weights = true;
  const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(3));
  CHECK(coreset_of(R, 0) == std::vector<int>{0, 1, 2});
  CHECK(1.0f / (1.0f + std::exp(90.0f)) == 0.0f);  // the float underflow this case is about
  const double a = sigmoid(-90.0), b = sigmoid(-91.0), d = sigmoid(-92.5);
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1, 2});
  CHECK_THAT(weights_of(R, 0, 0), approx({float(a / (a + b + d)), float(b / (a + b + d)), float(d / (a + b + d))}));
  CHECK(weights_of(R, 0, 0)[0] > 0.6f);  // an engine adding 1e-20 to the sum would give ~8e-20
  const double e = sigmoid(-90.5), f = sigmoid(-91.0), g = sigmoid(-93.0);
  CHECK(ids_of(R, 0, 1) == std::vector<int>{1, 2, 0});
  CHECK_THAT(weights_of(R, 0, 1), approx({float(e / (e + f + g)), float(f / (e + f + g)), float(g / (e + f + g))}));
  // Past double's range (s = 0 for all): the weights are 0, as section 3 says.
  Batch z = block_of({{-800.0f, -801.0f, -802.0f, -803.0f}});
  const Routing Z = reference::route(z.view(), c, BlockMaxPolicy::with_capacity(3));
  CHECK(weights_of(Z, 0, 0) == std::vector<float>{0.0f, 0.0f, 0.0f});
}

TEST_CASE("BlockMaxPolicy: negative selection scores are ranked, not clamped", "[blockmax]") {
  // With bias -1 every r is negative; a clamp at 0 (as the saliency votes have) would
  // tie every expert and keep the lowest ids.
  Batch x = block_of({{0.0f, 0.0f, 0.0f, 2.0f}, {0.0f, 0.0f, 1.0f, 0.0f}});
  RouterConfig c = config(4, 1, ScoreFunction::sigmoid);
  c.expert_bias = {-1.0f, -1.0f, -1.0f, -1.0f};
  const Routing R = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(2));
  CHECK(coreset_of(R, 0) == std::vector<int>{2, 3});
}

TEST_CASE("vote aggregation by maximum in a user policy: unvoted experts rank last and count 0", "[aggregation]") {
  // Top-1 votes r - 10 (< 0): token 0 votes for 3, token 1 for 1; the third kept
  // expert is the lowest-id unvoted one, 0.
  Batch x = block_of({{0.0f, 0.5f, 0.1f, 3.0f, 0.2f}, {0.0f, 2.0f, 0.1f, 0.2f, 0.2f}});
  const Routing R = reference::route(x.view(), config(5, 1, ScoreFunction::sigmoid), NegativeMaxPolicy{});
  CHECK(coreset_of(R, 0) == std::vector<int>{0, 1, 3});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{3});
  CHECK(ids_of(R, 0, 1) == std::vector<int>{1});
}

TEST_CASE("a policy that says vote_uses_position = false is held to it", "[aggregation][errors]") {
  const Batch x = random_batch(10, 1, 3, 8);
  BrokenPromisePolicy broken;
  broken.capacity = 2;
  CHECK_THAT(error_of([&] { reference::route(x.view(), config(8, 2), broken); }),
             Contains("differs from the vote at q = 0, but the policy says vote_uses_position = false"));
  CHECK_NOTHROW(reference::route(x.view(), config(8, 2), BlockMaxPolicy::with_capacity(2)));
}

TEST_CASE("BlockMaxPolicy: capacity or beta, checked by validate() naming the parameter", "[blockmax][errors]") {
  const Batch x = random_batch(9, 1, 4, 8);
  const RouterConfig c = config(8, 2);
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, BlockMaxPolicy{}); }), Contains("BlockMaxPolicy.beta = 0"));
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, BlockMaxPolicy::with_capacity(9)); }),
             Contains("BlockMaxPolicy.capacity = 9"));
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, BlockMaxPolicy::with_capacity(-1)); }),
             Contains("BlockMaxPolicy.capacity = -1"));
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, BlockMaxPolicy::with_beta(1.5)); }),
             Contains("BlockMaxPolicy.beta = 1.5"));
  BlockMaxPolicy both = BlockMaxPolicy::with_capacity(2);
  both.beta = 0.5;
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, both); }), Contains("must be 0 when capacity is set"));
  CHECK(BlockMaxPolicy::with_beta(0.29).capacity_for(100) == 29);
  CHECK(BlockMaxPolicy::with_beta(0.01).capacity_for(8) == 1);
  CHECK(BlockMaxPolicy::with_capacity(5).capacity_for(100) == 5);
  CHECK(reference::route(x.view(), c, BlockMaxPolicy::with_beta(0.5)).coreset_size[0] == 4);
  CHECK(BlockMaxPolicy::with_capacity(3).describe() == "blockmax(capacity=3)");
}
