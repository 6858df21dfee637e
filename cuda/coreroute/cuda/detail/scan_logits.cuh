#pragma once
// Device scan for the checked API: the first invalid logit (NaN, +Inf) or all -Inf
// softmax row, in (block, token, expert) order. One warp per row.
#include <cstdint>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/detail/scores.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cuda::detail {

/// `first` receives min over bad rows of row * (M + 1) + expert, expert = M for an
/// all -Inf softmax row; it must start at ~0.
template <class T>
__global__ void first_invalid_logit(LogitsView<T> x, ScoreFunction score, unsigned long long* first) {
  const int lane = int(threadIdx.x & 31);
  const int64_t M = x.experts;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); row < x.blocks * x.tokens;
       row += warps) {
    const int64_t b = row / x.tokens, n = row % x.tokens;
    if (n >= x.valid_tokens(b)) continue;
    const T* r = x.data + b * x.stride_block + n * x.stride_token;
    int64_t bad = M;  // none yet
    bool finite_seen = false;
    for (int64_t i = lane; i < M; i += 32) {
      const float v = to_float(r[i * x.stride_expert]);
      if (coreroute::detail::invalid_logit(v) && i < bad) bad = i;
      finite_seen |= v > -INFINITY;
    }
    for (int d = 16; d > 0; d >>= 1) {
      const int64_t o = __shfl_xor_sync(kFullMask, bad, d);
      bad = o < bad ? o : bad;
    }
    finite_seen = __any_sync(kFullMask, finite_seen);
    const bool row_bad = bad < M || (score == ScoreFunction::softmax && !finite_seen);
    if (lane == 0 && row_bad) atomicMin(first, (unsigned long long)(row * (M + 1) + bad));
  }
}

}  // namespace coreroute::cuda::detail
