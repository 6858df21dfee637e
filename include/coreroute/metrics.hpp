#pragma once
// Routing-quality metrics of docs/spec.md section 5, comparing a routing R against a
// reference routing R0 (by default vanilla with the same config; for a K-override
// baseline, vanilla with the model's own K). Only real ids (>= 0) count.
#include <cmath>
#include <cstddef>
#include <vector>

namespace coreroute {

/// Metrics of one block. A block with no tokens: T = 0, hit rate 1, losses 0, cosine 1.
struct BlockMetrics {
  double unique_experts = 0;              ///< T = |union_n S_n|
  double coreset_size = 0;                ///< |C|
  double topk_hit_rate = 1;               ///< sum_n |S_n & S0_n| / sum_n |S0_n|
  double gate_reconstruction_loss = 0;    ///< (1/N) sum_n ||g_n - g0_n||^2
  double output_reconstruction_loss = 0;  ///< relative, needs expert outputs; NaN when not given
  double hit_cosine = 1;                  ///< cosine of per-expert selection counts
  double expert_bytes_read = 0;           ///< T * expert_bytes
};

/// Trace-level metrics: the mean over blocks, each block weighing the same.
/// An empty trace gives the metrics of an empty block.
inline BlockMetrics mean_metrics(const std::vector<BlockMetrics>& blocks) {
  BlockMetrics m;
  if (blocks.empty()) return m;
  m = BlockMetrics{0, 0, 0, 0, 0, 0, 0};
  for (const BlockMetrics& b : blocks) {
    m.unique_experts += b.unique_experts;
    m.coreset_size += b.coreset_size;
    m.topk_hit_rate += b.topk_hit_rate;
    m.gate_reconstruction_loss += b.gate_reconstruction_loss;
    m.output_reconstruction_loss += b.output_reconstruction_loss;
    m.hit_cosine += b.hit_cosine;
    m.expert_bytes_read += b.expert_bytes_read;
  }
  const double n = double(blocks.size());
  m.unique_experts /= n;
  m.coreset_size /= n;
  m.topk_hit_rate /= n;
  m.gate_reconstruction_loss /= n;
  m.output_reconstruction_loss /= n;
  m.hit_cosine /= n;
  m.expert_bytes_read /= n;
  return m;
}

/// Expert weight bytes of the two published models (3 bf16 matrices per expert).
inline constexpr double kLladaMoeExpertBytes = 3.0 * 2048 * 1024 * 2;   // 12.6 MB
inline constexpr double kLlada2MiniExpertBytes = 3.0 * 2048 * 512 * 2;  // 6.3 MB

}  // namespace coreroute
