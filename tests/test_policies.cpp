// Each policy's Stage 1 on small blocks whose scores are chosen to be exact
// fractions. Softmax rows use logits ln(w) with sum(w) = 10, so s = w / 10.
#include "test_common.hpp"

using namespace crtest;

namespace {
float ln(double w) { return float(std::log(w)); }

// s = t0 {.40 .25 .10 .10 .10 .05}   top-2: 0, 1
//     t1 {.10 .10 .50 .05 .20 .05}   top-2: 2, 4
//     t2 {.30 .05 .05 .10 .10 .40}   top-2: 5, 0
// Saliency votes V = {.70 .25 .50 0 .20 .40}, sum 2.05; by V: 0, 2, 5, 1, 4, 3.
Batch three_tokens() {
  return block_of({{ln(4), ln(2.5), ln(1), ln(1), ln(1), ln(0.5)},
                   {ln(1), ln(1), ln(5), ln(0.5), ln(2), ln(0.5)},
                   {ln(3), ln(0.5), ln(0.5), ln(1), ln(1), ln(4)}});
}

BlockDistributionPolicy blockdist(double top_p, int min_experts) {
  BlockDistributionPolicy p;
  p.top_p = top_p;
  p.min_experts = min_experts;
  return p;
}

template <class Policy>
Routing route3(const Policy& p, int K = 2) {
  return reference::route(three_tokens().view(), config(6, K), p);
}
}  // namespace

TEST_CASE("VanillaPolicy: every expert is in the coreset, tokens take their own top-K", "[policies][vanilla]") {
  const Routing R = route3(VanillaPolicy{});
  CHECK(coreset_of(R, 0) == iota(0, 6));
  CHECK(R.coreset_size[0] == 6);
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1});
  CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 4});
  CHECK(ids_of(R, 0, 2) == std::vector<int>{5, 0});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.40f, 0.25f}));
  CHECK_THAT(weights_of(R, 0, 1), approx({0.50f, 0.20f}));
  CHECK_THAT(weights_of(R, 0, 2), approx({0.40f, 0.30f}));
}

TEST_CASE("UnionPolicy: the union of each token's top-k_local", "[policies][union]") {
  SECTION("k_local = 1: top-1s are 0, 2, 5") {
    const Routing R = route3(UnionPolicy{1});
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 2, 5});
    CHECK(R.coreset_size[0] == 3);
    CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 2});  // expert 1 (.25) is not in C; 2 (.10) is
    CHECK_THAT(weights_of(R, 0, 0), approx({0.40f, 0.10f}));
    CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 0});
    CHECK_THAT(weights_of(R, 0, 1), approx({0.50f, 0.10f}));
    CHECK(ids_of(R, 0, 2) == std::vector<int>{5, 0});
  }
  SECTION("k_local = 2 = K: every expert some token chose") {
    const Routing R = route3(UnionPolicy{2});
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 1, 2, 4, 5});
  }
  SECTION("K = 3, k_local = 2: Stage 2 still takes 3 experts from the coreset") {
    const Routing R = route3(UnionPolicy{2}, 3);
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 1, 2, 4, 5});
    CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1, 2});  // .10 tie among 2, 4: lower id
    CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 4, 0});
    CHECK(ids_of(R, 0, 2) == std::vector<int>{5, 0, 4});
  }
}

