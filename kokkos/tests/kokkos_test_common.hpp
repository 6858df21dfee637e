#pragma once
// Helpers shared by the Kokkos API tests (test_kokkos_api.cpp, test_kokkos_into.cpp):
// one small config with every router feature, coarse seeded logits, and the comparison
// of a routing made on any execution space with the reference's.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <coreroute/routing.hpp>
#include <coreroute/testing/tolerance.hpp>

#include "random_cases.hpp"

namespace crkokkos {

/// M = 32, K = 4, sigmoid + bias, groups 8/4, normalized, scaled: LLaDA2.0-mini's features.
inline RouterConfig llada2_like() {
  RouterConfig c;
  c.num_experts = 32;
  c.top_k = 4;
  c.score = ScoreFunction::sigmoid;
  c.groups = {8, 4};
  c.normalize_weights = true;
  c.scaling = 2.5f;
  for (int i = 0; i < 32; ++i) c.expert_bias.push_back(float(i % 5) * 0.01f);
  return c;
}

/// `count` logits from a seed, multiples of 0.25 in [-2, 2): coarse, so exact ties occur.
inline std::vector<float> coarse_logits(uint64_t seed, size_t count) {
  std::vector<float> x(count);
  Rng g(seed);
  for (float& v : x) v = float(g.uniform(-8, 8)) * 0.25f;
  return x;
}

/// Equal to the reference's routing: every integer field exactly, the weights within the
/// parity tolerance (a device compiler may contract float operations differently).
inline void require_close(const Routing& got, const Routing& want) {
  REQUIRE(got.coreset == want.coreset);
  REQUIRE(got.coreset_size == want.coreset_size);
  REQUIRE(got.ids == want.ids);
  REQUIRE(got.valid_tokens == want.valid_tokens);
  REQUIRE(got.invalid_tokens == want.invalid_tokens);
  REQUIRE(got.weights.size() == want.weights.size());
  for (size_t i = 0; i < got.weights.size(); ++i) {
    CAPTURE(i, got.weights[i], want.weights[i]);
    REQUIRE(testing::close(got.weights[i], want.weights[i]));
  }
}

}  // namespace crkokkos
