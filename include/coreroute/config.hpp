#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "error.hpp"
#include "macros.hpp"

namespace coreroute {

enum class ScoreFunction : int { softmax = 0, sigmoid = 1 };

inline const char* to_string(ScoreFunction f) { return f == ScoreFunction::softmax ? "softmax" : "sigmoid"; }

/// How Stage 2 scores a group (docs/spec.md section 3): the sum of its two largest
/// eligible r (DeepSeek-V3, LLaDA2.0) or its largest eligible r (DeepSeek-V2).
enum class GroupScoreRule : int { top2 = 0, max = 1 };

inline const char* to_string(GroupScoreRule g) { return g == GroupScoreRule::top2 ? "top2" : "max"; }

/// Group-limited routing (DeepSeek-V3 / LLaDA2.0): experts split into `n_group`
/// contiguous groups, a token keeps its `topk_group` best groups. n_group = 0: off.
struct GroupLimit {
  int n_group = 0;
  int topk_group = 0;
  GroupScoreRule group_score = GroupScoreRule::top2;
  CR_HD bool enabled() const { return n_group > 0; }
};

/// The router of one MoE layer (docs/spec.md section 2). Host-side, owns the bias.
struct RouterConfig {
  int num_experts = 0;  ///< M
  int top_k = 0;        ///< K
  ScoreFunction score = ScoreFunction::softmax;
  std::vector<float> expert_bias;  ///< empty, or length M; selection only
  GroupLimit groups;
  bool normalize_weights = false;
  float scaling = 1.0f;
};

/// Trivially copyable view of a RouterConfig, what kernels and policies see.
/// `bias` points to M floats in the memory space of the backend, or is null.
struct RouterParams {
  int num_experts = 0;
  int top_k = 0;
  ScoreFunction score = ScoreFunction::softmax;
  const float* bias = nullptr;
  GroupLimit groups;
  bool normalize_weights = false;
  float scaling = 1.0f;

  CR_HD float bias_of(int expert) const { return bias ? bias[expert] : 0.0f; }
};

/// `bias` overrides where the bias lives (a device copy); by default the config's own.
inline RouterParams params_of(const RouterConfig& c, const float* bias = nullptr) {
  RouterParams p;
  p.num_experts = c.num_experts;
  p.top_k = c.top_k;
  p.score = c.score;
  p.bias = c.expert_bias.empty() ? nullptr : (bias ? bias : c.expert_bias.data());
  p.groups = c.groups;
  p.normalize_weights = c.normalize_weights;
  p.scaling = c.scaling;
  return p;
}

/// Checks every rule of docs/spec.md section 2; throws coreroute::invalid_argument naming
/// the parameter and its value.
inline void validate(const RouterConfig& c) {
  using detail::fail;
  using detail::require;
  require(c.num_experts >= 1, "num_experts", c.num_experts, "must be >= 1");
  if (!(c.top_k >= 1 && c.top_k <= c.num_experts))
    fail("top_k", c.top_k, "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
  require(c.score == ScoreFunction::softmax || c.score == ScoreFunction::sigmoid, "score", static_cast<int>(c.score),
          "must be softmax or sigmoid");
  if (!(c.expert_bias.empty() || c.expert_bias.size() == static_cast<size_t>(c.num_experts)))
    fail("expert_bias.size()", c.expert_bias.size(), "must be 0 or num_experts = " + std::to_string(c.num_experts));
  for (size_t i = 0; i < c.expert_bias.size(); ++i)
    if (!std::isfinite(c.expert_bias[i]))
      fail("expert_bias[" + std::to_string(i) + "]", c.expert_bias[i], "must be finite");
  require(std::isfinite(c.scaling) && c.scaling > 0, "scaling", c.scaling, "must be finite and > 0");
  const GroupLimit& g = c.groups;
  require(g.group_score == GroupScoreRule::top2 || g.group_score == GroupScoreRule::max, "groups.group_score",
          static_cast<int>(g.group_score), "must be top2 or max");
  if (g.n_group != 0 || g.topk_group != 0) {
    require(g.n_group >= 1, "groups.n_group", g.n_group, "must be >= 1 (or 0 with topk_group = 0 for no groups)");
    if (c.num_experts % g.n_group != 0)
      fail("groups.n_group", g.n_group, "must divide num_experts = " + std::to_string(c.num_experts));
    const int per_group = c.num_experts / g.n_group;
    if (per_group < 2)
      fail("groups.n_group", g.n_group,
           "must leave >= 2 experts per group (num_experts = " + std::to_string(c.num_experts) + ")");
    if (!(g.topk_group >= 1 && g.topk_group <= g.n_group))
      fail("groups.topk_group", g.topk_group, "must be in [1, n_group = " + std::to_string(g.n_group) + "]");
    if (c.top_k > g.topk_group * per_group)
      fail("top_k", c.top_k,
           "must be <= topk_group * num_experts / n_group = " + std::to_string(g.topk_group * per_group));
  }
}

}  // namespace coreroute
