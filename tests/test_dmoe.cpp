// The dMoE settings (LLaDA2.0-mini router, dMoE coreset), checked by hand on M = 64:
// sigmoid + expert bias + groups 8/4, normalised weights scaled by 2.5,
// BlockDistributionPolicy{top_p = 0.6, min_experts = 16}, K = 8.
//
// Each token has logit 0 (s = 1/2) on its own 8 experts and -ln 7 (s = 1/8) on the
// other 56. Experts 16 and 17 carry bias +1/4, every other bias is 0:
//   token 0: 0 1 | 8 9 | 16 17 | 24 25      (groups 0-3)
//   token 1: 2 3 | 10 11 | 18 19 | 26 27    (groups 0-3)
//   token 2: 32 33 | 40 41 | 48 49 | 56 57  (groups 4-7)
//   token 3: 34 35 | 42 43 | 50 51 | 58 59  (groups 4-7)
// Stage 1: each token's top-8 of r are its own experts (r = 1/2, or 3/4 for 16 and
// 17 of token 0; every other r is 1/8 or 3/8). So 32 experts are voted for:
// V = 3/4 for 16 and 17, 1/2 for the other 30; sum V = 16.5.
// Top-p: 16, 17 first (P = 1.5/16.5 together), then the 1/2-vote experts by id.
// After 2 + k kept, the kept sum is (1.5 + k/2) / 16.5: k = 16 gives 9.5/16.5 =
// .576 <= .6, so the 17th (expert 34) is kept too, giving 10/16.5 = .606 > .6.
// |C| = 19 > 16: top-p, not the floor, decides.
#include "test_common.hpp"

using namespace crtest;

namespace {
const std::vector<std::vector<int>> kOwn = {{0, 1, 8, 9, 16, 17, 24, 25},
                                            {2, 3, 10, 11, 18, 19, 26, 27},
                                            {32, 33, 40, 41, 48, 49, 56, 57},
                                            {34, 35, 42, 43, 50, 51, 58, 59}};

Batch dmoe_block() {
  Batch x(1, 4, 64, float(-std::log(7.0)));
  for (int n = 0; n < 4; ++n)
    for (int i : kOwn[size_t(n)]) x.at(0, n, i) = 0.0f;
  return x;
}

RouterConfig dmoe_config() {
  RouterConfig c = config(64, 8, ScoreFunction::sigmoid);
  c.expert_bias.assign(64, 0.0f);
  c.expert_bias[16] = c.expert_bias[17] = 0.25f;
  c.groups = {8, 4};
  c.normalize_weights = true;
  c.scaling = 2.5f;
  return c;
}

BlockDistributionPolicy dmoe_policy() {
  BlockDistributionPolicy p;
  p.top_p = 0.6;
  p.min_experts = 16;
  return p;
}
}  // namespace

TEST_CASE("dMoE settings: top-p decides a 19-expert coreset out of 32 voted", "[dmoe]") {
  const Routing R = reference::route(dmoe_block().view(), dmoe_config(), dmoe_policy());
  const std::vector<int> C = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27, 32, 33, 34};
  CHECK(coreset_of(R, 0) == C);
  CHECK(R.coreset_size[0] == 19);
  // UnionPolicy with k_local = K shows the 32 voted experts (all with r > 0).
  const Routing U = reference::route(dmoe_block().view(), dmoe_config(), UnionPolicy{8});
  CHECK(U.coreset_size[0] == 32);
}

TEST_CASE("dMoE settings: Stage 2 with groups inside the coreset, normalised and scaled", "[dmoe][groups]") {
  const Routing R = reference::route(dmoe_block().view(), dmoe_config(), dmoe_policy());
  // Tokens 0 and 1 keep their own 8 (their best 4 groups are 0-3, all in C):
  // 8 weights of s = 1/2, normalised to 1/8, times 2.5.
  CHECK(ids_of(R, 0, 0) == std::vector<int>{16, 17, 0, 1, 8, 9, 24, 25});   // bias ranks 16, 17 first
  CHECK_THAT(weights_of(R, 0, 0), approx(std::vector<float>(8, 0.3125f)));  // bias never in weights
  CHECK(ids_of(R, 0, 1) == std::vector<int>{2, 3, 10, 11, 18, 19, 26, 27});
  CHECK_THAT(weights_of(R, 0, 1), approx(std::vector<float>(8, 0.3125f)));
  // Token 2: eligible groups by top-2 r in C: g4 (32, 33) = 1, g2 (16, 17 at
  // 1/8 + 1/4) = .75, then g0, g1, g3 tie at .25: g0, g1. Top-8: 32, 33, 16, 17,
  // then the 1/8s by id: 0 1 2 3. Sum of s = 2 * .5 + 6 * .125 = 1.75.
  CHECK(ids_of(R, 0, 2) == std::vector<int>{32, 33, 16, 17, 0, 1, 2, 3});
  const float big2 = 2.5f * 0.5f / 1.75f, small2 = 2.5f * 0.125f / 1.75f;
  CHECK_THAT(weights_of(R, 0, 2), approx({big2, big2, small2, small2, small2, small2, small2, small2}));
  // Token 3: only 34 of its own is in C. Groups: g2 = .75, g4 (34 + 1/8) = .625,
  // g0 and g1 at .25 (g3 ties and loses). Top-8: 34, 16, 17, 0 1 2 3 8.
  // Sum of s = .5 + 7 * .125 = 1.375.
  CHECK(ids_of(R, 0, 3) == std::vector<int>{34, 16, 17, 0, 1, 2, 3, 8});
  const float big3 = 2.5f * 0.5f / 1.375f, small3 = 2.5f * 0.125f / 1.375f;
  CHECK_THAT(weights_of(R, 0, 3), approx({big3, small3, small3, small3, small3, small3, small3, small3}));
}

TEST_CASE("dMoE settings: metrics against vanilla routing with the same router", "[dmoe][metrics]") {
  const Batch x = dmoe_block();
  const Routing R = reference::route(x.view(), dmoe_config(), dmoe_policy());
  const Routing V = reference::route(x.view(), dmoe_config(), VanillaPolicy{});
  for (int n = 0; n < 4; ++n) {  // vanilla: each token's own 8, 1/8 * 2.5 each
    std::vector<int> own = kOwn[size_t(n)];
    if (n == 0) own = {16, 17, 0, 1, 8, 9, 24, 25};
    CHECK(ids_of(V, 0, n) == own);
  }
  const BlockMetrics m = reference::metrics(R, V, kLlada2MiniExpertBytes)[0];
  CHECK(m.unique_experts == 19);
  CHECK(reference::metrics(V, V)[0].unique_experts == 32);
  // Tokens 0, 1 keep 8 of 8; token 2 keeps 32, 33; token 3 keeps 34: 19 of 32.
  CHECK(m.topk_hit_rate == Approx(19.0 / 32.0));
  CHECK(m.expert_bytes_read == 19 * kLlada2MiniExpertBytes);
}
