// The one tie rule (docs/spec.md section 3): larger value first, then the lower index, in
// top-K, the order within S_n, the coreset ranking and the group ranking. Every tie
// here is exact: equal logits, or sigmoid scores of 0 / -inf with dyadic biases.
#include "test_common.hpp"

using namespace crtest;

TEST_CASE("equal logits: top-K takes the lower expert ids, in id order", "[ties]") {
  const Routing R = reference::route(block_of({{0.0f, 0.0f, 0.0f, 0.0f, 0.0f}}).view(), config(5, 3), VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1, 2});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.2f, 0.2f, 0.2f}));
}

TEST_CASE("ties inside S_n are ordered by id, and broken by id at the boundary", "[ties]") {
  const Batch x = block_of({{1.0f, 2.0f, 2.0f, 1.0f, 2.0f}});
  CHECK(ids_of(reference::route(x.view(), config(5, 2), VanillaPolicy{}), 0, 0) == std::vector<int>{1, 2});
  CHECK(ids_of(reference::route(x.view(), config(5, 4), VanillaPolicy{}), 0, 0) == std::vector<int>{1, 2, 4, 0});
}

TEST_CASE("signed zeros are equal: the lower id wins either way", "[ties]") {
  const Batch x = block_of({{-0.0f, 0.0f, -1.0f}, {0.0f, -0.0f, -1.0f}});
  const Routing R = reference::route(x.view(), config(3, 1), VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0});
  CHECK(ids_of(R, 0, 1) == std::vector<int>{0});
}

TEST_CASE("equal votes: the coreset takes the lower expert id", "[ties][vote]") {
  // K = 1, sigmoid: token 0 votes 1/2 for expert 2, token 1 votes 1/2 for expert 1.
  const Batch x = block_of({{-kInf, -kInf, 0.0f, -kInf}, {-kInf, 0.0f, -kInf, -kInf}});
  const RouterConfig c = config(4, 1, ScoreFunction::sigmoid);
  const Routing R = reference::route(x.view(), c, SaliencyVotePolicy::with_core(1));
  CHECK(coreset_of(R, 0) == std::vector<int>{1});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{1});  // token 0 must now take expert 1
  CHECK(weights_of(R, 0, 0) == std::vector<float>{0.0f});
  BlockDistributionPolicy p;
  p.top_p = 0.25;  // P = {0, .5, .5, 0}: one expert, the lower id
  p.min_experts = 0;
  CHECK(coreset_of(reference::route(x.view(), c, p), 0) == std::vector<int>{1});
}

TEST_CASE("equal group scores: the lower group id is kept", "[ties][groups]") {
  // s = 1/2 everywhere; r = s + bias = {.75 .5 | 0 0 | 1 .25 | 0 0}. Groups 0 and 2
  // both sum to 1.25: group 0 is kept. Without groups the top-2 is {4, 0}.
  const Batch x = block_of({{0, 0, 0, 0, 0, 0, 0, 0}});
  RouterConfig c = config(8, 2, ScoreFunction::sigmoid);
  c.expert_bias = {0.25f, 0.0f, -0.5f, -0.5f, 0.5f, -0.25f, -0.5f, -0.5f};
  CHECK(ids_of(reference::route(x.view(), c, VanillaPolicy{}), 0, 0) == std::vector<int>{4, 0});
  c.groups = {4, 1};
  const Routing R = reference::route(x.view(), c, VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.5f, 0.5f}));
}

TEST_CASE("equal selection scores after bias: the lower id is selected", "[ties][bias]") {
  // s = {.5 .5 .5 .5}, bias {0 .25 0 .25}: r = {.5 .75 .5 .75}; K = 3 -> 1, 3, 0.
  RouterConfig c = config(4, 3, ScoreFunction::sigmoid);
  c.expert_bias = {0.0f, 0.25f, 0.0f, 0.25f};
  const Routing R = reference::route(block_of({{0, 0, 0, 0}}).view(), c, VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{1, 3, 0});
}

TEST_CASE("the packed rank key orders like ranks_before", "[ties]") {
  using coreroute::detail::rank_key;
  using coreroute::detail::ranks_before;
  const float values[] = {-kInf, -2.5f, -0.0f, 0.0f, 1e-30f, 0.5f, 3.0f, kInf};
  for (float a : values)
    for (float b : values)
      for (int ia : {0, 3, 7})
        for (int ib : {0, 3, 7}) {
          if (ia == ib) continue;
          CAPTURE(a, ia, b, ib);
          CHECK((rank_key(a, ia) > rank_key(b, ib)) == ranks_before(a, ia, b, ib));
        }
  CHECK(coreroute::detail::key_index(rank_key(0.5f, 12345)) == 12345);
  CHECK(coreroute::detail::key_value(rank_key(-2.5f, 3)) == -2.5f);
}

TEST_CASE("the wide (double) rank key orders like ranks_before", "[ties]") {
  using coreroute::detail::key_less;
  using coreroute::detail::ranks_before;
  using coreroute::detail::wide_key;
  const double inf = std::numeric_limits<double>::infinity();
  const double values[] = {-inf, -2.5, -0.0, 0.0, 1e-300, 0.5, 0.5 + 1e-16, 3.0, inf};
  for (double a : values)
    for (double b : values)
      for (int ia : {0, 3, 7})
        for (int ib : {0, 3, 7}) {
          if (ia == ib) continue;
          CAPTURE(a, ia, b, ib);
          CHECK(key_less(wide_key(b, ib), wide_key(a, ia)) == ranks_before(a, ia, b, ib));
        }
  CHECK(coreroute::detail::key_index(wide_key(0.5, 12345)) == 12345);
  CHECK(coreroute::detail::key_value(wide_key(-2.5, 3)) == -2.5);
}
