#pragma once
// Warp- and block-level building blocks of the routing kernels. Every reduction here
// is deterministic: the same inputs give bit-identical results on every run, and a
// value broadcast to a warp is the same in every lane (exact input ties depend on it).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cooperative_groups.h>

#include <cstdint>

#include <coreroute/detail/ranking.hpp>

namespace coreroute::cuda::detail {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

/// The CTAs that route one block together: a thread-block cluster of `size` CTAs
/// (sm_90), or one CTA (size 1). CTA 0 keeps the block's counters; the others reach
/// them through distributed shared memory (`at`).
struct BlockTeam {
  int size = 1, rank = 0;
  /// A barrier of every thread of the team; its writes before it, shared and global,
  /// are seen by all after it.
  __device__ void sync() const {
#if __CUDA_ARCH__ >= 900
    if (size > 1) {
      cooperative_groups::this_cluster().sync();
      return;
    }
#endif
    __syncthreads();
  }
  /// The same barrier in two halves (sm_90's barrier.cluster), so that work goes on between
  /// them: once `wait` returns, every CTA of the team has started, as reaching another CTA's
  /// shared memory requires, and has made its writes before `arrive` visible.
  __device__ void arrive() const {
#if __CUDA_ARCH__ >= 900
    if (size > 1) asm volatile("barrier.cluster.arrive.aligned;" ::: "memory");
#endif
  }
  __device__ void wait() const {
#if __CUDA_ARCH__ >= 900
    if (size > 1) asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
#endif
  }
  /// The address of `p`, a pointer into this CTA's shared memory, in CTA `r`'s.
  template <class V>
  __device__ V* at(V* p, int r) const {
#if __CUDA_ARCH__ >= 900
    if (size > 1 && r != rank) return cooperative_groups::this_cluster().map_shared_rank(p, unsigned(r));
#endif
    return p;
  }
};

/// This CTA's team in a launch of clusters of `cluster` CTAs (1: none); traps where the
/// launch's clusters are not that size.
__device__ inline BlockTeam block_team(int cluster) {
  BlockTeam team;
#if __CUDA_ARCH__ >= 900
  if (cluster > 1) {
    const cooperative_groups::cluster_group c = cooperative_groups::this_cluster();
    if (c.num_blocks() != unsigned(cluster)) __trap();
    team.size = cluster;
    team.rank = int(c.block_rank());
  }
#else
  if (cluster > 1) __trap();  // no clusters before sm_90 (the host never asks: DeviceInfo::clusters)
#endif
  return team;
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

__device__ __forceinline__ uint32_t warp_max_u32(uint32_t v) {
#if __CUDA_ARCH__ >= 800
  return __reduce_max_sync(kFullMask, v);
#else
  for (int d = 16; d > 0; d >>= 1) {
    const uint32_t o = __shfl_xor_sync(kFullMask, v, d);
    v = o > v ? o : v;
  }
  return v;
#endif
}

/// Warp maximum of packed rank keys (coreroute/detail/ranking.hpp): the larger value,
/// then the lower index. Two 32-bit reductions: the value bits, then the index bits
/// among the lanes that hold the maximum value.
__device__ __forceinline__ uint64_t warp_max_key(uint64_t key) {
  const uint32_t hi = warp_max_u32(uint32_t(key >> 32));
  const uint32_t lo = warp_max_u32(uint32_t(key >> 32) == hi ? uint32_t(key) : 0u);
  return (uint64_t(hi) << 32) | lo;
}

/// Warp maximum of wide (double) rank keys: the value's high and low words, then the
/// index bits, each among the lanes that hold the maximum so far.
__device__ __forceinline__ coreroute::detail::WideKey warp_max_key(coreroute::detail::WideKey key) {
  const uint32_t hi = warp_max_u32(uint32_t(key.value >> 32));
  const bool top = uint32_t(key.value >> 32) == hi;
  const uint32_t lo = warp_max_u32(top ? uint32_t(key.value) : 0u);
  const bool same = top && uint32_t(key.value) == lo;
  const uint32_t index = warp_max_u32(same ? key.index : 0u);
  return {(uint64_t(hi) << 32) | lo, index};
}

/// Warp maximum of a float (never NaN here), through its order-preserving bits.
__device__ __forceinline__ float warp_max_float(float v) {
  const uint32_t bits = warp_max_u32(coreroute::detail::ordered_bits(v));
  return coreroute::detail::key_value(uint64_t(bits) << 32);
}

/// Warp sum, identical in every lane (a tree to lane 0, then a broadcast: an xor
/// butterfly would round differently per lane).
template <class V>
__device__ __forceinline__ V warp_sum(V v) {
  for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(kFullMask, v, d);
  return __shfl_sync(kFullMask, v, 0);
}

/// In-place exclusive prefix sum of data[0, len) by one warp, in an order fixed by len
/// alone (lane l sums its chunk of ceil(len / 32) in order, then a scan of the chunk
/// sums across lanes): floating-point sums come out the same for any block size, as
/// the coreset's prefix sums must (a policy's `keep` may compare them near a tie).
/// Returns the total to every lane.
template <class V>
__device__ V warp_exclusive_scan(V* data, int len) {
  const int lane = int(threadIdx.x & 31), per = (len + 31) / 32;
  const int lo = min(len, lane * per), hi = min(len, lo + per);
  V incl = V(0);
#pragma unroll 4
  for (int i = lo; i < hi; ++i) incl += data[i];  // unrolled: loads ahead, additions in order
  for (int d = 1; d < 32; d <<= 1) {
    const V y = __shfl_up_sync(kFullMask, incl, d);
    if (lane >= d) incl += y;
  }
  V base = __shfl_up_sync(kFullMask, incl, 1);
  if (lane == 0) base = V(0);
#pragma unroll 4
  for (int i = lo; i < hi; ++i) {
    const V v = data[i];
    data[i] = base;
    base += v;
  }
  return __shfl_sync(kFullMask, incl, 31);
}

/// In-place exclusive prefix sum of data[0, len) by the whole thread block (each thread
/// a contiguous chunk, then a scan of chunk sums). Returns the total to every thread.
/// `scratch` holds 32 V in shared memory. Every thread of the block must call it.
/// The order of the additions depends on the block size: exact for integers only.
template <class V>
__device__ V block_exclusive_scan(V* data, int len, V* scratch) {
  const int T = int(blockDim.x), t = int(threadIdx.x), lane = t & 31, warp = t >> 5, warps = (T + 31) >> 5;
  const int per = (len + T - 1) / T;
  const int lo = min(len, t * per), hi = min(len, lo + per);
  V local = V(0);
  for (int i = lo; i < hi; ++i) local += data[i];
  V incl = local;
  for (int d = 1; d < 32; d <<= 1) {
    const V y = __shfl_up_sync(kFullMask, incl, d);
    if (lane >= d) incl += y;
  }
  V excl = __shfl_up_sync(kFullMask, incl, 1);
  if (lane == 0) excl = V(0);
  if (lane == 31) scratch[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const V w = lane < warps ? scratch[lane] : V(0);
    V wi = w;
    for (int d = 1; d < 32; d <<= 1) {
      const V y = __shfl_up_sync(kFullMask, wi, d);
      if (lane >= d) wi += y;
    }
    scratch[lane] = wi;  // inclusive over warps
  }
  __syncthreads();
  V base = (warp > 0 ? scratch[warp - 1] : V(0)) + excl;
  const V total = scratch[warps - 1];
  for (int i = lo; i < hi; ++i) {
    const V v = data[i];
    data[i] = base;
    base += v;
  }
  __syncthreads();
  return total;
}

}  // namespace coreroute::cuda::detail