TEST_CASE("SaliencyVotePolicy: the core experts with the largest votes", "[policies][vote]") {
  SECTION("core = 2: {0, 2}") {
    const Routing R = route3(SaliencyVotePolicy::with_core(2));
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 2});
    CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 2});
    CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 0});
    CHECK(ids_of(R, 0, 2) == std::vector<int>{0, 2});
    CHECK_THAT(weights_of(R, 0, 2), approx({0.30f, 0.05f}));
  }
  SECTION("core = 4: {0, 2, 5, 1}") {
    CHECK(coreset_of(route3(SaliencyVotePolicy::with_core(4)), 0) == std::vector<int>{0, 1, 2, 5});
  }
  SECTION("beta = 0.5: core = floor(0.5 * 6) = 3") {
    const Routing R = route3(SaliencyVotePolicy::with_beta(0.5));
    CHECK(R.coreset_size[0] == 3);
    CHECK(coreset_of(R, 0) == std::vector<int>{0, 2, 5});
  }
  SECTION("beta = 0.4: core = floor(2.4) = 2, rounded down") {
    CHECK(coreset_of(route3(SaliencyVotePolicy::with_beta(0.4)), 0) == std::vector<int>{0, 2});
  }
  SECTION("beta = 0.1: floor(0.6) = 0, raised to 1") {
    CHECK(coreset_of(route3(SaliencyVotePolicy::with_beta(0.1)), 0) == std::vector<int>{0});
  }
  SECTION("core = 6 includes the expert nobody voted for") {
    CHECK(coreset_of(route3(SaliencyVotePolicy::with_core(6)), 0) == iota(0, 6));
  }
}

TEST_CASE("BlockDistributionPolicy: top-p of the vote distribution, then a floor", "[policies][blockdist]") {
  // P by rank: 0: .3415, 2: .2439, 5: .1951, 1: .1220, 4: .0976 (V / 2.05).
  SECTION("top_p = 0.6: cumulative .3415, .5854 (<= .6, go on), .7805: keeps 0, 2, 5") {
    CHECK(coreset_of(route3(blockdist(0.6, 0)), 0) == std::vector<int>{0, 2, 5});
  }
  SECTION("top_p = 0.5: .3415 then .5854 exceeds: keeps 0, 2") {
    CHECK(coreset_of(route3(blockdist(0.5, 0)), 0) == std::vector<int>{0, 2});
  }
  SECTION("top_p = 0.3: the first expert alone already exceeds it and is kept") {
    const Routing R = route3(blockdist(0.3, 0));
    CHECK(coreset_of(R, 0) == std::vector<int>{0});
    CHECK(ids_of(R, 0, 1) == std::vector<int>{0, -1});  // one eligible expert: slot 2 padded
    CHECK_THAT(weights_of(R, 0, 1), approx({0.10f, 0.0f}));
  }
  SECTION("min_experts = 4 tops up with the next experts by P") {
    CHECK(coreset_of(route3(blockdist(0.3, 4)), 0) == std::vector<int>{0, 1, 2, 5});
  }
  SECTION("min_experts = 6 takes the zero-vote expert too") {
    CHECK(coreset_of(route3(blockdist(0.3, 6)), 0) == iota(0, 6));
  }
  SECTION("min_experts below the top-p count changes nothing") {
    CHECK(coreset_of(route3(blockdist(0.6, 2)), 0) == std::vector<int>{0, 2, 5});
  }
}

TEST_CASE("BlockDistributionPolicy: a cumulative sum equal to top_p keeps the next expert", "[policies][blockdist]") {
  // Sigmoid of logit 0 is exactly 1/2 and of -inf exactly 0, so the votes are exact:
  // K = 1, tokens pick 0, 0, 1, 2: V = {1, .5, .5, 0}, P = {.5, .25, .25, 0}.
  const Batch x = block_of({{0.0f, -kInf, -kInf, -kInf},
                            {0.0f, -kInf, -kInf, -kInf},
                            {-kInf, 0.0f, -kInf, -kInf},
                            {-kInf, -kInf, 0.0f, -kInf}});
  const RouterConfig c = config(4, 1, ScoreFunction::sigmoid);
  // top_p = .5: keep 0 (sum .5, not above .5), keep 1 (sum .75), stop.
  CHECK(coreset_of(reference::route(x.view(), c, blockdist(0.5, 0)), 0) == std::vector<int>{0, 1});
  // top_p = .75: .5, .75 (not above), then 2 (sum 1), stop. Expert 3 has P = 0.
  CHECK(coreset_of(reference::route(x.view(), c, blockdist(0.75, 0)), 0) == std::vector<int>{0, 1, 2});
  CHECK(coreset_of(reference::route(x.view(), c, blockdist(1.0, 0)), 0) == std::vector<int>{0, 1, 2});
  // Just below .5: the first expert alone exceeds it.
  CHECK(coreset_of(reference::route(x.view(), c, blockdist(0.4999, 0)), 0) == std::vector<int>{0});
}

