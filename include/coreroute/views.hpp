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
  int64_t blocks = 0, tokens = 0, experts = 0;  ///< B, N, M
  int64_t stride_block = 0, stride_token = 0, stride_expert = 1;
  const int32_t* tokens_per_block = nullptr;  ///< null: every block has N tokens
  /// Elements readable from `data`, or -1 (not known). When known, the checked entry
  /// points prove that every element the shape and strides address lies below it.
  int64_t extent = -1;

  CR_HD const T& at(int64_t b, int64_t n, int64_t i) const {
    return data[b * stride_block + n * stride_token + i * stride_expert];
  }
  /// Rows of block b that are routed; the rest get ids -1, weight 0 and count nowhere.
  CR_HD int64_t valid_tokens(int64_t b) const { return tokens_per_block ? tokens_per_block[b] : tokens; }
};

/// A contiguous [B, N, M] view (its extent not known: see the overload below).
template <class T>
LogitsView<T> make_logits_view(const T* data, int64_t B, int64_t N, int64_t M,
                               const int32_t* tokens_per_block = nullptr) {
  return {data, B, N, M, N * M, M, 1, tokens_per_block};
}

/// Strides of a [B, N, M] view, in elements.
struct LogitsStrides {
  int64_t block = 0, token = 0, expert = 1;
  /// The strides of a contiguous (row-major) [B, N, M] array.
  static LogitsStrides contiguous(int64_t N, int64_t M) { return {N * M, M, 1}; }
};

/// A [B, N, M] view over a buffer of `extent` elements (e.g. a std::vector's size()):
/// the checked entry points then reject a shape or strides that would read past it.
template <class T>
LogitsView<T> make_logits_view(const T* data, int64_t extent, int64_t B, int64_t N, int64_t M, LogitsStrides strides,
                               const int32_t* tokens_per_block = nullptr) {
  return {data, B, N, M, strides.block, strides.token, strides.expert, tokens_per_block, extent};
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
  if (x.experts != c.num_experts)
    fail("logits.experts", x.experts, "must equal num_experts = " + std::to_string(c.num_experts));
  if (x.blocks == 0 || x.tokens == 0) return;
  require(x.tokens <= INT32_MAX / (c.top_k > 0 ? c.top_k : 1), "logits.tokens", x.tokens,
          "too large for int32 slot indices");
  require(x.data != nullptr, "logits.data", "null", "must point to B*N*M logits");
  require(x.stride_expert >= 1, "logits.stride_expert", x.stride_expert, "must be >= 1");
  require(x.stride_token >= 1 || x.tokens == 1, "logits.stride_token", x.stride_token, "must be >= 1");
  require(x.stride_block >= 1 || x.blocks == 1, "logits.stride_block", x.stride_block, "must be >= 1");
  if (x.extent >= 0) {
    // The last element addressed, in steps that cannot overflow: each term is checked
    // against what is left of the extent before it is added.
    int64_t left = x.extent - 1;  // the largest offset the buffer holds
    bool inside = left >= 0;
    const int64_t counts[3] = {x.blocks - 1, x.tokens - 1, x.experts - 1};
    const int64_t strides[3] = {x.blocks > 1 ? x.stride_block : 0, x.tokens > 1 ? x.stride_token : 0, x.stride_expert};
    for (int d = 0; d < 3 && inside; ++d) {
      if (counts[d] == 0 || strides[d] == 0) continue;
      inside = counts[d] <= left / strides[d];
      if (inside) left -= counts[d] * strides[d];
    }
    if (!inside)
      fail("logits.extent", x.extent,
           "is too small for the shape [" + std::to_string(x.blocks) + ", " + std::to_string(x.tokens) + ", " +
               std::to_string(x.experts) + "] with strides [" + std::to_string(x.stride_block) + ", " +
               std::to_string(x.stride_token) + ", " + std::to_string(x.stride_expert) + "]");
  }
  if (host_tokens)
    for (int64_t b = 0; b < x.blocks; ++b)
      if (!(host_tokens[b] >= 0 && host_tokens[b] <= x.tokens))
        fail("tokens_per_block[" + std::to_string(b) + "]", host_tokens[b],
             "must be in [0, tokens = " + std::to_string(x.tokens) + "]");
}
}  // namespace detail

}  // namespace coreroute
