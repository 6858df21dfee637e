#pragma once
// Seeded random inputs for the Kokkos parity tests: every config feature (softmax /
// sigmoid, bias, groups, normalize, scaling), shapes from empty to M = 256, strided
// rows, tokens per block, logits built to hit exact ties, near-ties, -Inf and zero
// votes, and a few invalid inputs (both sides must reject them). Each case is made
// from its own seed alone, so a failure reproduces from the printed seed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <vector>

#include <coreroute/policies.hpp>
#include <coreroute/testing/case.hpp>
#include <coreroute/testing/random_policy.hpp>

namespace crkokkos {

using namespace coreroute;

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int uniform(int lo, int hi) { return lo + int(next() % uint64_t(hi - lo + 1)); }  // [lo, hi]
  double unit() { return double(next() >> 11) * 0x1.0p-53; }                        // [0, 1)
  bool coin(double p) { return unit() < p; }
  template <class T>
  T pick(std::initializer_list<T> xs) {
    return *(xs.begin() + uniform(0, int(xs.size()) - 1));
  }
};

inline RouterConfig random_config(Rng& g) {
  RouterConfig c;
  c.num_experts = g.coin(0.1) ? g.pick({64, 128, 256}) : g.pick({1, 2, 3, 4, 5, 8, 12, 13, 16, 24, 32});
  const int M = c.num_experts;
  c.score = g.coin(0.5) ? ScoreFunction::softmax : ScoreFunction::sigmoid;
  if (g.coin(0.4)) {
    c.expert_bias.resize(size_t(M));
    const bool coarse = g.coin(0.5);  // coarse values make ties in r = s + bias
    for (float& v : c.expert_bias) v = coarse ? float(g.uniform(-2, 2)) * 0.25f : float(g.unit() * 2 - 1);
  }
  std::vector<int> divisors;
  for (int G = 1; G <= M / 2; ++G)
    if (M % G == 0) divisors.push_back(G);
  if (!divisors.empty() && g.coin(0.35)) {
    c.groups.n_group = divisors[size_t(g.uniform(0, int(divisors.size()) - 1))];
    c.groups.topk_group = g.uniform(1, c.groups.n_group);
    c.groups.group_score = g.coin(0.5) ? GroupScoreRule::max : GroupScoreRule::top2;  // V2 / V3 group scores
  }
  const int k_max = c.groups.enabled() ? c.groups.topk_group * (M / c.groups.n_group) : M;
  c.top_k = g.coin(0.3) ? k_max : g.uniform(1, std::min(k_max, 8));
  c.normalize_weights = g.coin(0.5);
  c.scaling = g.coin(0.7) ? 1.0f : float(0.25 + g.unit() * 3);
  return c;
}

/// One logit in the style chosen for the case.
inline float random_logit(Rng& g, int style) {
  switch (style) {
    case 0:
      return float((g.unit() * 2 - 1) * 4);  // continuous
    case 1:
      return float(g.uniform(-3, 3)) * 0.5f;  // coarse: many exact ties
    case 2:
      return 1.0f + float(g.uniform(0, 3)) * 1e-7f;  // near-ties (a few ulps apart)
    case 3:
      return g.coin(0.3) ? -std::numeric_limits<float>::infinity() : float(g.uniform(-2, 2));
    default:
      return float((g.unit() * 2 - 1) * 40);  // wide: saturated scores
  }
}

inline testing::Case random_case(Rng& g) {
  const RouterConfig c = random_config(g);
  const int64_t B = g.coin(0.05) ? 0 : g.uniform(1, 3);
  const int64_t N = g.coin(0.05) ? 0 : g.pick({1, 2, 3, 7, 13, 32, 40});
  testing::Case k = testing::make_case(c, B, N);
  if (g.coin(0.3)) {  // strided rows: the padding holds NaN the backend must never read
    k.token_stride = c.num_experts + g.uniform(1, 3);
    k.logits.assign(size_t(B * N * k.token_stride), std::numeric_limits<float>::quiet_NaN());
  }
  if (g.coin(0.3))
    for (int64_t b = 0; b < B; ++b) k.tokens_per_block.push_back(int32_t(g.uniform(0, int(N))));
  const int style = g.uniform(0, 4);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const bool equal_row = g.coin(0.05);
      const float first = random_logit(g, style);
      for (int i = 0; i < c.num_experts; ++i) k.at(b, n, i) = equal_row ? first : random_logit(g, style);
    }
  // Rarely an invalid logit in a routed row: the checked APIs must both reject it.
  if (B > 0 && N > 0 && g.coin(0.03)) {
    const int64_t b = g.uniform(0, int(B) - 1);
    if (k.valid_tokens(b) > 0)
      k.at(b, g.uniform(0, int(k.valid_tokens(b)) - 1), g.uniform(0, c.num_experts - 1)) = g.coin(0.5) ? NAN : INFINITY;
  }
  return k;
}

// Policy parameters, mostly valid; about 3% out of range (both sides must reject).
inline UnionPolicy random_union(Rng& g, const RouterConfig& c) {
  UnionPolicy p;
  p.k_local = g.coin(0.03) ? c.top_k + 1 : g.uniform(1, c.top_k);
  return p;
}
inline SaliencyVotePolicy random_vote(Rng& g, const RouterConfig& c) {
  if (g.coin(0.03)) return SaliencyVotePolicy::with_core(c.num_experts + 1);
  if (g.coin(0.5)) return SaliencyVotePolicy::with_core(g.uniform(1, c.num_experts));
  return SaliencyVotePolicy::with_beta(g.pick({0.05, 0.1, 0.15, 0.4, 0.6, 1.0}));
}
inline BlockDistributionPolicy random_blockdist(Rng& g, const RouterConfig& c) {
  BlockDistributionPolicy p;
  p.top_p = g.coin(0.03) ? 0.0 : g.pick({0.05, 0.3, 0.5, 0.6, 0.9, 1.0});
  p.min_experts = g.coin(0.3) ? 0 : g.uniform(0, c.num_experts);
  return p;
}
inline VanillaPolicy random_vanilla(Rng&, const RouterConfig&) { return {}; }

/// A random P for a parity case: the tuned draws above for the policies that have
/// one (they also draw a few invalid policies, which both sides must reject), else
/// any valid P from its registered parameters (random_policy.hpp).
template <class P>
P random_policy(Rng& g, const RouterConfig& c) {
  if constexpr (std::is_same_v<P, VanillaPolicy>)
    return random_vanilla(g, c);
  else if constexpr (std::is_same_v<P, UnionPolicy>)
    return random_union(g, c);
  else if constexpr (std::is_same_v<P, SaliencyVotePolicy>)
    return random_vote(g, c);
  else if constexpr (std::is_same_v<P, BlockDistributionPolicy>)
    return random_blockdist(g, c);
  else
    return testing::random_registered_policy<P>([&g] { return g.unit(); }, c);
}

}  // namespace crkokkos
