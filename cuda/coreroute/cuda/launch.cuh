#pragma once
// The raw launch of the routing kernel: no validation, no host synchronisation, safe
// inside CUDA graph capture. Inputs must satisfy the checked API's rules (route.cuh);
// NaN/+Inf logits are not rejected here but reported per block in invalid_tokens.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/layout.cuh>
#include <coreroute/cuda/detail/route_kernel.cuh>
#include <coreroute/cuda/detail/tuning.cuh>
#include <coreroute/cuda/outputs.cuh>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cuda {

/// Launch shape. Tuning only: results never depend on it (layout.cuh, vote_rows).
struct LaunchTuning {
  int warps = 0;       ///< warps per CTA (one token per warp at a time); 0: the shape class's
  int max_blocks = 0;  ///< CTAs in the grid without clusters (grid-stride beyond); 0: the shape class's
  /// CTAs per block (a thread-block cluster, sm_90; a power of 2, at most kMaxCluster, rounded
  /// down); 0: the shape class's, 1: none.
  int cluster = 0;
  /// Rank every token in double (the fast path's fallback) instead of certified float
  /// keys first (detail/fast_token.cuh); the results are the same either way.
  bool exact_only = false;
};

/// Largest num_experts of the register fast path; beyond it rows live in shared memory.
inline constexpr int kFastPathExperts = 512;
/// Largest n_group the kernel's group bitmask holds.
inline constexpr int kMaxGroups = 64;

namespace detail {

struct DeviceInfo {
  int sms = 0, smem_optin = 0;
  bool clusters = false;  ///< sm_90 or later, and this program's kernels built for it
};

/// An empty kernel whose PTX version is that of every kernel of this translation unit
/// (a template: one definition however many translation units include this).
template <int = 0>
__global__ void arch_probe() {}

/// Multiprocessor count, shared-memory limit and cluster support, read once per device
/// and host thread.
inline DeviceInfo device_info() {
  thread_local DeviceInfo cache[64];  // thread_local: no data race between host threads
  thread_local bool known[64] = {};
  int dev = 0;
  cudaGetDevice(&dev);
  DeviceInfo& d = cache[dev & 63];
  if (!known[dev & 63]) {
    int major = 0;
    cudaFuncAttributes probe{};
    cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev);
    cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    // Kernels JIT-compiled from PTX older than sm_90 have no cluster code (detail/warp.cuh's BlockTeam).
    d.clusters = major >= 9 && cudaFuncGetAttributes(&probe, arch_probe<>) == cudaSuccess && probe.ptxVersion >= 90;
    known[dev & 63] = true;
  }
  return d;
}

inline int items_per_lane(int M) {
  return M <= 32 ? 1 : M <= 64 ? 2 : M <= 128 ? 4 : M <= 256 ? 8 : M <= kFastPathExperts ? 16 : 0;
}

/// The shared-memory layout of a launch of `warps` warps per CTA, in clusters or not.
template <class Policy>
inline RouteLayout layout_of(int64_t N, const RouterParams& p, bool given_coreset, bool with_dispatch, int warps,
                             bool clusters = false) {
  return route_layout(p.num_experts, N, warps, p.bias != nullptr, Policy::needs_votes && !given_coreset,
                      items_per_lane(p.num_experts) == 0, p.groups.enabled(), with_dispatch, clusters);
}

/// A launch: its layout, warps per CTA (0 when even one warp does not fit), CTAs per
/// block (cluster) and grid.
struct LaunchPlan {
  RouteLayout layout;
  int warps = 0, cluster = 1, grid = 0;
};

template <class Policy>
inline LaunchPlan plan(int64_t B, int64_t N, const RouterParams& p, bool given_coreset, bool with_dispatch,
                       const LaunchTuning& tune, const DeviceInfo& dev) {
  const ShapeClass& shape = B >= kManyBlocksPerSm * int64_t(dev.sms) ? kManyBlocks : kFewBlocks;
  int cluster = 1;
  while (2 * cluster <= std::min(tune.cluster > 0 ? tune.cluster : shape.max_cluster, kMaxCluster)) cluster *= 2;
  if (tune.cluster == 0)
    while (cluster > 1 && (B * cluster > dev.sms || kClusterTokens * cluster > N)) cluster /= 2;
  if (!dev.clusters || B * cluster > int64_t(1) << 30) cluster = 1;
  // In a cluster, one warp per token of a CTA's share, and, where the block votes, one
  // per vote row of the lead CTA's Stage 1.
  const bool votes = Policy::needs_votes && !given_coreset;
  const int64_t clustered = std::max<int64_t>((N + cluster - 1) / cluster, votes ? vote_rows(p.num_experts, N) : 1);
  const int64_t want = tune.warps > 0 ? tune.warps : cluster > 1 ? clustered : shape.warps;
  LaunchPlan lp;
  for (int warps = int(std::max<int64_t>(1, std::min<int64_t>({want, N, kMaxWarps}))); warps >= 1 && lp.warps == 0;
       --warps) {
    const RouteLayout L = layout_of<Policy>(N, p, given_coreset, with_dispatch, warps, cluster > 1);
    if (L.bytes <= size_t(dev.smem_optin)) lp = {L, warps, cluster, 0};
  }
  if (lp.warps == 0) return lp;
  const int64_t cap = tune.max_blocks > 0 ? tune.max_blocks : int64_t(dev.sms) * shape.ctas_per_sm;
  lp.grid = int(cluster > 1 ? B * cluster : std::min<int64_t>(B, cap));  // a cluster's CTAs route one block
  return lp;
}

