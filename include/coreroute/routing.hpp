#pragma once
// What routing produces (docs/spec.md section 5), as host-owned arrays. GPU backends write
// the same layout into device buffers and copy it here for comparison.
#include <cstdint>
#include <vector>

namespace coreroute {

struct Routing {
  int64_t blocks = 0, tokens = 0;       ///< B, N
  int experts = 0, top_k = 0;           ///< M, K
  std::vector<int32_t> ids;             ///< [B, N, K]; -1 pads slots past |E_n| and unrouted rows
  std::vector<float> weights;           ///< [B, N, K]; 0 where the id is -1
  std::vector<uint8_t> coreset;         ///< [B, M]; 1 = expert is in the block's coreset
  std::vector<int32_t> coreset_size;    ///< [B]
  std::vector<int32_t> valid_tokens;    ///< [B]; rows routed (tokens_per_block or N)
  std::vector<int32_t> invalid_tokens;  ///< [B]; status: rows with NaN/+Inf logits (raw path)

  void resize(int64_t B, int64_t N, int M, int K) {
    blocks = B;
    tokens = N;
    experts = M;
    top_k = K;
    ids.assign(size_t(B * N * K), -1);
    weights.assign(size_t(B * N * K), 0.0f);
    coreset.assign(size_t(B * M), 0);
    coreset_size.assign(size_t(B), 0);
    valid_tokens.assign(size_t(B), 0);
    invalid_tokens.assign(size_t(B), 0);
  }
  int32_t id(int64_t b, int64_t n, int j) const { return ids[size_t((b * tokens + n) * top_k + j)]; }
  float weight(int64_t b, int64_t n, int j) const { return weights[size_t((b * tokens + n) * top_k + j)]; }
};

/// The expert layer's view of a routing, per block b (fixed capacity, so a GPU can
/// fill it without allocating): the T_b experts actually used in ascending id, how
/// many (token, slot) assignments each has, their offsets, and the assignments in
/// expert-major order (then token, then slot). An expert GEMM for used expert u reads
/// rows token[b][offsets[u] .. offsets[u+1]) and scales by weights[token, slot].
struct DispatchLayout {
  int64_t blocks = 0, tokens = 0;
  int experts = 0, top_k = 0;
  std::vector<int32_t> num_used;      ///< [B]       T_b
  std::vector<int32_t> used_experts;  ///< [B, M]    first T_b entries valid, rest -1
  std::vector<int32_t> counts;        ///< [B, M]    first T_b entries valid, rest 0
  std::vector<int32_t> offsets;       ///< [B, M+1]  exclusive prefix of counts; rest = total
  std::vector<int32_t> token;         ///< [B, N*K]  first offsets[T_b] entries valid, rest -1
  std::vector<int32_t> slot;          ///< [B, N*K]

  void resize(int64_t B, int64_t N, int M, int K) {
    blocks = B;
    tokens = N;
    experts = M;
    top_k = K;
    num_used.assign(size_t(B), 0);
    used_experts.assign(size_t(B * M), -1);
    counts.assign(size_t(B * M), 0);
    offsets.assign(size_t(B * (M + 1)), 0);
    token.assign(size_t(B * N * K), -1);
    slot.assign(size_t(B * N * K), -1);
  }
};

}  // namespace coreroute
