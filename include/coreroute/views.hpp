#pragma once
// Non-owning views of a batch of blocks: logits [B, N, M] with explicit strides (in
// elements) and optional tokens per block; expert outputs [B, N, M, d] for the
// output reconstruction loss. Host or device memory: backends say which they take.
#include <cstdint>
#include <string>

#include "config.hpp"
#include "error.hpp"
#include "macros.hpp"

namespace coreroute {

template <class T>
struct LogitsView {
  const T* data = nullptr;
  int64_t blocks = 0, tokens = 0, experts = 0;             ///< B, N, M
  int64_t stride_block = 0, stride_token = 0, stride_expert = 1;
  const int32_t* tokens_per_block = nullptr;               ///< null: every block has N tokens

  CR_HD const T& at(int64_t b, int64_t n, int64_t i) const {
    return data[b * stride_block + n * stride_token + i * stride_expert];
  }
  /// Rows of block b that are routed; the rest get ids -1, weight 0 and count nowhere.
  CR_HD int64_t valid_tokens(int64_t b) const {
    return tokens_per_block ? tokens_per_block[b] : tokens;
  }
};

/// A contiguous [B, N, M] view.
template <class T>
LogitsView<T> make_logits_view(const T* data, int64_t B, int64_t N, int64_t M,
                               const int32_t* tokens_per_block = nullptr) {
  return {data, B, N, M, N * M, M, 1, tokens_per_block};
}

/// Expert outputs Y[b, n, i, :] of dimension `dim` (the last axis contiguous).
struct ExpertOutputsView {
  const float* data = nullptr;
  int64_t stride_block = 0, stride_token = 0, stride_expert = 0;
  int dim = 0;
  const float* at(int64_t b, int64_t n, int64_t i) const {
    return data + b * stride_block + n * stride_token + i * stride_expert;
  }
};

inline ExpertOutputsView make_expert_outputs_view(const float* data, int64_t N, int64_t M, int dim) {
  return {data, N * M * dim, M * int64_t(dim), dim, dim};
}

namespace detail {
/// Shape, stride and tokens_per_block checks shared by every host entry point.
/// `tokens_per_block` must be host-readable here (backends copy it first if not).
template <class T>
void validate_shape(const LogitsView<T>& x, const RouterConfig& c, const int32_t* host_tokens) {
  require(x.blocks >= 0, "logits.blocks", x.blocks, "must be >= 0");
  require(x.tokens >= 0, "logits.tokens", x.tokens, "must be >= 0");
  require(x.experts == c.num_experts, "logits.experts", x.experts,
          "must equal num_experts = " + std::to_string(c.num_experts));
  if (x.blocks == 0 || x.tokens == 0) return;
  require(x.tokens <= INT32_MAX / (c.top_k > 0 ? c.top_k : 1), "logits.tokens", x.tokens, "too large for int32 slot indices");
  require(x.data != nullptr, "logits.data", "null", "must point to B*N*M logits");
  require(x.stride_expert >= 1, "logits.stride_expert", x.stride_expert, "must be >= 1");
  require(x.stride_token >= 1 || x.tokens == 1, "logits.stride_token", x.stride_token, "must be >= 1");
  require(x.stride_block >= 1 || x.blocks == 1, "logits.stride_block", x.stride_block, "must be >= 1");
  if (host_tokens)
    for (int64_t b = 0; b < x.blocks; ++b)
      require(host_tokens[b] >= 0 && host_tokens[b] <= x.tokens, "tokens_per_block[" + std::to_string(b) + "]",
              host_tokens[b], "must be in [0, tokens = " + std::to_string(x.tokens) + "]");
}
}  // namespace detail

}  // namespace coreroute