/// Why a launch cannot run on a device with `dev`'s limits, before any launch (as CUTLASS's
/// can_implement): empty when it can; `launch` returns cudaErrorInvalidConfiguration exactly
/// where this is not empty.
template <class Policy>
inline std::string launch_problem(int64_t B, int64_t N, const RouterParams& p, bool given_coreset, bool with_dispatch,
                                  const LaunchTuning& tune, const DeviceInfo& dev) {
  if (plan<Policy>(B, N, p, given_coreset, with_dispatch, tune, dev).warps > 0) return {};
  const size_t need = layout_of<Policy>(N, p, given_coreset, with_dispatch, 1).bytes;
  return "with num_experts = " + std::to_string(p.num_experts) + " one block of " + std::to_string(N) +
         " tokens needs " + std::to_string(need) + " bytes of shared memory (one warp per CTA), more than the " +
         std::to_string(dev.smem_optin) + " a CTA may have on this device";
}

template <int VPT, class T, class Policy>
cudaError_t launch_vpt(const LogitsView<T>& x, const RouterParams& p, const Policy& pol, const uint8_t* coreset_in,
                       const RouteOutputs& out, const DispatchOutputs& d, const LaunchPlan& lp, bool fast,
                       cudaStream_t stream) {
  // Stage 1 spreads over the cluster where the plan made room for the tally and every token
  // tries the fast path, whose votes fit a warp (0 < local_k < 32); else the lead CTA runs it.
  auto kernel = route_kernel<T, Policy, VPT, false>;
  if constexpr (Policy::needs_votes && VPT > 0) {
    const int local_k = coreroute::detail::votes_per_token(pol, p);
    if (lp.layout.tally_tokens > 0 && fast && local_k > 0 && local_k < 32) kernel = route_kernel<T, Policy, VPT, true>;
  }
  const RouteLayout& L = lp.layout;
  if (L.bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(L.bytes));
    if (e != cudaSuccess) return e;
  }
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(lp.grid));
  config.blockDim = dim3(unsigned(lp.warps * 32));
  config.dynamicSmemBytes = L.bytes;
  config.stream = stream;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = unsigned(lp.cluster);
  cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = lp.cluster > 1 ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, x, p, pol, coreset_in, out, d, L, lp.cluster, fast);
}

template <class T, class Policy>
cudaError_t launch(const LogitsView<T>& x, const RouterParams& p, const Policy& pol, const uint8_t* coreset_in,
                   const RouteOutputs& out, const DispatchOutputs* dispatch, cudaStream_t stream,
                   const LaunchTuning& tune) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  if (x.blocks == 0) return cudaSuccess;
  const DispatchOutputs d = dispatch ? *dispatch : DispatchOutputs{};
  const LaunchPlan lp = plan<Policy>(x.blocks, x.tokens, p, coreset_in != nullptr, d.enabled(), tune, device_info());
  if (lp.warps == 0) return cudaErrorInvalidConfiguration;
  const bool fast = !tune.exact_only;
  switch (items_per_lane(p.num_experts)) {
    case 1:
      return launch_vpt<1>(x, p, pol, coreset_in, out, d, lp, fast, stream);
    case 2:
      return launch_vpt<2>(x, p, pol, coreset_in, out, d, lp, fast, stream);
    case 4:
      return launch_vpt<4>(x, p, pol, coreset_in, out, d, lp, fast, stream);
    case 8:
      return launch_vpt<8>(x, p, pol, coreset_in, out, d, lp, fast, stream);
    case 16:
      return launch_vpt<16>(x, p, pol, coreset_in, out, d, lp, fast, stream);
    default:
      return launch_vpt<0>(x, p, pol, coreset_in, out, d, lp, fast, stream);
  }
}

}  // namespace detail

/// Routes B blocks (Stage 1 + Stage 2) on `stream`. Device pointers everywhere;
/// `p.bias` (if any) points to M device floats. Returns the launch's error code.
template <class Policy, class T>
cudaError_t launch_route(const LogitsView<T>& x, const RouterParams& p, const Policy& pol, const RouteOutputs& out,
                         cudaStream_t stream = nullptr, const DispatchOutputs* dispatch = nullptr,
                         const LaunchTuning& tune = {}) {
  return detail::launch(x, p, pol, nullptr, out, dispatch, stream, tune);
}

/// Stage 2 alone: routes every block into the given device coreset mask [B, M].
template <class T>
cudaError_t launch_route_in_coreset(const LogitsView<T>& x, const RouterParams& p, const uint8_t* coreset,
                                    const RouteOutputs& out, cudaStream_t stream = nullptr,
                                    const DispatchOutputs* dispatch = nullptr, const LaunchTuning& tune = {}) {
  return detail::launch(x, p, VanillaPolicy{}, coreset, out, dispatch, stream, tune);
}

}  // namespace coreroute::cuda
