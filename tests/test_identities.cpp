// Identities between policies (issue-level contract): they must hold for any input,
// so they are checked over fixed-seed random batches of several shapes.
#include "test_common.hpp"

#include <set>

using namespace crtest;

namespace {
struct Shape {
  int64_t B, N;
  int M, K;
};
const Shape kShapes[] = {{1, 1, 8, 2}, {2, 3, 8, 1}, {3, 13, 16, 4}, {2, 32, 64, 8}};

RouterConfig sigmoid_biased(int M, int K, uint64_t seed) { return crtest::sigmoid_biased(M, K, seed + 1000, 0.125); }
}  // namespace

TEST_CASE("UnionPolicy with k_local = K routes like vanilla (no groups)", "[identities][union]") {
  for (const Shape& s : kShapes)
    for (uint64_t seed : {1u, 2u}) {
      CAPTURE(s.B, s.N, s.M, s.K, seed);
      const Batch x = random_batch(seed, s.B, s.N, s.M);
      for (const RouterConfig& c : {config(s.M, s.K), sigmoid_biased(s.M, s.K, seed)}) {
        CAPTURE(to_string(c.score));
        check_same(reference::route(x.view(), c, UnionPolicy{s.K}), reference::route(x.view(), c, VanillaPolicy{}));
      }
    }
}

TEST_CASE("SaliencyVotePolicy with core = M routes like vanilla, with and without groups", "[identities][vote]") {
  for (const Shape& s : kShapes)
    for (uint64_t seed : {3u, 4u}) {
      CAPTURE(s.B, s.N, s.M, s.K, seed);
      const Batch x = random_batch(seed, s.B, s.N, s.M);
      RouterConfig grouped = sigmoid_biased(s.M, s.K, seed);
      grouped.groups = {s.M / 4, s.M / 4 >= 2 ? 2 : 1};  // 4 experts per group
      if (s.K > grouped.groups.topk_group * 4) grouped.groups.topk_group = s.M / 4;
      for (const RouterConfig& c : {config(s.M, s.K), sigmoid_biased(s.M, s.K, seed), grouped}) {
        CAPTURE(to_string(c.score), c.groups.n_group);
        const Routing R = reference::route(x.view(), c, SaliencyVotePolicy::with_core(s.M));
        check_same(R, reference::route(x.view(), c, VanillaPolicy{}));
        CHECK(R.coreset == std::vector<uint8_t>(size_t(s.B * s.M), 1));
      }
    }
}

TEST_CASE("BlockDistributionPolicy with top_p = 1 keeps every voted expert", "[identities][blockdist]") {
  // Softmax scores are > 0, so every expert in some token's top-K has a vote: the
  // voted set is the set of experts vanilla routing (no groups) touches.
  BlockDistributionPolicy all;
  all.top_p = 1.0;
  all.min_experts = 0;
  for (const Shape& s : kShapes)
    for (uint64_t seed : {5u, 6u}) {
      CAPTURE(s.B, s.N, s.M, s.K, seed);
      const Batch x = random_batch(seed, s.B, s.N, s.M);
      const RouterConfig c = config(s.M, s.K);
      const Routing R = reference::route(x.view(), c, all);
      const Routing V = reference::route(x.view(), c, VanillaPolicy{});
      for (int64_t b = 0; b < s.B; ++b) {
        std::set<int> voted;
        for (int64_t n = 0; n < s.N; ++n)
          for (int id : ids_of(V, b, n)) voted.insert(id);
        CHECK(coreset_of(R, b) == std::vector<int>(voted.begin(), voted.end()));
      }
      check_same(R, V);  // each token's own top-K is inside C
    }
}

TEST_CASE("UnionPolicy's coreset is the set of experts vanilla touches when k_local = K", "[identities][union]") {
  const Batch x = random_batch(9, 4, 32, 64);
  const RouterConfig c = config(64, 8);
  const Routing U = reference::route(x.view(), c, UnionPolicy{8});
  const auto m = reference::metrics(U, reference::route(x.view(), c, VanillaPolicy{}));
  for (int64_t b = 0; b < 4; ++b) {
    CAPTURE(b);
    CHECK(m[size_t(b)].coreset_size == m[size_t(b)].unique_experts);
    CHECK(m[size_t(b)].topk_hit_rate == 1.0);
    CHECK(m[size_t(b)].gate_reconstruction_loss == 0.0);
  }
}
