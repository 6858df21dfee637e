#pragma once
// Reference metrics (docs/spec.md section 5) of a routing R against a reference routing R0,
// in double precision. Computing them needs R0; routing alone never pays for it.
#include <cmath>
#include <string>
#include <vector>

#include <coreroute/detail/metric_rules.hpp>
#include <coreroute/error.hpp>
#include <coreroute/metrics.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/views.hpp>

namespace coreroute::reference {

namespace detail {
inline void require_comparable(const Routing& R, const Routing& R0) {
  using coreroute::detail::require;
  require(R.blocks == R0.blocks, "routing.blocks", R.blocks, "must equal the reference's " + std::to_string(R0.blocks));
  require(R.tokens == R0.tokens, "routing.tokens", R.tokens, "must equal the reference's " + std::to_string(R0.tokens));
  require(R.experts == R0.experts, "routing.experts", R.experts,
          "must equal the reference's " + std::to_string(R0.experts));
  for (int64_t b = 0; b < R.blocks; ++b)
    if (R.valid_tokens[size_t(b)] != R0.valid_tokens[size_t(b)])
      coreroute::detail::fail("routing.valid_tokens[" + std::to_string(b) + "]", R.valid_tokens[size_t(b)],
                              "must equal the reference's " + std::to_string(R0.valid_tokens[size_t(b)]));
}

/// The expert outputs, when given, must be there and have a dimension.
inline void require_outputs(const Routing& R, const ExpertOutputsView* outputs) {
  using coreroute::detail::require;
  if (!outputs) return;
  require(outputs->dim >= 1, "outputs.dim", outputs->dim, "must be >= 1 (the size of one expert's output)");
  require(outputs->data != nullptr || R.blocks == 0 || R.tokens == 0, "outputs.data", "null",
          "must point to the expert outputs [B, N, M, dim]");
  require(outputs->stride_block >= 0 && outputs->stride_token >= 0 && outputs->stride_expert >= 0, "outputs.strides",
          std::to_string(outputs->stride_block) + ", " + std::to_string(outputs->stride_token) + ", " +
              std::to_string(outputs->stride_expert),
          "must be >= 0");
}

/// Adds token n's dense gate vector, times `sign`, into g (length M).
inline void add_gates(const Routing& R, int64_t b, int64_t n, double sign, std::vector<double>& g) {
  for (int j = 0; j < R.top_k; ++j)
    if (R.id(b, n, j) >= 0) g[size_t(R.id(b, n, j))] += sign * double(R.weight(b, n, j));
}
}  // namespace detail

/// Metrics of block b. `outputs` (expert outputs Y[b, n, i, :]) is optional: without
/// it, output_reconstruction_loss is NaN ("not computed").
inline BlockMetrics block_metrics(const Routing& R, const Routing& R0, int64_t b, double expert_bytes,
                                  const ExpertOutputsView* outputs = nullptr) {
  detail::require_outputs(R, outputs);
  const int M = R.experts;
  const int64_t N = R.valid_tokens[size_t(b)];
  const size_t Ms = static_cast<size_t>(M);
  std::vector<double> count(Ms, 0.0), count0(Ms, 0.0), g(Ms, 0.0);
  double hits = 0, expected = 0, gate_loss = 0, out_num = 0, out_den = 0;
  std::vector<double> delta(outputs ? size_t(outputs->dim) : 0), base(delta.size());
  for (int64_t n = 0; n < N; ++n) {
    for (int j = 0; j < R.top_k; ++j)
      if (R.id(b, n, j) >= 0) count[size_t(R.id(b, n, j))] += 1;
    for (int j0 = 0; j0 < R0.top_k; ++j0) {
      const int32_t e0 = R0.id(b, n, j0);
      if (e0 < 0) continue;
      count0[size_t(e0)] += 1;
      expected += 1;
      for (int j = 0; j < R.top_k; ++j) hits += R.id(b, n, j) == e0 ? 1 : 0;
    }
    // g - g0 over the touched experts, then cleared again (no O(M) reset per token).
    detail::add_gates(R, b, n, +1, g);
    detail::add_gates(R0, b, n, -1, g);
    std::fill(delta.begin(), delta.end(), 0.0);
    std::fill(base.begin(), base.end(), 0.0);
    for (const Routing* X : {&R, &R0})
      for (int j = 0; j < X->top_k; ++j) {
        const int32_t e = X->id(b, n, j);
        if (e < 0) continue;
        gate_loss += g[size_t(e)] * g[size_t(e)];
        if (outputs) {
          const float* y = outputs->at(b, n, e);
          for (int d = 0; d < outputs->dim; ++d) delta[size_t(d)] += g[size_t(e)] * double(y[d]);
        }
        g[size_t(e)] = 0.0;  // each touched expert counted once
      }
    if (outputs) {
      for (int j0 = 0; j0 < R0.top_k; ++j0) {
        const int32_t e0 = R0.id(b, n, j0);
        if (e0 < 0) continue;
        const float* y = outputs->at(b, n, e0);
        for (int d = 0; d < outputs->dim; ++d) base[size_t(d)] += double(R0.weight(b, n, j0)) * double(y[d]);
      }
      for (int d = 0; d < outputs->dim; ++d) {
        out_num += delta[size_t(d)] * delta[size_t(d)];
        out_den += base[size_t(d)] * base[size_t(d)];
      }
    }
  }
  BlockMetrics m;
  double dot = 0, norm = 0, norm0 = 0;
  for (int i = 0; i < M; ++i) {
    m.unique_experts += count[size_t(i)] > 0 ? 1 : 0;
    dot += count[size_t(i)] * count0[size_t(i)];
    norm += count[size_t(i)] * count[size_t(i)];
    norm0 += count0[size_t(i)] * count0[size_t(i)];
  }
  m.coreset_size = R.coreset_size[size_t(b)];
  m.topk_hit_rate = coreroute::detail::topk_hit_rate(hits, expected);
  m.gate_reconstruction_loss = coreroute::detail::gate_reconstruction_loss(gate_loss, double(N));
  m.hit_cosine = coreroute::detail::hit_cosine(dot, norm, norm0);
  m.output_reconstruction_loss = coreroute::detail::output_reconstruction_loss(outputs != nullptr, out_num, out_den);
  m.expert_bytes_read = m.unique_experts * expert_bytes;
  return m;
}

/// Metrics of every block of R against R0 (same B, N, M, valid tokens; K may differ).
inline std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes = 0,
                                         const ExpertOutputsView* outputs = nullptr) {
  detail::require_comparable(R, R0);
  detail::require_outputs(R, outputs);
  std::vector<BlockMetrics> out;
  out.reserve(size_t(R.blocks));
  for (int64_t b = 0; b < R.blocks; ++b) out.push_back(block_metrics(R, R0, b, expert_bytes, outputs));
  return out;
}

}  // namespace coreroute::reference
