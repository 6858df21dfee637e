#pragma once
// One generated test input: a config and a [B, N, M] batch of logits it owns, with
// an optional token stride > M (a strided view) and optional tokens per block.
// Printable, so a property's counterexample reads as a small table.
#include <cstdint>
#include <ostream>
#include <vector>

#include <coreroute/config.hpp>
#include <coreroute/views.hpp>

namespace coreroute::testing {

struct Case {
  RouterConfig config;
  int64_t blocks = 0, tokens = 0;
  int64_t token_stride = 0;               ///< >= M; the padding holds garbage never read
  std::vector<float> logits;              ///< blocks * tokens * token_stride
  std::vector<int32_t> tokens_per_block;  ///< empty, or one per block

  int experts() const { return config.num_experts; }
  float& at(int64_t b, int64_t n, int64_t i) { return logits[size_t((b * tokens + n) * token_stride + i)]; }
  float at(int64_t b, int64_t n, int64_t i) const { return logits[size_t((b * tokens + n) * token_stride + i)]; }
  int64_t valid_tokens(int64_t b) const { return tokens_per_block.empty() ? tokens : tokens_per_block[size_t(b)]; }
  LogitsView<float> view() const {
    return {logits.data(),         blocks,       tokens, experts(),
            tokens * token_stride, token_stride, 1,      tokens_per_block.empty() ? nullptr : tokens_per_block.data()};
  }
};

/// A fresh contiguous case of the given shape and config, logits 0.
inline Case make_case(const RouterConfig& c, int64_t B, int64_t N) {
  Case k;
  k.config = c;
  k.blocks = B;
  k.tokens = N;
  k.token_stride = c.num_experts;
  k.logits.assign(size_t(B * N * c.num_experts), 0.0f);
  return k;
}

inline std::ostream& operator<<(std::ostream& os, const RouterConfig& c) {
  os << "RouterConfig{M=" << c.num_experts << " K=" << c.top_k << " " << to_string(c.score);
  if (c.groups.enabled())
    os << " groups=" << c.groups.n_group << "/" << c.groups.topk_group
       << " group_score=" << to_string(c.groups.group_score);
  if (c.normalize_weights) os << " normalize";
  if (c.scaling != 1.0f) os << " scaling=" << c.scaling;
  if (!c.expert_bias.empty()) {
    os << " bias=[";
    for (size_t i = 0; i < c.expert_bias.size(); ++i) os << (i ? " " : "") << c.expert_bias[i];
    os << "]";
  }
  return os << "}";
}

/// The config, then one line of logits per routed token (unrouted rows marked).
inline std::ostream& operator<<(std::ostream& os, const Case& k) {
  os << k.config << " B=" << k.blocks << " N=" << k.tokens;
  if (k.token_stride != k.experts()) os << " token_stride=" << k.token_stride;
  os << "\n";
  const int64_t shown_max = 64;
  for (int64_t b = 0; b < k.blocks; ++b) {
    os << "  block " << b << " (" << k.valid_tokens(b) << " routed tokens)\n";
    for (int64_t n = 0; n < k.tokens && n < shown_max; ++n) {
      os << "    " << (n < k.valid_tokens(b) ? "" : "(unrouted) ") << "[";
      for (int i = 0; i < k.experts() && i < shown_max; ++i) os << (i ? " " : "") << k.at(b, n, i);
      os << (k.experts() > shown_max ? " ...]\n" : "]\n");
    }
    if (k.tokens > shown_max) os << "    ...\n";
  }
  return os;
}

}  // namespace coreroute::testing
