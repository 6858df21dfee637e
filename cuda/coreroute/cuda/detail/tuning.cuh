#pragma once
// Every tuning constant of the CUDA routing kernel, in one place (as CUB's agent
// policies). Tuning only: results never depend on these (the vote rows, which do fix
// an order of summation, depend on M and N alone: layout.cuh, vote_rows).

namespace coreroute::cuda::detail {

/// Most threads of a routing CTA. At 1024 a thread gets 64 registers and the larger
/// register rows spill a little; 512 (128 registers, no spills) measured slower at
/// B = 1024 (fewer warps to hide latency; docs/performance.md).
#ifndef COREROUTE_CUDA_MAX_THREADS
#define COREROUTE_CUDA_MAX_THREADS 1024
#endif
inline constexpr int kMaxWarps = COREROUTE_CUDA_MAX_THREADS / 32;

/// Most CTAs of a cluster that every sm_90 device schedules (the portable size).
inline constexpr int kMaxCluster = 8;

/// The launch of one class of shapes.
struct ShapeClass {
  int warps;        ///< warps per CTA
  int max_cluster;  ///< most CTAs sharing one block; fewer while B * cluster exceeds the SMs
  int ctas_per_sm;  ///< the grid without clusters: at most this many CTAs per SM, grid-stride beyond
};
/// Fewer blocks than twice the SMs: a block's Stage 2 tokens spread over a cluster of
/// CTAs on as many SMs (each CTA at least 4 tokens, one warp each), so that B = 1 is not
/// one SM's work; Stage 1 too where its tally fits (kTallyTokens), the coreset's ranking
/// in the cluster's lead CTA.
inline constexpr ShapeClass kFewBlocks{kMaxWarps, kMaxCluster, 16};
/// Many blocks: CTAs of 8 warps, several per SM, one block each at a time.
inline constexpr ShapeClass kManyBlocks{8, 1, 16};
/// Blocks per SM from which a launch is of the many-blocks class.
inline constexpr int kManyBlocksPerSm = 2;
/// Fewest tokens per CTA of a cluster (a cluster halves until each CTA has as many).
inline constexpr int kClusterTokens = 4;

/// Most tokens per block whose Stage 1 row stats are kept (16 bytes each).
inline constexpr int kStatTokens = 256;
/// Most tokens per block whose Stage 1 spreads over a cluster (a tally of 384 bytes each
/// in the lead CTA); more stay in the lead CTA's vote rows.
inline constexpr int kTallyTokens = 128;

/// Largest coreset that Stage 2 ranks on its own (CoreItems), in items per lane;
/// rows of at most as many items per lane (M <= 64) are ranked whole (measured faster).
inline constexpr int kCoreItems = 2;

}  // namespace coreroute::cuda::detail
