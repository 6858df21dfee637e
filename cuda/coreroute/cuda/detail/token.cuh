#pragma once
// One token's row, held by one warp: expert i lives in lane i % 32, item i / 32.
// Row<VPT> keeps VPT items per lane in registers (the fast path, M <= 32 * VPT);
// Row<0> keeps them in a per-warp slice of shared memory (the general path, any M).
#include <cmath>
#include <cstdint>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>

namespace coreroute::cuda::detail {

template <int VPT>
struct Row {
  static constexpr bool in_registers = true;
  float v[VPT];
  __device__ explicit Row(float*) {}
  __device__ static constexpr int count(int) { return VPT; }
  __device__ float& operator[](int k) { return v[k]; }
  __device__ float operator[](int k) const { return v[k]; }
};

template <>
struct Row<0> {
  static constexpr bool in_registers = false;
  float* v;  // this lane's first item; item k at v[32 k]
  __device__ explicit Row(float* warp_row) : v(warp_row + (threadIdx.x & 31)) {}
  __device__ static int count(int M) { return (M + 31) / 32; }
  __device__ float& operator[](int k) { return v[32 * k]; }
  __device__ float operator[](int k) const { return v[32 * k]; }
};

/// Scores s of one token row (upcast on load). Returns false, in every lane, for an
/// invalid token: a NaN or +Inf logit, or a softmax row of all -Inf (SPEC section 6).
template <class RowT, class T>
__device__ bool score_row(const T* row, int64_t stride_expert, const RouterParams& p, RowT& s, float& row_max) {
  const int M = p.num_experts, lane = int(threadIdx.x & 31);
  bool bad = false;
  float mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    const float x = i < M ? to_float(row[int64_t(i) * stride_expert]) : -INFINITY;
    bad |= coreroute::detail::invalid_logit(x);
    mx = fmaxf(mx, x);
    s[k] = x;
  }
  if (__any_sync(kFullMask, bad)) return false;
  if (p.score == ScoreFunction::sigmoid) {
#pragma unroll
    for (int k = 0; k < RowT::count(M); ++k) s[k] = 1.0f / (1.0f + expf(-s[k]));  // padding: -Inf -> 0
    return true;
  }
  const float m = warp_max_float(mx);
  row_max = m;
  if (m == -INFINITY) return false;
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const float e = expf(s[k] - m);  // padding: exp(-Inf) = 0
    s[k] = e;
    sum += e;
  }
  sum = warp_sum(sum);
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) s[k] = s[k] / sum;
  return true;
}

/// log(s_a / s_b) from the two logits (the row's softmax denominator cancels), in a
/// form without the rounding of either log s alone: normalised weights stay accurate
/// where float s would underflow or round away.
__device__ __forceinline__ float log_score_ratio(ScoreFunction f, float xa, float xb) {
  if (f == ScoreFunction::softmax) return xa - xb;
  return (fminf(xa, 0.0f) - fminf(xb, 0.0f)) - (log1pf(expf(-fabsf(xa))) - log1pf(expf(-fabsf(xb))));
}

/// r = s + bias, the selection score (bias from shared memory, or none).
template <class RowT>
__device__ void selection_scores(const RowT& s, const float* bias, int M, RowT& r) {
  const int lane = int(threadIdx.x & 31);
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    r[k] = s[k] + (bias && i < M ? bias[i] : 0.0f);
  }
}

/// The warp's next top-K element: the largest rank key below `prev` among eligible
/// experts (eligible(k, i) for this lane's item k, expert i). Returns 0 when none is
/// left; `s_of` receives the winner's unbiased score s, in every lane.
template <class RowT, class Eligible>
__device__ uint64_t next_best(const RowT& s, const RowT& r, int M, uint64_t prev, Eligible eligible, float& s_of) {
  const int lane = int(threadIdx.x & 31);
  uint64_t best = 0;
  float best_s = 0.0f;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    if (i < M && eligible(k, i)) {
      const uint64_t key = coreroute::detail::rank_key(r[k], i);
      if (key < prev && key > best) {
        best = key;
        best_s = s[k];
      }
    }
  }
  const uint64_t win = warp_max_key(best);
  s_of = __shfl_sync(kFullMask, best_s, win ? coreroute::detail::key_index(win) & 31 : 0);
  return win;
}

}  // namespace coreroute::cuda::detail