TEST_CASE("a negative selection score casts no vote", "[policies][bias]") {
  // s = 1/2 everywhere; bias makes r = {.75, -.5, -.5, -.5}. The token's top-2 is
  // {0, 1}, but expert 1's r < 0 gives it no saliency vote.
  const Batch x = block_of({{0.0f, 0.0f, 0.0f, 0.0f}});
  RouterConfig c = config(4, 2, ScoreFunction::sigmoid);
  c.expert_bias = {0.25f, -1.0f, -1.0f, -1.0f};
  const Routing R = reference::route(x.view(), c, blockdist(1.0, 0));
  CHECK(coreset_of(R, 0) == std::vector<int>{0});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, -1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.5f, 0.0f}));  // unbiased s
  // Union counts membership, not score: both of the token's top-2 are in.
  CHECK(coreset_of(reference::route(x.view(), c, UnionPolicy{2}), 0) == std::vector<int>{0, 1});
}

TEST_CASE("all votes zero: BlockDistribution keeps only the floor, by lower id", "[policies][blockdist]") {
  // Bias -1 makes every r = s - 1 < 0: no expert gets a vote, sum V = 0, P = 0.
  const Batch x = block_of({{0.0f, 1.0f, 2.0f, 3.0f}, {3.0f, 2.0f, 1.0f, 0.0f}});
  RouterConfig c = config(4, 1, ScoreFunction::sigmoid);
  c.expert_bias = {-1.0f, -1.0f, -1.0f, -1.0f};
  const Routing floor2 = reference::route(x.view(), c, blockdist(0.6, 2));
  CHECK(coreset_of(floor2, 0) == std::vector<int>{0, 1});
  CHECK(ids_of(floor2, 0, 0) == std::vector<int>{1});
  CHECK(ids_of(floor2, 0, 1) == std::vector<int>{0});
  const Routing none = reference::route(x.view(), c, blockdist(0.6, 0));
  CHECK(none.coreset_size[0] == 0);
  CHECK(ids_of(none, 0, 0) == std::vector<int>{-1});
  CHECK(weights_of(none, 0, 1) == std::vector<float>{0.0f});
  // SaliencyVote still takes `core` experts: the lowest ids.
  CHECK(coreset_of(reference::route(x.view(), c, SaliencyVotePolicy::with_core(3)), 0) == std::vector<int>{0, 1, 2});
}

TEST_CASE("policies describe themselves", "[policies]") {
  CHECK(VanillaPolicy{}.describe() == "vanilla");
  CHECK(UnionPolicy{3}.describe() == "union(k_local=3)");
  CHECK(SaliencyVotePolicy::with_core(5).describe() == "vote(core=5)");
  CHECK(SaliencyVotePolicy::with_beta(0.15).describe() == "vote(beta=0.15)");
  CHECK(blockdist(0.6, 16).describe() == "blockdist(top_p=0.6,min_experts=16)");
}

TEST_CASE("beta gives core = floor(beta * M) as the decimal reads", "[policies]") {
  // 0.29 * 100 and 0.57 * 100 fall just under 29 and 57 in double.
  CHECK(SaliencyVotePolicy::with_beta(0.29).core_for(100) == 29);
  CHECK(SaliencyVotePolicy::with_beta(0.57).core_for(100) == 57);
  CHECK(SaliencyVotePolicy::with_beta(0.15).core_for(256) == 38);
  CHECK(SaliencyVotePolicy::with_beta(0.10).core_for(256) == 25);
  CHECK(SaliencyVotePolicy::with_beta(0.6).core_for(64) == 38);
  CHECK(SaliencyVotePolicy::with_beta(0.4).core_for(64) == 25);
  CHECK(SaliencyVotePolicy::with_beta(0.01).core_for(64) == 1);
}
