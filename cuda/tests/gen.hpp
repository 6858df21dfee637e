#pragma once
// Random parity cases for the GPU tests: configs over the whole parameter space,
// logits that are adversarial on purpose (exact ties, bf16-quantised values, near
// ties, huge magnitudes, -Inf entries), strided views and partial blocks. Every case
// comes from one printed seed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <coreroute/testing/case.hpp>

namespace coreroute::cuda_test {

using Rng = std::mt19937_64;

inline int uniform(Rng& g, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
inline double unit(Rng& g) { return std::uniform_real_distribution<double>(0.0, 1.0)(g); }

/// Rounds to the nearest bf16 value (ties to even), kept as a float.
inline float round_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&v, &u, 4);
  return v;
}

enum class Values { normal, bf16, small_ints, near_ties, huge, equal_rows, count };

inline const char* to_string(Values v) {
  const char* names[] = {"normal", "bf16", "small_ints", "near_ties", "huge", "equal_rows"};
  return names[int(v)];
}

inline RouterConfig random_config(Rng& g, ScoreFunction score) {
  static const int sizes[] = {1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 48, 64, 96, 100, 128, 160, 255, 256, 300, 384, 512};
  RouterConfig c;
  c.score = score;
  c.num_experts = unit(g) < 0.03 ? uniform(g, 513, 1100) : sizes[uniform(g, 0, int(std::size(sizes)) - 1)];
  const int M = c.num_experts;
  c.top_k = uniform(g, 1, std::min(M, unit(g) < 0.1 ? 40 : 10));
  if (unit(g) < 0.35 && M >= 4) {  // groups: n_group divides M, >= 2 experts each, <= 64 groups
    std::vector<int> divisors;
    for (int d = 1; d <= std::min(64, M / 2); ++d)
      if (M % d == 0) divisors.push_back(d);
    const int G = divisors[size_t(uniform(g, 0, int(divisors.size()) - 1))];
    const int per = M / G, tg = uniform(g, 1, G);
    c.groups = {G, tg};
    c.groups.group_score = unit(g) < 0.5 ? GroupScoreRule::max : GroupScoreRule::top2;  // V2 / V3 group scores
    c.top_k = std::min(c.top_k, tg * per);
  }
  if (unit(g) < 0.5) {
    c.expert_bias.resize(size_t(M));
    const bool coarse = unit(g) < 0.3;  // coarse biases create exact ties in r
    for (float& b : c.expert_bias) b = coarse ? float(uniform(g, -2, 2)) * 0.25f : float(unit(g) - 0.5);
  }
  c.normalize_weights = unit(g) < 0.5;
  const float scalings[] = {1.0f, 2.5f, 0.5f, 16.0f};
  c.scaling = scalings[uniform(g, 0, 3)];
  return c;
}

inline float draw(Rng& g, Values mode, float row_base, int i) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  switch (mode) {
    case Values::normal:
      return nd(g) * 2.0f;
    case Values::bf16:
      return round_bf16(nd(g) * 2.0f);
    case Values::small_ints:
      return float(uniform(g, -2, 2));
    case Values::near_ties:
      return row_base + float(uniform(g, 0, 3)) * 1e-7f * float(1 + i % 3);
    case Values::huge: {
      const double u = unit(g);
      return u < 0.1 ? -INFINITY : float((unit(g) - 0.5) * 200.0);
    }
    default:
      return row_base;
  }
}

/// A case of B blocks; `mode` decides the logits. Softmax rows keep a finite logit.
inline testing::Case random_case(Rng& g, const RouterConfig& c, Values mode) {
  const int64_t B = uniform(g, 1, 4);
  const int64_t N = unit(g) < 0.1 ? (unit(g) < 0.5 ? 64 : 128) : uniform(g, 1, 40);
  testing::Case k = testing::make_case(c, B, N);
  if (unit(g) < 0.3) {  // strided: each token row padded, padding holds NaN never read
    k.token_stride = c.num_experts + uniform(g, 1, 7);
    k.logits.assign(size_t(B * N * k.token_stride), NAN);
  }
  if (unit(g) < 0.3) {
    k.tokens_per_block.resize(size_t(B));
    for (int32_t& t : k.tokens_per_block) t = uniform(g, 0, int(N));
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const float base = float(unit(g) * 4 - 2);
      bool finite = false;
      for (int i = 0; i < c.num_experts; ++i) {
        k.at(b, n, i) = draw(g, mode, base, i);
        finite |= std::isfinite(k.at(b, n, i));
      }
      if (!finite) k.at(b, n, uniform(g, 0, c.num_experts - 1)) = 0.0f;
    }
  return k;
}

}  // namespace coreroute::cuda_test
